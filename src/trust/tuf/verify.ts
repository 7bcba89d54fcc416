import { CanonicalJsonError, canonicalBytes } from './canonical-json.js';
import { decodeGoBase64 } from './encoding.js';
import { keyId, verifySignature, type TufKey } from './keys.js';
import type { Envelope, RoleKeys } from './metadata.js';

/** The keys and threshold a file must be signed with (notary's `BaseRole`). */
export interface SigningRole {
  /** Role name, as it appears in "valid signatures did not meet threshold for <name>". */
  name: string;
  /** Acceptable keys by key ID. */
  keys: ReadonlyMap<string, TufKey>;
  threshold: number;
}

/** A file whose signatures do not satisfy its role; `message` is notary's. */
export class SignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignatureError';
  }
}

/**
 * The signing role for `spec` (a root role or a delegation) with its keys
 * looked up in `keys`, as notary's `BuildBaseRole`. Key IDs without a key are
 * left out (structure checks refuse those files before this is called).
 */
export function signingRole(name: string, spec: RoleKeys, keys: ReadonlyMap<string, TufKey>): SigningRole {
  const picked = new Map<string, TufKey>();
  for (const id of spec.keyids) {
    const key = keys.get(id);
    if (key) picked.set(id, key);
  }
  return { name, keys: picked, threshold: spec.threshold };
}

/**
 * notary's `VerifySignatures`: at least `role.threshold` distinct keys of
 * `role` have a valid signature over the canonical JSON of `envelope.signed`.
 * Signatures by unknown keys, with unknown methods or that fail to verify are
 * skipped. Throws {@link SignatureError} with notary's message:
 *
 * - `tuf: data has no signatures`
 * - `key ID is not valid for key content` (a signature names a key whose
 *   content hashes to another ID)
 * - `json: unsupported value: 1.5` (the `signed` value has no canonical form)
 * - `valid signatures did not meet threshold for <role>`
 */
export function verifySignatures(envelope: Pick<Envelope, 'signed' | 'signatures'>, role: SigningRole): void {
  if (envelope.signatures.length === 0) throw new SignatureError('tuf: data has no signatures');
  if (role.threshold < 1) throw new SignatureError('valid signatures did not meet threshold');
  let message: Buffer;
  try {
    message = canonicalBytes(envelope.signed);
  } catch (err) {
    if (err instanceof CanonicalJsonError) throw new SignatureError(err.message);
    throw err;
  }
  const valid = new Set<string>();
  for (const sig of envelope.signatures) {
    const key = role.keys.get(sig.keyid);
    if (!key) continue;
    if (keyId(key) !== sig.keyid) throw new SignatureError('key ID is not valid for key content');
    const bytes = decodeGoBase64(sig.sig);
    if (bytes && verifySignature(key, sig.method, bytes, message)) valid.add(sig.keyid);
  }
  if (valid.size < role.threshold) throw new SignatureError(`valid signatures did not meet threshold for ${role.name}`);
}
