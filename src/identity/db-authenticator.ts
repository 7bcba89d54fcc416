import { RegistryError } from '../errors/index.js';
import type { Authenticator, LoginLimiter, Principal } from '../auth/index.js';
import type { AuditStore } from '../metadata/index.js';
import { createHash } from 'node:crypto';
import { isAccessTokenSecret, type IdentityService } from './service.js';

/** A short, non-reversible stamp of a user's credentials: it changes with the password. */
function credentialStamp(passwordHash: string): string {
  return createHash('sha256').update(passwordHash).digest('base64url').slice(0, 22);
}

/**
 * Logins against Berth's database: a user's password, or one of the user's
 * access tokens given as the password (`docker login -u alice -p
 * berth_<id>_<secret>`). A token login yields a `token` principal limited to
 * the token's scopes. Failed-login limits apply before anything is compared,
 * to passwords and tokens alike.
 */
export class DbAuthenticator implements Authenticator {
  constructor(private readonly identity: IdentityService, private readonly limiter: LoginLimiter, private readonly audit?: AuditStore) {}

  /** Every login is in the audit log: the name tried, never the password. */
  private async record(username: string, remoteAddress: string, outcome: 'success' | 'failure', detail: Record<string, unknown>): Promise<void> {
    await this.audit?.record({ time: Date.now(), actor: username, action: 'login', target: null, remoteAddress, outcome, detail });
  }

  async login(username: string, password: string, remoteAddress: string): Promise<Principal | null> {
    const check = await this.limiter.check(username, remoteAddress);
    if (check.retryAfter > 0) {
      await this.record(username, remoteAddress, 'failure', { reason: 'rate limited' });
      throw new RegistryError('TOOMANYREQUESTS', 'too many failed logins; retry later', { headers: { 'Retry-After': String(check.retryAfter) } });
    }
    let principal: Principal | null = null;
    let detail: Record<string, unknown> = { method: 'password' };
    if (isAccessTokenSecret(password)) {
      const token = await this.identity.verifyToken(username, password);
      if (token) {
        principal = { kind: 'token', name: username, scopes: token.scopes, session: `t:${token.id}` };
        detail = { method: 'token', token: token.id };
      }
    }
    if (!principal) {
      const user = await this.identity.verifyPassword(username, password);
      if (user) principal = { kind: 'user', name: username, session: `u:${credentialStamp(user.passwordHash)}` };
    }
    if (principal) {
      await this.limiter.succeed(username, remoteAddress, check);
      await this.record(username, remoteAddress, 'success', detail);
      return principal;
    }
    await this.limiter.fail(username, remoteAddress);
    await this.record(username, remoteAddress, 'failure', { method: isAccessTokenSecret(password) ? 'token' : 'password' });
    return null;
  }

  exists(username: string): Promise<boolean> {
    return this.identity.isActiveUser(username);
  }

  /**
   * `u:<stamp>`: the user is enabled and its password unchanged since the
   * login. `t:<id>`: the access token used is neither revoked nor expired,
   * and its user is enabled.
   */
  onSessionsEnded(fn: (user: string) => void): void {
    this.identity.onSessionsEnded(fn);
  }

  async sessionValid(username: string, session: string): Promise<boolean> {
    const user = await this.identity.getUserRecord(username);
    if (!user || user.disabled) return false;
    if (session.startsWith('u:')) return session.slice(2) === credentialStamp(user.passwordHash);
    if (session.startsWith('t:')) return this.identity.isLiveToken(username, session.slice(2));
    return false;
  }
}
