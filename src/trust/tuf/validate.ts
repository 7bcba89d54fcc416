import { sha256Hex } from './encoding.js';
import { goDateString } from './go-time.js';
import type { TufKey } from './keys.js';
import { publicKeyBytes } from './keys.js';
import {
  MetadataError,
  checkHashes,
  decodeEnvelope,
  parseBody,
  type DelegationRole,
  type Envelope,
  type Metadata,
  type RootMetadata,
  type TargetsMetadata,
} from './metadata.js';
import { rootTrustProblem } from './root-certificates.js';
import { ROOT_ROLE, SNAPSHOT_ROLE, TARGETS_ROLE, TIMESTAMP_ROLE, isDelegationRole, isUploadableRole, parentRole, roleDepth } from './roles.js';
import { SignatureError, signingRole, verifySignatures, type SigningRole } from './verify.js';
import { certificateProblem, parseCertificate, parsePemBlocks } from './x509.js';

/**
 * The server-side validation of a publish (`POST /v2/<gun>/_trust/tuf/`),
 * notary's `validateUpdate` (server/handlers/validation.go) and the version
 * rule of its storage (`UpdateMany`), without any I/O: the caller passes the
 * stored files and the uploaded parts, and gets back either the files to
 * store or the error to answer with.
 *
 * Order of checks, as notary's:
 *
 * 1. each part: a role name (`NO_FILENAME`), an uploadable role
 *    (`INVALID_ROLE`), the JSON shape of a metadata file (`MALFORMED_JSON`);
 * 2. root (`ErrBadRoot`; none at all: `ErrValidation`);
 * 3. targets and delegations, parents first (`ErrBadTargets`);
 * 4. snapshot: the uploaded one (`ErrBadSnapshot`), or the server must be
 *    able to sign one (`ErrBadHierarchy`);
 * 5. the server must hold the root's timestamp key (`ErrBadRoot`);
 * 6. every uploaded version above the stored one (`VERSION`).
 *
 * Where this differs from notary 0.7.0, on purpose:
 *
 * - `timestamp` parts are refused (`INVALID_ROLE`); notary accepts and drops them.
 * - Stored files are trusted as stored: the stored root's certificates are not
 *   re-checked for expiry (notary re-validates them and so cannot accept any
 *   update, not even a root rotation, once the stored root certificate has
 *   expired). A stored targets ancestor that no longer verifies gives
 *   `ErrBadTargets` with its reason (notary answers without detail).
 * - An uploaded snapshot's hashes are checked against root and targets even
 *   when targets was not part of the update (notary checks only the files it
 *   happened to load).
 * - An uploaded snapshot's lengths must be the files' too (`ErrBadSnapshot`):
 *   notary checks only the hashes, yet its clients download a role up to the
 *   listed length, so a shorter one breaks every reader after the publish.
 */

export type ValidationErrorName = 'ErrBadRoot' | 'ErrBadTargets' | 'ErrBadSnapshot' | 'ErrBadHierarchy' | 'ErrValidation';

/** notary-server error codes this validation can end in (`server/errors/errors.go`). */
export type UpdateErrorCode = 'INVALID_UPDATE' | 'VERSION' | 'INVALID_ROLE' | 'MALFORMED_JSON' | 'NO_FILENAME';

export interface UpdateError {
  code: UpdateErrorCode;
  /** For `INVALID_UPDATE`: the validation error type, `detail.Name`. */
  name?: ValidationErrorName;
  /** For `INVALID_UPDATE`: notary's message, `detail.Error.Msg`; otherwise a note for logs. */
  message?: string;
  /**
   * Exactly the `detail` member of notary's error body; absent means the body
   * has no `detail`. `INVALID_UPDATE`: `{"Name":…,"Error":{"Msg":…}}`
   * (`ErrBadHierarchy` adds `"Missing":"snapshot"`); `INVALID_ROLE`: the role
   * name; `VERSION`: `{}`.
   */
  detail?: unknown;
}

export interface UpdateInput {
  /** Globally unique name: the repository with its registry host, e.g. `localhost:5002/test/bb`. */
  gun: string;
  now: Date;
  /**
   * The latest stored bytes of each role of the GUN: `root`, `targets`,
   * `snapshot`, `timestamp` and every `targets/…` delegation (absent roles
   * simply missing). These are trusted: they passed this validation before.
   */
  current: ReadonlyMap<string, Uint8Array>;
  /** Uploaded role name (the part's filename without `.json`) → exact part bytes, in part order. */
  uploads: ReadonlyMap<string, Uint8Array>;
  /** Key IDs of the keys the server holds for this GUN; `null` when it holds none. */
  serverKeys: { snapshot: string | null; timestamp: string | null };
}

export interface AcceptedFile {
  /** The exact uploaded bytes: store these, and hash these. */
  bytes: Buffer;
  version: number;
  sha256hex: string;
}

export interface UpdateAccepted {
  ok: true;
  /** The uploaded files to store, root first, then targets parent-first, then snapshot. */
  files: Map<string, AcceptedFile>;
  /** No snapshot was uploaded: the server must sign one (`buildSnapshot`) before the timestamp. */
  needsSnapshot: boolean;
  /** The root in force after this update (uploaded, or else stored). */
  root: RootMetadata;
}

export interface UpdateRefused {
  ok: false;
  error: UpdateError;
}

export type UpdateResult = UpdateAccepted | UpdateRefused;

class Refusal extends Error {
  constructor(readonly error: UpdateError) {
    super(error.message ?? error.code);
  }
}

function invalid(name: ValidationErrorName, message: string): never {
  const inner = name === 'ErrBadHierarchy' ? { Missing: SNAPSHOT_ROLE, Msg: message } : { Msg: message };
  throw new Refusal({ code: 'INVALID_UPDATE', name, message, detail: { Name: name, Error: inner } });
}

/** Runs `fn`, turning metadata and signature errors into an `INVALID_UPDATE` of `name`. */
function as<T>(name: ValidationErrorName, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof MetadataError || err instanceof SignatureError) invalid(name, err.message);
    throw err;
  }
}

function expiryMessage(md: Metadata): string {
  return `${md.role} expired at ${goDateString(md.expires, md.expiresOffsetMinutes)}`;
}

function versionOf(env: Envelope): number {
  const v = env.signed.version;
  return typeof v === 'number' ? v : 0;
}

/** Whether the one key the server holds can sign `role` alone under `root`. */
function serverCanSign(root: RootMetadata, role: string, id: string | null): boolean {
  const spec = root.roles.get(role);
  return id !== null && !!spec && spec.threshold <= 1 && spec.keyids.includes(id);
}

/**
 * notary's `GetDelegationRole` check on delegation keys: a key that holds a
 * certificate must not be SHA-1-signed or RSA < 2048 (expiry is not checked).
 */
function delegationKeyProblem(key: TufKey, now: Date): string | undefined {
  let pem: string;
  try {
    pem = publicKeyBytes(key).toString('utf8');
  } catch {
    return undefined;
  }
  for (const block of parsePemBlocks(pem)) {
    if (block.type !== 'CERTIFICATE') continue;
    try {
      return certificateProblem(parseCertificate(block.bytes), now, false);
    } catch {
      continue;
    }
  }
  return undefined;
}

class Update {
  private readonly stored = new Map<string, Metadata>();
  /** Targets roles loaded (uploaded, or stored ancestors of uploads). */
  private readonly loaded = new Map<string, TargetsMetadata>();
  private root!: RootMetadata;

  constructor(private readonly input: UpdateInput) {}

  /** A stored file, parsed without verification; throws (a server fault) when it does not parse. */
  private storedFile(role: string): Metadata | undefined {
    const cached = this.stored.get(role);
    if (cached) return cached;
    const bytes = this.input.current.get(role);
    if (!bytes) return undefined;
    let md: Metadata;
    try {
      md = parseBody(decodeEnvelope(bytes), role);
    } catch (err) {
      throw new Error(`stored ${role} metadata of ${this.input.gun} cannot be read: ${(err as Error).message}`, { cause: err });
    }
    this.stored.set(role, md);
    return md;
  }

  run(): UpdateAccepted {
    const uploads = this.readParts();
    this.validateRoot(uploads.get(ROOT_ROLE));
    const targetsRoles = [...uploads.keys()]
      .filter((r) => r === TARGETS_ROLE || isDelegationRole(r))
      .sort((a, b) => roleDepth(a) - roleDepth(b) || (a < b ? -1 : a > b ? 1 : 0));
    for (const role of targetsRoles) this.validateTargetsRole(role, uploads.get(role) as Envelope);
    const snapshot = uploads.get(SNAPSHOT_ROLE);
    if (snapshot) this.validateSnapshot(snapshot);
    else this.checkServerSnapshot();
    if (!serverCanSign(this.root, TIMESTAMP_ROLE, this.input.serverKeys.timestamp)) {
      invalid('ErrBadRoot', 'no  timestamp keys exist on the server'); // sic: notary's double space
    }
    const order = [...(uploads.has(ROOT_ROLE) ? [ROOT_ROLE] : []), ...targetsRoles, ...(snapshot ? [SNAPSHOT_ROLE] : [])];
    const files = new Map<string, AcceptedFile>();
    for (const role of order) {
      const env = uploads.get(role) as Envelope;
      const version = versionOf(env);
      const storedVersion = this.storedFile(role)?.version;
      if (storedVersion !== undefined && version <= storedVersion) {
        throw new Refusal({ code: 'VERSION', message: `${role} version ${version} is not above the stored version ${storedVersion}`, detail: {} });
      }
      files.set(role, { bytes: env.raw, version, sha256hex: sha256Hex(env.raw) });
    }
    return { ok: true, files, needsSnapshot: !snapshot, root: this.root };
  }

  private readParts(): Map<string, Envelope> {
    const out = new Map<string, Envelope>();
    for (const [role, bytes] of this.input.uploads) {
      if (role === '') throw new Refusal({ code: 'NO_FILENAME', message: 'a part has no file name' });
      if (!isUploadableRole(role)) throw new Refusal({ code: 'INVALID_ROLE', message: `invalid role ${JSON.stringify(role)}`, detail: role });
      try {
        out.set(role, decodeEnvelope(bytes));
      } catch (err) {
        if (err instanceof MetadataError) throw new Refusal({ code: 'MALFORMED_JSON', message: `${role}: ${err.message}` });
        throw err;
      }
    }
    return out;
  }

  private validateRoot(upload: Envelope | undefined): void {
    const stored = this.storedFile(ROOT_ROLE) as RootMetadata | undefined;
    if (!upload) {
      if (!stored) invalid('ErrValidation', 'no pre-existing root and no root provided in update.');
      this.root = stored;
      return;
    }
    // notary's builder reports version 1 when no root is loaded.
    const currentVersion = stored?.version ?? 1;
    const version = versionOf(upload);
    if (version !== currentVersion && version !== currentVersion + 1) {
      invalid('ErrBadRoot', `Root modifications must increment the version. Current ${currentVersion}, new ${version}`);
    }
    const root = as('ErrBadRoot', () => parseBody(upload, ROOT_ROLE) as RootMetadata);
    const problem = rootTrustProblem(root, stored, this.input.gun, this.input.now);
    if (problem) invalid('ErrBadRoot', problem);
    if (root.expires.getTime() < this.input.now.getTime()) invalid('ErrBadRoot', expiryMessage(root));
    this.root = root;
  }

  /** The delegation `name` as declared by its loaded, reachable parent (notary's `GetDelegationRole` walk). */
  private findDelegation(name: string): { role: DelegationRole; keys: Map<string, TufKey> } | undefined {
    const parent = parentRole(name);
    const parentFile = this.loaded.get(parent);
    if (!parentFile || (parent !== TARGETS_ROLE && !this.findDelegation(parent))) return undefined;
    const role = parentFile.delegations.roles.find((r) => r.name === name);
    return role && { role, keys: parentFile.delegations.keys };
  }

  private load(role: string, env: Envelope, allowExpired: boolean): void {
    let md: TargetsMetadata;
    if (role === TARGETS_ROLE) {
      const spec = this.root.roles.get(TARGETS_ROLE);
      as('ErrBadTargets', () => verifySignatures(env, signingRole(TARGETS_ROLE, spec ?? { keyids: [], threshold: 1 }, this.root.keys)));
      md = as('ErrBadTargets', () => parseBody(env, role) as TargetsMetadata);
    } else {
      if (!this.loaded.has(TARGETS_ROLE)) invalid('ErrBadTargets', 'targets must be loaded first');
      const found = this.findDelegation(role);
      if (!found) invalid('ErrBadTargets', `tuf: invalid role ${role}. delegation does not exist`);
      const signer: SigningRole = signingRole(role, found.role, found.keys);
      for (const key of signer.keys.values()) {
        const problem = delegationKeyProblem(key, this.input.now);
        if (problem) invalid('ErrBadTargets', problem);
      }
      md = as('ErrBadTargets', () => parseBody(env, role) as TargetsMetadata);
      as('ErrBadTargets', () => verifySignatures(env, signer));
    }
    if (!allowExpired && md.expires.getTime() < this.input.now.getTime()) invalid('ErrBadTargets', expiryMessage(md));
    this.loaded.set(role, md);
  }

  private validateTargetsRole(role: string, env: Envelope): void {
    // Ancestors not part of the update come from storage, outermost first; a missing one
    // makes the delegation undeclared below.
    const ancestors: string[] = [];
    for (let a = role; a !== TARGETS_ROLE; ) {
      a = parentRole(a);
      if (!this.loaded.has(a)) ancestors.unshift(a);
    }
    for (const a of ancestors) {
      const stored = this.storedFile(a);
      if (stored) this.load(a, stored, true);
    }
    this.load(role, env, false);
  }

  private validateSnapshot(env: Envelope): void {
    const spec = this.root.roles.get(SNAPSHOT_ROLE);
    as('ErrBadSnapshot', () => verifySignatures(env, signingRole(SNAPSHOT_ROLE, spec ?? { keyids: [], threshold: 1 }, this.root.keys)));
    const snapshot = as('ErrBadSnapshot', () => parseBody(env, SNAPSHOT_ROLE));
    if (snapshot.type !== 'Snapshot') throw new Error('unreachable');
    if (snapshot.expires.getTime() < this.input.now.getTime()) invalid('ErrBadSnapshot', expiryMessage(snapshot));
    const covered = new Map<string, Buffer>([[ROOT_ROLE, this.root.raw]]);
    const targets = this.loaded.get(TARGETS_ROLE) ?? this.storedFile(TARGETS_ROLE);
    if (targets) covered.set(TARGETS_ROLE, targets.raw);
    for (const [role, md] of this.loaded) covered.set(role, md.raw);
    for (const [role, bytes] of covered) {
      const listed = snapshot.meta.get(role);
      const problem = checkHashes(bytes, role, listed?.hashes);
      if (problem) invalid('ErrBadSnapshot', problem);
      if (listed && listed.length !== bytes.length) invalid('ErrBadSnapshot', `snapshot lists ${listed.length} bytes for ${role}, but ${role} is ${bytes.length} bytes`);
    }
  }

  private checkServerSnapshot(): void {
    if (!this.input.current.has(SNAPSHOT_ROLE) && !this.loaded.has(TARGETS_ROLE) && !this.input.current.has(TARGETS_ROLE)) {
      invalid('ErrValidation', 'targets must be loaded first');
    }
    if (!serverCanSign(this.root, SNAPSHOT_ROLE, this.input.serverKeys.snapshot)) {
      invalid('ErrBadHierarchy', 'no snapshot was included in update and server does not hold current snapshot key for repository');
    }
  }
}

/**
 * Validates a publish: the uploaded metadata against the stored metadata of
 * `input.gun`, by notary's rules (see the module comment for the order and
 * the deliberate differences).
 *
 * Returns `{ ok: true, files, needsSnapshot, root }` with the uploaded files
 * to store, or `{ ok: false, error }` with what notary-server would answer
 * (status 400, `error.code`, and `error.detail` when present). Throws only
 * for server faults: a stored file that does not parse.
 *
 * After an accepted update the caller stores `files`, then, when
 * `needsSnapshot`, a snapshot from `buildSnapshot` (previous version + 1,
 * signed with the server's snapshot key), then always a timestamp from
 * `buildTimestamp`: all in one transaction.
 *
 * @example
 * const result = validateUpdate({ gun, now: new Date(), current, uploads, serverKeys: { snapshot: null, timestamp: tsKeyId } });
 * if (!result.ok) return reply400(result.error.code, result.error.detail);
 */
export function validateUpdate(input: UpdateInput): UpdateResult {
  try {
    return new Update(input).run();
  } catch (err) {
    if (err instanceof Refusal) return { ok: false, error: err.error };
    throw err;
  }
}
