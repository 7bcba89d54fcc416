import { decodeGoBase64, encodeBase64, sha256, sha512 } from './encoding.js';
import { parseGoTime } from './go-time.js';
import type { TufKey, TufSignature } from './keys.js';
import { BASE_ROLES, ROOT_ROLE, SNAPSHOT_ROLE, TARGETS_ROLE, TIMESTAMP_ROLE, isDelegationRole, parentRole } from './roles.js';

/**
 * TUF metadata files as notary reads them (`tuf/data/{types,root,targets,
 * snapshot,timestamp}.go`).
 *
 * Parsing has two stages, because notary answers them differently:
 *
 * 1. {@link decodeEnvelope}: the bytes are JSON of the shape notary's upload
 *    handler decodes (`SignedMeta`). Failing this is `400 MALFORMED_JSON`.
 * 2. {@link parseBody}: the `signed` value has the structure of its role.
 *    Failing this is a validation error of that role (`ErrBadRoot`, …) whose
 *    message follows notary's `ErrInvalidMetadata`:
 *    `targets type metadata invalid: expected type Targets, not Root`.
 *
 * Deliberate strictness beyond Go: the bytes must be valid UTF-8 (Go would
 * substitute U+FFFD byte by byte, which JavaScript's decoder does not
 * reproduce, so the canonical form could not match), the top level, the
 * `signed` value and each signature must be JSON objects, and integers must
 * be exact in a double (|n| < 2^53; Go would take any int64).
 */

export type MetadataType = 'Root' | 'Targets' | 'Snapshot' | 'Timestamp';

/** Length and hashes (base64 of the raw digests) of a file: a target or a metadata file. */
export interface FileMeta {
  length: number;
  hashes: Record<string, string>;
  /** Opaque `custom` value of a target, when present. */
  custom?: unknown;
}

export interface RoleKeys {
  keyids: string[];
  threshold: number;
}

export interface DelegationRole extends RoleKeys {
  name: string;
  paths: string[];
}

/** The JSON shape every metadata file shares: exact bytes, the `signed` value, the signatures. */
export interface Envelope {
  /** The exact bytes, as uploaded or stored. */
  raw: Buffer;
  /** The `signed` value as parsed: what the signatures cover (in canonical form). */
  signed: Record<string, unknown>;
  /** Signatures with `method` lower-cased, as notary parses them. */
  signatures: TufSignature[];
}

interface MetadataCommon extends Envelope {
  /** The role this file was parsed as (`root`, `targets/releases`, …). */
  role: string;
  version: number;
  /** `expires`, to the millisecond; Go's zero time (year 1) when absent. */
  expires: Date;
  /** The UTC offset `expires` was written with, in minutes (for Go's error text). */
  expiresOffsetMinutes: number;
}

export interface RootMetadata extends MetadataCommon {
  type: 'Root';
  keys: Map<string, TufKey>;
  roles: Map<string, RoleKeys>;
  consistentSnapshot: boolean;
}

export interface TargetsMetadata extends MetadataCommon {
  type: 'Targets';
  targets: Map<string, FileMeta>;
  delegations: { keys: Map<string, TufKey>; roles: DelegationRole[] };
}

export interface SnapshotMetadata extends MetadataCommon {
  type: 'Snapshot';
  meta: Map<string, FileMeta>;
}

export interface TimestampMetadata extends MetadataCommon {
  type: 'Timestamp';
  meta: Map<string, FileMeta>;
}

export type Metadata = RootMetadata | TargetsMetadata | SnapshotMetadata | TimestampMetadata;

/** A metadata file that is not JSON of the expected shape (`malformed`) or not a valid file of its role (`invalid`). */
export class MetadataError extends Error {
  /** `malformed`: not the JSON shape of a metadata file (MALFORMED_JSON); `invalid`: wrong structure for its role. */
  readonly kind: 'malformed' | 'invalid';
  readonly role: string | undefined;
  constructor(kind: 'malformed' | 'invalid', message: string, role?: string) {
    super(message);
    this.name = 'MetadataError';
    this.kind = kind;
    this.role = role;
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Go's zero `time.Time` (0001-01-01T00:00:00Z), which an absent `expires` decodes to. */
function goZeroTime(): Date {
  const d = new Date(0);
  d.setUTCFullYear(1, 0, 1);
  d.setUTCHours(0, 0, 0, 0);
  return d;
}

/**
 * Checks the bytes are a metadata file as notary's upload handler decodes
 * it: a JSON object whose `signed` is an object with, where present, a string
 * `_type`, an integer `version` and an RFC 3339 `expires`, and whose
 * `signatures` is an array of `{keyid, method, sig}` with `sig` in base64.
 * Throws {@link MetadataError} of kind `malformed` otherwise.
 */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  const raw = Buffer.from(bytes);
  let doc: unknown;
  try {
    doc = JSON.parse(utf8.decode(raw));
  } catch {
    throw new MetadataError('malformed', 'not valid JSON');
  }
  if (!isObject(doc)) throw new MetadataError('malformed', 'not a JSON object');
  const signed = doc.signed;
  if (!isObject(signed)) throw new MetadataError('malformed', 'signed is not an object');
  if (signed._type !== undefined && signed._type !== null && typeof signed._type !== 'string') throw new MetadataError('malformed', '_type is not a string');
  if (signed.version !== undefined && signed.version !== null && !isInt(signed.version)) throw new MetadataError('malformed', 'version is not an integer');
  if (signed.expires !== undefined && signed.expires !== null && (typeof signed.expires !== 'string' || !parseGoTime(signed.expires))) {
    throw new MetadataError('malformed', 'expires is not an RFC 3339 time');
  }
  const list = doc.signatures ?? [];
  if (!Array.isArray(list)) throw new MetadataError('malformed', 'signatures is not an array');
  const signatures: TufSignature[] = list.map((s: unknown) => {
    if (!isObject(s)) throw new MetadataError('malformed', 'signature is not an object');
    const keyid = s.keyid ?? '';
    const method = s.method ?? '';
    const sig = s.sig ?? '';
    if (typeof keyid !== 'string' || typeof method !== 'string' || typeof sig !== 'string' || !decodeGoBase64(sig)) {
      throw new MetadataError('malformed', 'signature fields are not strings in the expected encodings');
    }
    return { keyid, method: method.toLowerCase(), sig };
  });
  return { raw, signed, signatures };
}

/** The `_type` a role's file must carry (`targets/…` are `Targets`). */
export function metadataTypeFor(role: string): MetadataType | undefined {
  switch (role) {
    case ROOT_ROLE:
      return 'Root';
    case TARGETS_ROLE:
      return 'Targets';
    case SNAPSHOT_ROLE:
      return 'Snapshot';
    case TIMESTAMP_ROLE:
      return 'Timestamp';
    default:
      return isDelegationRole(role) ? 'Targets' : undefined;
  }
}

class Reader {
  constructor(readonly role: string) {}

  fail(msg: string): never {
    throw new MetadataError('invalid', `${this.role} type metadata invalid: ${msg}`, this.role);
  }

  /** An object field; absent or null reads as {}. */
  object(v: unknown, what: string): Json {
    if (v === undefined || v === null) return {};
    if (!isObject(v)) this.fail(`${what} is not an object`);
    return v;
  }

  /** An array field; absent or null reads as []. */
  array(v: unknown, what: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(`${what} is not an array`);
    return v;
  }

  /** An integer field; absent or null reads as 0. */
  int(v: unknown, what: string): number {
    if (v === undefined || v === null) return 0;
    if (!isInt(v)) this.fail(`${what} is not an integer`);
    return v;
  }

  strings(v: unknown, what: string): string[] {
    return this.array(v, what).map((s) => {
      if (typeof s !== 'string') this.fail(`${what} holds a non-string`);
      return s;
    });
  }

  base64(v: unknown, what: string): string {
    if (typeof v !== 'string' || !decodeGoBase64(v)) this.fail(`${what} is not base64`);
    return v;
  }

  key(v: unknown, id: string): TufKey {
    const k = this.object(v, `key ${id}`);
    const keyval = this.object(k.keyval, `key ${id} keyval`);
    if (typeof k.keytype !== 'string') this.fail(`key ${id} has no keytype`);
    if (keyval.private !== undefined && keyval.private !== null) this.base64(keyval.private, `key ${id} private value`);
    return { keytype: k.keytype, keyval: { public: this.base64(keyval.public, `key ${id} public value`), private: null } };
  }

  keys(v: unknown, what: string): Map<string, TufKey> {
    const out = new Map<string, TufKey>();
    for (const [id, k] of Object.entries(this.object(v, what))) out.set(id, this.key(k, id));
    return out;
  }

  fileMeta(v: unknown, what: string): FileMeta {
    const m = this.object(v, what);
    const hashes: Record<string, string> = {};
    for (const [alg, h] of Object.entries(this.object(m.hashes, `${what} hashes`))) hashes[alg] = this.base64(h, `${what} ${alg} hash`);
    const meta: FileMeta = { length: this.int(m.length, `${what} length`), hashes };
    if (m.custom !== undefined && m.custom !== null) meta.custom = m.custom;
    return meta;
  }

  files(v: unknown, what: string): Map<string, FileMeta> {
    const out = new Map<string, FileMeta>();
    for (const [name, m] of Object.entries(this.object(v, what))) out.set(name, this.fileMeta(m, `${what} ${name}`));
    return out;
  }

  roleKeys(v: unknown, name: string): RoleKeys {
    const r = this.object(v, `role ${name}`);
    return { keyids: this.strings(r.keyids, `role ${name} keyids`), threshold: this.int(r.threshold, `role ${name} threshold`) };
  }

  /** notary's `isValidRootRoleStructure`. */
  checkRoleKeys(name: string, r: RoleKeys, keys: Map<string, TufKey>): void {
    if (r.threshold < 1) this.fail(`invalid threshold specified for ${name}: ${r.threshold} `);
    for (const id of r.keyids) if (!keys.has(id)) this.fail(`key ID ${id} specified in ${name} without corresponding key`);
  }

  /** notary's `CheckValidHashStructures` for a snapshot or timestamp entry that must carry sha256. */
  checkChecksums(meta: Map<string, FileMeta>, name: string): void {
    const hashes = meta.get(name)?.hashes ?? {};
    if (hashes.sha256 === undefined) this.fail(`missing ${name} sha256 checksum information`);
    for (const [alg, size] of [['sha256', 32], ['sha512', 64]] as const) {
      const h = hashes[alg];
      if (h !== undefined && decodeGoBase64(h)?.length !== size) this.fail(`invalid ${name} checksum information, ${alg} checksum invalid`);
    }
  }
}

/**
 * The structure of `envelope.signed` checked for `role` and returned typed.
 * Throws {@link MetadataError} of kind `invalid` with notary's message when
 * `_type` is wrong, `version` < 1, a root lacks a base role, a threshold is
 * < 1, a role lists a key ID without a key, a delegation is not a valid direct
 * child of the file declaring it, or a snapshot/timestamp lacks the sha256 of
 * root and targets / of snapshot. Throws kind `malformed` for a role name that
 * is not a TUF role.
 */
export function parseBody(envelope: Envelope, role: string): Metadata {
  const type = metadataTypeFor(role);
  if (!type) throw new MetadataError('malformed', `invalid role ${role}`, role);
  const r: Reader = new Reader(role);
  const s = envelope.signed;
  const actual = typeof s._type === 'string' ? s._type : '';
  if (actual !== type) r.fail(`expected type ${type}, not ${actual}`);
  const version = isInt(s.version) ? s.version : 0;
  if (version < 1) r.fail(type === 'Root' ? 'version cannot be less than 1' : 'version cannot be less than one');
  const when = typeof s.expires === 'string' ? parseGoTime(s.expires) : undefined;
  const common = {
    ...envelope,
    role,
    version,
    expires: when?.date ?? goZeroTime(),
    expiresOffsetMinutes: when?.offsetMinutes ?? 0,
  };

  switch (type) {
    case 'Root': {
      const keys = r.keys(s.keys, 'keys');
      const roles = new Map<string, RoleKeys>();
      for (const [name, v] of Object.entries(r.object(s.roles, 'roles'))) if (v !== null) roles.set(name, r.roleKeys(v, name));
      if (s.consistent_snapshot !== undefined && s.consistent_snapshot !== null && typeof s.consistent_snapshot !== 'boolean') {
        r.fail('consistent_snapshot is not a boolean');
      }
      for (const name of BASE_ROLES) {
        const spec = roles.get(name);
        if (!spec) r.fail(`missing ${name} role specification`);
        r.checkRoleKeys(name, spec, keys);
      }
      return { ...common, type, keys, roles, consistentSnapshot: s.consistent_snapshot === true };
    }
    case 'Targets': {
      const targets = r.files(s.targets, 'targets');
      const d = r.object(s.delegations, 'delegations');
      const keys = r.keys(d.keys, 'delegations keys');
      const roles = r.array(d.roles, 'delegations roles').map((v, i) => {
        const o = r.object(v, `delegation ${i}`);
        if (typeof o.name !== 'string') r.fail(`delegation ${i} has no name`);
        return { name: o.name, ...r.roleKeys(o, o.name), paths: r.strings(o.paths, `delegation ${o.name} paths`) };
      });
      for (const dr of roles) {
        if (!isDelegationRole(dr.name) || parentRole(dr.name) !== role) r.fail(`delegation role ${dr.name} invalid`);
        r.checkRoleKeys(dr.name, dr, keys);
      }
      return { ...common, type, targets, delegations: { keys, roles } };
    }
    case 'Snapshot': {
      const meta = r.files(s.meta, 'meta');
      r.checkChecksums(meta, ROOT_ROLE);
      r.checkChecksums(meta, TARGETS_ROLE);
      return { ...common, type, meta };
    }
    case 'Timestamp': {
      const meta = r.files(s.meta, 'meta');
      r.checkChecksums(meta, SNAPSHOT_ROLE);
      return { ...common, type, meta };
    }
  }
}

/**
 * Parses a metadata file's exact bytes as `role`: {@link decodeEnvelope}
 * then {@link parseBody}. Throws {@link MetadataError}.
 *
 * @example
 * const root = parseMetadata(bytes, 'root'); // RootMetadata
 * root.version; root.expires; root.roles.get('targets')?.keyids;
 */
export function parseMetadata(bytes: Uint8Array, role: 'root'): RootMetadata;
export function parseMetadata(bytes: Uint8Array, role: 'targets'): TargetsMetadata;
export function parseMetadata(bytes: Uint8Array, role: 'snapshot'): SnapshotMetadata;
export function parseMetadata(bytes: Uint8Array, role: 'timestamp'): TimestampMetadata;
export function parseMetadata(bytes: Uint8Array, role: string): Metadata;
export function parseMetadata(bytes: Uint8Array, role: string): Metadata {
  return parseBody(decodeEnvelope(bytes), role);
}

/**
 * The file metadata notary records for `bytes`: length and base64 sha256 and
 * sha512 of exactly these bytes.
 *
 * @example fileMeta(Buffer.from('x')) // { hashes: { sha256: 'LXt…', sha512: '…' }, length: 1 }
 */
export function fileMeta(bytes: Uint8Array): { hashes: { sha256: string; sha512: string }; length: number } {
  return { hashes: { sha256: encodeBase64(sha256(bytes)), sha512: encodeBase64(sha512(bytes)) }, length: bytes.byteLength };
}

/**
 * notary's `CheckHashes`: the message of the first mismatch of `bytes`
 * against `hashes` (sha256 then sha512; other algorithms ignored), or
 * `undefined` when they match. No supported hash at all is a mismatch too.
 */
export function checkHashes(bytes: Uint8Array, name: string, hashes: Record<string, string> | undefined): string | undefined {
  let checked = 0;
  for (const [alg, digest] of [['sha256', sha256], ['sha512', sha512]] as const) {
    const expected = hashes?.[alg];
    if (expected === undefined) continue;
    const want = decodeGoBase64(expected) ?? Buffer.alloc(0);
    if (!digest(bytes).equals(want)) return `${alg} checksum for ${name} did not match: expected ${want.toString('hex')}`;
    checked++;
  }
  return checked === 0 ? `no checksums for supported algorithms were provided for ${name}` : undefined;
}
