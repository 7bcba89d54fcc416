/**
 * The notification store contract: the outbox of webhook deliveries, shared
 * by every Berth instance on the database, and each endpoint's health.
 *
 *   notification_outbox        one row per (event, endpoint): the event as sent, its state
 *     pending ──claim──► leased (lease_owner, lease_until) ──delivered──► delivered
 *        ▲                        │
 *        └──── failed / release ◄─┘   (a lease that expires, e.g. a killed instance, frees the row too)
 *   notification_endpoints     one row per endpoint name: consecutive failures, when to try next, last error
 *
 * Delivery is at least once: a row stays pending until some instance
 * reports it delivered, and a row whose lease expires is claimed again.
 * Claims never hand one row to two instances while its lease runs
 * (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: one writer).
 *
 * One implementation (kysely-notification-store.ts) for SQLite and
 * PostgreSQL, checked by one suite (notification-suite.ts). Times are epoch
 * ms and come from the caller.
 */

/** A delivery to write to the outbox: one event for one endpoint. */
export interface OutboxEntry {
  /** Unique per row. */
  id: string;
  /** The event's id (as sent: envelope `id`); the same for every endpoint the event goes to. */
  eventId: string;
  endpoint: string;
  /** push, pull, delete or mount. */
  action: string;
  repository: string;
  digest: string | null;
  tag: string | null;
  /** The event as JSON (Distribution's event record); the body is built from it at each try. */
  payload: string;
  createdAt: number;
}

export type DeliveryStatus = 'pending' | 'delivered';

/** An outbox row with its delivery state. */
export interface DeliveryRecord extends OutboxEntry {
  status: DeliveryStatus;
  /** Tries started (a claim counts one). */
  attempts: number;
  lastAttemptAt: number | null;
  /** Why the last try failed (never a header value); null once delivered. */
  lastError: string | null;
  deliveredAt: number | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
}

/** An endpoint's health as the outbox sees it (shared by all instances). */
export interface EndpointState {
  name: string;
  /** Failures since the last success. */
  consecutiveFailures: number;
  /** No try before this time (0: now). */
  retryAt: number;
  lastError: string | null;
  lastFailureAt: number | null;
  lastSuccessAt: number | null;
  /** Rows not yet delivered. */
  pending: number;
  delivered: number;
}

export interface DeliveryFilter {
  endpoint?: string | undefined;
  /** `retrying`: pending rows whose last try failed. */
  status?: 'pending' | 'retrying' | 'delivered' | undefined;
  limit: number;
}

export interface NotificationStore {
  /** Writes the rows in one statement: all or none. */
  enqueue(entries: readonly OutboxEntry[]): Promise<void>;
  /**
   * Leases the oldest pending row of `endpoint` whose lease is free at `now`
   * to `owner` until `leaseUntil`, counting a try; null when there is none,
   * or while the endpoint is deferred (`defer`) past `now`. Of racing
   * claimers (on any instance) each gets a different row or none.
   */
  claim(endpoint: string, owner: string, now: number, leaseUntil: number): Promise<DeliveryRecord | null>;
  /** Marks the row delivered (whoever holds it) and the endpoint healthy (failures 0, no wait). */
  delivered(id: string, endpoint: string, now: number): Promise<void>;
  /**
   * Records a failed try of a row `owner` holds: the row is pending again
   * with `error`, and the endpoint's consecutive failures grow by one.
   * Returns the endpoint's consecutive failures after this one.
   */
  failed(id: string, endpoint: string, owner: string, now: number, error: string): Promise<number>;
  /** No row of `endpoint` is tried before `until` (the backoff). */
  defer(endpoint: string, until: number): Promise<void>;
  /** Gives a row back untried-as-failed (an instance stopping mid-delivery). */
  release(id: string, owner: string): Promise<void>;
  /** The state of each named endpoint, in the given order (zeros for one never tried). */
  endpointStates(names: readonly string[]): Promise<EndpointState[]>;
  /** Rows, newest first. */
  list(filter: DeliveryFilter): Promise<DeliveryRecord[]>;
  /** Deletes up to `limit` rows delivered before `before`; returns how many. */
  prune(before: number, limit: number): Promise<number>;
}
