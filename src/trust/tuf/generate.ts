import { CanonicalJsonError, canonicalJson } from './canonical-json.js';
import { sha256Hex } from './encoding.js';
import { goTime } from './go-time.js';
import { sign, type TufSignature } from './keys.js';
import { checkHashes, fileMeta, parseMetadata, type FileMeta, type SnapshotMetadata, type TimestampMetadata } from './metadata.js';
import { SNAPSHOT_ROLE } from './roles.js';

/**
 * The metadata the server signs itself: snapshot (when it holds the snapshot
 * key) and timestamp (always), in the byte layout Go clients and notary-server
 * write, `{"signed":<canonical>,"signatures":[{"keyid","method","sig"}]}`.
 *
 * Hashes are of the exact stored bytes, not of a re-serialisation (notary
 * hashes its own re-serialisation, which equals the stored bytes only for
 * uploads already in Go's layout; see the trace notes, §5).
 */

const DAY_MS = 86_400_000;

/** notary's `NotarySnapshotExpiry`: 3 × 365 days. */
export const SNAPSHOT_EXPIRY_MS = 3 * 365 * DAY_MS;

/** notary's `NotaryTimestampExpiry`: 14 days. */
export const TIMESTAMP_EXPIRY_MS = 14 * DAY_MS;

/** A key the server signs with: a PEM private key and, optionally, the key ID to sign under. */
export interface SigningKey {
  privateKeyPem: string;
  keyId?: string;
}

/** Bytes produced for storage, with the facts the store indexes them by. */
export interface GeneratedFile {
  bytes: Buffer;
  version: number;
  sha256hex: string;
}

/**
 * A string as Go's `encoding/json` writes it outside canonical mode: `"`, `\`,
 * `\n`, `\r`, `\t` escaped, other control characters, `<`, `>`, `&`, U+2028 and
 * U+2029 as `\u00XX` / `\u20XX`.
 */
function goString(s: string): string {
  return `"${s.replace(/["\\\u0000-\u001f<>&\u2028\u2029]/g, (c) => {
    switch (c) {
      case '"':
        return '\\"';
      case '\\':
        return '\\\\';
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      default:
        return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    }
  })}"`;
}

/**
 * The `signed` value embedded as Go embeds a `json.RawMessage`: compacted
 * with HTML escaping, so `<`, `>`, `&`, U+2028 and U+2029 become `\u003c`,
 * `\u003e`, `\u0026`, `\u2028`, `\u2029` inside strings (verifiers decode and
 * re-canonicalise, so signatures still hold). A raw control character makes
 * Go's marshalling fail, and this too.
 */
function embedSigned(canonical: string): string {
  if (/[\u0000-\u001f]/.test(canonical)) throw new CanonicalJsonError('json: control character in signed value cannot be embedded');
  return canonical.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A metadata file in Go's byte layout: `{"signed":…,"signatures":[…]}` with
 * `signed` first and in canonical form, each signature `{"keyid","method","sig"}`.
 * Throws {@link CanonicalJsonError} when `signed` has no canonical form.
 */
export function serializeSigned(signed: unknown, signatures: readonly TufSignature[]): Buffer {
  const sigs = signatures.map((s) => `{"keyid":${goString(s.keyid)},"method":${goString(s.method)},"sig":${goString(s.sig)}}`);
  return Buffer.from(`{"signed":${embedSigned(canonicalJson(signed))},"signatures":[${sigs.join(',')}]}`, 'utf8');
}

/**
 * Signs `signed` with every key in `keys` (over its canonical JSON) and
 * returns the file in Go's layout. What a client does to publish; the server
 * uses it for snapshot and timestamp.
 */
export function signMetadata(signed: Record<string, unknown>, keys: readonly SigningKey[]): Buffer {
  const message = Buffer.from(canonicalJson(signed), 'utf8');
  return serializeSigned(
    signed,
    keys.map((k) => sign(k.privateKeyPem, message, k.keyId === undefined ? {} : { keyId: k.keyId })),
  );
}

function checkVersion(version: number): void {
  if (!Number.isSafeInteger(version) || version < 1) throw new RangeError(`version must be an integer ≥ 1, got ${version}`);
}

function finish(bytes: Buffer, version: number): GeneratedFile {
  return { bytes, version, sha256hex: sha256Hex(bytes) };
}

function metaJson(meta: FileMeta): Record<string, unknown> {
  const out: Record<string, unknown> = { hashes: { ...meta.hashes }, length: meta.length };
  if (meta.custom !== undefined) out.custom = meta.custom;
  return out;
}

/** Default expiry of a snapshot signed at `now`. */
export function snapshotExpiry(now: Date): Date {
  return new Date(now.getTime() + SNAPSHOT_EXPIRY_MS);
}

/** Default expiry of a timestamp signed at `now`. */
export function timestampExpiry(now: Date): Date {
  return new Date(now.getTime() + TIMESTAMP_EXPIRY_MS);
}

/**
 * A server-signed snapshot. Its `meta` starts from `previous` (so roles not
 * passed keep their entries) and records, for every file in `files`
 * (`root`, `targets` and each delegation: the exact stored bytes), its length,
 * sha256 and sha512. The result must list root and targets, else it throws.
 *
 * `version` is normally the stored snapshot's version + 1 (1 for the first);
 * `expires` normally {@link snapshotExpiry}(now).
 *
 * @example
 * const snap = buildSnapshot({ previous, version: (previous?.version ?? 0) + 1, expires: snapshotExpiry(now), files, key: snapshotKey });
 */
export function buildSnapshot(options: {
  previous?: SnapshotMetadata;
  version: number;
  expires: Date;
  files: ReadonlyMap<string, Uint8Array>;
  key: SigningKey;
}): GeneratedFile {
  checkVersion(options.version);
  const meta: Record<string, unknown> = {};
  for (const [role, m] of options.previous?.meta ?? []) meta[role] = metaJson(m);
  for (const [role, bytes] of options.files) meta[role] = fileMeta(bytes);
  const bytes = signMetadata({ _type: 'Snapshot', expires: goTime(options.expires), meta, version: options.version }, [options.key]);
  parseMetadata(bytes, SNAPSHOT_ROLE); // refuses a snapshot without root or targets
  return finish(bytes, options.version);
}

/**
 * A server-signed timestamp pointing at `snapshotBytes` (the exact stored
 * snapshot). `version` is normally the stored timestamp's version + 1;
 * `expires` normally {@link timestampExpiry}(now).
 */
export function buildTimestamp(options: { version: number; expires: Date; snapshotBytes: Uint8Array; key: SigningKey }): GeneratedFile {
  checkVersion(options.version);
  const signed = { _type: 'Timestamp', expires: goTime(options.expires), meta: { snapshot: fileMeta(options.snapshotBytes) }, version: options.version };
  return finish(signMetadata(signed, [options.key]), options.version);
}

/** Whether metadata expiring at `md.expires` has expired at `now` (Go's `expires.Before(now)`). */
export function isExpired(md: { expires: Date }, now: Date): boolean {
  return md.expires.getTime() < now.getTime();
}

/**
 * notary's rule for serving `timestamp.json` (`GetOrCreateTimestamp`): the
 * stored timestamp must be re-signed (version + 1, with {@link buildTimestamp})
 * when it has expired or no longer matches the hashes of `snapshotBytes`, the
 * current snapshot. (An expired snapshot is re-signed first, when the server
 * holds its key: `buildSnapshot` with the stored one as `previous`.)
 */
export function timestampIsStale(timestamp: TimestampMetadata, snapshotBytes: Uint8Array, now: Date): boolean {
  return isExpired(timestamp, now) || checkHashes(snapshotBytes, SNAPSHOT_ROLE, timestamp.meta.get(SNAPSHOT_ROLE)?.hashes) !== undefined;
}
