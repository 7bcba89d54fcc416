import { RegistryError } from '../errors/index.js';
import type { Principal } from './access.js';
import type { HtpasswdFile } from './htpasswd.js';
import type { LoginLimiter } from './login-limiter.js';

/**
 * Checks user names and passwords, with the failed-login limits applied
 * before any password is compared. One implementation today (htpasswd);
 * Berth's user database and access tokens come next behind the same shape.
 */
export interface Authenticator {
  /** The user, or null for wrong credentials; throws TOOMANYREQUESTS when limited. */
  login(username: string, password: string, remoteAddress: string): Promise<Principal | null>;
  /** Whether the user still exists (refresh tokens are refused once it is gone). */
  exists(username: string): Promise<boolean>;
  /**
   * Whether a login session is still valid (see Principal.session); absent
   * when this authenticator cannot revoke sessions, and then only
   * `exists` is checked.
   */
  sessionValid?(username: string, session: string): Promise<boolean>;
  /** Subscribes to the end of a user's sessions on this instance. */
  onSessionsEnded?(fn: (user: string) => void): void;
}

export class HtpasswdAuthenticator implements Authenticator {
  constructor(private readonly file: HtpasswdFile, private readonly limiter: LoginLimiter, private readonly log?: { warn(obj: object, msg: string): void }) {}

  async login(username: string, password: string, remoteAddress: string): Promise<Principal | null> {
    const check = await this.limiter.check(username, remoteAddress);
    if (check.retryAfter > 0) {
      throw new RegistryError('TOOMANYREQUESTS', 'too many failed logins; retry later', { headers: { 'Retry-After': String(check.retryAfter) } });
    }
    if (await this.file.verify(username, password)) {
      await this.limiter.succeed(username, remoteAddress, check);
      return { kind: 'user', name: username };
    }
    await this.limiter.fail(username, remoteAddress);
    const reason = await this.file.unusableReason(username);
    if (reason) this.log?.warn({ user: username, 'client.address': remoteAddress }, `login refused: ${reason}`);
    return null;
  }

  exists(username: string): Promise<boolean> {
    return this.file.has(username);
  }
}
