import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { createAuth, RegistryHostNames, type AccessController, type AuthSetup } from './auth/index.js';
import { DbAuthenticator, GrantPolicy, IdentityService } from './identity/index.js';
import { redactUrl, type BerthConfig } from './config/index.js';
import { RegistryError } from './errors/index.js';
import { createRegistryServer, healthRoutes, type RegistryServer, type RouteGroup } from './http/index.js';
import { KeyVault, loadOrCreateKeySecret, TrustService, trustRoutes } from './trust/index.js';
import { signatureCleanupListener, signatureRoutes, verifySignatures } from './signatures/index.js';
import { exportRoutes } from './airgap/routes.js';
import { PolicyEnforcer, policyRoutes, TrustPolicies } from './policy/index.js';
import { LifecycleEnforcer, lifecycleRoutes, LifecycleRules, Retention } from './lifecycle/index.js';
import { GarbageCollector, gcRoutes } from './gc/index.js';
import { SEARCH_EVENT_TYPES, reconcileAtStart, searchIndexListener, searchRoutes } from './search/index.js';
import { BerthMetrics, METRIC_EVENT_TYPES, metricsRoutes } from './metrics/index.js';
import { NOTIFICATION_EVENT_TYPES, NotificationDispatcher, notificationListener, notificationRoutes } from './notifications/index.js';
import { auditListener, AUDITED_TYPES, EventBus, EventedRegistry, type EventContext } from './events/index.js';
import type { Logger } from './log/index.js';
import { createMetadataStore, type MetadataStore } from './metadata/index.js';
import { JobScheduler } from './jobs/index.js';
import { Registry, SparsePolicy, UploadPurge, type RegistryService } from './registry/index.js';
import { createStorageDriver, StorageUnavailableError, type StorageDriver } from './storage/index.js';

/** How often retention rules are applied (once across instances). */
const RETENTION_INTERVAL_MS = 3_600_000;

/**
 * The composition root: builds storage, metadata, the registry core, access
 * control and the HTTP server from a resolved config. Nothing else wires
 * parts together, so no other module needs to know about all of them.
 */
export interface Berth {
  readonly config: BerthConfig;
  readonly registry: Registry;
  /** Pre-hooks and listeners around the registry: where features (audit, policies, webhooks) register. */
  readonly events: EventBus;
  readonly storage: StorageDriver;
  readonly metadata: MetadataStore;
  /** Users, organizations, teams, grants and access tokens (used by the management API and the CLI). */
  readonly identity: IdentityService;
  /** Online garbage collection (also scheduled, per gc.*). */
  readonly gc: GarbageCollector;
  readonly http: RegistryServer;
  readonly address: AddressInfo;
  /** Where the Notary API's own listener (trust.addr) listens, or null. */
  readonly trustAddress: AddressInfo | null;
  /** Where the debug listener (http.debug.addr: health, and metrics if enabled) listens, or null. */
  readonly debugAddress: AddressInfo | null;
  /** Prometheus metrics, when served somewhere (metrics.enabled, http.debug.prometheus.enabled); else null. */
  readonly metrics: BerthMetrics | null;
  /** Graceful stop: drains requests (up to http.draintimeout), then closes the stores. */
  close(): Promise<void>;
}

export interface StartOptions {
  access?: AccessController;
  /** Where BERTH_ADMIN_PASSWORD(_FILE) is read (default process.env). */
  env?: Record<string, string | undefined>;
}

/** The first administrator's password from BERTH_ADMIN_PASSWORD or BERTH_ADMIN_PASSWORD_FILE, if set. */
function adminPassword(env: Record<string, string | undefined>): string | undefined {
  if (env.BERTH_ADMIN_PASSWORD) return env.BERTH_ADMIN_PASSWORD;
  if (env.BERTH_ADMIN_PASSWORD_FILE) return readFileSync(env.BERTH_ADMIN_PASSWORD_FILE, 'utf8').replace(/\r?\n$/, '');
  return undefined;
}

/**
 * Prepares the blob storage, waiting for an object store that is not up yet
 * (it may start after Berth in Compose or Kubernetes): retries with backoff
 * for about 30 s, then gives up with a message naming the setting to check.
 */
async function initStorage(storage: StorageDriver, logger: Logger, attempts = 8): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await storage.init();
      return;
    } catch (err) {
      if (!(err instanceof StorageUnavailableError)) throw err;
      if (attempt >= attempts) {
        throw new Error(`storage.s3.regionendpoint: ${err.message} after ${attempts} attempts; check the endpoint and that the store is running and reachable`, { cause: err });
      }
      const delayMs = Math.min(250 * 2 ** attempt, 8000);
      logger.warn({ attempt, 'retry.ms': delayMs, err: err.message }, 'storage unavailable, retrying');
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

/** The blob storage driver a config names (not yet initialised). */
export function storageFromConfig(config: BerthConfig): StorageDriver {
  const s3 = config.storage.s3;
  return createStorageDriver({
    driver: config.storage.driver,
    rootDirectory: config.storage.rootDirectory,
    s3: s3 && {
      bucket: s3.bucket, region: s3.region, endpoint: s3.endpoint, rootDirectory: s3.rootDirectory,
      accessKey: s3.accessKey, secretKey: s3.secretKey, sessionToken: s3.sessionToken,
      forcePathStyle: s3.forcePathStyle, skipVerify: s3.skipVerify, encrypt: s3.encrypt, keyId: s3.keyId,
      chunkSize: s3.chunkSize, multipartCopyThresholdSize: s3.multipartCopyThresholdSize,
      multipartCopyChunkSize: s3.multipartCopyChunkSize, multipartCopyMaxConcurrency: s3.multipartCopyMaxConcurrency,
      storageClass: s3.storageClass, objectAcl: s3.objectAcl, userAgent: s3.userAgent, maxSockets: s3.maxSockets,
    },
  });
}

/** What assembleCore builds: the registry core with the pre-hooks and listeners every change goes through. */
export interface Core {
  /** The core itself: reads that are not pulls (no events, no pull policies), and what wraps it. */
  readonly registry: Registry;
  /** Pre-hooks and listeners around the registry: where features (audit, policies, webhooks) register. */
  readonly events: EventBus;
  /** The registry as one actor sees it: every change put to the pre-hooks, every commit an event. */
  registryFor(context: EventContext): RegistryService;
  /** The trust policy (its routes and the signature routes ask it for keys). */
  readonly enforcer: PolicyEnforcer;
}

export interface CoreOptions {
  /** Prometheus metrics, when something serves them (the server); null from the CLI. */
  metrics?: BerthMetrics | null;
  /** Docker Content Trust, when enabled and its key secret is loaded (the trust policy checks DCT signers with it). */
  trust?: TrustService | null;
  /**
   * Webhooks: the registry's base URL for events (target.url, request.host; default http.host, else this
   * host's name and http.addr's port), and what to tell once events are in the outbox (the server's dispatcher).
   */
  notifications?: { baseUrl?: () => string; sourceAddr?: () => string; queued?: () => void };
}

/**
 * The registry core as every writer must use it: the Registry on the
 * storage and metadata, and the event bus with its pre-hooks (trust
 * policy, immutable tags, quotas) and listeners (audit, metrics, signature
 * cleanup, search index). The server wraps each request's registry with
 * `registryFor`; the CLI (`berth import`) does the same without HTTP, so a
 * change gets the same validation, policies and events whichever way it
 * comes in. Register a new listener or pre-hook here, in one place.
 * Does no I/O; callers await `events.idle()` before closing the stores.
 */
export function assembleCore(config: BerthConfig, metadata: MetadataStore, storage: StorageDriver, logger: Logger, options: CoreOptions = {}): Core {
  const metrics = options.metrics ?? null;
  const registry = new Registry({
    storage,
    metadata,
    deleteEnabled: config.storage.deleteEnabled,
    readOnly: config.storage.readOnly,
    manifestMaxBytes: config.limits.manifestMaxBytes,
    sparse: new SparsePolicy(config.manifests.sparse),
    verifyReads: config.storage.verifyReads,
    logger,
  });
  if (!config.storage.verifyReads) logger.warn({ 'config.key': 'storage.verifyreads' }, 'blob reads are not verified against their digests');
  const usersFromDatabase = config.auth.kind === 'token' && config.auth.database;
  const events = new EventBus(logger);
  // The audit log records content events (pushes, pulls with HEAD, deletes, refusals) when users are Berth's own.
  if (usersFromDatabase) events.addListener('audit', auditListener(metadata.audit), { types: AUDITED_TYPES });
  if (metrics) events.addListener('metrics', metrics.eventListener, { types: METRIC_EVENT_TYPES });
  // OCI signatures go with their subject: deleting a manifest by digest deletes its signature artifacts.
  if (config.storage.deleteEnabled && !config.storage.readOnly) events.addListener('signatures', signatureCleanupListener(registry, logger), { types: ['manifest.deleted'] });
  // The search index follows repository events.
  events.addListener('search-index', searchIndexListener(metadata.search), { types: SEARCH_EVENT_TYPES });
  // Webhooks (notifications.endpoints): each event an endpoint does not ignore is written to the outbox in the
  // database; the server's dispatcher delivers it (also what the CLI wrote). A long queue rather than lost events.
  const endpoints = config.notifications.endpoints.filter((e) => !e.disabled);
  if (endpoints.length > 0) {
    const n = options.notifications ?? {};
    const sourceAddr = n.sourceAddr ?? (() => `${hostname()}:${config.http.port}`);
    events.addListener('notifications', notificationListener({
      store: metadata.notifications, endpoints,
      builder: { baseUrl: n.baseUrl ?? (() => config.http.baseUrl ?? `http://${sourceAddr()}`), sourceAddr, instanceId: registry.instanceId },
      references: config.notifications.includeReferences ? metadata.content : null, onEnqueued: n.queued,
    }), { types: NOTIFICATION_EVENT_TYPES, maxQueue: 100_000 });
  }
  // Without hooks or listeners the core is used as it is: nothing to pay on the hot path.
  const registryFor = (context: EventContext): RegistryService => (events.hasListeners || events.hasPreHooks ? new EventedRegistry(registry, events, context) : registry);
  // The trust policy: a pull (by tag or digest) needs a signature that verifies under the
  // policy of its repository, namespace or the registry; signatures are read from the core.
  const enforcer = new PolicyEnforcer({
    store: metadata.policies, content: metadata.content, source: registry, verify: verifySignatures, dct: options.trust ?? null, audit: metadata.audit, log: logger,
  });
  events.addPreHook('trust-policy', enforcer.hook);
  // Lifecycle: immutable tags and namespace quotas refuse a change before it is committed.
  const lifecycle = new LifecycleEnforcer({ store: metadata.lifecycle, content: metadata.content });
  events.addPreHook('immutable-tags', lifecycle.immutableHook);
  events.addPreHook('quotas', lifecycle.quotaHook);
  return { registry, events, registryFor, enforcer };
}

export async function startBerth(config: BerthConfig, logger: Logger, options: StartOptions = {}): Promise<Berth> {
  const storage = storageFromConfig(config);
  await initStorage(storage, logger);
  const db = config.database;
  const metadata = createMetadataStore(db.kind === 'postgres'
    ? { kind: 'postgres', url: db.url, logUrl: redactUrl(db.url), poolSize: db.poolSize, log: logger }
    : { kind: 'sqlite', path: db.path });
  // Access control next (it may keep users in the database): a bad htpasswd
  // file or key stops the start before anything listens.
  let auth: AuthSetup;
  let identity: IdentityService;
  // Prometheus metrics only when something serves them: otherwise nothing is measured.
  const metrics = config.metrics.main || config.metrics.debug?.metricsPath
    ? new BerthMetrics({ storageTotals: () => metadata.gc.totals() })
    : null;
  try {
    await metadata.init();
    identity = new IdentityService({ store: metadata.identity, audit: metadata.audit });
    const usersFromDatabase = config.auth.kind === 'token' && config.auth.database;
    const anonymous = config.auth.kind === 'token' && config.auth.anonymous;
    auth = await createAuth(config.auth, {
      loginAttempts: metrics ? metrics.countLoginFailures(metadata.loginAttempts) : metadata.loginAttempts,
      hosts: new RegistryHostNames([config.http.baseUrl, ...config.http.aliases]),
      log: logger,
      database: (limiter) => ({ authenticator: new DbAuthenticator(identity, limiter, metadata.audit), policy: new GrantPolicy({ store: metadata.identity, anonymous }) }),
    });
    if (usersFromDatabase) {
      const admin = await identity.ensureAdmin(adminPassword(options.env ?? process.env)).catch((err: unknown) => {
        if (err instanceof RegistryError && err.code === 'BERTH_INVALID') throw new RegistryError('BERTH_INVALID', `BERTH_ADMIN_PASSWORD: ${err.message}; choose a password of 8 to 72 bytes`);
        throw err;
      });
      if (admin.created) logger.info({ user: 'admin' }, 'created the first administrator');
      // Printed once, to the operator's terminal, never to the log stream.
      if (admin.generatedPassword) process.stderr.write(`berth: created user "admin" with password ${admin.generatedPassword}\nberth: change it now: berth user passwd admin (or set BERTH_ADMIN_PASSWORD before the first start)\n`);
    }
  } catch (err) {
    await metadata.close().catch(() => {});
    await storage.close();
    throw err;
  }
  logger.info(auth.summary, 'access control ready');
  // Each check is bounded, so a hung backend reads as unavailable instead of hanging the probe.
  const probe = async (probes: Record<string, () => Promise<unknown>>) => {
    const checks: Record<string, string> = {};
    await Promise.all(Object.entries(probes).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), 5000)));
      try {
        await Promise.race([check(), timeout]);
        checks[name] = 'ok';
      } catch (err) {
        checks[name] = /\bfull\b/.test((err as Error)?.message ?? '') ? 'full' : 'unavailable';
        logger.warn({ check: name, err: (err as Error)?.message }, 'readiness check failed');
      } finally {
        clearTimeout(timer);
      }
    }));
    return { ok: Object.values(checks).every((c) => c === 'ok'), checks };
  };
  // Liveness (/healthz) and readiness (/readyz: also the blob storage).
  const health = () => probe({ database: () => metadata.ping() });
  const ready = () => probe({ database: () => metadata.ping(), storage: () => (storage.ready ? storage.ready() : storage.list('/')) });
  const usersFromDatabase = config.auth.kind === 'token' && config.auth.database;
  // Features contribute route groups: Docker Content Trust (the Notary API) unless trust.enabled is false.
  const groups: RouteGroup[] = [];
  let trust: TrustService | null = null;
  if (config.trust.enabled) {
    let vault: KeyVault;
    try {
      vault = new KeyVault(await loadOrCreateKeySecret(config.trust.keySecretFile));
    } catch (err) {
      await metadata.close().catch(() => {});
      await storage.close();
      throw err;
    }
    trust = new TrustService({ store: metadata.trust, vault });
    groups.push(trustRoutes(trust));
  }
  // Webhooks: one worker per endpoint delivers the outbox (started once listening); the listener wakes it.
  let address: AddressInfo | undefined;
  const portNow = () => address?.port ?? config.http.port;
  const notifySource = () => `${hostname()}:${portNow()}`;
  const notifyBase = () => config.http.baseUrl ?? `${config.http.tls ? 'https' : 'http'}://${notifySource()}`;
  let dispatcher: NotificationDispatcher | null = null;
  const core = assembleCore(config, metadata, storage, logger, { metrics, trust, notifications: { baseUrl: notifyBase, sourceAddr: notifySource, queued: () => dispatcher?.wake() } });
  const { registry, events, registryFor, enforcer } = core;
  groups.push(policyRoutes(new TrustPolicies({ store: metadata.policies, audit: metadata.audit }), enforcer));
  // Retention removes the tags its rules do not keep, through the core with events, as the system actor.
  const tagRetention = new Retention({
    store: metadata.lifecycle, audit: metadata.audit,
    deleteTag: async (repository, tag, digest) => {
      const context: EventContext = { actor: { kind: 'system', name: 'retention' }, requestId: `retention-${randomUUID()}`, remoteAddress: null };
      await registryFor(context).deleteManifest(repository, tag, {
        guard: async (change) => {
          if (change.type === 'tag.delete' && change.digest !== digest) throw new RegistryError('BERTH_CONFLICT', `tag ${repository}:${tag} was pushed again since retention planned its removal; left alone`);
        },
      });
    },
  });
  groups.push(lifecycleRoutes(new LifecycleRules({ store: metadata.lifecycle, audit: metadata.audit }), tagRetention));
  // Online garbage collection and storage usage: run and seen by administrators through the API.
  const collector = new GarbageCollector({ metadata, storage: registry.storage, placement: registry.placement, instanceId: registry.instanceId, log: logger });
  const gc = metrics ? metrics.countGcRuns(collector) : collector;
  groups.push(gcRoutes({ collector: gc, metadata, graceMs: config.gc.graceMs, writable: !config.storage.readOnly }));
  // Search (docker search and the API): the index follows repository events (its listener is in
  // assembleCore) and is reconciled once listening (in the background) and hourly below, for events
  // a crash or a full queue lost; only what the caller may pull is answered. Without PostgreSQL's
  // trigram indexes every search reads every repository: say how to fix it.
  const searchIndexFix = await metadata.search.missingIndexFix().catch(() => null);
  if (searchIndexFix) logger.warn({ fix: searchIndexFix }, 'search reads every repository: the pg_trgm extension could not be created, so there is no trigram index');
  groups.push(searchRoutes({
    store: metadata.search, identity: usersFromDatabase ? metadata.identity : null, audit: usersFromDatabase ? metadata.audit : null,
    anonymous: config.auth.kind === 'token' && config.auth.anonymous,
  }));
  // OCI signatures by API, read from the core (listing is not a pull), verified against the keys of the repository's trust policy.
  groups.push(signatureRoutes({ source: registry, keysFor: async (repository) => (await enforcer.policyFor(repository))?.keys ?? [] }));
  // Export (berth export's bundle as a download): pull on every repository named; the server re-signs a stale timestamp first, as on a read.
  groups.push(exportRoutes({
    source: registry,
    trust: trust && {
      current: (r) => metadata.trust.current(r), byVersion: (r, role, v) => metadata.trust.byVersion(r, role, v), byChecksum: (r, role, sha) => metadata.trust.byChecksum(r, role, sha),
      refresh: async (repository, gun) => { await trust?.get(repository, gun, 'timestamp.json').catch(() => undefined); },
    },
  }));
  // Webhook endpoints' health and each delivery, for administrators.
  groups.push(notificationRoutes({ store: metadata.notifications, endpoints: config.notifications.endpoints }));
  const services = {
    registryFor, access: options.access ?? auth.access, authenticator: auth.authenticator, identity: usersFromDatabase ? identity : null,
    audit: usersFromDatabase ? metadata.audit : null,
    tokens: auth.tokens, lockouts: auth.limiter, config, health, ready, observer: metrics?.observer,
  };
  // /metrics on the main listener only when metrics.enabled, and protected: the bearer metrics.token, else an administrator.
  const mainMetrics = config.metrics.main;
  if (metrics && mainMetrics) groups.push(metricsRoutes(metrics, { path: '/metrics', access: mainMetrics.token === null ? { kind: 'admin' } : { kind: 'token', token: mainMetrics.token } }));
  const http = createRegistryServer(services, logger, groups);
  // http.debug.addr: registry:2's debug server, plain HTTP and no authentication (bind it to an internal address): health, and metrics
  // when http.debug.prometheus.enabled. Its own requests are not measured.
  const debug = config.metrics.debug;
  const debugHttp = debug
    ? createRegistryServer({ ...services, observer: undefined }, logger, [healthRoutes, ...(metrics && debug.metricsPath ? [metricsRoutes(metrics, { path: debug.metricsPath, access: { kind: 'public' } })] : [])], { core: 'none', plain: true })
    : null;
  // trust.addr: the Notary API alone on a listener of its own, as a separate Notary server would be.
  const trustHttp = trust && config.trust.listener ? createRegistryServer(services, logger, groups.filter((g) => g.name === 'trust'), { core: 'front' }) : null;
  let trustAddress: AddressInfo | null = null;
  let debugAddress: AddressInfo | null = null;
  try {
    address = await http.listen(config.http.host, config.http.port);
    if (trustHttp && config.trust.listener) trustAddress = await trustHttp.listen(config.trust.listener.host, config.trust.listener.port);
    if (debugHttp && debug) debugAddress = await debugHttp.listen(debug.host, debug.port);
  } catch (err) {
    await http.close(0).catch(() => {});
    await trustHttp?.close(0).catch(() => {});
    await debugHttp?.close(0).catch(() => {});
    await metadata.close();
    await storage.close();
    throw err;
  }

  // Background work runs once per interval across all instances (leases in the shared database).
  const jobs = new JobScheduler({ leases: metadata.leases, logger, owner: registry.instanceId });
  const purging = config.storage.uploadPurging;
  if (purging.enabled && !config.storage.readOnly) {
    const uploadPurge = new UploadPurge(registry);
    jobs.every('upload-purge', purging.intervalMs, async () => {
      const ids = await uploadPurge.run(purging.ageMs, { dryRun: purging.dryRun });
      if (ids.length > 0) logger.info({ count: ids.length, dryRun: purging.dryRun }, 'purged abandoned uploads');
      await metadata.leases.prune(Date.now() - 3_600_000);
    });
  }

  // Scheduled garbage collection, once per gc.interval across instances (the collector's own `gc` lease also keeps it apart from runs by hand).
  const gcConfig = config.gc;
  if (gcConfig.enabled && !config.storage.readOnly) {
    jobs.every('gc', gcConfig.intervalMs, async () => {
      await gc.run({ dryRun: gcConfig.dryRun, deleteUntagged: gcConfig.deleteUntagged, graceMs: gcConfig.graceMs, trigger: 'schedule' });
    });
  }

  // The search index, made good now in the background (a start does not wait for it: it reads every
  // repository and manifest) and hourly, each once across instances (a listener's event can be lost; the listener explains).
  const searchReconciled = reconcileAtStart({ store: metadata.search, leases: metadata.leases, owner: registry.instanceId, log: logger });
  jobs.every('search-reconcile', 3_600_000, async () => {
    const r = await metadata.search.reconcile();
    if (r.added + r.removed > 0) logger.info(r, 'search index reconciled');
  });

  // Retention rules are applied hourly, once across instances (deletes must be allowed).
  if (config.storage.deleteEnabled && !config.storage.readOnly) {
    jobs.every('retention', RETENTION_INTERVAL_MS, async () => {
      const r = await tagRetention.run({ dryRun: false });
      if (r.removed.length > 0 || r.failed.length > 0) logger.info({ removed: r.removed.length, failed: r.failed.length, protected: r.protected, 'duration.ms': r.durationMs }, 'retention removed tags');
    });
  }

  // The audit log keeps audit.retention (default 90 days); pruned daily, in batches, once across instances.
  const retention = config.audit.retentionMs;
  if (retention > 0 && !config.storage.readOnly) {
    jobs.every('audit-prune', 86_400_000, async () => {
      let pruned = 0;
      for (;;) {
        const n = await metadata.audit.prune(Date.now() - retention, 5000);
        pruned += n;
        if (n < 5000 || pruned >= 1_000_000) break; // the rest waits for tomorrow
      }
      if (pruned > 0) logger.info({ count: pruned, 'retention.ms': retention }, 'pruned old audit events');
    });
  }

  // Webhooks: deliver the outbox from every instance; delivered rows are kept 7 days for the API, pruned hourly once across instances.
  const endpoints = config.notifications.endpoints.filter((e) => !e.disabled);
  if (endpoints.length > 0) {
    dispatcher = new NotificationDispatcher({
      store: metadata.notifications, endpoints, owner: registry.instanceId, source: notifyBase(), log: logger,
      onDelivery: metrics ? (endpoint, outcome) => metrics.recordWebhookDelivery(endpoint, outcome) : undefined,
    });
    dispatcher.start();
    logger.info({ endpoints: endpoints.map((e) => e.name) }, 'webhook notifications on');
  }
  jobs.every('notifications-prune', 3_600_000, async () => {
    const n = await metadata.notifications.prune(Date.now() - 7 * 86_400_000, 10_000);
    if (n > 0) logger.info({ count: n }, 'pruned delivered webhook notifications');
  });

  // Failed-login windows that ended are dead rows: pruned every minute, once across instances, so the table stays bounded.
  const limiter = auth.limiter;
  if (limiter) {
    jobs.every('login-failures-prune', 60_000, async () => {
      const n = await limiter.prune();
      if (n > 0) logger.debug({ count: n }, 'pruned ended failed-login windows');
    });
  }

  return {
    config, registry, events, storage, metadata, identity, gc, http, address, trustAddress, debugAddress, metrics,
    async close() {
      await jobs.close();
      await searchReconciled;
      await Promise.all([http.close(config.http.drainTimeoutMs), trustHttp?.close(config.http.drainTimeoutMs), debugHttp?.close(0)]);
      // Let listeners finish what the last requests committed (bounded: a stuck listener does not hold the stop).
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([events.idle(), new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      // A delivery in flight is aborted and its row given back: the next start (or another instance) sends it.
      await dispatcher?.close();
      await metadata.close();
      await storage.close();
    },
  };
}
