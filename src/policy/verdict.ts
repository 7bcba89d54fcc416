import type { PolicyKey } from '../metadata/index.js';
import type { SignatureFinding } from '../signatures/types.js';
import type { DctTarget } from '../trust/index.js';

/** Why a pull does not verify, in the words refusals use. */
export type RefusalReason = 'unsigned' | 'unknown key' | 'bad signature' | 'expired';

/** What a policy says about one image. */
export interface Verdict {
  allowed: boolean;
  reason: 'verified' | RefusalReason;
  /** A sentence for people; names keys and signers, never key material. */
  detail: string;
  /** Who made the signatures that verify: key names, DCT signer names. */
  by: { keys: string[]; dctSigners: string[] };
  /** Some signature (OCI or DCT) about this image was found, valid or not. */
  signed: boolean;
}

/** Most telling first: a trusted key's signature that fails says more than an out-of-date one, which says more than a stranger's. */
const RANK: Record<RefusalReason, number> = { 'bad signature': 3, expired: 2, 'unknown key': 1, unsigned: 0 };

function reasonOf(f: SignatureFinding): RefusalReason {
  switch (f.problem) {
    case 'bad-signature':
    case 'bad-payload':
    case 'digest-mismatch':
      return 'bad signature';
    case 'expired':
      return 'expired';
    default:
      return 'unknown key';
  }
}

function findingDetail(f: SignatureFinding, digest: string): string {
  const key = f.keyName === null ? 'a trusted key' : `key "${f.keyName}"`;
  switch (f.problem) {
    case 'bad-signature':
      return `the ${f.format} signature ${f.artifactDigest} made with ${key} does not verify against ${digest}`;
    case 'bad-payload':
      return `the ${f.format} signature ${f.artifactDigest} is not a well-formed signature`;
    case 'digest-mismatch':
      return `the ${f.format} signature ${f.artifactDigest} signs another digest than ${digest}`;
    case 'expired':
      return `the ${f.format} signature ${f.artifactDigest} made with ${key} has expired or is not yet valid`;
    case 'unsupported':
      return `the signature ${f.artifactDigest} is in a format Berth cannot verify`;
    default:
      return `the ${f.format} signature ${f.artifactDigest} is not made with a key the policy trusts`;
  }
}

/** The keys and signers a policy trusts, for messages: `keys release, ci; DCT signers alice`. */
export function trustedList(keys: readonly PolicyKey[], dctSigners: readonly string[]): string {
  const parts: string[] = [];
  if (keys.length > 0) parts.push(`${keys.length === 1 ? 'key' : 'keys'} ${keys.map((k) => k.name).join(', ')}`);
  if (dctSigners.length > 0) parts.push(`${dctSigners.length === 1 ? 'DCT signer' : 'DCT signers'} ${dctSigners.join(', ')}`);
  return parts.join('; ');
}

/**
 * The verdict of a policy (its keys and DCT signers) on the image `digest`,
 * pulled by `tag` (null: by digest), from the OCI signatures found for it
 * and the repository's signed DCT targets. Allowed when ANY trusted key or
 * signer has a valid signature; otherwise the most telling problem wins
 * (bad signature, expired, unknown key, unsigned).
 *
 * DCT: a target counts when its digest is the one served, one of its
 * signers is listed and it has not expired; pulled by tag, the target must
 * also be that tag's.
 */
export function decide(policy: { keys: readonly PolicyKey[]; dctSigners: readonly string[] }, digest: string, tag: string | null, findings: readonly SignatureFinding[], dct: readonly DctTarget[]): Verdict {
  const by = { keys: [...new Set(findings.filter((f) => f.verified && f.keyName !== null).map((f) => f.keyName as string))].sort(), dctSigners: [] as string[] };
  let worst: { reason: RefusalReason; detail: string } | null = null;
  const consider = (reason: RefusalReason, detail: string) => {
    if (!worst || RANK[reason] > RANK[worst.reason]) worst = { reason, detail };
  };
  for (const f of findings) if (!f.verified) consider(reasonOf(f), findingDetail(f, digest));

  const listed = new Set(policy.dctSigners);
  let dctSigned = false;
  {
    for (const t of dct) {
      if (tag !== null && t.tag !== tag) continue;
      if (t.digest !== digest) {
        if (tag === null) continue;
        // Signed in DCT for this tag, but for other content than what the tag serves now.
        dctSigned = true;
        consider('bad signature', `the DCT signature of tag ${t.tag} is for ${t.digest}, not ${digest}`);
        continue;
      }
      dctSigned = true;
      const trusted = t.signers.filter((s) => listed.has(s));
      if (trusted.length === 0) consider('unknown key', `the DCT signature of ${t.tag} is by ${t.signers.join(', ')}, not a signer the policy trusts`);
      else if (t.expired) consider('expired', `the DCT signature of ${t.tag} by ${trusted.join(', ')} has expired`);
      else by.dctSigners.push(...trusted);
    }
  }
  by.dctSigners = [...new Set(by.dctSigners)].sort();
  const signed = findings.length > 0 || dctSigned;
  if (by.keys.length > 0 || by.dctSigners.length > 0) {
    const who = [...by.keys.map((k) => `key ${k}`), ...by.dctSigners.map((s) => `DCT signer ${s}`)].join(', ');
    return { allowed: true, reason: 'verified', detail: `signed by ${who}`, by, signed };
  }
  const w = worst as { reason: RefusalReason; detail: string } | null;
  if (w) return { allowed: false, reason: w.reason, detail: w.detail, by, signed };
  return { allowed: false, reason: 'unsigned', detail: `no signature of ${digest} was found`, by, signed };
}
