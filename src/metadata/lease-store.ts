/**
 * The lease store contract: coordination between Berth instances that share
 * one database. A lease is a named, expiring claim held by one owner. Used
 * for upload sessions (one writer at a time across instances) and for work
 * that must run once (upload purging, later garbage collection; see
 * jobs/scheduler.ts). An instance that dies simply lets its leases expire.
 *
 * One implementation (kysely-lease-store.ts) for SQLite and PostgreSQL,
 * checked by one contract suite (lease-suite.ts). Times are epoch ms and come
 * from the caller, so the store needs no clock of its own.
 */
export interface LeaseStore {
  /**
   * Takes the lease `name` for `owner` until `expiresAt` when it is free,
   * expired at `now`, or already `owner`'s (a renewal). Returns false when
   * another owner holds it. Of several racing callers, at most one wins.
   */
  acquire(name: string, owner: string, expiresAt: number, now: number): Promise<boolean>;
  /** Gives a lease up, if `owner` still holds it (otherwise changes nothing). */
  release(name: string, owner: string): Promise<void>;
  /** Deletes leases that expired before `before`; returns how many. */
  prune(before: number): Promise<number>;
}
