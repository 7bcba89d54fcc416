import { constants, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { MAX_CHAIN_LENGTH, SignatureMediaType } from './formats.js';
import type { NotationAnchor } from './keys.js';
import { decodeBase64, decodeBase64Url, isObject, refused, tryJson, verified, type Verdict } from './verdict.js';

/**
 * The Notary Project JWS envelope (notaryproject/specifications,
 * signature-envelope-jws.md), flattened JWS JSON serialization:
 *
 *   {"payload":   b64url({"targetArtifact": {"mediaType", "digest", "size"}}),
 *    "protected": b64url({"alg", "cty", "crit", "io.cncf.notary.signingScheme",
 *                         "io.cncf.notary.signingTime", "io.cncf.notary.expiry"?}),
 *    "header":    {"x5c": [b64(DER leaf), …, b64(DER root)], …},
 *    "signature": b64url(sign(protected + "." + payload))}
 *
 * It verifies when the signature checks under the leaf certificate's key
 * with the `alg` that key requires, the chain links leaf to a trusted
 * certificate, every certificate on that path and the signature's expiry
 * are in date at `now`, and targetArtifact.digest is the image.
 */

const ALGORITHMS: Record<string, { hash: string; kind: 'rsa' | 'ec'; size: number | string }> = {
  PS256: { hash: 'sha256', kind: 'rsa', size: 2048 },
  PS384: { hash: 'sha384', kind: 'rsa', size: 3072 },
  PS512: { hash: 'sha512', kind: 'rsa', size: 4096 },
  ES256: { hash: 'sha256', kind: 'ec', size: 'prime256v1' },
  ES384: { hash: 'sha384', kind: 'ec', size: 'secp384r1' },
  ES512: { hash: 'sha512', kind: 'ec', size: 'secp521r1' },
};

/** The critical headers this verifier processes; any other in `crit` is a signature it cannot judge. */
const UNDERSTOOD_CRIT = new Set(['io.cncf.notary.signingScheme', 'io.cncf.notary.expiry', 'io.cncf.notary.authenticSigningTime']);
const CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

function rfc3339(v: unknown): number | null {
  if (typeof v !== 'string' || !RFC3339.test(v)) return null;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

/** The `alg` a certificate's key must sign with. */
function algorithmOf(key: KeyObject): string | null {
  const d = key.asymmetricKeyDetails;
  for (const [alg, a] of Object.entries(ALGORITHMS)) {
    if (key.asymmetricKeyType === a.kind && (a.kind === 'rsa' ? d?.modulusLength === a.size : d?.namedCurve === a.size)) return alg;
  }
  return null;
}

const subjectOf = (cert: X509Certificate): string => cert.subject.split('\n').join(', ');

function inDate(cert: X509Certificate, now: number): boolean {
  return Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
}

interface Envelope {
  protectedText: string;
  payloadText: string;
  signature: Buffer;
  alg: string;
  signingTime: number;
  expiry: number | null;
  chain: X509Certificate[];
  target: { mediaType: string; digest: string; size: number };
}

function parseEnvelope(bytes: Buffer): Envelope | Verdict {
  const bad = (why: string) => refused('bad-payload', `${why}: not a Notary Project JWS envelope`);
  const doc = tryJson(bytes);
  if (!isObject(doc)) return bad('the envelope is not a JSON object');
  const extra = Object.keys(doc).filter((k) => !['payload', 'protected', 'header', 'signature'].includes(k));
  if (extra.length > 0) return bad(`unexpected top-level field ${JSON.stringify(extra[0]?.slice(0, 40))} (only flattened JWS JSON is allowed)`);
  const { payload: payloadText, protected: protectedText, header } = doc;
  const protectedBytes = decodeBase64Url(protectedText);
  const payloadBytes = decodeBase64Url(payloadText);
  const signature = decodeBase64Url(doc.signature);
  if (!protectedBytes || !payloadBytes || !signature || signature.length === 0 || typeof protectedText !== 'string' || typeof payloadText !== 'string') {
    return bad('payload, protected and signature must be base64url strings');
  }
  const ph = tryJson(protectedBytes);
  if (!isObject(ph)) return bad('the protected header is not a JSON object');
  const alg = ph.alg;
  if (typeof alg !== 'string' || !ALGORITHMS[alg]) return bad(`alg ${JSON.stringify(String(alg).slice(0, 20))} is not one of ${Object.keys(ALGORITHMS).join(', ')}`);
  if (ph.cty !== SignatureMediaType.NotationPayload) return bad(`cty is not ${SignatureMediaType.NotationPayload}`);
  const crit = ph.crit;
  if (!Array.isArray(crit) || !crit.every((c) => typeof c === 'string') || !crit.includes('io.cncf.notary.signingScheme')) {
    return bad('crit must list io.cncf.notary.signingScheme');
  }
  const scheme = ph['io.cncf.notary.signingScheme'];
  let signingTime: number | null;
  if (scheme === 'notary.x509') {
    signingTime = rfc3339(ph['io.cncf.notary.signingTime']);
    if (signingTime === null) return bad('io.cncf.notary.signingTime is missing or not an RFC 3339 time');
  } else if (scheme === 'notary.x509.signingAuthority') {
    signingTime = rfc3339(ph['io.cncf.notary.authenticSigningTime']);
    if (signingTime === null || !crit.includes('io.cncf.notary.authenticSigningTime')) return bad('io.cncf.notary.authenticSigningTime is missing, not critical or not an RFC 3339 time');
  } else {
    return bad('io.cncf.notary.signingScheme is neither notary.x509 nor notary.x509.signingAuthority');
  }
  let expiry: number | null = null;
  if (ph['io.cncf.notary.expiry'] !== undefined) {
    expiry = rfc3339(ph['io.cncf.notary.expiry']);
    if (expiry === null || !crit.includes('io.cncf.notary.expiry')) return bad('io.cncf.notary.expiry is not critical or not an RFC 3339 time');
  }
  const unknownCrit = (crit as string[]).find((c) => !UNDERSTOOD_CRIT.has(c));
  if (unknownCrit !== undefined) {
    return refused('unsupported', `the critical header ${JSON.stringify(unknownCrit.slice(0, 80))} is not one Berth processes (a verification plugin's, perhaps)`);
  }
  if (!isObject(header) || !Array.isArray(header.x5c) || header.x5c.length === 0 || header.x5c.length > MAX_CHAIN_LENGTH) {
    return bad(`header.x5c must hold 1 to ${MAX_CHAIN_LENGTH} certificates`);
  }
  const chain: X509Certificate[] = [];
  for (const entry of header.x5c) {
    const der = decodeBase64(entry);
    let cert: X509Certificate | null = null;
    try {
      cert = der ? new X509Certificate(der) : null;
    } catch {
      cert = null;
    }
    if (!cert) return bad(`x5c[${chain.length}] is not a base64 DER certificate`);
    chain.push(cert);
  }
  const payload = tryJson(payloadBytes);
  const target = isObject(payload) ? payload.targetArtifact : undefined;
  if (!isObject(target) || typeof target.mediaType !== 'string' || typeof target.digest !== 'string' || typeof target.size !== 'number') {
    return bad('the payload has no targetArtifact with mediaType, digest and size');
  }
  return {
    protectedText, payloadText, signature, alg, signingTime, expiry, chain,
    target: { mediaType: target.mediaType, digest: target.digest, size: target.size },
  };
}

/** Whether `child` was issued and signed by `issuer`. */
function issuedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * The trusted certificate the chain ends at, and how many of the chain's
 * certificates lead to it: a trusted certificate may be in the chain (the
 * root, an intermediate, or the leaf itself), or be the issuer of its last
 * certificate (a chain sent without its root).
 */
function anchorOf(chain: readonly X509Certificate[], anchors: readonly NotationAnchor[]): { anchor: NotationAnchor; path: X509Certificate[] } | null {
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i] as X509Certificate;
    const anchor = anchors.find((a) => a.cert.fingerprint256 === c.fingerprint256);
    if (anchor) return { anchor, path: chain.slice(0, i + 1) };
  }
  const last = chain[chain.length - 1] as X509Certificate;
  const anchor = anchors.find((a) => last.checkIssued(a.cert));
  return anchor ? { anchor, path: [...chain, anchor.cert] } : null;
}

/** Checks one JWS envelope about `digest` against the trusted notation certificates, at `now`. */
export function verifyNotation(bytes: Buffer, digest: string, anchors: readonly NotationAnchor[], now: number): Verdict {
  const env = parseEnvelope(bytes);
  if ('verified' in env) return env;
  const leaf = env.chain[0] as X509Certificate;
  const facts = { signer: subjectOf(leaf), signedAt: new Date(env.signingTime).toISOString() };
  if (env.target.digest !== digest) return refused('digest-mismatch', `the payload signs ${env.target.digest.slice(0, 100)}, not this image`, facts);
  if (algorithmOf(leaf.publicKey) !== env.alg) return refused('bad-payload', `alg ${env.alg} does not match the signing certificate's key`, facts);
  const found = anchorOf(env.chain, anchors);
  if (!found) {
    return refused('unknown-key', anchors.length === 0
      ? 'no notation certificate is trusted for this repository'
      : `the certificate chain of ${facts.signer} leads to none of the ${anchors.length} trusted notation certificate(s)`, facts);
  }
  const keyName = found.anchor.name;
  const withKey = { ...facts, keyName };
  for (let i = 0; i + 1 < found.path.length; i++) {
    if (!issuedBy(found.path[i] as X509Certificate, found.path[i + 1] as X509Certificate)) {
      return refused('bad-signature', `certificate ${i} of the chain is not signed by the certificate after it`, withKey);
    }
    if (!(found.path[i + 1] as X509Certificate).ca) return refused('bad-signature', `certificate ${i + 1} of the chain issues certificates but is not a CA`, withKey);
  }
  const usage = leaf.keyUsage;
  if (usage && usage.length > 0 && !usage.includes(CODE_SIGNING)) return refused('bad-signature', 'the signing certificate is not for code signing', withKey);
  const a = ALGORITHMS[env.alg] as { hash: string; kind: 'rsa' | 'ec' };
  const input = Buffer.from(`${env.protectedText}.${env.payloadText}`, 'ascii');
  let ok = false;
  try {
    ok = a.kind === 'rsa'
      ? verify(a.hash, input, { key: leaf.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(a.hash.slice(3)) / 8 }, env.signature)
      : verify(a.hash, input, { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, env.signature);
  } catch {
    ok = false;
  }
  if (!ok) return refused('bad-signature', `the JWS signature does not verify under the key of ${facts.signer}`, withKey);
  const stale = found.path.findIndex((c) => !inDate(c, now));
  if (stale >= 0) {
    const c = found.path[stale] as X509Certificate;
    return refused('expired', `certificate ${stale} of the chain (${subjectOf(c)}) is valid from ${new Date(Date.parse(c.validFrom)).toISOString()} to ${new Date(Date.parse(c.validTo)).toISOString()}`, withKey);
  }
  if (env.expiry !== null && now > env.expiry) return refused('expired', `the signature expired at ${new Date(env.expiry).toISOString()}`, withKey);
  return verified(keyName, `signed by ${facts.signer}, chained to notation certificate ${keyName}`, withKey);
}
