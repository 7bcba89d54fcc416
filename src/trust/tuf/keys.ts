import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as cryptoSign,
  verify as cryptoVerify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { canonicalBytes } from './canonical-json.js';
import { decodeGoBase64, encodeBase64, sha256Hex } from './encoding.js';
import { parsePemBlocks } from './x509.js';

/**
 * TUF public keys and signatures as notary writes them (`tuf/data/keys.go`,
 * `tuf/signed/verifiers.go`).
 *
 * | keytype      | `keyval.public` is base64 of            |
 * |--------------|-----------------------------------------|
 * | `ecdsa`      | DER SubjectPublicKeyInfo (P-256 in practice) |
 * | `ecdsa-x509` | the PEM *text* of an X.509 certificate  |
 * | `rsa`        | DER SubjectPublicKeyInfo                |
 * | `rsa-x509`   | the PEM text of an X.509 certificate    |
 * | `ed25519`    | the raw 32-byte public key              |
 */

export const KEY_TYPES = ['ecdsa', 'ecdsa-x509', 'ed25519', 'rsa', 'rsa-x509'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** Signature methods notary registers (`Verifiers`), lower case as parsed. */
export const SIGNATURE_METHODS = ['ecdsa', 'eddsa', 'rsapss', 'rsapkcs1v15', 'pycrypto-pkcs#1 pss'] as const;
export type SignatureMethod = (typeof SIGNATURE_METHODS)[number];

/** A TUF public key. `keytype` is kept as written: unknown types parse, but never verify. */
export interface TufKey {
  keytype: string;
  keyval: { public: string; private: null };
}

/** One entry of a metadata file's `signatures`. `sig` is standard base64. */
export interface TufSignature {
  keyid: string;
  method: string;
  sig: string;
}

/** A server-held signing key. */
export interface GeneratedKey {
  publicKey: TufKey;
  /** PKCS#8 PEM. Secret: store it as such and never log it. */
  privateKeyPem: string;
  keyId: string;
}

/** Key material that cannot be decoded or used for its keytype. */
export class TufKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TufKeyError';
  }
}

/** notary's `minRSAKeySizeBit` for RSA signatures. */
const MIN_RSA_SIGNATURE_BITS = 2048;

/** Curves Go's ECDSA verifier knows, with their sizes in bits. */
const CURVE_BITS: Record<string, number> = { secp224r1: 224, prime256v1: 256, secp384r1: 384, secp521r1: 521 };

/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw key follows. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The decoded `keyval.public` bytes. Throws {@link TufKeyError} when it is not Go-valid base64. */
export function publicKeyBytes(key: TufKey): Buffer {
  const bytes = decodeGoBase64(key.keyval.public);
  if (!bytes) throw new TufKeyError('key public value is not valid base64');
  return bytes;
}

/**
 * The key ID: lower-case hex SHA-256 of the canonical JSON of
 * `{"keytype":T,"keyval":{"private":null,"public":B64}}`, where B64 is the
 * public bytes re-encoded as Go writes them (so a `public` with line breaks
 * has the same ID as without). Throws {@link TufKeyError} for invalid base64.
 *
 * @example keyId(generateEcdsaKey().publicKey) // 64 hex characters
 */
export function keyId(key: TufKey): string {
  const pub = encodeBase64(publicKeyBytes(key));
  return sha256Hex(canonicalBytes({ keytype: key.keytype, keyval: { private: null, public: pub } }));
}

/**
 * The key as Go's `json.Marshal` writes a TUF key (struct order: `public`
 * before `private`), as notary serves `GET …/timestamp.key`:
 * `{"keytype":"ecdsa","keyval":{"public":"MFkw…","private":null}}`.
 */
export function publicKeyJson(key: TufKey): string {
  return `{"keytype":${JSON.stringify(key.keytype)},"keyval":{"public":${JSON.stringify(key.keyval.public)},"private":null}}`;
}

function certificatePublicKey(pemText: string): KeyObject {
  // Go: pem.Decode takes the first block, whatever its type, and parses it as a certificate.
  const first = parsePemBlocks(pemText)[0];
  if (!first) throw new TufKeyError('no PEM block in certificate key');
  try {
    return new X509Certificate(first.bytes).publicKey;
  } catch {
    throw new TufKeyError('certificate key does not hold a parsable certificate');
  }
}

function spkiPublicKey(der: Buffer): KeyObject {
  try {
    return createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    throw new TufKeyError('key is not a DER SubjectPublicKeyInfo');
  }
}

/**
 * The node:crypto public key behind a TUF key: from the SPKI DER (`ecdsa`,
 * `rsa`), the raw bytes (`ed25519`) or the first PEM certificate
 * (`ecdsa-x509`, `rsa-x509`). Throws {@link TufKeyError} for unknown key
 * types, undecodable material, or material of another algorithm than the
 * keytype names.
 */
export function toKeyObject(key: TufKey): KeyObject {
  const bytes = publicKeyBytes(key);
  let obj: KeyObject;
  let expected: string;
  switch (key.keytype) {
    case 'ecdsa':
      [obj, expected] = [spkiPublicKey(bytes), 'ec'];
      break;
    case 'rsa':
      [obj, expected] = [spkiPublicKey(bytes), 'rsa'];
      break;
    case 'ecdsa-x509':
      [obj, expected] = [certificatePublicKey(bytes.toString('utf8')), 'ec'];
      break;
    case 'rsa-x509':
      [obj, expected] = [certificatePublicKey(bytes.toString('utf8')), 'rsa'];
      break;
    case 'ed25519':
      if (bytes.length !== 32) throw new TufKeyError('ed25519 public key must be 32 bytes.');
      [obj, expected] = [spkiPublicKey(Buffer.concat([ED25519_SPKI_PREFIX, bytes])), 'ed25519'];
      break;
    default:
      throw new TufKeyError(`unsupported key type: ${key.keytype}`);
  }
  if (obj.asymmetricKeyType !== expected) throw new TufKeyError(`${key.keytype} key holds an ${obj.asymmetricKeyType} key`);
  return obj;
}

/**
 * A TUF key for a PEM certificate: `ecdsa-x509` or `rsa-x509` after the
 * certificate's key, `public` = base64 of the PEM text exactly as given.
 */
export function x509Key(certPem: string): TufKey {
  const type = certificatePublicKey(certPem).asymmetricKeyType;
  if (type !== 'ec' && type !== 'rsa') throw new TufKeyError(`unsupported certificate key type: ${type}`);
  return { keytype: type === 'ec' ? 'ecdsa-x509' : 'rsa-x509', keyval: { public: Buffer.from(certPem, 'utf8').toString('base64'), private: null } };
}

function describePrivate(privateKeyPem: string): { key: KeyObject; publicKey: TufKey; method: SignatureMethod } {
  const key = createPrivateKey(privateKeyPem);
  const pub = createPublicKey(key);
  switch (key.asymmetricKeyType) {
    case 'ec':
      return { key, method: 'ecdsa', publicKey: { keytype: 'ecdsa', keyval: { public: encodeBase64(pub.export({ type: 'spki', format: 'der' })), private: null } } };
    case 'rsa':
      return { key, method: 'rsapss', publicKey: { keytype: 'rsa', keyval: { public: encodeBase64(pub.export({ type: 'spki', format: 'der' })), private: null } } };
    case 'ed25519': {
      const raw = pub.export({ type: 'spki', format: 'der' }).subarray(ED25519_SPKI_PREFIX.length);
      return { key, method: 'eddsa', publicKey: { keytype: 'ed25519', keyval: { public: encodeBase64(raw), private: null } } };
    }
    default:
      throw new TufKeyError(`unsupported private key type: ${key.asymmetricKeyType}`);
  }
}

/** The TUF public key (`ecdsa`, `rsa` or `ed25519`) of a PEM private key. */
export function publicKeyFromPrivate(privateKeyPem: string): TufKey {
  return describePrivate(privateKeyPem).publicKey;
}

/**
 * A new server-held key: ECDSA P-256, keytype `ecdsa`, the private key as
 * PKCS#8 PEM, and its key ID.
 */
export function generateEcdsaKey(): GeneratedKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicKey = publicKeyFromPrivate(privateKeyPem);
  return { publicKey, privateKeyPem, keyId: keyId(publicKey) };
}

/**
 * Signs `bytes` (the canonical JSON of a `signed` value) the way notary's
 * keys do: ECDSA → method `ecdsa`, SHA-256, raw r‖s (`ieee-p1363`); Ed25519 →
 * `eddsa`; RSA → `rsapss` (SHA-256, 32-byte salt). `keyid` is the ID of the
 * key's plain public form unless `options.keyId` names another (a
 * certificate key's ID, for a root signature).
 */
export function sign(privateKeyPem: string, bytes: Uint8Array, options: { keyId?: string } = {}): TufSignature {
  const { key, publicKey, method } = describePrivate(privateKeyPem);
  let sig: Buffer;
  if (method === 'ecdsa') sig = cryptoSign('sha256', bytes, { key, dsaEncoding: 'ieee-p1363' });
  else if (method === 'eddsa') sig = cryptoSign(null, bytes, key);
  else sig = cryptoSign('sha256', bytes, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  return { keyid: options.keyId ?? keyId(publicKey), method, sig: encodeBase64(sig) };
}

function rsaKeyFor(key: TufKey): KeyObject | undefined {
  if (key.keytype !== 'rsa' && key.keytype !== 'rsa-x509') return undefined;
  const obj = toKeyObject(key);
  return (obj.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_SIGNATURE_BITS ? obj : undefined;
}

function verifyPss(obj: KeyObject, sig: Buffer, message: Uint8Array): boolean {
  return cryptoVerify('sha256', message, { key: obj, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
}

/**
 * Whether `sig` is a valid signature of `message` by `key` with `method`
 * (case-insensitive), by the rules of notary's verifiers:
 *
 * - `ecdsa`: `ecdsa`/`ecdsa-x509` key; SHA-256; raw r‖s of exactly twice the
 *   curve's byte size (64 bytes for P-256); any other length is refused.
 * - `eddsa`: `ed25519` key, 64-byte signature.
 * - `rsapss` (32-byte salt) and `rsapkcs1v15`: `rsa`/`rsa-x509` key of at
 *   least 2048 bits, SHA-256.
 * - `pycrypto-pkcs#1 pss`: `rsa` key whose public bytes are PEM text.
 *
 * Never throws: a mismatched key type, unusable key or unknown method is
 * simply not a valid signature (notary skips such signatures too).
 */
export function verifySignature(key: TufKey, method: string, sig: Uint8Array, message: Uint8Array): boolean {
  const signature = Buffer.from(sig);
  try {
    switch (method.toLowerCase()) {
      case 'ecdsa': {
        if (key.keytype !== 'ecdsa' && key.keytype !== 'ecdsa-x509') return false;
        const obj = toKeyObject(key);
        const bits = CURVE_BITS[obj.asymmetricKeyDetails?.namedCurve ?? ''];
        if (!bits || signature.length !== 2 * Math.ceil(bits / 8)) return false;
        return cryptoVerify('sha256', message, { key: obj, dsaEncoding: 'ieee-p1363' }, signature);
      }
      case 'eddsa': {
        if (key.keytype !== 'ed25519' || signature.length !== 64) return false;
        return cryptoVerify(null, message, toKeyObject(key), signature);
      }
      case 'rsapss': {
        const obj = rsaKeyFor(key);
        return !!obj && signature.length >= MIN_RSA_SIGNATURE_BITS / 8 && verifyPss(obj, signature, message);
      }
      case 'rsapkcs1v15': {
        const obj = rsaKeyFor(key);
        return (
          !!obj &&
          signature.length >= MIN_RSA_SIGNATURE_BITS / 8 &&
          cryptoVerify('sha256', message, { key: obj, padding: constants.RSA_PKCS1_PADDING }, signature)
        );
      }
      case 'pycrypto-pkcs#1 pss': {
        if (key.keytype !== 'rsa') return false;
        const block = parsePemBlocks(publicKeyBytes(key).toString('utf8'))[0];
        if (!block) return false;
        const obj = spkiPublicKey(block.bytes);
        if (obj.asymmetricKeyType !== 'rsa' || (obj.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_SIGNATURE_BITS) return false;
        return signature.length >= MIN_RSA_SIGNATURE_BITS / 8 && verifyPss(obj, signature, message);
      }
      default:
        return false;
    }
  } catch {
    return false;
  }
}
