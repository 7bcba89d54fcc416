import type { LoginAttemptStore, LoginFailureKey, LoginFailureWindow } from '../metadata/index.js';

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
 *
 * The windows live in the shared metadata database (LoginAttemptStore), so
 * the limits hold across every instance, and an operator's clear takes
 * effect at once on all of them. Nothing is cached in the process: a cached
 * "allowed" would let guesses through past the limit, and a cached "locked"
 * would outlive a clear made on another instance. A login costs one read of
 * at most three rows by primary key; a failure adds one upsert; a success
 * writes only when that user had failed from that address.
 *
 * Concurrent attempts that all pass the check before any of them fails are
 * each counted, but are not refused: the overshoot is bounded by the
 * attempts in flight, as it was with counters in memory.
 */
export interface LoginLimiterOptions {
  store: LoginAttemptStore;
  perUserAddress: number;
  perAddress: number;
  perUser: number;
  windowMs: number;
  /**
   * Told when a key reaches its limit (for a warn-level log line). Counts
   * are shared, so exactly one failure across all instances reaches it.
   */
  onLockout?: (lockout: Lockout) => void;
}

/** A key at or over its limit until `until`: what an operator lists and clears. */
export interface Lockout {
  kind: 'user-address' | 'address' | 'user';
  user: string | null;
  address: string | null;
  /** Failures counted in the window. */
  failures: number;
  /** Epoch ms when the window ends. */
  until: number;
}

/** What a check before a login found; hand it to `succeed` so it writes only when needed. */
export interface LoginCheck {
  /** Seconds to wait before another attempt, or 0 when allowed. */
  retryAfter: number;
  /** Failures of this user from this address in the current window. */
  pairFailures: number;
}

/** Most lockouts listed at once. */
const MAX_LISTED = 1000;

export class LoginLimiter {
  constructor(private readonly options: LoginLimiterOptions) {}

  /** Reads the windows that cover a login of `user` from `address`. */
  async check(user: string | null, address: string, now = Date.now()): Promise<LoginCheck> {
    const windows = await this.options.store.read(this.keys(user, address), now);
    let wait = 0;
    let pairFailures = 0;
    for (const w of windows) {
      if (w.kind === 'user-address') pairFailures = w.failures;
      if (w.resetAt > now && w.failures >= this.limit(w)) wait = Math.max(wait, Math.ceil((w.resetAt - now) / 1000));
    }
    return { retryAfter: wait, pairFailures };
  }

  /** Seconds to wait before another attempt, or 0 when allowed. */
  async retryAfter(user: string | null, address: string, now = Date.now()): Promise<number> {
    return (await this.check(user, address, now)).retryAfter;
  }

  /** Counts a failed login against each key that covers it (shared across instances). */
  async fail(user: string | null, address: string, now = Date.now()): Promise<void> {
    const windows = await this.options.store.recordFailure(this.keys(user, address), now, this.options.windowMs);
    for (const w of windows) {
      if (w.failures === this.limit(w)) this.options.onLockout?.(toLockout(w));
    }
  }

  /**
   * A successful login clears that user's failures from that address (not
   * the address's, nor the user's global count). Given the check made
   * before the login, it writes nothing when there were none.
   */
  async succeed(user: string, address: string, check?: LoginCheck): Promise<void> {
    if (check && check.pairFailures === 0) return;
    await this.options.store.forget({ kind: 'user-address', user, address });
  }

  /** Current lockouts (keys at or over their limit), for operators; at most 1000. */
  async lockouts(now = Date.now()): Promise<Lockout[]> {
    return (await this.options.store.lockouts(now, this.options, MAX_LISTED)).map(toLockout);
  }

  /**
   * Clears failures, on every instance at once: of a user (from every
   * address), of an address (for every user), of a user at an address (what
   * stops that user there: the pair's, the user's and the address's), or
   * all of them when the filter is empty. Returns the lockouts it ended.
   */
  async clear(filter: { user?: string | undefined; address?: string | undefined }, now = Date.now()): Promise<Lockout[]> {
    const removed = await this.options.store.clear(filter);
    return removed.filter((w) => w.resetAt > now && w.failures >= this.limit(w)).map(toLockout);
  }

  /** Deletes windows that ended before `now`; returns how many (run by a job, once across instances). */
  prune(now = Date.now()): Promise<number> {
    return this.options.store.prune(now);
  }

  private limit(w: LoginFailureKey): number {
    return w.kind === 'user-address' ? this.options.perUserAddress : w.kind === 'address' ? this.options.perAddress : this.options.perUser;
  }

  private keys(user: string | null, address: string): LoginFailureKey[] {
    const k: LoginFailureKey[] = [{ kind: 'address', user: null, address }];
    if (user) k.push({ kind: 'user-address', user, address }, { kind: 'user', user, address: null });
    return k;
  }
}

function toLockout(w: LoginFailureWindow): Lockout {
  return { kind: w.kind, user: w.user, address: w.address, failures: w.failures, until: w.resetAt };
}
