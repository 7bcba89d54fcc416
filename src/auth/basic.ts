/** Longest user name and password accepted in credentials (bounded inputs). */
export const MAX_USERNAME = 256;
export const MAX_PASSWORD = 1024;

export interface Credentials {
  username: string;
  password: string;
}

/**
 * Parses `Authorization: Basic …`. Returns null when the header is absent or
 * another scheme, 'invalid' when it is Basic but malformed or oversized.
 */
export function parseBasic(header: string | undefined): Credentials | null | 'invalid' {
  if (!header) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return /^Basic\b/i.test(header) ? 'invalid' : null;
  const b64 = m[1] as string;
  if (b64.length > ((MAX_USERNAME + MAX_PASSWORD + 1) * 4) / 3 + 4) return 'invalid';
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return 'invalid';
  const username = text.slice(0, colon);
  const password = text.slice(colon + 1);
  if (username.length > MAX_USERNAME || password.length > MAX_PASSWORD || /[\x00-\x1f]/.test(username)) return 'invalid';
  return { username, password };
}

export function bearerToken(header: string | undefined): string | null {
  const m = header ? /^Bearer\s+([A-Za-z0-9._~+/=-]{1,8192})\s*$/i.exec(header) : null;
  return m ? (m[1] as string) : null;
}
