/**
 * Failed-login limits with a fixed window, as common identity providers
 * apply them, so that guessing is slow but nobody can lock a user out from
 * elsewhere:
 * - per (user name, client address): the guesser's own limit (default 10);
 * - per client address, whatever the user names (default 50): one source
 *   spraying many names;
 * - per user name from all addresses (default 100, much higher): a
 *   distributed guess. Until a user reaches it, wrong passwords from other
 *   addresses do not stop the user's own logins.
 * While a key is over its limit every attempt it covers is refused before
 * the password is checked, with the seconds to wait.
 */
export interface LoginLimiterOptions {
  perUserAddress: number;
  perAddress: number;
  perUser: number;
  windowMs: number;
  /** Most keys tracked (oldest dropped), so an attacker cannot exhaust memory. */
  maxKeys?: number;
  /** Told once when a key reaches its limit (for a warn-level log line). */
  onLockout?: (lockout: Lockout) => void;
}

export interface Lockout {
  kind: 'user-address' | 'address' | 'user';
  user: string | null;
  address: string | null;
  /** Epoch ms when the window ends. */
  until: number;
}

interface Window {
  failures: number;
  resetAt: number;
}

export class LoginLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly options: LoginLimiterOptions) {}

  /** Seconds to wait before another attempt, or 0 when allowed. */
  retryAfter(user: string | null, address: string, now = Date.now()): number {
    let wait = 0;
    for (const { key, limit } of this.keys(user, address)) {
      const w = this.windows.get(key);
      if (w && w.resetAt > now && w.failures >= limit) wait = Math.max(wait, Math.ceil((w.resetAt - now) / 1000));
    }
    return wait;
  }

  fail(user: string | null, address: string, now = Date.now()): void {
    for (const k of this.keys(user, address)) {
      let w = this.windows.get(k.key);
      if (!w || w.resetAt <= now) {
        w = { failures: 0, resetAt: now + this.options.windowMs };
        this.windows.delete(k.key);
        this.windows.set(k.key, w);
      }
      w.failures++;
      if (w.failures === k.limit) this.options.onLockout?.({ kind: k.kind, user: k.kind === 'address' ? null : user, address: k.kind === 'user' ? null : address, until: w.resetAt });
    }
    const max = this.options.maxKeys ?? 100_000;
    while (this.windows.size > max) this.windows.delete(this.windows.keys().next().value as string);
  }

  /** A successful login clears that user's failures from that address (not the address's, nor the user's global count). */
  succeed(user: string, address: string): void {
    this.windows.delete(`ua:${user}\n${address}`);
  }

  /** Current lockouts (keys at or over their limit), for operators. */
  lockouts(now = Date.now()): Lockout[] {
    const out: Lockout[] = [];
    for (const [key, w] of this.windows) {
      if (w.resetAt <= now) continue;
      const [kind, rest = ''] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
      if (kind === 'ua' && w.failures >= this.options.perUserAddress) {
        const [user = '', address = ''] = rest.split('\n');
        out.push({ kind: 'user-address', user, address, until: w.resetAt });
      } else if (kind === 'a' && w.failures >= this.options.perAddress) out.push({ kind: 'address', user: null, address: rest, until: w.resetAt });
      else if (kind === 'u' && w.failures >= this.options.perUser) out.push({ kind: 'user', user: rest, address: null, until: w.resetAt });
    }
    return out;
  }

  /** Clears the lockouts of a user (every address) or of an address (every user); returns how many keys it cleared. */
  clear(filter: { user?: string; address?: string }): number {
    let n = 0;
    for (const key of [...this.windows.keys()]) {
      const colon = key.indexOf(':');
      const kind = key.slice(0, colon);
      const rest = key.slice(colon + 1);
      const [u, a] = kind === 'ua' ? rest.split('\n') : kind === 'u' ? [rest, undefined] : [undefined, rest];
      if ((filter.user !== undefined && u === filter.user) || (filter.address !== undefined && a === filter.address)) {
        this.windows.delete(key);
        n++;
      }
    }
    return n;
  }

  private keys(user: string | null, address: string): { key: string; limit: number; kind: Lockout['kind'] }[] {
    const k: { key: string; limit: number; kind: Lockout['kind'] }[] = [{ key: `a:${address}`, limit: this.options.perAddress, kind: 'address' }];
    if (user) {
      k.push({ key: `ua:${user}\n${address}`, limit: this.options.perUserAddress, kind: 'user-address' });
      k.push({ key: `u:${user}`, limit: this.options.perUser, kind: 'user' });
    }
    return k;
  }
}
