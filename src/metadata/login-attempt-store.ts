/**
 * The failed-login store: fixed windows of failed logins, kept in the shared
 * metadata database so that a limit holds across every Berth instance (N
 * instances behind a load balancer must not allow N times the guesses).
 * The limits themselves, and what counts as a lockout, are the login
 * limiter's (auth/login-limiter.ts); this store only counts.
 *
 * A window is one row per key:
 *
 *   kind           user    address    failures  reset_at
 *   user-address   alice   10.0.0.9   10        t+15m      the guesser's own count
 *   address        -       10.0.0.9   37        t+15m      one source, any user names
 *   user           alice   -          12        t+15m      alice, from every address
 *
 * A window starts at a key's first failure and lasts `windowMs`; a failure
 * after it ended starts a new one. Rows whose window ended are dead weight:
 * `prune` deletes them (a job does, once across instances).
 *
 * One implementation (kysely-login-attempt-store.ts) for SQLite and
 * PostgreSQL, checked by one contract suite (login-attempt-suite.ts). Times
 * are epoch ms and come from the caller, so the store needs no clock.
 */
export interface LoginAttemptStore {
  /**
   * Counts one failure for each key, atomically and in one statement: a key
   * without a window, or whose window ended at or before `now`, starts a new
   * one of 1 failure ending at `now + windowMs`; otherwise its count grows
   * by one and its end stays. Returns every key's window after the update,
   * so the caller sees the count its own failure made, counted across all
   * instances (of racing callers, each sees a different count). Duplicate
   * keys are counted once.
   */
  recordFailure(keys: readonly LoginFailureKey[], now: number, windowMs: number): Promise<LoginFailureWindow[]>;
  /** The windows of these keys that have not ended at `now`; keys without one are absent. */
  read(keys: readonly LoginFailureKey[], now: number): Promise<LoginFailureWindow[]>;
  /** Deletes one key's window (a successful login forgets the guesses before it); no error when there is none. */
  forget(key: LoginFailureKey): Promise<void>;
  /**
   * The windows that have not ended at `now` and hold at least their kind's
   * limit of failures: the current lockouts. Ordered by kind, user, address;
   * at most `max` of them.
   */
  lockouts(now: number, limits: LoginFailureLimits, max: number): Promise<LoginFailureWindow[]>;
  /**
   * Deletes windows, ended or not, and returns what it deleted:
   * - `{ user }`: every window naming the user (its own, and with each address);
   * - `{ address }`: every window naming the address (its own, and with each user);
   * - `{ user, address }`: exactly what stops that user from that address:
   *   the pair's window, the user's and the address's;
   * - `{}`: every window.
   */
  clear(filter: { user?: string | undefined; address?: string | undefined }): Promise<LoginFailureWindow[]>;
  /** Deletes windows that ended at or before `before`; returns how many. */
  prune(before: number): Promise<number>;
}

export type LoginFailureKind = 'user-address' | 'address' | 'user';

/** What a window counts: `user` is null for `address`, `address` is null for `user`, both set for `user-address`. */
export interface LoginFailureKey {
  kind: LoginFailureKind;
  user: string | null;
  address: string | null;
}

export interface LoginFailureWindow extends LoginFailureKey {
  failures: number;
  /** Epoch ms when the window ends. */
  resetAt: number;
}

/** Failures that make a window a lockout, per kind. */
export interface LoginFailureLimits {
  perUserAddress: number;
  perAddress: number;
  perUser: number;
}
