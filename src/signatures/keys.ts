import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { TrustedKey } from './types.js';

/** A cosign public key, ready to verify with. */
export interface CosignKey {
  name: string;
  key: KeyObject;
}

/** A notation trust anchor (root, intermediate or leaf certificate). */
export interface NotationAnchor {
  name: string;
  cert: X509Certificate;
}

export interface ParsedKeys {
  cosign: CosignKey[];
  notation: NotationAnchor[];
}

const COSIGN_KEY_TYPES = new Set(['ec', 'ed25519', 'rsa']);

/**
 * Why `key` cannot be used, as a sentence naming the key, or null when it
 * can: for a trust policy to check keys when they are written, so that a
 * bad key is refused there rather than silently matching nothing here.
 */
export function checkTrustedKey(key: TrustedKey): string | null {
  try {
    parseOne(key);
    return null;
  } catch (err) {
    return `key ${JSON.stringify(key.name)}: ${(err as Error).message}`;
  }
}

function parseOne(key: TrustedKey): CosignKey | NotationAnchor {
  if (key.kind === 'cosign') {
    if (!/-----BEGIN PUBLIC KEY-----/.test(key.pem)) throw new Error('a cosign key must be a PEM public key (BEGIN PUBLIC KEY)');
    let k: KeyObject;
    try {
      k = createPublicKey({ key: key.pem, format: 'pem' });
    } catch {
      throw new Error('not a readable PEM public key');
    }
    if (!COSIGN_KEY_TYPES.has(k.asymmetricKeyType ?? '')) throw new Error(`a ${k.asymmetricKeyType ?? 'unknown'} key; cosign keys are ECDSA, Ed25519 or RSA`);
    return { name: key.name, key: k };
  }
  if (key.kind === 'notation') {
    if (!/-----BEGIN CERTIFICATE-----/.test(key.pem)) throw new Error('a notation key must be a PEM X.509 certificate (BEGIN CERTIFICATE)');
    try {
      return { name: key.name, cert: new X509Certificate(key.pem) };
    } catch {
      throw new Error('not a readable PEM certificate');
    }
  }
  throw new Error('kind must be cosign or notation');
}

/** The usable keys of `keys`, by format; a key that cannot be read is left out (checkTrustedKey says why). */
export function parseTrustedKeys(keys: readonly TrustedKey[]): ParsedKeys {
  const out: ParsedKeys = { cosign: [], notation: [] };
  for (const key of keys) {
    let parsed: CosignKey | NotationAnchor;
    try {
      parsed = parseOne(key);
    } catch {
      continue;
    }
    if ('key' in parsed) out.cosign.push(parsed);
    else out.notation.push(parsed);
  }
  return out;
}
