import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { RegistryError } from '../errors/index.js';
import type { BlobRecord, ManifestRecord, TrustFileRecord, TrustStore } from '../metadata/index.js';
import { isValidRepositoryName, isValidTag, tryParseDigest } from '../registry/index.js';
import { signedTargets } from '../trust/index.js';
import {
  BUNDLE_FILE, BUNDLE_FORMAT, INDEX_FILE, LAYOUT_FILE, REF_NAME, REPOSITORY_ANNOTATION, blobPath, bundleJson, gunHost, rootGun, trustPath,
  type BundleFile, type BundleImage, type BundleManifest, type BundleTrust,
} from './bundle-format.js';

/**
 * `berth export` and `GET /api/v1/export`: a signed release as an OCI image
 * layout tar that keeps every byte a registry digest or a signature covers.
 *
 *   berth-bundle.json              format, created, source, images, trust, and the
 *                                  path, size and digest of every other member
 *   blobs/<alg>/<hex>              manifests (the exact bytes pushed), configs, layers,
 *                                  children of indexes, referrers, cosign .sig/.att/.sbom
 *   index.json                     one descriptor per exported tag (ref.name `repo:tag`),
 *                                  per digest, per referrer and per cosign tag
 *   oci-layout                     {"imageLayoutVersion":"1.0.0"}
 *   trust/<repo>/_tuf/<role>.<version>.json
 *                                  the repository's DCT (Notary TUF) metadata: every root
 *                                  version, and the targets, delegations, snapshot and
 *                                  timestamp in force
 *
 * Members are sorted by path, with one fixed mtime (`created`), owner 0 and
 * mode 0644, so exporting the same content twice writes the same bytes.
 *
 * The export is planned first (every manifest read, every blob stat'ed,
 * every trust file checked against the tags it signs), so a bad reference
 * fails before the first byte is written; then written in one stream.
 */

/** What the export reads: the registry core (no pre-hooks: children, referrers and signatures are not pulls). */
export interface ExportSource {
  getManifest(repo: string, reference: string): Promise<ManifestRecord>;
  statBlob(repo: string, digest: string): Promise<BlobRecord>;
  openBlob(blob: BlobRecord, range: null): Promise<Readable>;
  referrers(repo: string, digest: string): Promise<Record<string, unknown>>;
}

/**
 * Where trust files come from (the trust store's reads); null: trust data
 * is not exported. `refresh`, when given, runs first: the server re-signs
 * a stale timestamp (as a GET of timestamp.json would), so the bundle does
 * not carry one that has already expired.
 */
export interface ExportTrustSource extends Pick<TrustStore, 'current' | 'byVersion' | 'byChecksum'> {
  refresh?(repository: string, gun: string): Promise<void>;
}

export interface ExportRef {
  repository: string;
  /** The tag, or null for a digest reference. */
  tag: string | null;
  /** The digest asked for, or null for a tag. */
  digest: string | null;
}

export interface PlanOptions {
  refs: readonly ExportRef[];
  source: ExportSource;
  /**
   * How a top-level reference is resolved (default: `source.getManifest`).
   * The API passes the request's registry here, so what the caller asked
   * for is a pull: trust policies and the audit log apply to it.
   */
  resolve?: (repository: string, reference: string) => Promise<ManifestRecord>;
  trust: ExportTrustSource | null;
  /** The registry's name as clients reach it (`registry.example.com:5000`), or null when unknown. */
  sourceName: string | null;
  /** Fixed creation time (SOURCE_DATE_EPOCH); default: the newest push or trust file exported. */
  created?: Date;
  now?: Date;
  /** Called once per manifest read while planning. */
  onItem?: (what: string) => void;
}

interface PlannedMember {
  path: string;
  size: number;
  /** In memory (manifests, index.json, trust files), or a blob to stream. */
  data: Buffer | { repository: string; blob: BlobRecord };
}

/** A planned export: everything it will write, known before the first byte. */
export interface ExportPlan {
  manifest: BundleManifest;
  members: PlannedMember[];
  /** The size of every member's content (the tar adds headers and padding). */
  totalBytes: number;
}

export interface ExportSummary {
  output: string | null;
  images: { reference: string; digest: string; children: number; absentChildren: number; referrers: number; signatureTags: number }[];
  trust: { repository: string; gun: string; files: number }[];
  manifests: number;
  blobs: number;
  bytes: number;
  /** sha256 of the whole tar: compare it out of band at the dark site (`sha256sum bundle.tar`). */
  sha256: string;
  warnings: string[];
}

const COSIGN_SUFFIXES = ['sig', 'att', 'sbom'] as const;
/** Layers a registry never holds (Windows base layers): listed by their manifest, fetched from elsewhere. */
const FOREIGN = /^application\/vnd\.(docker\.image\.rootfs\.foreign\.diff|oci\.image\.layer\.nondistributable\.)/;
const MAX_REFERRER_DEPTH = 4;
const MAX_REFERRERS = 1000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCode = (err: unknown, ...codes: string[]) => err instanceof RegistryError && codes.includes(err.code);

/**
 * `REPO:TAG` or `REPO@DIGEST` (the repository may start with this
 * registry's host; `canonical` strips it). Throws BERTH_INVALID naming the
 * reference and the fix.
 */
export function parseExportRef(text: string, canonical: (name: string) => string = (n) => n): ExportRef {
  const invalid = (why: string) => new RegistryError('BERTH_INVALID', `${JSON.stringify(text.slice(0, 300))}: ${why}; write REPO:TAG or REPO@sha256:HEX`, { detail: [{ field: 'ref', message: why }] });
  const at = text.indexOf('@');
  let name: string;
  let tag: string | null = null;
  let digest: string | null = null;
  if (at >= 0) {
    name = text.slice(0, at);
    digest = text.slice(at + 1);
    if (!tryParseDigest(digest)) throw invalid('not a valid digest');
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= text.lastIndexOf('/')) throw invalid('no tag or digest');
    name = text.slice(0, colon);
    tag = text.slice(colon + 1);
    if (!isValidTag(tag)) throw invalid('not a valid tag');
  }
  const repository = canonical(name);
  if (!isValidRepositoryName(repository)) throw invalid('not a valid repository name');
  return { repository, tag, digest };
}

interface Walk {
  manifests: Map<string, ManifestRecord>;
  /** digest → the repository to read it from. */
  blobs: Map<string, { repository: string; blob: BlobRecord }>;
  index: { repository: string; descriptor: Record<string, unknown>; sort: string }[];
}

/** What a manifest refers to, read from its JSON: child manifests and blobs with their media types. */
function references(m: ManifestRecord): { children: { digest: string; mediaType: string; platform: unknown }[]; blobs: { digest: string; mediaType: string }[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(m.content.toString('utf8'));
  } catch {
    return { children: [], blobs: [] };
  }
  if (!isObject(doc)) return { children: [], blobs: [] };
  const descriptors = (v: unknown) => (Array.isArray(v) ? v.filter(isObject).filter((d) => typeof d.digest === 'string') : []);
  const children = descriptors(doc.manifests).map((d) => ({ digest: d.digest as string, mediaType: typeof d.mediaType === 'string' ? d.mediaType : '', platform: d.platform }));
  const blobs = [...(isObject(doc.config) && typeof doc.config.digest === 'string' ? [doc.config] : []), ...descriptors(doc.layers), ...descriptors(doc.blobs)]
    .map((d) => ({ digest: d.digest as string, mediaType: typeof d.mediaType === 'string' ? d.mediaType : '' }));
  return { children, blobs };
}

class Planner {
  readonly walk: Walk = { manifests: new Map(), blobs: new Map(), index: [] };
  readonly warnings: string[] = [];

  constructor(private readonly o: PlanOptions) {}

  private addIndex(repository: string, m: ManifestRecord, refName: string | null, sort: string): void {
    const annotations: Record<string, string> = { [REPOSITORY_ANNOTATION]: repository };
    if (refName) annotations[REF_NAME] = refName;
    const descriptor: Record<string, unknown> = { mediaType: m.mediaType, digest: m.digest, size: m.size };
    if (m.artifactType) descriptor.artifactType = m.artifactType;
    descriptor.annotations = annotations;
    const key = `${repository}\n${m.digest}\n${refName ?? ''}`;
    if (!this.walk.index.some((e) => `${e.repository}\n${e.descriptor.digest as string}\n${(e.descriptor.annotations as Record<string, string>)[REF_NAME] ?? ''}` === key)) {
      this.walk.index.push({ repository, descriptor, sort });
    }
  }

  private async blob(repository: string, digest: string, mediaType: string, owner: string): Promise<void> {
    if (this.walk.blobs.has(digest)) return;
    try {
      this.walk.blobs.set(digest, { repository, blob: await this.o.source.statBlob(repository, digest) });
    } catch (err) {
      if (!isCode(err, 'BLOB_UNKNOWN')) throw err;
      if (FOREIGN.test(mediaType)) {
        this.warnings.push(`${repository}@${owner}: the foreign layer ${digest} is not in the registry and is not exported (clients fetch it from its URLs)`);
        return;
      }
      throw new RegistryError('BLOB_UNKNOWN', `${repository}@${owner} refers to the blob ${digest}, which the registry does not have: the image cannot be exported whole`, { detail: { repository, digest } });
    }
  }

  /** A manifest and everything under it; returns its absent children (a sparse index's). */
  private async manifest(repository: string, m: ManifestRecord, depth: number, image: BundleImage): Promise<void> {
    if (this.walk.manifests.has(`${repository}@${m.digest}`)) return;
    this.walk.manifests.set(`${repository}@${m.digest}`, m);
    this.o.onItem?.(`${repository}@${m.digest}`);
    const refs = references(m);
    for (const b of refs.blobs) await this.blob(repository, b.digest, b.mediaType, m.digest);
    for (const c of refs.children) {
      let child: ManifestRecord;
      try {
        child = await this.o.source.getManifest(repository, c.digest);
      } catch (err) {
        if (!isCode(err, 'MANIFEST_UNKNOWN')) throw err;
        image.absentChildren.push({ digest: c.digest, mediaType: c.mediaType, ...(c.platform !== undefined ? { platform: c.platform } : {}) });
        continue;
      }
      if (!image.children.includes(child.digest)) image.children.push(child.digest);
      await this.manifest(repository, child, depth, image);
    }
    await this.signaturesOf(repository, m, depth, image);
  }

  /** Referrers of a manifest (OCI referrers API) and cosign's tags for it. */
  private async signaturesOf(repository: string, m: ManifestRecord, depth: number, image: BundleImage): Promise<void> {
    if (depth >= MAX_REFERRER_DEPTH) return;
    const index = await this.o.source.referrers(repository, m.digest);
    const list = Array.isArray(index.manifests) ? (index.manifests as unknown[]).filter(isObject).slice(0, MAX_REFERRERS) : [];
    for (const d of list) {
      if (typeof d.digest !== 'string') continue;
      let r: ManifestRecord;
      try {
        r = await this.o.source.getManifest(repository, d.digest);
      } catch (err) {
        if (isCode(err, 'MANIFEST_UNKNOWN')) continue; // deleted meanwhile
        throw err;
      }
      if (!image.referrers.some((x) => x.digest === r.digest)) image.referrers.push({ digest: r.digest, artifactType: r.artifactType, subject: m.digest });
      this.addIndex(repository, r, null, `2\n${r.digest}`);
      await this.manifest(repository, r, depth + 1, image);
    }
    const hex = /^sha256:([a-f0-9]{64})$/.exec(m.digest)?.[1];
    if (!hex) return;
    for (const suffix of COSIGN_SUFFIXES) {
      const tag = `sha256-${hex}.${suffix}`;
      let s: ManifestRecord;
      try {
        s = await this.o.source.getManifest(repository, tag);
      } catch (err) {
        if (isCode(err, 'MANIFEST_UNKNOWN')) continue;
        throw err;
      }
      if (!image.signatureTags.includes(tag)) image.signatureTags.push(tag);
      this.addIndex(repository, s, `${repository}:${tag}`, `1\n${tag}`);
      await this.manifest(repository, s, depth + 1, image);
    }
  }

  async image(ref: ExportRef): Promise<BundleImage> {
    const reference = ref.tag ?? (ref.digest as string);
    const resolve = this.o.resolve ?? ((r: string, x: string) => this.o.source.getManifest(r, x));
    const m = await resolve(ref.repository, reference);
    const image: BundleImage = {
      repository: ref.repository, tag: ref.tag, digest: m.digest, mediaType: m.mediaType, size: m.size,
      children: [], absentChildren: [], referrers: [], signatureTags: [],
    };
    this.addIndex(ref.repository, m, ref.tag ? `${ref.repository}:${ref.tag}` : null, `0\n${ref.tag ?? m.digest}`);
    await this.manifest(ref.repository, m, 0, image);
    image.children.sort();
    image.absentChildren.sort((a, b) => (a.digest < b.digest ? -1 : 1));
    image.referrers.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
    image.signatureTags.sort();
    if (image.absentChildren.length > 0) {
      this.warnings.push(`${ref.repository}:${reference} is a sparse index: ${image.absentChildren.length} child manifest(s) are not in the registry and not in the bundle (listed as absentChildren)`);
    }
    return image;
  }
}

/** The sha256 (hex) a TUF `meta` entry lists for a role, or null. */
function listedSha256(file: TrustFileRecord, role: string): string | null {
  try {
    const doc = JSON.parse(file.data.toString('utf8')) as { signed?: { meta?: Record<string, { hashes?: { sha256?: string } }> } };
    const b64 = doc.signed?.meta?.[role]?.hashes?.sha256;
    return b64 ? Buffer.from(b64, 'base64').toString('hex') : null;
  } catch {
    return null;
  }
}

/**
 * The trust files to ship for a repository: every root version (a client
 * that cached an older root walks the chain), and the timestamp in force
 * with the exact snapshot, targets and delegations it covers, found by the
 * checksums each lists (as a client would fetch them).
 */
async function trustFilesToShip(store: ExportTrustSource, repository: string): Promise<TrustFileRecord[]> {
  const current = await store.current(repository);
  const timestamp = current.get('timestamp');
  const root = current.get('root');
  if (!timestamp || !root) return [];
  const snapshotSha = listedSha256(timestamp, 'snapshot');
  const snapshot = snapshotSha ? await store.byChecksum(repository, 'snapshot', snapshotSha) : null;
  if (!snapshot) return [];
  const out: TrustFileRecord[] = [];
  for (let v = 1; v <= root.version; v++) {
    const f = await store.byVersion(repository, 'root', v);
    if (f) out.push(f);
  }
  const doc = JSON.parse(snapshot.data.toString('utf8')) as { signed?: { meta?: Record<string, unknown> } };
  for (const role of Object.keys(doc.signed?.meta ?? {}).sort()) {
    if (role === 'root') continue;
    const sha = listedSha256(snapshot, role);
    const f = sha ? await store.byChecksum(repository, role, sha) : null;
    if (f) out.push(f);
  }
  out.push(snapshot, timestamp);
  return out;
}

/**
 * Plans an export: resolves every reference, walks children, referrers and
 * cosign tags, stats every blob and gathers trust data. Throws the
 * catalogue's error (MANIFEST_UNKNOWN, BLOB_UNKNOWN, DENIED from a trust
 * policy, BERTH_CONFLICT when a tag's DCT data signs another digest) before
 * anything is written.
 */
export async function planExport(o: PlanOptions): Promise<ExportPlan> {
  if (o.refs.length === 0) throw new RegistryError('BERTH_INVALID', 'name at least one REPO:TAG or REPO@DIGEST to export', { detail: [{ field: 'ref', message: 'required' }] });
  const planner = new Planner(o);
  const images: BundleImage[] = [];
  for (const ref of o.refs) images.push(await planner.image(ref));
  const now = o.now ?? new Date();

  const trust: BundleTrust[] = [];
  const trustMembers: PlannedMember[] = [];
  let newest = 0;
  for (const m of planner.walk.manifests.values()) newest = Math.max(newest, m.createdAt);
  if (o.trust) {
    for (const repository of [...new Set(images.map((i) => i.repository))].sort()) {
      if (o.trust.refresh) {
        const root = (await o.trust.current(repository)).get('root');
        const gun = root ? rootGun(root.data) : null;
        if (gun) await o.trust.refresh(repository, gun);
      }
      const files = await trustFilesToShip(o.trust, repository);
      if (files.length === 0) continue;
      const root = files.filter((f) => f.role === 'root').at(-1);
      const gun = root ? rootGun(root.data) : null;
      if (!gun) {
        planner.warnings.push(`${repository}: its trust data has no root certificate naming a GUN; trust data not exported`);
        continue;
      }
      // A tag whose DCT data signs another digest would be refused on import: say so now.
      const current = new Map(files.map((f) => [f.role, f]));
      const signed = signedTargets(current, now);
      for (const image of images.filter((i) => i.repository === repository && i.tag)) {
        const forTag = signed.filter((s) => s.tag === image.tag);
        if (forTag.length > 0 && !forTag.some((s) => s.digest === image.digest && s.size === image.size)) {
          throw new RegistryError('BERTH_CONFLICT', `${repository}:${image.tag} points at ${image.digest}, but its Docker Content Trust data signs ${forTag.map((s) => s.digest).join(', ')}: sign the tag again (docker trust sign ${gun}:${image.tag}), or export it by digest`, { detail: { repository, tag: image.tag } });
        }
      }
      const entry: BundleTrust = { repository, gun, files: [] };
      for (const f of files) {
        const path = trustPath(repository, f.role, f.version);
        entry.files.push({ role: f.role, version: f.version, path, sha256: f.sha256 });
        trustMembers.push({ path, size: f.data.length, data: f.data });
        newest = Math.max(newest, f.createdAt);
      }
      trust.push(entry);
    }
  }

  const members: PlannedMember[] = [];
  const blobMembers = new Map<string, PlannedMember>();
  for (const m of planner.walk.manifests.values()) blobMembers.set(m.digest, { path: blobPath(m.digest), size: m.content.length, data: m.content });
  for (const [digest, b] of planner.walk.blobs) if (!blobMembers.has(digest)) blobMembers.set(digest, { path: blobPath(digest), size: b.blob.size, data: b });
  members.push(...blobMembers.values());
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: planner.walk.index.sort((a, b) => (a.repository === b.repository ? (a.sort < b.sort ? -1 : a.sort > b.sort ? 1 : 0) : a.repository < b.repository ? -1 : 1)).map((e) => e.descriptor),
  };
  members.push({ path: INDEX_FILE, size: 0, data: Buffer.from(`${JSON.stringify(index, null, 2)}\n`) });
  members.push({ path: LAYOUT_FILE, size: 0, data: Buffer.from('{"imageLayoutVersion":"1.0.0"}\n') });
  members.push(...trustMembers);
  for (const m of members) if (Buffer.isBuffer(m.data)) m.size = m.data.length;
  members.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  const files: BundleFile[] = members.map((m) => ({
    path: m.path, size: m.size,
    digest: Buffer.isBuffer(m.data) && !m.path.startsWith('blobs/') ? `sha256:${createHash('sha256').update(m.data).digest('hex')}` : digestOfBlobPath(m.path),
  }));
  const created = o.created ?? new Date(newest || 0);
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    self: '',
    created: created.toISOString(),
    source: o.sourceName ?? (trust[0] ? gunHost(trust[0].gun) : null),
    images,
    trust,
    warnings: [...planner.warnings],
    files,
  };
  const head = bundleJson(manifest);
  members.unshift({ path: BUNDLE_FILE, size: head.length, data: head });
  return { manifest, members, totalBytes: members.reduce((n, m) => n + m.size, 0) };
}

/** `blobs/sha256/<hex>` → `sha256:<hex>`: a blob's name is its digest, checked on import. */
function digestOfBlobPath(path: string): string {
  const [, alg, hex] = path.split('/');
  return `${alg}:${hex}`;
}

/**
 * Writes a planned export as a tar to `out`, streaming blobs from storage
 * (checked against their digest as they pass: a corrupt blob stops the
 * export). Returns the sha256 of the tar.
 */
export async function writeBundle(plan: ExportPlan, out: Writable, source: Pick<ExportSource, 'openBlob'>, options: { onBytes?: (n: number, path: string) => void; signal?: AbortSignal } = {}): Promise<string> {
  const pack = tar.pack();
  const whole = createHash('sha256');
  const mtime = new Date(plan.manifest.created);
  const hashing = async function* (chunks: AsyncIterable<unknown>) {
    for await (const chunk of chunks) {
      whole.update(chunk as Buffer);
      yield chunk as Buffer;
    }
  };
  const piping = options.signal ? pipeline(pack, hashing, out, { signal: options.signal }) : pipeline(pack, hashing, out);
  // Errors surface through `piping`; keep the member loop from throwing unhandled rejections.
  piping.catch(() => {});
  try {
    for (const m of plan.members) {
      const header = { name: m.path, size: m.size, mtime, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', type: 'file' as const };
      if (Buffer.isBuffer(m.data)) {
        await new Promise<void>((resolve, reject) => pack.entry(header, m.data as Buffer, (err) => (err ? reject(err) : resolve())));
        options.onBytes?.(m.size, m.path);
        continue;
      }
      const { blob } = m.data;
      const expected = /^([a-z0-9]+):([a-f0-9]+)$/.exec(blob.digest);
      const hash = createHash(expected?.[1] === 'sha512' ? 'sha512' : 'sha256');
      const body = await source.openBlob(blob, null);
      const entry = pack.entry(header);
      let seen = 0;
      await pipeline(body, async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          seen += chunk.length;
          options.onBytes?.(chunk.length, m.path);
          yield chunk;
        }
        if (seen !== m.size || hash.digest('hex') !== expected?.[2]) {
          throw new RegistryError('BLOB_UNKNOWN', `the stored bytes of ${blob.digest} do not match its digest: the blob is corrupt; run berth fsck`, { detail: { digest: blob.digest } });
        }
      }, entry);
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await piping.catch(() => {});
    throw err;
  }
  await piping;
  return whole.digest('hex');
}
