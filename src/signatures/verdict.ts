import type { SignatureFinding, SignatureProblem } from './types.js';

/** What checking one signature concluded: a finding without where it was found. */
export type Verdict = Pick<SignatureFinding, 'verified' | 'keyName' | 'problem' | 'detail' | 'signer' | 'signedAt'>;

interface Facts {
  keyName?: string | null;
  signer?: string | null;
  signedAt?: string | null;
}

export function refused(problem: SignatureProblem, detail: string, facts: Facts = {}): Verdict {
  return { verified: false, keyName: facts.keyName ?? null, problem, detail, signer: facts.signer ?? null, signedAt: facts.signedAt ?? null };
}

export function verified(keyName: string, detail: string, facts: Facts = {}): Verdict {
  return { verified: true, keyName, problem: null, detail, signer: facts.signer ?? null, signedAt: facts.signedAt ?? null };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses JSON text, or returns undefined (never throws). */
export function tryJson(bytes: Buffer | string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** Standard base64 (padding optional), strictly: Buffer.from would skip bad characters. */
export function decodeBase64(s: unknown): Buffer | null {
  if (typeof s !== 'string' || s.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return null;
  return Buffer.from(s, 'base64');
}

/** Base64url without padding (RFC 7515), strictly. */
export function decodeBase64Url(s: unknown): Buffer | null {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) return null;
  return Buffer.from(s, 'base64url');
}
