import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestObserver } from '../http/index.js';
import type { Listener } from '../events/index.js';
import type { LoginAttemptStore } from '../metadata/index.js';

/** Routes whose requests carry upload bytes: what `berth_uploads_in_progress` counts. */
const UPLOAD_ROUTES = new Set(['upload.start', 'upload.patch', 'upload.complete']);

/** The route label of a request that matched no route (404, 405): never its path. */
const UNMATCHED = 'none';

/** Latency buckets, in seconds: manifest reads are milliseconds, blob transfers minutes. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** The storage size is queried again after a blob change, and at least this often (another instance's pushes, GC). */
const STORAGE_MAX_AGE_MS = 60_000;

/** Storage totals, as the metadata store's blob records give them. */
export interface StorageTotals {
  blobs: number;
  bytes: number;
}

/** What a garbage collection run reports, as far as metrics need it (gc/collector.ts's GcReport). */
export interface GcRunSummary {
  dryRun: boolean;
  durationMs: number;
  blobsDeleted: number;
  manifestsDeleted: number;
  bytesFreed: number;
}

export interface BerthMetricsOptions {
  /** Storage totals (e.g. the GC store's usage()); absent: no storage gauges. Called at most once per scrape, and only when stale. */
  storageTotals?: (() => Promise<StorageTotals>) | undefined;
  /** Adds Node's process metrics (CPU, memory, event loop lag, GC pauses); default true. */
  processMetrics?: boolean | undefined;
}

/**
 * Berth's Prometheus metrics, in a registry of their own (several Berth
 * instances in one process, as in the tests, never collide). Labels stay
 * low-cardinality: a route's NAME from the route table (`manifest.get`),
 * never a path or a repository; a status code; a pre-hook's name.
 *
 * It registers rather than being called from everywhere: the HTTP server
 * tells its one `RequestObserver`, the event bus its listener, the login
 * store its decorator, and the garbage collector its decorator.
 *
 * @example
 * const metrics = new BerthMetrics({ storageTotals: () => store.gc.totals() });
 * events.addListener('metrics', metrics.eventListener, { types: METRIC_EVENT_TYPES });
 * const text = await metrics.scrape();
 */
export class BerthMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly duration: Histogram<'route'>;
  private readonly bytesIn: Counter<'route'>;
  private readonly bytesOut: Counter<'route'>;
  private readonly inFlight: Gauge;
  private readonly uploads: Gauge;
  private readonly loginFailures: Counter;
  private readonly refusals: Counter<'hook' | 'code'>;
  private readonly gcRuns: Counter<'outcome' | 'dry_run'>;
  private readonly gcDuration: Histogram;
  private readonly gcBlobs: Counter;
  private readonly gcManifests: Counter;
  private readonly gcBytes: Counter;
  private readonly webhookDeliveries: Counter<'endpoint' | 'outcome'>;
  private storage: { at: number; dirty: boolean; pending: Promise<void> | null } = { at: 0, dirty: true, pending: null };

  constructor(private readonly options: BerthMetricsOptions = {}) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'berth_http_requests_total', help: 'HTTP requests answered, by route name, method and status.', labelNames: ['route', 'method', 'status'], registers });
    this.duration = new Histogram({ name: 'berth_http_request_duration_seconds', help: 'Time from a request\'s arrival to its answer\'s end, by route name.', labelNames: ['route'], buckets: DURATION_BUCKETS, registers });
    this.bytesIn = new Counter({ name: 'berth_http_request_bytes_total', help: 'Bytes received on the connection for each request (head and body), by route name.', labelNames: ['route'], registers });
    this.bytesOut = new Counter({ name: 'berth_http_response_bytes_total', help: 'Bytes sent on the connection for each response (head and body), by route name.', labelNames: ['route'], registers });
    this.inFlight = new Gauge({ name: 'berth_http_requests_in_flight', help: 'Requests being answered now, on this instance.', registers });
    this.uploads = new Gauge({ name: 'berth_uploads_in_progress', help: 'Blob upload requests (POST, PATCH, PUT of an upload) receiving bytes now, on this instance.', registers });
    this.loginFailures = new Counter({ name: 'berth_login_failures_total', help: 'Failed logins (wrong user name, password or access token) at the token endpoint, the management API and HTTP Basic.', registers });
    this.refusals = new Counter({ name: 'berth_prehook_refusals_total', help: 'Changes and pulls refused by a pre-hook, by hook (trust-policy: pulls without a valid signature; immutable-tags; quotas) and error code.', labelNames: ['hook', 'code'], registers });
    this.gcRuns = new Counter({ name: 'berth_gc_runs_total', help: 'Garbage collection runs on this instance, by outcome (succeeded, failed) and dry_run.', labelNames: ['outcome', 'dry_run'], registers });
    this.gcDuration = new Histogram({ name: 'berth_gc_duration_seconds', help: 'Duration of garbage collection runs on this instance.', buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600], registers });
    this.gcBlobs = new Counter({ name: 'berth_gc_deleted_blobs_total', help: 'Blobs deleted by garbage collection (dry runs not counted).', registers });
    this.gcManifests = new Counter({ name: 'berth_gc_deleted_manifests_total', help: 'Manifests deleted by garbage collection (dry runs not counted).', registers });
    this.gcBytes = new Counter({ name: 'berth_gc_freed_bytes_total', help: 'Bytes of blob storage freed by garbage collection (dry runs not counted).', registers });
    this.webhookDeliveries = new Counter({ name: 'berth_webhook_deliveries_total', help: 'Webhook delivery tries by this instance, by endpoint name (notifications.endpoints) and outcome (delivered, failed).', labelNames: ['endpoint', 'outcome'], registers });
    // Each pair starts at zero, so a first scrape shows the series and rate() sees the first increment.
    for (const outcome of ['succeeded', 'failed']) for (const dry of ['true', 'false']) this.gcRuns.labels(outcome, dry).inc(0);
    const totals = options.storageTotals;
    if (totals) {
      const self = this;
      const values = { blobs: 0, bytes: 0 };
      new Gauge({ name: 'berth_storage_bytes', help: 'Bytes the blob storage holds (each blob once, however many repositories link it; uploads in progress aside), from the metadata database.', registers, async collect() { await self.refreshStorage(totals, values); this.set(values.bytes); } });
      new Gauge({ name: 'berth_storage_blobs', help: 'Blobs the blob storage holds, from the metadata database.', registers, async collect() { await self.refreshStorage(totals, values); this.set(values.blobs); } });
    }
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** The HTTP server's hook (HttpServices.observer): one call when a request is routed, one when it ends. */
  readonly observer: RequestObserver = {
    routed: (route) => {
      this.inFlight.inc();
      if (UPLOAD_ROUTES.has(route)) this.uploads.inc();
    },
    finished: ({ route, method, status, durationMs, bytesIn, bytesOut }) => {
      if (route !== null) {
        this.inFlight.dec();
        if (UPLOAD_ROUTES.has(route)) this.uploads.dec();
      }
      const label = route ?? UNMATCHED;
      this.requests.labels(label, route === null ? 'other' : method, String(status)).inc();
      this.duration.labels(label).observe(durationMs / 1000);
      if (bytesIn > 0) this.bytesIn.labels(label).inc(bytesIn);
      if (bytesOut > 0) this.bytesOut.labels(label).inc(bytesOut);
    },
  };

  /** The event bus listener: pre-hook refusals by hook, and blob changes (the storage size is stale). */
  readonly eventListener: Listener = (event) => {
    if (event.type === 'change.refused') this.refusals.labels(event.hook, event.code).inc();
    else this.storage.dirty = true;
  };

  /** Counts one garbage collection run (the decorator below calls it; a collector of another kind may too). */
  recordGcRun(outcome: 'succeeded' | 'failed', summary: GcRunSummary): void {
    this.gcRuns.labels(outcome, String(summary.dryRun)).inc();
    this.gcDuration.observe(summary.durationMs / 1000);
    if (!summary.dryRun) {
      this.gcBlobs.inc(summary.blobsDeleted);
      this.gcManifests.inc(summary.manifestsDeleted);
      this.gcBytes.inc(summary.bytesFreed);
    }
    this.storage.dirty = true;
  }

  /** Counts one webhook delivery try (the notification dispatcher's onDelivery). Endpoint names come from the config: few, and never a URL. */
  recordWebhookDelivery(endpoint: string, outcome: 'delivered' | 'failed'): void {
    this.webhookDeliveries.labels(endpoint, outcome).inc();
  }

  /** The metrics in Prometheus' text exposition format, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /**
   * The login-attempt store, counting each recorded failure. Every failed
   * login (htpasswd or Berth's users, token endpoint, Basic on the API)
   * goes through LoginLimiter.fail, which records it here exactly once.
   */
  countLoginFailures(store: LoginAttemptStore): LoginAttemptStore {
    const failures = this.loginFailures;
    return {
      recordFailure: async (keys, now, windowMs) => {
        const windows = await store.recordFailure(keys, now, windowMs);
        failures.inc();
        return windows;
      },
      read: (keys, now) => store.read(keys, now),
      forget: (key) => store.forget(key),
      lockouts: (now, limits, max) => store.lockouts(now, limits, max),
      clear: (filter) => store.clear(filter),
      prune: (before) => store.prune(before),
    };
  }

  /**
   * A garbage collector whose runs are counted: the same object, with `run`
   * measured. Failed runs count as `failed` with the time they took.
   */
  countGcRuns<C extends { run(options: never): Promise<GcRunSummary> }>(collector: C): C {
    type Options = Parameters<C['run']>[0];
    const run = collector.run.bind(collector) as (options: Options) => Promise<GcRunSummary>;
    const counted = Object.create(collector) as C;
    counted.run = (async (options: Options) => {
      const started = Date.now();
      try {
        const report = await run(options);
        this.recordGcRun('succeeded', report);
        return report;
      } catch (err) {
        const dryRun = (options as { dryRun?: boolean } | undefined)?.dryRun ?? false;
        this.recordGcRun('failed', { dryRun, durationMs: Date.now() - started, blobsDeleted: 0, manifestsDeleted: 0, bytesFreed: 0 });
        throw err;
      }
    }) as C['run'];
    return counted;
  }

  /** Queries the storage totals when a blob changed since the last query, or the last is old; concurrent scrapes share one query. */
  private async refreshStorage(totals: () => Promise<StorageTotals>, into: StorageTotals): Promise<void> {
    const s = this.storage;
    // Both gauges collect at once: the second waits for the query the first started.
    if (s.pending) return s.pending;
    if (!s.dirty && Date.now() - s.at < STORAGE_MAX_AGE_MS) return;
    s.pending = (async () => {
      s.dirty = false;
      try {
        const t = await totals();
        into.blobs = t.blobs;
        into.bytes = t.bytes;
        s.at = Date.now();
      } catch {
        s.dirty = true; // the last values stay; the next scrape tries again
      } finally {
        s.pending = null;
      }
    })();
    await s.pending;
  }
}

/** The events the metrics listener needs: refusals, and blob changes that make the storage size stale. */
export const METRIC_EVENT_TYPES = ['change.refused', 'blob.pushed', 'blob.mounted', 'blob.deleted', 'manifest.deleted'] as const;
