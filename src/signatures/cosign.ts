import { constants, publicDecrypt, verify, type KeyObject } from 'node:crypto';
import { COSIGN_PAYLOAD_TYPE } from './formats.js';
import type { CosignKey } from './keys.js';
import { decodeBase64, isObject, refused, tryJson, verified, type Verdict } from './verdict.js';

/**
 * sigstore "simple signing" (cosign, and skopeo and podman with
 * --sign-by-sigstore-private-key): the payload is a JSON document
 *
 *   {"critical": {"identity": {"docker-reference": "host/repo"},
 *                 "image": {"docker-manifest-digest": "sha256:…"},
 *                 "type": "cosign container image signature"},
 *    "optional": {"creator": "…", "timestamp": 1700000000} | null}
 *
 * and the signature, base64 in the layer annotation
 * `dev.cosignproject.cosign/signature`, is made over the payload bytes:
 * ECDSA (ASN.1 DER, SHA-256; SHA-384/512 also accepted for P-384/P-521),
 * Ed25519 (over the bytes themselves) or RSA (PKCS#1 v1.5 or PSS, SHA-256).
 */

/** The hashes an ECDSA key of this curve may have been used with. */
function ecHashes(key: KeyObject): string[] {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'secp384r1') return ['sha384', 'sha256'];
  if (curve === 'secp521r1') return ['sha512', 'sha256'];
  return ['sha256'];
}

function verifiesUnder(key: KeyObject, payload: Buffer, signature: Buffer): boolean {
  try {
    switch (key.asymmetricKeyType) {
      case 'ec':
        return ecHashes(key).some((h) => verify(h, payload, key, signature));
      case 'ed25519':
        return verify(null, payload, key, signature);
      case 'rsa':
        return verify('sha256', payload, key, signature)
          || verify('sha256', payload, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, signature);
      default:
        return false;
    }
  } catch {
    // A signature of the wrong shape for this key type (bad DER, wrong length).
    return false;
  }
}

/**
 * True when `signature` is an RSA PKCS#1 v1.5 signature made by `key`,
 * whatever it signed: the padding only decodes under the key that made it.
 * This is how a payload changed after signing is told apart from a
 * signature by someone else; ECDSA and Ed25519 signatures carry no such
 * trace, so for them the two read the same (unknown-key).
 */
function madeBy(key: KeyObject, signature: Buffer): boolean {
  if (key.asymmetricKeyType !== 'rsa') return false;
  try {
    publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
    return true;
  } catch {
    return false;
  }
}

interface SimpleSigning {
  digest: string;
  reference: string;
  timestamp: string | null;
}

function parsePayload(payload: Buffer): SimpleSigning | string {
  const doc = tryJson(payload);
  if (doc === undefined) return 'the payload is not JSON';
  if (!isObject(doc) || !isObject(doc.critical)) return 'the payload has no "critical" object';
  const { critical } = doc;
  if (critical.type !== COSIGN_PAYLOAD_TYPE) return `critical.type is not "${COSIGN_PAYLOAD_TYPE}"`;
  const image = critical.image;
  const digest = isObject(image) ? image['docker-manifest-digest'] : undefined;
  if (typeof digest !== 'string' || digest.length === 0) return 'critical.image.docker-manifest-digest is missing';
  const identity = critical.identity;
  const reference = isObject(identity) ? identity['docker-reference'] : undefined;
  if (typeof reference !== 'string') return 'critical.identity.docker-reference is missing';
  let timestamp: string | null = null;
  if (doc.optional !== undefined && doc.optional !== null) {
    if (!isObject(doc.optional)) return '"optional" is neither an object nor null';
    const ts = doc.optional.timestamp;
    if (ts !== undefined) {
      if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0 || ts > 253402300799) return 'optional.timestamp is not a time in whole seconds';
      timestamp = new Date(ts * 1000).toISOString();
    }
  }
  return { digest, reference, timestamp };
}

/** Checks one simple-signing payload and its base64 signature, about `digest`, against the trusted cosign keys. */
export function verifyCosign(payload: Buffer, signatureText: unknown, digest: string, keys: readonly CosignKey[]): Verdict {
  const parsed = parsePayload(payload);
  if (typeof parsed === 'string') return refused('bad-payload', `${parsed}: not a simple-signing payload`);
  const facts = { signer: parsed.reference || null, signedAt: parsed.timestamp };
  if (parsed.digest !== digest) return refused('digest-mismatch', `the payload signs ${parsed.digest.slice(0, 100)}, not this image`, facts);
  const signature = decodeBase64(signatureText);
  if (!signature) return refused('bad-payload', 'the layer has no base64 signature in its dev.cosignproject.cosign/signature annotation', facts);
  if (keys.length === 0) return refused('unknown-key', 'no cosign key is trusted for this repository', facts);
  for (const k of keys) {
    if (verifiesUnder(k.key, payload, signature)) return verified(k.name, `signed by cosign key ${k.name}`, { ...facts, keyName: k.name });
  }
  const maker = keys.find((k) => madeBy(k.key, signature));
  if (maker) return refused('bad-signature', `made by key ${maker.name}, but over other bytes than this payload`, { ...facts, keyName: maker.name });
  return refused('unknown-key', `the signature verifies under none of the ${keys.length} trusted cosign key(s); a cosign signature does not name its key, so a damaged signature reads the same as one by another key`, facts);
}
