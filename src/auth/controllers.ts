import { RegistryError } from '../errors/index.js';
import type { AccessController, AccessRequest, AuthRequest, Principal } from './access.js';
import type { Authenticator } from './authenticator.js';
import { bearerToken, parseBasic } from './basic.js';
import type { AccessPolicy } from './policy.js';
import { covers, formatScope } from './scope.js';
import { TokenInvalidError, verifyToken, type VerificationKeys } from './tokens.js';
import { LRUCache } from 'lru-cache';

function quoted(v: string): string {
  return v.replace(/["\\\r\n]/g, '');
}

/** The spec's error detail: which access was needed. */
function detail(access: readonly AccessRequest[]) {
  return access.map((a) => ({ Type: a.type, Name: a.name, Action: a.actions.join(',') }));
}

async function checkGrants(policy: AccessPolicy, principal: Principal, access: readonly AccessRequest[]): Promise<boolean> {
  for (const request of access) {
    const granted = await policy.grant(principal, request);
    if (!request.actions.every((a) => granted.includes(a))) return false;
  }
  return true;
}

/** registry:2's htpasswd mode: HTTP Basic on every request. */
export class BasicAccessController implements AccessController {
  constructor(private readonly options: { realm: string; authenticator: Authenticator; policy: AccessPolicy }) {}

  private unauthorized(access: readonly AccessRequest[], message?: string): RegistryError {
    return new RegistryError('UNAUTHORIZED', message, {
      headers: { 'WWW-Authenticate': `Basic realm="${quoted(this.options.realm)}"` },
      detail: detail(access),
    });
  }

  async authorize(req: AuthRequest, access: readonly AccessRequest[]): Promise<Principal> {
    const creds = parseBasic(req.authorization);
    if (creds === null || creds === 'invalid') throw this.unauthorized(access);
    const principal = await this.options.authenticator.login(creds.username, creds.password, req.remoteAddress);
    if (!principal) throw this.unauthorized(access, 'invalid username or password');
    if (!(await checkGrants(this.options.policy, principal, access))) {
      throw new RegistryError('DENIED', undefined, { detail: detail(access) });
    }
    return principal;
  }
}

/** Checks that the login session a token belongs to is still valid (users from Berth's database). */
export interface SessionCheck {
  sessionValid(username: string, session: string): Promise<boolean>;
  /** Subscribes to the end of a user's sessions on this instance (cached answers are then dropped at once). */
  onSessionsEnded?(fn: (user: string) => void): void;
}

export interface BearerOptions {
  /** Token endpoint; when unset, Berth's own `<base>/auth/token`. */
  realm: string | undefined;
  service: string;
  issuer: string;
  keys: VerificationKeys;
  /**
   * When Berth issues tokens for users from its database: every token with a
   * subject must name a session that is still valid. Answers are cached for
   * one second, so a revocation takes effect within a second everywhere,
   * for one indexed lookup per user per second.
   */
  sessions?: SessionCheck | undefined;
  /**
   * When Berth issues the tokens: what the token service would grant. A
   * token that lacks a scope the policy would grant is answered 401
   * `insufficient_scope` (the client fetches a token for that scope and
   * retries); one the policy would refuse is 403 DENIED. Without it (tokens
   * from an external issuer) a missing scope is always 401, as Distribution does.
   */
  policy?: AccessPolicy | undefined;
}

/**
 * Docker token authentication: a 401 names the token realm, service and
 * scope; the client returns with a JWT whose `access` claim must cover the
 * request. A valid token without the scope a request needs is 401 with
 * `error="insufficient_scope"` and the scopes needed (a mount's `from`
 * repository included), as the token protocol and Distribution answer:
 * clients that gather scopes lazily (regclient, the conformance suite with
 * a cached token) fetch a token for them and retry. Only what the policy
 * would never grant the caller is 403 DENIED, so that retry cannot loop.
 */
export class BearerAccessController implements AccessController {
  private readonly sessionCache = new LRUCache<string, boolean>({ max: 10_000, ttl: 1000 });

  constructor(private readonly options: BearerOptions) {
    options.sessions?.onSessionsEnded?.((user) => {
      for (const key of this.sessionCache.keys()) if (key.startsWith(`${user}\n`)) this.sessionCache.delete(key);
    });
  }

  private async sessionValid(subject: string, session: string | undefined): Promise<boolean> {
    const sessions = this.options.sessions;
    if (!sessions) return true;
    if (!session) return false;
    const key = `${subject}\n${session}`;
    const cached = this.sessionCache.get(key);
    if (cached !== undefined) return cached;
    const valid = await sessions.sessionValid(subject, session);
    this.sessionCache.set(key, valid);
    return valid;
  }

  private challenge(req: AuthRequest, access: readonly AccessRequest[], error?: string): string {
    const realm = this.options.realm ?? `${req.baseUrl}/auth/token`;
    let h = `Bearer realm="${quoted(realm)}",service="${quoted(this.options.service)}"`;
    if (access.length > 0) h += `,scope="${access.map(formatScope).join(' ')}"`;
    if (error) h += `,error="${error}"`;
    return h;
  }

  async authorize(req: AuthRequest, access: readonly AccessRequest[]): Promise<Principal> {
    const token = bearerToken(req.authorization);
    const unauthorized = (message?: string, error?: string) =>
      new RegistryError('UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': this.challenge(req, access, error) }, detail: detail(access) });
    if (!token) throw unauthorized();
    let claims;
    try {
      claims = await verifyToken(token, this.options.keys, { issuer: this.options.issuer, audience: this.options.service });
    } catch (err) {
      if (err instanceof TokenInvalidError) throw unauthorized(`${err.reason === 'expired' ? 'token expired' : 'invalid token'}`, 'invalid_token');
      throw err;
    }
    if (claims.subject && !(await this.sessionValid(claims.subject, claims.session))) {
      throw unauthorized('the session this token belongs to has ended (password changed, user disabled or deleted, or access token revoked); log in again', 'invalid_token');
    }
    const principal: Principal = claims.subject ? { kind: claims.accessTokenLogin ? 'token' : 'user', name: claims.subject, session: claims.session } : { kind: 'anonymous', name: null };
    if (!covers(claims.access, access)) {
      if (principal.kind === 'anonymous') throw unauthorized('authentication required', 'insufficient_scope');
      // A login with an access token is limited by that token's scopes, which
      // this check cannot see (only the token service can): still 403.
      const { policy } = this.options;
      const grantable = principal.kind !== 'token' && (!policy || await checkGrants(policy, principal, access));
      if (!grantable) throw new RegistryError('DENIED', undefined, { detail: detail(access) });
      throw unauthorized('the token does not grant the access this request needs; fetch a token for the scope named in WWW-Authenticate', 'insufficient_scope');
    }
    return principal;
  }
}
