import { randomUUID, X509Certificate, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { AccessRequest } from './access.js';
import { expandActions } from './scope.js';
import { libtrustKeyId, type SigningKey } from './keys.js';

/**
 * Registry bearer tokens as the Docker token specification describes them:
 * a JWT with `iss`, `sub`, `aud` (the service), `exp`, `nbf`, `iat`, `jti` and
 * an `access` claim listing the granted actions per resource.
 */
export interface TokenClaims {
  issuer: string;
  subject: string;
  audience: string;
  access: AccessRequest[];
  expiresAt: number;
  /** Issued to a login with an access token (claim `berth_login: "token"`): the subject is not a full user session. */
  accessTokenLogin: boolean;
  /** The login session it belongs to (claim `berth_session`), when the issuer can revoke sessions. */
  session: string | undefined;
}

export const ALLOWED_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'EdDSA'];

export async function issueToken(key: SigningKey, c: { issuer: string; subject: string; audience: string; access: AccessRequest[]; ttlSeconds: number; accessTokenLogin?: boolean; session?: string | undefined }): Promise<{ token: string; issuedAt: Date; expiresIn: number }> {
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ access: c.access, ...(c.accessTokenLogin ? { berth_login: 'token' } : {}), ...(c.session ? { berth_session: c.session } : {}) })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(c.issuer)
    .setSubject(c.subject)
    .setAudience(c.audience)
    .setIssuedAt(now)
    .setNotBefore(now - 5)
    .setExpirationTime(now + c.ttlSeconds)
    .setJti(randomUUID())
    .sign(key.privateKey);
  return { token, issuedAt: new Date(now * 1000), expiresIn: c.ttlSeconds };
}

/** Where verification finds keys: Berth's own, and/or a bundle of trusted certificates. */
export interface VerificationKeys {
  own?: SigningKey[];
  bundle?: X509Certificate[];
}

export class TokenInvalidError extends Error {
  constructor(readonly reason: string) {
    super(`invalid token: ${reason}`);
    this.name = 'TokenInvalidError';
  }
}

function base64Der(b64: string): Buffer {
  return Buffer.from(b64, 'base64');
}

/**
 * The leaf certificate of a header's `x5c` chain. The header is attacker
 * input: anything but an array of base64 DER certificates (`"abc"`,
 * `[123]`, `[null]`, `{"length":1}`, `["AAAA"]`) is an invalid token.
 */
function x5cLeaf(x5c: unknown): X509Certificate {
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > 10 || !x5c.every((c) => typeof c === 'string' && c.length <= 16384)) {
    throw new TokenInvalidError('malformed x5c header');
  }
  try {
    return new X509Certificate(base64Der(x5c[0] as string));
  } catch {
    throw new TokenInvalidError('malformed x5c certificate');
  }
}

/** Finds the public key a token claims to be signed with, among trusted keys only. */
function resolveKey(header: { kid?: unknown; x5c?: unknown }, keys: VerificationKeys): KeyObject {
  if (header.x5c !== undefined && keys.bundle) {
    // The leaf must be a bundle certificate, or be signed by one (registry:2's rule).
    const leaf = x5cLeaf(header.x5c);
    const now = Date.now();
    if (Date.parse(leaf.validFrom) > now || Date.parse(leaf.validTo) < now) throw new TokenInvalidError('signing certificate is not valid now');
    const issuedBy = (root: X509Certificate) => {
      try {
        return leaf.checkIssued(root) && leaf.verify(root.publicKey);
      } catch {
        return false; // e.g. a key type the root cannot verify
      }
    };
    const trusted = keys.bundle.some((root) => root.fingerprint256 === leaf.fingerprint256 || issuedBy(root));
    if (!trusted) throw new TokenInvalidError('signing certificate is not trusted');
    return leaf.publicKey;
  }
  if (typeof header.kid === 'string' && header.kid) {
    for (const k of keys.own ?? []) if (k.kid === header.kid) return k.publicKey;
    for (const cert of keys.bundle ?? []) if (libtrustKeyId(cert.publicKey) === header.kid) return cert.publicKey;
  }
  throw new TokenInvalidError('unknown signing key');
}

/**
 * Verifies signature, issuer, audience and lifetime (60 s of clock skew
 * allowed). `alg: none` and algorithms outside ALLOWED_ALGORITHMS are refused.
 */
export async function verifyToken(token: string, keys: VerificationKeys, expect: { issuer: string; audience: string }): Promise<TokenClaims> {
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new TokenInvalidError('malformed');
  }
  if (typeof header.alg !== 'string' || !ALLOWED_ALGORITHMS.includes(header.alg)) throw new TokenInvalidError('algorithm not allowed');
  const key = resolveKey(header as { kid?: unknown; x5c?: unknown }, keys);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, key, { issuer: expect.issuer, audience: expect.audience, algorithms: ALLOWED_ALGORITHMS, clockTolerance: 60, requiredClaims: ['exp'] }));
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'ERR_JWT_INVALID';
    throw new TokenInvalidError(code === 'ERR_JWT_EXPIRED' ? 'expired' : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' ? `claim ${(err as { claim?: string }).claim ?? ''} rejected` : 'signature or format rejected');
  }
  return {
    issuer: payload.iss ?? '',
    subject: payload.sub ?? '',
    audience: expect.audience,
    access: parseAccessClaim(payload.access),
    expiresAt: (payload.exp ?? 0) * 1000,
    accessTokenLogin: payload.berth_login === 'token',
    session: typeof payload.berth_session === 'string' ? payload.berth_session : undefined,
  };
}

function parseAccessClaim(value: unknown): AccessRequest[] {
  if (!Array.isArray(value)) return [];
  const out: AccessRequest[] = [];
  for (const v of value.slice(0, 100)) {
    if (typeof v !== 'object' || v === null) continue;
    const { type, name, actions } = v as Record<string, unknown>;
    if ((type !== 'repository' && type !== 'registry') || typeof name !== 'string' || !Array.isArray(actions)) continue;
    out.push({ type, name, actions: expandActions(actions) });
  }
  return out;
}
