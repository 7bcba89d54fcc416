import { createHash } from 'node:crypto';
import { RegistryError } from '../errors/index.js';
import type { NewTrustFile, ServerKeyRole, TrustChangeRecord, TrustFileRecord, TrustKeyRecord, TrustStore } from '../metadata/index.js';
import type { KeyVault } from './key-vault.js';
import { MultipartError, multipartBoundary, parseMultipart } from './multipart.js';
import { signedTargets, type DctTarget } from './signed-targets.js';
import {
  buildSnapshot, buildTimestamp, generateEcdsaKey, isDelegationRole, isValidRole, parseMetadata, publicKeyJson, roleFromFilename,
  snapshotExpiry, timestampExpiry, timestampIsStale, validateUpdate, isExpired,
  type RootMetadata, type SigningKey, type SnapshotMetadata, type TufKey,
} from './tuf/index.js';

/** What a metadata GET answers: the stored bytes, and how long caches may keep them. */
export interface TrustFile {
  bytes: Buffer;
  /** `current` for `<role>.json` (it changes); `consistent` for a version or checksum URL (it never does). */
  cache: 'current' | 'consistent';
  lastModified: Date;
}

export interface TrustServiceOptions {
  store: TrustStore;
  vault: KeyVault;
  now?: () => Date;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

function sha256hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const notFound = () => new RegistryError('METADATA_NOT_FOUND', undefined, { detail: {} });

/**
 * Berth's Notary v1 server (Docker Content Trust) over the trust store: the
 * publish of client-signed metadata (validated by tuf/validate.ts), the
 * snapshot and timestamp the server signs with keys it holds per
 * repository, reads by role, version and checksum, key handout and
 * rotation, deletion and the changefeed.
 *
 * `repository` is the canonical repository name (authorization and storage
 * use it); `gun` is the name as the client wrote it, which the root
 * certificate's CN must equal.
 */
export class TrustService {
  private readonly now: () => Date;

  constructor(private readonly o: TrustServiceOptions) {
    this.now = o.now ?? (() => new Date());
  }

  // ---- publish -------------------------------------------------------------

  /** POST /v2/<gun>/_trust/tuf/: a multipart body of role files. Throws Notary's error codes. */
  async publish(repository: string, gun: string, contentType: string | undefined, body: Buffer): Promise<void> {
    const boundary = multipartBoundary(contentType);
    if (!boundary) throw new RegistryError('MALFORMED_UPLOAD');
    let parts;
    try {
      parts = parseMultipart(body, boundary);
    } catch (err) {
      if (err instanceof MultipartError) throw new RegistryError('MALFORMED_UPLOAD', undefined, { cause: err });
      throw err;
    }
    const uploads = new Map<string, Uint8Array>();
    for (const part of parts) {
      if (!part.filename) throw new RegistryError('NO_FILENAME');
      uploads.set(roleFromFilename(part.filename), part.data);
    }
    if (uploads.size === 0) throw new RegistryError('MALFORMED_UPLOAD', 'the upload holds no metadata');

    const current = await this.o.store.current(repository);
    const currentBytes = new Map<string, Uint8Array>([...current].map(([role, f]) => [role, f.data]));
    const root = this.rootInForce(uploads.get('root') ?? current.get('root')?.data);
    const timestampKey = await this.heldKey(repository, 'timestamp', root);
    const snapshotKey = await this.heldKey(repository, 'snapshot', root);
    const now = this.now();
    const result = validateUpdate({
      gun, now, current: currentBytes, uploads,
      serverKeys: { timestamp: timestampKey?.keyId ?? null, snapshot: snapshotKey?.keyId ?? null },
    });
    if (!result.ok) {
      const e = result.error;
      throw new RegistryError(e.code, undefined, e.detail === undefined ? {} : { detail: e.detail });
    }
    const files: NewTrustFile[] = [...result.files].map(([role, f]) => ({ role, version: f.version, sha256: f.sha256hex, data: f.bytes }));
    let snapshotBytes: Uint8Array | undefined = result.files.get('snapshot')?.bytes;
    if (result.needsSnapshot) {
      if (!snapshotKey) throw new Error('validation passed without a server snapshot key');
      const inForce = new Map<string, Uint8Array>();
      for (const [role, f] of current) if (role === 'root' || role === 'targets' || isDelegationRole(role)) inForce.set(role, f.data);
      for (const f of files) if (f.role !== 'snapshot') inForce.set(f.role, f.data);
      const previous = this.parsedSnapshot(current.get('snapshot'));
      const snap = buildSnapshot({
        ...(previous ? { previous } : {}), version: (current.get('snapshot')?.version ?? 0) + 1, expires: snapshotExpiry(now), files: inForce, key: this.signingKey(snapshotKey),
      });
      files.push({ role: 'snapshot', version: snap.version, sha256: snap.sha256hex, data: snap.bytes });
      snapshotBytes = snap.bytes;
    }
    snapshotBytes ??= current.get('snapshot')?.data;
    if (!snapshotBytes || !timestampKey) throw new Error('validation passed without a snapshot or a server timestamp key');
    const ts = buildTimestamp({ version: (current.get('timestamp')?.version ?? 0) + 1, expires: timestampExpiry(now), snapshotBytes, key: this.signingKey(timestampKey) });
    files.push({ role: 'timestamp', version: ts.version, sha256: ts.sha256hex, data: ts.bytes });
    const stored = await this.o.store.publish(repository, files, { gun, version: ts.version, sha256: ts.sha256hex, time: now.getTime() });
    // Another publish to this repository committed first (its timestamp has our version).
    if (!stored) throw new RegistryError('VERSION', undefined, { detail: {} });
  }

  /** The root that will be in force (uploaded, else stored), for choosing server keys; null when none parses (validation then says why). */
  private rootInForce(bytes: Uint8Array | undefined): RootMetadata | null {
    if (!bytes) return null;
    try {
      return parseMetadata(bytes, 'root');
    } catch {
      return null;
    }
  }

  private parsedSnapshot(file: TrustFileRecord | undefined): SnapshotMetadata | undefined {
    if (!file) return undefined;
    try {
      return parseMetadata(file.data, 'snapshot');
    } catch {
      return undefined;
    }
  }

  /** The key the server holds for a role that `root` lists (else the newest it holds, which the next root may list). */
  private async heldKey(repository: string, role: ServerKeyRole, root: RootMetadata | null): Promise<TrustKeyRecord | null> {
    const held = await this.o.store.keys(repository, role);
    const listed = root?.roles.get(role)?.keyids ?? [];
    return held.find((k) => listed.includes(k.keyId)) ?? held[0] ?? null;
  }

  private signingKey(key: TrustKeyRecord): SigningKey {
    return { privateKeyPem: this.o.vault.open(key.sealedPrivateKey, sealContext(key)), keyId: key.keyId };
  }

  // ---- reads ---------------------------------------------------------------

  /**
   * GET /v2/<gun>/_trust/tuf/<file>: `<role>.json` (newest), `<role>.<sha256>.json`,
   * `<N>.<role>.json`. An expired or stale timestamp is re-signed on read.
   */
  async get(repository: string, gun: string, file: string): Promise<TrustFile> {
    if (!file.endsWith('.json')) throw notFound();
    const name = file.slice(0, -'.json'.length);
    const byVersion = /^(\d{1,15})\.(.+)$/.exec(name);
    if (byVersion && isValidRole(byVersion[2] as string)) {
      const f = await this.o.store.byVersion(repository, byVersion[2] as string, Number(byVersion[1]));
      if (!f) throw notFound();
      return { bytes: f.data, cache: 'consistent', lastModified: new Date(f.createdAt) };
    }
    const byChecksum = /^(.+)\.([0-9a-f]{64}|[0-9a-f]{96}|[0-9a-f]{128})$/.exec(name);
    if (byChecksum && isValidRole(byChecksum[1] as string)) {
      const sum = byChecksum[2] as string;
      const f = SHA256_HEX.test(sum) ? await this.o.store.byChecksum(repository, byChecksum[1] as string, sum) : null;
      if (!f) throw notFound();
      return { bytes: f.data, cache: 'consistent', lastModified: new Date(f.createdAt) };
    }
    if (!isValidRole(name)) throw notFound();
    if (name === 'timestamp') return this.currentTimestamp(repository, gun);
    if (name === 'snapshot') {
      // The snapshot the current timestamp points to.
      const ts = await this.currentTimestamp(repository, gun);
      const pointer = parseMetadata(ts.bytes, 'timestamp').meta.get('snapshot')?.hashes.sha256;
      const hex = pointer ? Buffer.from(pointer, 'base64').toString('hex') : null;
      const f = hex ? await this.o.store.byChecksum(repository, 'snapshot', hex) : null;
      if (!f) throw notFound();
      return { bytes: f.data, cache: 'current', lastModified: new Date(f.createdAt) };
    }
    const f = await this.o.store.latest(repository, name);
    if (!f) throw notFound();
    return { bytes: f.data, cache: 'current', lastModified: new Date(f.createdAt) };
  }

  /** The newest timestamp, re-signed first when it expired or no longer matches the newest snapshot (notary's getMaybeServerSigned). */
  private async currentTimestamp(repository: string, gun: string): Promise<TrustFile> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await this.o.store.current(repository);
      const ts = current.get('timestamp');
      const snapshot = current.get('snapshot');
      if (!ts || !snapshot) throw notFound();
      const now = this.now();
      const parsed = parseMetadata(ts.data, 'timestamp');
      if (!timestampIsStale(parsed, snapshot.data, now)) return { bytes: ts.data, cache: 'current', lastModified: new Date(ts.createdAt) };
      const root = this.rootInForce(current.get('root')?.data);
      const files: NewTrustFile[] = [];
      let snapshotBytes: Uint8Array = snapshot.data;
      const snapshotMeta = this.parsedSnapshot(snapshot);
      const snapshotKey = await this.heldKey(repository, 'snapshot', root);
      if (snapshotMeta && isExpired(snapshotMeta, now) && snapshotKey && root?.roles.get('snapshot')?.keyids.includes(snapshotKey.keyId)) {
        const snap = buildSnapshot({ previous: snapshotMeta, version: snapshot.version + 1, expires: snapshotExpiry(now), files: new Map(), key: this.signingKey(snapshotKey) });
        files.push({ role: 'snapshot', version: snap.version, sha256: snap.sha256hex, data: snap.bytes });
        snapshotBytes = snap.bytes;
      }
      const tsKey = await this.heldKey(repository, 'timestamp', root);
      if (!tsKey) return { bytes: ts.data, cache: 'current', lastModified: new Date(ts.createdAt) };
      const next = buildTimestamp({ version: ts.version + 1, expires: timestampExpiry(now), snapshotBytes, key: this.signingKey(tsKey) });
      files.push({ role: 'timestamp', version: next.version, sha256: next.sha256hex, data: next.bytes });
      if (await this.o.store.publish(repository, files, { gun, version: next.version, sha256: next.sha256hex, time: now.getTime() })) {
        return { bytes: next.bytes, cache: 'current', lastModified: now };
      }
      // Another instance re-signed (or a publish landed) meanwhile: read again.
    }
    throw new RegistryError('BERTH_UNAVAILABLE', 'the timestamp is being re-signed concurrently; retry');
  }

  // ---- server keys ---------------------------------------------------------

  /**
   * GET <role>.key: the public key the server signs the role with. Once a
   * root lists a key the server holds, that key; before, the newest pending
   * key (created on the first request), so repeated requests agree.
   */
  async publicKey(repository: string, role: string): Promise<string> {
    const r = serverKeyRole(role);
    const current = await this.o.store.latest(repository, 'root');
    const key = await this.heldKey(repository, r, this.rootInForce(current?.data));
    return key ? key.publicKey : this.createKey(repository, r);
  }

  /** POST <role>.key: a new key; it signs once a root that lists it is published. */
  async rotateKey(repository: string, role: string): Promise<string> {
    return this.createKey(repository, serverKeyRole(role));
  }

  private async createKey(repository: string, role: ServerKeyRole): Promise<string> {
    const k = generateEcdsaKey();
    const record: TrustKeyRecord = { repository, role, keyId: k.keyId, publicKey: publicKeyJson(k.publicKey as TufKey), sealedPrivateKey: '', createdAt: this.now().getTime() };
    record.sealedPrivateKey = this.o.vault.seal(k.privateKeyPem, sealContext(record));
    await this.o.store.addKey(record);
    return record.publicKey;
  }

  /** Every tag signed in the repository's trust data, with its signers (what `docker trust inspect` lists). */
  async signedTargets(repository: string, now: number = this.now().getTime()): Promise<DctTarget[]> {
    return signedTargets(await this.o.store.current(repository), new Date(now));
  }

  // ---- delete and changefeed -----------------------------------------------

  /** DELETE /v2/<gun>/_trust/tuf/: all trust data and server keys (200 even when there was none, as Notary). */
  async delete(repository: string, gun: string): Promise<void> {
    await this.o.store.deleteRepository(repository, { gun, time: this.now().getTime() });
  }

  async changes(filter: { repository?: string; after?: string; limit: number }): Promise<{ count: number; records: Record<string, unknown>[] }> {
    const rows = await this.o.store.changes(filter);
    return { count: rows.length, records: rows.map(changeRecord) };
  }
}

/** A key is sealed for its row: repository, role and key id. */
function sealContext(k: Pick<TrustKeyRecord, 'repository' | 'role' | 'keyId'>): string {
  return `${k.repository}\n${k.role}\n${k.keyId}`;
}

/** The server holds timestamp and snapshot keys only; any other `<role>.key` does not exist (Notary answers 404 too). */
function serverKeyRole(role: string): ServerKeyRole {
  if (role === 'timestamp' || role === 'snapshot') return role;
  throw new RegistryError('METADATA_NOT_FOUND');
}

/** A changefeed record as Notary writes it. */
function changeRecord(c: TrustChangeRecord): Record<string, unknown> {
  return { ID: c.id, CreatedAt: new Date(c.createdAt).toISOString(), GUN: c.gun, Version: c.version, SHA256: c.sha256, Category: c.category };
}
