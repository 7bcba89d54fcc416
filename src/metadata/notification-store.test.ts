import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MetadataStore } from './store.js';
import { runNotificationSuite } from './notification-suite.js';
import type { MetadataSuiteOptions } from './store-suite.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { createScratchDatabase, postgresSkipReason, type ScratchDatabase } from '../../test/helpers/postgres.js';

// The notification suite on both backends, each on a database of its own.
const dirs = new Map<MetadataStore, string>();
const sqlite: MetadataSuiteOptions = {
  name: 'sqlite (file, WAL)',
  async create(): Promise<MetadataStore> {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-notifications-'));
    const store = new SqliteStore({ path: path.join(dir, 'berth.db') });
    dirs.set(store, dir);
    return store;
  },
  async teardown(store: MetadataStore): Promise<void> {
    await store.close();
    await rm(dirs.get(store) ?? '', { recursive: true, force: true });
    dirs.delete(store);
  },
};
const scratches = new Map<MetadataStore, ScratchDatabase>();
const postgres: MetadataSuiteOptions = {
  name: 'postgres',
  skipReason: postgresSkipReason(),
  async create(): Promise<MetadataStore> {
    const scratch = await createScratchDatabase();
    const store = new PostgresStore({ url: scratch.url });
    scratches.set(store, scratch);
    return store;
  },
  async teardown(store: MetadataStore): Promise<void> {
    await store.close();
    await scratches.get(store)?.drop();
    scratches.delete(store);
  },
};

runNotificationSuite(sqlite);
runNotificationSuite(postgres);
