import { X509Certificate, type KeyObject } from 'node:crypto';
import { DerError, TAG, decodeOid, decodeString, decodeTime, expectTag, readChildren, readTlv, type Tlv } from './der.js';

/**
 * X.509 as notary's root checks see it (`tuf/utils/x509.go`,
 * `trustpinning/certs.go`). Node parses and verifies the certificate; the DER
 * reader supplies what Node does not expose.
 */

export interface CertificateInfo {
  der: Buffer;
  certificate: X509Certificate;
  /** The subject's CommonName as Go reads it: the last CN attribute, or ''. */
  commonName: string;
  /** basicConstraints cA (Go's `IsCA`); false when the extension is absent. */
  isCA: boolean;
  notBefore: Date;
  notAfter: Date;
  /** OID of the outer signatureAlgorithm. */
  signatureAlgorithm: string;
  publicKey: KeyObject;
}

const OID_COMMON_NAME = '2.5.4.3';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';

/** sha1WithRSAEncryption, dsa-with-sha1, ecdsa-with-SHA1: refused by notary. */
export const SHA1_SIGNATURE_ALGORITHMS: ReadonlySet<string> = new Set(['1.2.840.113549.1.1.5', '1.2.840.10040.4.3', '1.2.840.10045.4.1']);

/** notary's `MinRSABitSize`. */
export const MIN_RSA_BITS = 2048;

function commonNameOf(name: Buffer): string {
  let cn = '';
  for (const rdn of readChildren({ tag: TAG.SEQUENCE, content: name, end: 0 })) {
    for (const atv of readChildren(expectTag(rdn, TAG.SET, 'RDN'))) {
      const [type, value] = readChildren(expectTag(atv, TAG.SEQUENCE, 'attribute'));
      if (decodeOid(expectTag(type, TAG.OID, 'attribute type').content) === OID_COMMON_NAME && value) cn = decodeString(value);
    }
  }
  return cn;
}

function isCAOf(extensions: Buffer | undefined): boolean {
  if (!extensions) return false;
  const list = readTlv(extensions);
  for (const ext of readChildren(expectTag(list, TAG.SEQUENCE, 'extensions'))) {
    const parts = readChildren(expectTag(ext, TAG.SEQUENCE, 'extension'));
    if (decodeOid(expectTag(parts[0], TAG.OID, 'extension id').content) !== OID_BASIC_CONSTRAINTS) continue;
    const value = expectTag(parts[parts.length - 1], TAG.OCTET_STRING, 'extension value');
    const first = readChildren(expectTag(readTlv(value.content), TAG.SEQUENCE, 'basicConstraints'))[0];
    return first?.tag === TAG.BOOLEAN && (first.content[0] ?? 0) !== 0;
  }
  return false;
}

/** Parses one DER certificate. Throws when Node or the DER reader cannot. */
export function parseCertificate(der: Buffer): CertificateInfo {
  const certificate = new X509Certificate(der);
  const outer = readChildren(expectTag(readTlv(der), TAG.SEQUENCE, 'certificate'));
  const tbs = readChildren(expectTag(outer[0], TAG.SEQUENCE, 'tbsCertificate'));
  const sigAlg = readChildren(expectTag(outer[1], TAG.SEQUENCE, 'signatureAlgorithm'));
  let i = tbs[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version
  i += 2; // serialNumber, signature
  i += 1; // issuer
  const validity = readChildren(expectTag(tbs[i++], TAG.SEQUENCE, 'validity'));
  const subject = expectTag(tbs[i++], TAG.SEQUENCE, 'subject');
  i += 1; // subjectPublicKeyInfo
  const extensions = tbs.slice(i).find((t) => t.tag === 0xa3)?.content;
  if (validity.length !== 2) throw new DerError('bad validity');
  return {
    der,
    certificate,
    commonName: commonNameOf(subject.content),
    isCA: isCAOf(extensions),
    notBefore: decodeTime(validity[0] as Tlv),
    notAfter: decodeTime(validity[1] as Tlv),
    signatureAlgorithm: decodeOid(expectTag(sigAlg[0], TAG.OID, 'algorithm').content),
    publicKey: certificate.publicKey,
  };
}

export interface PemBlock {
  type: string;
  bytes: Buffer;
}

const PEM_BLOCK = /-----BEGIN ([^\r\n-]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

/** The PEM blocks in `text`, in order (text between blocks is ignored, as Go's `pem.Decode` does). */
export function parsePemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    // Headers ("Proc-Type: …") end with a blank line before the base64 body.
    const body = (m[2] as string).includes(':') ? (m[2] as string).replace(/^[\s\S]*?\r?\n\r?\n/, '') : (m[2] as string);
    out.push({ type: m[1] as string, bytes: Buffer.from(body.replace(/\s+/g, ''), 'base64') });
  }
  return out;
}

/** A DER certificate as Go's `pem.EncodeToMemory` writes it (64-column base64, trailing newline). */
export function certificateToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}${lines.length ? '\n' : ''}-----END CERTIFICATE-----\n`;
}

/**
 * Go's `LoadCertBundleFromPEM`: every block must be a CERTIFICATE that
 * parses, and there must be at least one; otherwise `undefined`.
 */
export function parseCertificateBundle(pemText: string): CertificateInfo[] | undefined {
  const blocks = parsePemBlocks(pemText);
  if (blocks.length === 0) return undefined;
  const certs: CertificateInfo[] = [];
  for (const block of blocks) {
    if (block.type !== 'CERTIFICATE') return undefined;
    try {
      certs.push(parseCertificate(block.bytes));
    } catch {
      return undefined;
    }
  }
  return certs;
}

const DAY_MS = 86_400_000;

/**
 * notary's `ValidateCertificate`: the reason `cert` is unusable, or
 * `undefined`. With `checkExpiry`, a certificate is refused when `now` is
 * past notAfter or more than one day before notBefore (notary's leeway).
 */
export function certificateProblem(cert: CertificateInfo, now: Date, checkExpiry: boolean): string | undefined {
  if (cert.notBefore.getTime() > cert.notAfter.getTime()) return 'certificate validity window is invalid';
  if (SHA1_SIGNATURE_ALGORITHMS.has(cert.signatureAlgorithm)) {
    return `certificate with CN ${cert.commonName} uses invalid SHA1 signature algorithm`;
  }
  if (cert.publicKey.asymmetricKeyType === 'rsa' && (cert.publicKey.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
    return 'RSA bit length is too short';
  }
  if (checkExpiry) {
    const t = now.getTime();
    if (t + DAY_MS < cert.notBefore.getTime() || t > cert.notAfter.getTime()) return `certificate with CN ${cert.commonName} is expired`;
  }
  return undefined;
}

/**
 * notary's `MatchCNToGun`: equal, or a CN ending in `*` whose prefix (all
 * trailing `*` removed) starts the GUN.
 */
export function commonNameMatchesGun(commonName: string, gun: string): boolean {
  if (commonName.endsWith('*')) return gun.startsWith(commonName.replace(/\*+$/, ''));
  return commonName === gun;
}
