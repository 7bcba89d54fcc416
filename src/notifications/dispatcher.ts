import type { NotificationEndpointConfig } from '../config/index.js';
import type { DeliveryRecord, NotificationStore } from '../metadata/index.js';
import { renderBody, type DistributionEvent } from './envelope.js';

/** What the dispatcher logs; a pino logger fits. Never given a header value. */
export interface DispatcherLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export type DeliveryOutcome = 'delivered' | 'failed';

export interface DispatcherOptions {
  store: NotificationStore;
  /** The endpoints to deliver to (disabled ones left out by the caller). */
  endpoints: readonly NotificationEndpointConfig[];
  /** This instance, as lease owner. */
  owner: string;
  /** CloudEvents `source` (the registry's base URL). */
  source: string;
  log: DispatcherLogger;
  /** Counts each try (metrics). */
  onDelivery?: ((endpoint: string, outcome: DeliveryOutcome) => void) | undefined;
  /** How often an idle worker looks for rows other instances wrote (default 1 s). */
  pollMs?: number | undefined;
}

/** A lease outlasts the try (bounded by the endpoint's timeout) by this much, so only a dead instance's rows expire. */
const LEASE_MARGIN_MS = 5000;

/** Past the threshold the wait doubles per failure, up to 64 × backoff. */
const MAX_BACKOFF_DOUBLINGS = 6;

type Attempt = { ok: true } | { ok: false; error: string } | { ok: false; aborted: true };

/**
 * Delivers the outbox: one worker per endpoint on every instance, each
 * claiming the endpoint's oldest pending row under a lease and POSTing it.
 * Rows of one endpoint go one at a time per instance, oldest first, as
 * registry:2 sends them serially; instances share the work, a row at a time.
 *
 * Failures follow registry:2's breaker: the first `threshold` consecutive
 * failures of an endpoint are retried at once; from then on the endpoint is
 * failing and every instance waits `backoff` before its next try, doubled
 * per further failure (up to 64 ×), until a delivery succeeds. A row is
 * retried until it is delivered: nothing is ever given up.
 *
 * @example
 * const d = new NotificationDispatcher({ store: metadata.notifications, endpoints, owner: instanceId, source: baseUrl, log });
 * d.start();
 * // a listener calls d.wake() after writing rows; on shutdown:
 * await d.close();
 */
export class NotificationDispatcher {
  private readonly closing = new AbortController();
  private readonly sleepers = new Set<() => void>();
  private workers: Promise<void>[] = [];
  private readonly pollMs: number;

  constructor(private readonly options: DispatcherOptions) {
    this.pollMs = options.pollMs ?? 1000;
  }

  start(): void {
    if (this.workers.length > 0) throw new Error('dispatcher already started');
    this.workers = this.options.endpoints.map((endpoint) => this.work(endpoint));
  }

  /** New rows were written here: idle workers look now instead of at their next poll. */
  wake(): void {
    for (const wake of [...this.sleepers]) wake();
  }

  /** Stops the workers; a delivery in flight is aborted and its row given back (another instance, or the next start, sends it). */
  async close(): Promise<void> {
    this.closing.abort();
    this.wake();
    await Promise.all(this.workers);
  }

  private get closed(): boolean {
    return this.closing.signal.aborted;
  }

  private sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  private async work(endpoint: NotificationEndpointConfig): Promise<void> {
    const { store, owner, log } = this.options;
    while (!this.closed) {
      let row: DeliveryRecord | null;
      try {
        const now = Date.now();
        row = await store.claim(endpoint.name, owner, now, now + endpoint.timeoutMs + LEASE_MARGIN_MS);
      } catch (err) {
        log.error({ endpoint: endpoint.name, err: (err as Error)?.message }, 'failed to claim a webhook delivery');
        await this.sleep(this.pollMs);
        continue;
      }
      if (!row) {
        await this.sleep(this.pollMs);
        continue;
      }
      try {
        await this.settle(endpoint, row, await this.attempt(endpoint, row));
      } catch (err) {
        // The row stays leased and is tried again when the lease ends.
        log.error({ endpoint: endpoint.name, 'event.id': row.eventId, err: (err as Error)?.message }, 'failed to record a webhook delivery');
        await this.sleep(this.pollMs);
      }
    }
  }

  private async settle(endpoint: NotificationEndpointConfig, row: DeliveryRecord, result: Attempt): Promise<void> {
    const { store, owner, log, onDelivery } = this.options;
    if (result.ok) {
      await store.delivered(row.id, endpoint.name, Date.now());
      onDelivery?.(endpoint.name, 'delivered');
      return;
    }
    if ('aborted' in result) {
      await store.release(row.id, owner);
      return;
    }
    const now = Date.now();
    const failures = await store.failed(row.id, endpoint.name, owner, now, result.error);
    onDelivery?.(endpoint.name, 'failed');
    const fields = { endpoint: endpoint.name, 'event.id': row.eventId, attempts: row.attempts, failures, err: result.error };
    if (failures < endpoint.threshold) {
      log.warn(fields, 'webhook delivery failed, retrying');
      return;
    }
    const waitMs = endpoint.backoffMs * 2 ** Math.min(failures - endpoint.threshold, MAX_BACKOFF_DOUBLINGS);
    if (failures === endpoint.threshold) log.error({ ...fields, 'backoff.ms': waitMs }, 'webhook endpoint failing, backing off');
    else log.warn({ ...fields, 'backoff.ms': waitMs }, 'webhook delivery failed, backing off');
    await store.defer(endpoint.name, now + waitMs);
    await this.sleep(waitMs);
  }

  /** One POST of one row, bounded by the endpoint's timeout; the error text never holds a header value. */
  private async attempt(endpoint: NotificationEndpointConfig, row: DeliveryRecord): Promise<Attempt> {
    const { contentType, body } = renderBody(JSON.parse(row.payload) as DistributionEvent, endpoint.format, this.options.source);
    const headers = new Headers();
    for (const [name, values] of Object.entries(endpoint.headers)) for (const v of values) headers.append(name, v);
    headers.set('content-type', contentType);
    const timeout = AbortSignal.timeout(endpoint.timeoutMs);
    try {
      // No redirects: a receiver's 3xx is a failure, and the headers (credentials) never go to another host.
      const res = await fetch(endpoint.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.any([timeout, this.closing.signal]) });
      await res.body?.cancel().catch(() => {});
      return res.status >= 200 && res.status < 300 ? { ok: true } : { ok: false, error: `HTTP ${res.status}` };
    } catch (err) {
      if (this.closed) return { ok: false, aborted: true };
      if (timeout.aborted) return { ok: false, error: `timed out after ${endpoint.timeoutMs}ms` };
      const cause = (err as { cause?: { code?: unknown; message?: unknown } })?.cause;
      const code = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : (err as Error)?.message;
      return { ok: false, error: `request failed: ${String(code)}` };
    }
  }
}
