import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Encrypts the private keys the trust server holds (timestamp and snapshot
 * keys) before they reach the database, with AES-256-GCM under a key derived
 * (HKDF-SHA256) from the operator's secret. Each ciphertext is bound to the
 * row it belongs to (`context`: repository, role and key id, as associated
 * data), so a ciphertext copied onto another row does not decrypt. The
 * secret and the plaintext keys are never logged.
 *
 * Format: `v1.<iv>.<tag>.<ciphertext>`, each base64url.
 */
export class KeyVault {
  private readonly key: Buffer;

  /** `secret`: at least 32 bytes of entropy (a random file, or a long passphrase). */
  constructor(secret: Buffer) {
    if (secret.length < 32) throw new Error('the trust key-encryption secret must be at least 32 bytes');
    this.key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), Buffer.from('berth trust key vault v1'), 32));
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join('.');
  }

  /** Throws when the sealed text was made with another secret, for another context, or was altered. */
  open(sealed: string, context: string): string {
    const [version, iv, tag, data] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('not a sealed key');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('a server key does not decrypt: the trust key-encryption secret differs from the one it was sealed with (trust.keysecret)');
    }
  }
}
