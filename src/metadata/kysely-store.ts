import { type Kysely, Migrator, sql } from 'kysely';
import type { Database } from './schema.js';
import { migrationProvider, type Flavor } from './migrations.js';
import { KyselyAuditStore } from './kysely-audit-store.js';
import { KyselyContentStore } from './kysely-content-store.js';
import { KyselyIdentityStore } from './kysely-identity-store.js';
import { KyselyLeaseStore } from './kysely-lease-store.js';
import { KyselyLoginAttemptStore } from './kysely-login-attempt-store.js';
import { KyselyUploadStore } from './kysely-upload-store.js';
import { KyselyTrustStore } from './kysely-trust-store.js';
import { KyselyPolicyStore } from './kysely-policy-store.js';
import { KyselyLifecycleStore } from './kysely-lifecycle-store.js';
import { KyselyGcStore } from './kysely-gc-store.js';
import { KyselySearchStore } from './kysely-search-store.js';
import { KyselyNotificationStore } from './kysely-notification-store.js';
import { KyselyFsckStore } from './kysely-fsck-store.js';
import type { MetadataStore, MetadataStores } from './store.js';

/** What a store is built from: the handle's connection, and which SQL flavour it speaks. */
export interface StoreConnection {
  db: Kysely<Database>;
  flavor: Flavor;
  /**
   * Runs writes whose loss in a power failure is harmless (leases: their
   * holder is gone too; upload progress: the session is refused and the
   * client starts again) without waiting for the disk where the backend can:
   * on SQLite they commit with synchronous=NORMAL, visible to every other
   * connection at once, made durable by the next ordinary commit. Each such
   * wait would otherwise block the event loop (better-sqlite3 is synchronous).
   */
  ephemeral: <T>(fn: (db: Kysely<Database>) => Promise<T>) => Promise<T>;
}

/**
 * Every store of the database, built on one connection. A new store adds its
 * factory here (and its member to MetadataStores); `satisfies` makes the
 * compiler ask for both.
 */
const storeFactories = {
  content: ({ db, flavor }) => new KyselyContentStore(db, flavor),
  uploads: ({ db, ephemeral }) => new KyselyUploadStore(db, ephemeral),
  leases: ({ db, ephemeral }) => new KyselyLeaseStore(db, ephemeral),
  identity: ({ db, flavor }) => new KyselyIdentityStore(db, flavor),
  audit: ({ db }) => new KyselyAuditStore(db),
  trust: ({ db }) => new KyselyTrustStore(db),
  loginAttempts: ({ db }) => new KyselyLoginAttemptStore(db),
  policies: ({ db }) => new KyselyPolicyStore(db),
  lifecycle: ({ db }) => new KyselyLifecycleStore(db),
  gc: ({ db, flavor }) => new KyselyGcStore(db, flavor),
  search: ({ db, flavor }) => new KyselySearchStore(db, flavor),
  notifications: ({ db, flavor }) => new KyselyNotificationStore(db, flavor),
  fsck: ({ db, flavor }) => new KyselyFsckStore(db, flavor),
} satisfies { [K in keyof MetadataStores]: (connection: StoreConnection) => MetadataStores[K] };

function openStores(connection: StoreConnection): MetadataStores {
  const stores = {} as Record<keyof MetadataStores, unknown>;
  for (const [name, create] of Object.entries(storeFactories)) stores[name as keyof MetadataStores] = create(connection);
  return stores as MetadataStores;
}

/**
 * The database handle over Kysely. The SQLite and PostgreSQL backends differ
 * only in how they open the connection; the stores (one class per store,
 * kysely-*-store.ts) are the same for both and share that connection.
 */
export abstract class KyselyStore implements MetadataStore {
  abstract readonly kind: Flavor;
  protected abstract readonly db: Kysely<Database>;
  private opened: { db: Kysely<Database>; stores: MetadataStores } | null = null;

  /** See StoreConnection.ephemeral: here, ordinary writes. */
  protected ephemeral<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    return fn(this.db);
  }

  /** The stores on the current connection (which exists only after init()); rebuilt when it is replaced. */
  private stores(): MetadataStores {
    if (!this.db) throw new Error('metadata store used before init()');
    if (this.opened?.db !== this.db) this.opened = { db: this.db, stores: openStores({ db: this.db, flavor: this.kind, ephemeral: (fn) => this.ephemeral(fn) }) };
    return this.opened.stores;
  }

  get content(): MetadataStores['content'] {
    return this.stores().content;
  }

  get uploads(): MetadataStores['uploads'] {
    return this.stores().uploads;
  }

  get leases(): MetadataStores['leases'] {
    return this.stores().leases;
  }

  get identity(): MetadataStores['identity'] {
    return this.stores().identity;
  }

  get audit(): MetadataStores['audit'] {
    return this.stores().audit;
  }

  get trust(): MetadataStores['trust'] {
    return this.stores().trust;
  }

  get loginAttempts(): MetadataStores['loginAttempts'] {
    return this.stores().loginAttempts;
  }

  get policies(): MetadataStores['policies'] {
    return this.stores().policies;
  }

  get lifecycle(): MetadataStores['lifecycle'] {
    return this.stores().lifecycle;
  }

  get gc(): MetadataStores['gc'] {
    return this.stores().gc;
  }

  get search(): MetadataStores['search'] {
    return this.stores().search;
  }

  get notifications(): MetadataStores['notifications'] {
    return this.stores().notifications;
  }

  get fsck(): MetadataStores['fsck'] {
    return this.stores().fsck;
  }

  async init(): Promise<void> {
    const migrator = new Migrator({ db: this.db, provider: migrationProvider(this.kind), migrationTableName: 'berth_migrations', migrationLockTableName: 'berth_migrations_lock' });
    const { error } = await migrator.migrateToLatest();
    if (error) throw new Error('database migration failed', { cause: error });
  }

  abstract close(): Promise<void>;

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }
}
