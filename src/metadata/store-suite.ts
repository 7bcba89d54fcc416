import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MetadataStore } from './store.js';

/** How a backend's test file hands a suite its store: every suite opens one of its own. */
export interface MetadataSuiteOptions {
  name: string;
  /** A new, empty, unopened store (the suite calls init()). */
  create(): Promise<MetadataStore>;
  /** Releases what create() made (a scratch database, a folder); the suite closes the store after it. */
  teardown?(store: MetadataStore): Promise<void>;
  /** Why the backend is not tested here (e.g. the service it needs is not configured). */
  skipReason?: string | undefined;
}

/**
 * A store from `options`, opened before the enclosing describe's tests and
 * torn down and closed after them. Read `store` inside a hook or test.
 */
export function openedStore(options: MetadataSuiteOptions): { readonly store: MetadataStore } {
  let store: MetadataStore | undefined;
  before(async () => {
    store = await options.create();
    await store.init();
  });
  after(async () => {
    if (!store) return;
    await options.teardown?.(store);
    await store.close();
  });
  return {
    get store(): MetadataStore {
      if (!store) throw new Error('openedStore: the store is opened in before()');
      return store;
    },
  };
}

/**
 * The contract suite of the database handle (store.ts): opening, migrating,
 * liveness and the stores it owns. Each store has a suite of its own
 * (content-suite.ts, upload-suite.ts, lease-suite.ts, identity-suite.ts,
 * audit-suite.ts); every backend runs them all.
 */
export function runMetadataSuite(options: MetadataSuiteOptions): void {
  describe(`metadata store: ${options.name}`, { skip: options.skipReason ?? false }, () => {
    const opened = openedStore(options);

    it('migrates idempotently', async () => {
      await opened.store.init();
      await opened.store.init();
    });

    it('pings', async () => {
      await opened.store.ping();
    });

    it('owns one instance of each store while its connection lasts', () => {
      const store = opened.store;
      for (const name of ['content', 'uploads', 'leases', 'identity', 'audit'] as const) {
        assert.ok(store[name], name);
        assert.equal(store[name], store[name], `${name} is built once`);
      }
    });
  });
}
