import type { TrustFileRecord } from '../metadata/index.js';
import {
  canonicalBytes, decodeGoBase64, isExpired, keyId, parseMetadata, signingRole, verifySignature, verifySignatures,
  type DelegationRole, type TargetsMetadata, type TufKey,
} from './tuf/index.js';

/**
 * A tag signed in a repository's Docker Content Trust data, with who signed
 * it: what `docker trust inspect` lists, computed on the server from the
 * metadata in force (the newest version of each role).
 */
export interface DctTarget {
  tag: string;
  /** `sha256:<hex>`: the manifest digest the tag was signed for. */
  digest: string;
  size: number;
  /**
   * Signer names: `targets` for the repository's own targets key (docker's
   * "Repo Admin"), otherwise the delegation's name without `targets/`
   * (`releases`, `alice`). A signature in `targets/releases` also names the
   * signer roles whose keys made it, as docker trust inspect does.
   */
  signers: string[];
  /**
   * True when every role that signed this tag and digest has expired
   * metadata, itself or in the chain it is delegated from (signers then
   * lists them).
   */
  expired: boolean;
}

/** Deepest delegation chain walked (TUF allows more; notary and docker use one or two levels). */
const MAX_DEPTH = 8;

/** A targets role in force: its file verifies under the keys its parent declares (the top-level one under root's, checked at publish). */
export interface RoleInForce {
  /** `targets`, `targets/releases`, `targets/alice`, … */
  role: string;
  /** Key IDs whose signatures over this role's file verify. */
  signedBy: Set<string>;
  metadata: TargetsMetadata;
  /** This file or one it is delegated from has expired (a client would refuse the chain). */
  expired: boolean;
}

/**
 * The targets roles of a repository's current trust data that a client
 * would accept, walking delegations from the top-level targets, with the
 * delegation declarations met on the way (by role name). A delegated file
 * that does not verify under its parent's keys and threshold, or does not
 * parse, is left out with what it delegates.
 */
export function rolesInForce(current: ReadonlyMap<string, TrustFileRecord>, now: Date): { roles: RoleInForce[]; delegations: Map<string, DelegationRole & { keys: Map<string, TufKey> }> } {
  const top = parseTargets(current.get('targets'), 'targets');
  const delegations = new Map<string, DelegationRole & { keys: Map<string, TufKey> }>();
  if (!top) return { roles: [], delegations };
  const roles: RoleInForce[] = [{ role: 'targets', signedBy: new Set(), metadata: top, expired: isExpired(top, now) }];
  const walk = (parent: TargetsMetadata, parentExpired: boolean, depth: number): void => {
    if (depth > MAX_DEPTH) return;
    for (const spec of parent.delegations.roles) {
      const role = signingRole(spec.name, spec, parent.delegations.keys);
      delegations.set(spec.name, { ...spec, keys: new Map(role.keys) });
      const md = parseTargets(current.get(spec.name), spec.name);
      if (!md) continue;
      try {
        verifySignatures(md, role);
      } catch {
        continue;
      }
      const expired = parentExpired || isExpired(md, now);
      roles.push({ role: spec.name, signedBy: validSigners(md, role.keys), metadata: md, expired });
      walk(md, expired, depth + 1);
    }
  };
  walk(top, isExpired(top, now), 1);
  return { roles, delegations };
}

/** `sha256:<hex>` of a target entry, or null when it has no well-formed sha256. */
export function targetDigest(meta: { hashes: Record<string, string> }): string | null {
  const sha = meta.hashes.sha256 ? decodeGoBase64(meta.hashes.sha256) : undefined;
  return sha && sha.length === 32 ? `sha256:${Buffer.from(sha).toString('hex')}` : null;
}

/**
 * Every (tag, digest) signed in the repository's current trust data, with
 * its signers. Delegated roles count only when their file verifies under
 * the keys and threshold their parent declares; a file that does not (or
 * does not parse) signs nothing. Metadata past its `expires` still appears,
 * marked expired, so a policy can say why it refuses.
 */
export function signedTargets(current: ReadonlyMap<string, TrustFileRecord>, now: Date): DctTarget[] {
  const { roles, delegations } = rolesInForce(current, now);
  const byTarget = new Map<string, { tag: string; digest: string; size: number; live: Set<string>; stale: Set<string> }>();
  for (const r of roles) {
    const names = signerNames(r, delegations);
    for (const [tag, meta] of r.metadata.targets) {
      const digest = targetDigest(meta);
      if (!digest) continue;
      const key = `${tag}\n${digest}`;
      let entry = byTarget.get(key);
      if (!entry) byTarget.set(key, (entry = { tag, digest, size: meta.length, live: new Set(), stale: new Set() }));
      for (const n of names) (r.expired ? entry.stale : entry.live).add(n);
    }
  }
  return [...byTarget.values()]
    .map((e) => ({ tag: e.tag, digest: e.digest, size: e.size, signers: [...(e.live.size > 0 ? e.live : e.stale)].sort(), expired: e.live.size === 0 }))
    .sort((a, b) => (a.tag === b.tag ? a.digest.localeCompare(b.digest) : a.tag < b.tag ? -1 : 1));
}

function parseTargets(file: TrustFileRecord | undefined, role: string): TargetsMetadata | null {
  if (!file) return null;
  try {
    return parseMetadata(file.data, role) as TargetsMetadata;
  } catch {
    return null;
  }
}

/** Key IDs of `keys` whose signature over the file verifies. */
function validSigners(md: TargetsMetadata, keys: ReadonlyMap<string, TufKey>): Set<string> {
  const out = new Set<string>();
  let message: Buffer;
  try {
    message = canonicalBytes(md.signed);
  } catch {
    return out;
  }
  for (const sig of md.signatures) {
    const key = keys.get(sig.keyid);
    if (!key || keyId(key) !== sig.keyid) continue;
    const bytes = decodeGoBase64(sig.sig);
    if (bytes && verifySignature(key, sig.method, bytes, message)) out.add(sig.keyid);
  }
  return out;
}

/** The signer names a role stands for (see DctTarget.signers). */
function signerNames(r: RoleInForce, delegations: ReadonlyMap<string, DelegationRole>): string[] {
  if (r.role === 'targets') return ['targets'];
  const own = r.role.slice('targets/'.length);
  if (r.role !== 'targets/releases') return [own];
  const names = [own];
  for (const [name, spec] of delegations) {
    if (name === 'targets/releases') continue;
    if (spec.keyids.some((id) => r.signedBy.has(id))) names.push(name.slice('targets/'.length));
  }
  return names;
}
