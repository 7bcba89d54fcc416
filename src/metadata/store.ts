import type { AuditStore } from './audit-store.js';
import type { ContentStore } from './content-store.js';
import type { GcStore } from './gc-store.js';
import type { FsckStore } from './fsck-store.js';
import type { SearchStore } from './search-store.js';
import type { IdentityStore } from './identity-store.js';
import type { LeaseStore } from './lease-store.js';
import type { LoginAttemptStore } from './login-attempt-store.js';
import type { PolicyStore } from './policy-store.js';
import type { LifecycleStore } from './lifecycle-store.js';
import type { TrustStore } from './trust-store.js';
import type { UploadStore } from './upload-store.js';
import type { NotificationStore } from './notification-store.js';

/**
 * The stores of one metadata database, one per aggregate. Each has its
 * contract at the top of its own file and its own shared suite, run on every
 * backend. All live in the same database, migrate together and share one
 * connection (pool), so a store never opens connections of its own.
 */
export interface MetadataStores {
  /** Repositories, blobs and blob links, manifests, tags and referrers (content-store.ts). */
  readonly content: ContentStore;
  /** Blob upload sessions (upload-store.ts). */
  readonly uploads: UploadStore;
  /** Expiring claims that coordinate instances: upload writers, once-only jobs (lease-store.ts). */
  readonly leases: LeaseStore;
  /** Users, organizations, teams, grants and access tokens (identity-store.ts). */
  readonly identity: IdentityStore;
  /** The audit log (audit-store.ts). */
  readonly audit: AuditStore;
  /** Docker Content Trust metadata, server keys and changefeed (trust-store.ts). */
  readonly trust: TrustStore;
  /** Failed-login windows, shared so that login limits hold across instances (login-attempt-store.ts). */
  readonly loginAttempts: LoginAttemptStore;
  /** Trust policies: which signatures a pull needs, per registry, namespace or repository (policy-store.ts). */
  readonly policies: PolicyStore;
  /** Immutable tags, retention rules and namespace quotas (lifecycle-store.ts). */
  readonly lifecycle: LifecycleStore;
  /** Online garbage collection's marks and sweeps, its runs, and exact storage usage (gc-store.ts). */
  readonly gc: GcStore;
  /** The search index of repositories by name and description, filtered by who may pull (search-store.ts). */
  readonly search: SearchStore;
  /** The webhook outbox: deliveries per (event, endpoint), leased by the instance trying them, and endpoint health (notification-store.ts). */
  readonly notifications: NotificationStore;
  /** What `berth fsck` reads page by page, and the conditional changes of its repairs (fsck-store.ts). */
  readonly fsck: FsckStore;
}

/**
 * The metadata database handle: opens and migrates the database, checks it is
 * alive, closes it, and owns the stores on its connection. A store is usable
 * after init() (before, reading it throws) and until close().
 *
 * Implementations: SQLite (embedded default) and PostgreSQL (several
 * instances sharing one database). Both run the same Kysely queries, one
 * class per store on the shared connection (kysely-*-store.ts, wired in
 * kysely-store.ts), and the same suites (store-suite.ts for the handle,
 * content-suite.ts, upload-suite.ts, lease-suite.ts, identity-suite.ts,
 * audit-suite.ts, login-attempt-suite.ts, policy-suite.ts, lifecycle-suite.ts;
 * search-suite.ts, run on both by search-store.test.ts).
 *
 * Every store keeps this rule: when the database cannot be reached, a method
 * throws RegistryError BERTH_UNAVAILABLE (503, retry later), not the
 * driver's own error. The connection does that mapping, so a new store gets
 * it for free.
 *
 * Adding a store (trust data, policies, a webhook outbox) touches no other
 * store:
 * 1. `foo-store.ts`: the `FooStore` interface with each method's contract,
 *    and its record types;
 * 2. a migration appended in migrations.ts for its tables, and their row
 *    types in schema.ts;
 * 3. `kysely-foo-store.ts`: `class KyselyFooStore implements FooStore`,
 *    constructed from the shared connection (`StoreConnection`);
 * 4. a member `readonly foo: FooStore` in `MetadataStores` above, its
 *    factory in the `storeFactories` map of kysely-store.ts and a getter
 *    beside the others there (the compiler insists on all three: the map
 *    must satisfy `MetadataStores`, the handle must implement it);
 * 5. `foo-suite.ts` with `runFooSuite(options: MetadataSuiteOptions)`, added
 *    to the list of suites in sqlite-store.test.ts and postgres-store.test.ts.
 * A transaction that spans two stores is the exception, and belongs to the
 * store whose aggregate it changes (as `ContentStore.linkBlob` ends an
 * upload session).
 */
export interface MetadataStore extends MetadataStores {
  readonly kind: 'sqlite' | 'postgres';
  /** Opens the connection (PostgreSQL: retrying with backoff while unreachable) and runs pending migrations. */
  init(): Promise<void>;
  close(): Promise<void>;
  /** Cheap liveness check of the database (used by /readyz). */
  ping(): Promise<void>;
}
