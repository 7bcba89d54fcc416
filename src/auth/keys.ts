import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportPKCS8, generateKeyPair, importPKCS8 } from 'jose';

/**
 * Token signing keys. Berth's own issuer keeps an ES256 key in the data
 * folder (created on first start, mode 0600); tokens name it with a libtrust
 * key id, the form registry:2 and Notary use to find a key in their
 * `rootcertbundle`, so other servers can verify Berth's tokens too.
 */
export interface SigningKey {
  alg: 'ES256';
  kid: string;
  privateKey: KeyObject | CryptoKey;
  publicKey: KeyObject;
}

/** libtrust key id: base32 of the first 240 bits of sha256(DER SubjectPublicKeyInfo), in groups of 4. */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const digest = createHash('sha256').update(der).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return (out.match(/.{4}/g) ?? []).join(':');
}

export async function loadOrCreateSigningKey(file: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    pem = await exportPKCS8(privateKey);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, pem, { mode: 0o600 });
    await rename(tmp, file);
  }
  const privateKey = await importPKCS8(pem, 'ES256');
  const publicKey = createPublicKey(pem);
  return { alg: 'ES256', kid: libtrustKeyId(publicKey), privateKey, publicKey };
}

/** Certificates of a PEM bundle (registry:2's `auth.token.rootcertbundle`). */
export async function loadCertBundle(file: string): Promise<X509Certificate[]> {
  const text = await readFile(file, 'utf8');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${file}: no PEM certificate found`);
  return blocks.map((b) => new X509Certificate(b));
}
