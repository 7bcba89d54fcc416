import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

/**
 * A private certificate authority and server certificates for a self-hosted
 * registry. Keys come from Node's crypto (fast, native); node-forge only
 * assembles and signs the X.509 structures, which Node cannot build.
 */
export interface Pem {
  cert: string;
  key: string;
}

const CA_DAYS = 3650;
/** Browsers and Apple clients refuse server certificates valid for longer. */
export const SERVER_DAYS = 825;

function rsaKeyPair(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  return {
    privateKey: forge.pki.privateKeyFromPem(pem),
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    pem,
  };
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] as number) & 0x7f; // positive
  return b.toString('hex');
}

function validity(cert: forge.pki.Certificate, days: number): void {
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * 86_400_000);
}

export function createCertificateAuthority(commonName = 'Berth private CA'): Pem {
  const keys = rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  validity(cert, CA_DAYS);
  const attrs = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'Berth' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.pem };
}

/** A server certificate for `hosts` (DNS names or IP addresses), signed by `ca`. */
export function createServerCertificate(ca: Pem, hosts: string[], days = SERVER_DAYS): Pem {
  if (hosts.length === 0) throw new Error('a server certificate needs at least one host name or IP address');
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const keys = rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  validity(cert, days);
  cert.setSubject([{ name: 'commonName', value: hosts[0] as string }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.pem };
}

/** Checks with Node's own X.509 code that `server` was issued by `ca` and names `host`. */
export function verifyServerCertificate(ca: string, server: string, host: string): boolean {
  const c = new X509Certificate(ca);
  const s = new X509Certificate(server);
  const names = isIP(host) ? s.checkIP(host) : s.checkHost(host);
  return s.checkIssued(c) && s.verify(c.publicKey) && names !== undefined;
}
