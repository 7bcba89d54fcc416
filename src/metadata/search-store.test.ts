import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type Kysely, sql } from 'kysely';
import type { MetadataStore } from './store.js';
import type { SearchVisibility } from './search-store.js';
import { runSearchSuite } from './search-suite.js';
import type { MetadataSuiteOptions } from './store-suite.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { PostgresStore } from './postgres/postgres-store.js';
import type { Database } from './schema.js';
import { createScratchDatabase, postgresSkipReason, type ScratchDatabase } from '../../test/helpers/postgres.js';

// The search suite on both backends, each suite on a database of its own
// (kept apart from sqlite-store.test.ts and postgres-store.test.ts, which
// other stores' suites share).
const dirs = new Map<MetadataStore, string>();
const sqlite: MetadataSuiteOptions = {
  name: 'sqlite (file, WAL)',
  async create(): Promise<MetadataStore> {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-search-'));
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

runSearchSuite(sqlite);
runSearchSuite(postgres);

/**
 * 10,000 repositories, a user who may pull a few of them through grants and
 * public flags: every query must answer exactly, and quickly. The bound is
 * generous (a shared CI machine); the times are printed for the record.
 */
for (const backend of [sqlite, postgres]) {
  describe(`search with 10,000 repositories: ${backend.name}`, { skip: backend.skipReason ?? false }, () => {
    let store: MetadataStore;
    before(async () => {
      store = await backend.create();
      await store.init();
      // The rows go in straight (10,000 pushes through the content store would take minutes).
      const db = (store as unknown as { db: Kysely<Database> }).db;
      const now = Date.now();
      for (let start = 0; start < 10_000; start += 500) {
        const names = Array.from({ length: 500 }, (_, i) => `team${String((start + i) % 100).padStart(2, '0')}/app-${String(start + i).padStart(5, '0')}`);
        await db.insertInto('repositories').values(names.map((name) => ({ name, created_at: now }))).execute();
        await db.insertInto('manifests').values(names.map((name) => ({
          repository: name, digest: `sha256:${'0'.repeat(64)}`, media_type: 'application/vnd.oci.image.manifest.v1+json', size: 2,
          content: Buffer.from('{}'), artifact_type: null, subject: null, annotations: null, created_at: now,
        }))).execute();
      }
      assert.deepEqual(await store.search.reconcile(), { added: 10_000, removed: 0 });
      await store.search.setDescription('team07/app-09907', 'the payment gateway');
      await store.identity.putGrant({ subjectKind: 'user', subject: 'erin', resourceKind: 'namespace', resource: 'team42', role: 'read' });
      await store.identity.putGrant({ subjectKind: 'user', subject: 'erin', resourceKind: 'repository', resource: 'team07/app-09907', role: 'read' });
      await store.identity.setVisibility('repository', 'team99/app-09999', true);
      if (store.kind === 'postgres') await sql`analyze`.execute(db);
    });
    after(async () => {
      await backend.teardown?.(store);
    });

    const erin: SearchVisibility = { kind: 'filtered', public: true, ownNamespace: 'erin', subjects: [{ kind: 'user', name: 'erin' }] };
    const timed = async (text: string, visibility: SearchVisibility, limit = 25) => {
      const t0 = performance.now();
      const r = await store.search.search({ text, visibility, limit });
      return { names: r.results.map((x) => x.name), ms: performance.now() - t0 };
    };

    it('answers exactly and within bounds', async (t) => {
      await timed('app', erin); // warm the statement and page caches
      const cases = [
        { text: 'app', visibility: erin, want: 102 },
        { text: 'payment', visibility: erin, want: 1 },
        { text: 'app-0999', visibility: { kind: 'all' } as const, want: 10 },
        { text: 'app', visibility: { kind: 'all' } as const, want: 10_000 },
        { text: '42', visibility: erin, want: 100 },
      ];
      for (const c of cases) {
        const r = await timed(c.text, c.visibility, 200);
        t.diagnostic(`${backend.name}: "${c.text}" (${c.visibility.kind}) → ${r.names.length} in ${r.ms.toFixed(1)} ms`);
        assert.equal(r.names.length, Math.min(c.want, 200), c.text);
        assert.ok(r.ms < 2000, `"${c.text}" took ${r.ms} ms`);
      }
      const first = await timed('app', erin, 3);
      assert.deepEqual(first.names, ['team07/app-09907', 'team42/app-00042', 'team42/app-00142']);
      assert.deepEqual((await timed('payment', erin)).names, ['team07/app-09907']);
      assert.deepEqual((await timed('app-0999', { kind: 'filtered', public: true, ownNamespace: null, subjects: [] })).names, ['team99/app-09999']);
    });
  });
}
