import { encodeBase64 } from './encoding.js';
import { keyId, publicKeyBytes, type TufKey } from './keys.js';
import type { Envelope, RootMetadata } from './metadata.js';
import { ROOT_ROLE } from './roles.js';
import { SignatureError, verifySignatures } from './verify.js';
import { certificateProblem, certificateToPem, commonNameMatchesGun, parseCertificateBundle, type CertificateInfo } from './x509.js';

/**
 * How a trust server accepts a root (notary's `trustpinning.ValidateRoot`
 * with the server's empty pinning config, i.e. trust on first use).
 *
 * Root keys are certificates. For each key ID the root role lists, the key's
 * public bytes must be a PEM bundle of certificates whose first is the one
 * leaf (not a CA); later CA certificates are intermediates. A leaf counts only
 * when its CN matches the GUN, it is not SHA-1-signed, an RSA key has at
 * least 2048 bits and (for the new root) it is valid now, with a day's
 * leeway on notBefore. Other keys are ignored, not errors.
 *
 * Signatures are then checked against keys rebuilt from those certificates
 * (Go re-encodes leaf + intermediates as PEM), so a root whose certificate
 * PEM is not in Go's 64-column layout will not verify here, nor with notary.
 */

interface Chain {
  leaf: CertificateInfo;
  intermediates: CertificateInfo[];
}

/** notary's `parseAllCerts`: chains by key ID for the keys of the root role. */
function rootChains(root: RootMetadata): Map<string, Chain> {
  const chains = new Map<string, Chain>();
  for (const id of root.roles.get(ROOT_ROLE)?.keyids ?? []) {
    const key = root.keys.get(id);
    if (!key) continue;
    const bundle = parseCertificateBundle(publicKeyBytes(key).toString('utf8'));
    if (!bundle) continue;
    const leaves = bundle.filter((c) => !c.isCA);
    if (leaves.length !== 1 || bundle[0]?.isCA) continue;
    chains.set(keyId(key), { leaf: leaves[0] as CertificateInfo, intermediates: bundle.filter((c) => c.isCA) });
  }
  return chains;
}

/** notary's `CertsToKeys`: TUF keys rebuilt from leaf + intermediates, by their own IDs. */
function chainKeys(chains: Iterable<Chain>): Map<string, TufKey> {
  const keys = new Map<string, TufKey>();
  for (const { leaf, intermediates } of chains) {
    const type = leaf.publicKey.asymmetricKeyType;
    if (type !== 'ec' && type !== 'rsa') continue;
    const pem = [leaf, ...intermediates].map((c) => certificateToPem(c.der)).join('');
    const key: TufKey = { keytype: type === 'ec' ? 'ecdsa-x509' : 'rsa-x509', keyval: { public: encodeBase64(Buffer.from(pem, 'utf8')), private: null } };
    keys.set(keyId(key), key);
  }
  return keys;
}

function usable(chains: Map<string, Chain>, gun: string, now: Date, checkExpiry: boolean): Chain[] {
  return [...chains.values()].filter((c) => commonNameMatchesGun(c.leaf.commonName, gun) && !certificateProblem(c.leaf, now, checkExpiry));
}

function verifies(envelope: Envelope, keys: Map<string, TufKey>, threshold: number): boolean {
  try {
    verifySignatures(envelope, { name: ROOT_ROLE, keys, threshold });
    return true;
  } catch (err) {
    if (err instanceof SignatureError) return false;
    throw err;
  }
}

/**
 * Checks a new root's certificates and signatures: a threshold (of the
 * previous root's root role) of the previous root's certificates when there
 * is a previous root, and a threshold (of its own root role) of its own valid
 * certificates. Returns notary's error message, or `undefined` when it passes.
 *
 * - `could not validate the path to a trusted root: unable to retrieve valid leaf certificates`
 * - `could not validate the path to a trusted root: could not retrieve trusted certs from previous root role data`
 * - `could not rotate trust to a new trusted root: failed to validate data with current trusted certificates`
 * - `could not validate the path to a trusted root: failed to validate integrity of roots`
 */
export function rootTrustProblem(root: RootMetadata, previous: RootMetadata | undefined, gun: string, now: Date): string | undefined {
  const chains = rootChains(root);
  const valid = usable(chains, gun, now, true);
  if (valid.length === 0) return 'could not validate the path to a trusted root: unable to retrieve valid leaf certificates';
  if (previous) {
    // The previous root's certificates count even when expired: a rotation away from them must stay possible.
    const trusted = usable(rootChains(previous), gun, now, false);
    if (trusted.length === 0) return 'could not validate the path to a trusted root: could not retrieve trusted certs from previous root role data';
    if (!verifies(root, chainKeys(trusted), previous.roles.get(ROOT_ROLE)?.threshold ?? 1)) {
      return 'could not rotate trust to a new trusted root: failed to validate data with current trusted certificates';
    }
  }
  // Only intermediates that are themselves valid now go into the rebuilt keys (notary's validRootIntCerts).
  const current = valid.map((c) => ({ leaf: c.leaf, intermediates: c.intermediates.filter((i) => !certificateProblem(i, now, true)) }));
  if (!verifies(root, chainKeys(current), root.roles.get(ROOT_ROLE)?.threshold ?? 1)) {
    return 'could not validate the path to a trusted root: failed to validate integrity of roots';
  }
  return undefined;
}
