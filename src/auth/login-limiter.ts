/**
 * Limits failed logins per user name and per client address (brute force),
 * with a fixed window. While a key is over its limit every attempt is refused
 * before the password is checked, with the seconds to wait.
 */
export interface LoginLimiterOptions {
  /** Failures allowed per user in a window. */
  perUser: number;
  /** Failures allowed per address in a window. */
  perAddress: number;
  windowMs: number;
  /** Most keys tracked (oldest dropped), so an attacker cannot exhaust memory. */
  maxKeys?: number;
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
    for (const [key, limit] of this.keys(user, address)) {
      const w = this.windows.get(key);
      if (w && w.resetAt > now && w.failures >= limit) wait = Math.max(wait, Math.ceil((w.resetAt - now) / 1000));
    }
    return wait;
  }

  fail(user: string | null, address: string, now = Date.now()): void {
    for (const [key] of this.keys(user, address)) {
      let w = this.windows.get(key);
      if (!w || w.resetAt <= now) {
        w = { failures: 0, resetAt: now + this.options.windowMs };
        this.windows.delete(key);
        this.windows.set(key, w);
      }
      w.failures++;
    }
    const max = this.options.maxKeys ?? 100_000;
    while (this.windows.size > max) this.windows.delete(this.windows.keys().next().value as string);
  }

  /** A successful login clears the user's failures (not the address's). */
  succeed(user: string): void {
    this.windows.delete(`u:${user}`);
  }

  private keys(user: string | null, address: string): [string, number][] {
    const k: [string, number][] = [[`a:${address}`, this.options.perAddress]];
    if (user) k.push([`u:${user}`, this.options.perUser]);
    return k;
  }
}
