import type { LeaseStore, SearchStore } from '../metadata/index.js';

/** What the start-up reconcile logs; a pino logger fits. */
export interface ReconcileLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface StartupReconcileOptions {
  store: Pick<SearchStore, 'reconcile'>;
  /** The leases every instance shares: of instances that start together, one reconciles. */
  leases: Pick<LeaseStore, 'acquire' | 'release'>;
  /** This instance's lease owner name. */
  owner: string;
  log: ReconcileLogger;
  now?: () => number;
}

/** The lease of the start-up reconcile (the hourly one is the job scheduler's `job/search-reconcile`). */
export const STARTUP_RECONCILE_LEASE = 'search/reconcile-at-start';

/**
 * How long the lease is held at most: longer than a reconcile takes (under
 * a second per 100,000 repositories), so a second instance starting
 * meanwhile skips; released when done, so a later start reconciles again.
 */
const LEASE_MS = 10 * 60_000;

/**
 * The search index's reconcile at start, in the background: the server
 * answers (and is ready) at once, and searches meanwhile come from the
 * index as it is, which lags only by the events a crash lost (it never
 * shows a repository without manifests: the store checks every answer).
 * Of instances that start together, the one that takes the lease runs it;
 * the lease is given back when done, so every later start reconciles again,
 * as the start-up reconcile always did. Never rejects: a failure is logged,
 * and the hourly job repairs the index.
 *
 * @example
 * const reconciled = reconcileAtStart({ store: metadata.search, leases: metadata.leases, owner, log });
 * // … serve …; on close: await reconciled;
 */
export async function reconcileAtStart(options: StartupReconcileOptions): Promise<void> {
  const { store, leases, owner, log } = options;
  const now = options.now ?? Date.now;
  try {
    const at = now();
    if (!(await leases.acquire(STARTUP_RECONCILE_LEASE, owner, at + LEASE_MS, at))) return;
    try {
      const r = await store.reconcile();
      if (r.added + r.removed > 0) log.info({ ...r, 'duration.ms': now() - at }, 'search index reconciled');
    } finally {
      await leases.release(STARTUP_RECONCILE_LEASE, owner);
    }
  } catch (err) {
    log.warn({ err: (err as Error)?.message }, 'failed to reconcile the search index, retrying within the hour');
  }
}
