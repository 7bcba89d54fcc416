import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { MetadataStore } from './store.js';
import type { SearchVisibility } from './search-store.js';
import { runSearchSuite } from './search-suite.js';
import type { MetadataSuiteOptions } from './store-suite.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { PostgresStore } from './postgres/postgres-store.js';
import type { Database } from './schema.js';
import { KyselySearchStore } from './kysely-search-store.js';
import { createScratchDatabase, onPostgresServer, postgresSkipReason, type ScratchDatabase } from '../../test/helpers/postgres.js';

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

    it('PostgreSQL: a name is found through the trigram index, not by reading every row', { skip: backend === postgres ? false : 'PostgreSQL only' }, async () => {
      const url = scratches.get(store)?.url ?? '';
      const statements: Array<{ sql: string; parameters: readonly unknown[] }> = [];
      const db = new Kysely<Database>({
        dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }),
        log: (e) => { if (e.level === 'query') statements.push({ sql: e.query.sql, parameters: e.query.parameters }); },
      });
      try {
        // Built without GIN's pending list (migration 0014): a search never reads a list of recent entries whole.
        const options = await sql<{ relname: string; reloptions: string[] | null }>`select relname, reloptions from pg_class
          where relname in ('search_repositories_name_trgm', 'search_repositories_description_trgm') order by relname`.execute(db);
        assert.deepEqual(options.rows, [
          { relname: 'search_repositories_description_trgm', reloptions: ['fastupdate=off'] },
          { relname: 'search_repositories_name_trgm', reloptions: ['fastupdate=off'] },
        ]);
        assert.equal(await store.search.missingIndexFix(), null);
        statements.length = 0;
        const r = await new KyselySearchStore(db, 'postgres').search({ text: 'app-09907', visibility: { kind: 'all' }, limit: 25 });
        assert.deepEqual(r.results.map((x) => x.name), ['team07/app-09907']);
        // A walk of the first names in order that finds too few, a count that says the text is rare there, then the index.
        assert.equal(statements.length, 3, statements.map((x) => x.sql).join('\n'));
        const { sql: text, parameters } = statements[2] ?? { sql: '', parameters: [] };
        const literal = text.replace(/\$(\d+)/g, (_, n: string) => pg.escapeLiteral(String(parameters[Number(n) - 1])));
        const planOf = async (explain: string) => JSON.stringify((await sql.raw<{ 'QUERY PLAN': unknown }>(explain).execute(db)).rows[0]?.['QUERY PLAN']);
        const usesIndex = (plan: string) => {
          assert.match(plan, /"Index Name":"search_repositories_name_trgm"/, plan);
          assert.doesNotMatch(plan, /"Node Type":"Seq Scan"/, plan);
          assert.doesNotMatch(plan, /"Index Name":"search_repositories_pkey"/, plan);
        };
        usesIndex(await planOf(`explain (format json) ${literal}`));
        // Berth runs each statement as a named prepared statement, which PostgreSQL may plan once for
        // any text (a generic plan): that plan must use the index too.
        await sql.raw(`prepare berth_search_probe as ${text}`).execute(db);
        await sql`set plan_cache_mode = force_generic_plan`.execute(db);
        usesIndex(await planOf(`explain (format json) execute berth_search_probe(${parameters.map((p) => pg.escapeLiteral(String(p))).join(', ')})`));
      } finally {
        await db.destroy();
      }
    });
  });
}

/**
 * SQLite, a text that many names hold: the first page comes from a walk of
 * the names in order with LIMIT, not from the FTS5 query, which yields every
 * match for a sort (linear: 470 ms for a text in all of 100,000 names). Shown
 * by the statements run and their plans, and by answers equal to the FTS5
 * query's, rows whose match needs Unicode case folding included.
 */
describe('search on SQLite: a text in many names', () => {
  let dir: string;
  let store: SqliteStore;
  let handle: SqliteDatabase.Database;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-search-walk-'));
    store = new SqliteStore({ path: path.join(dir, 'berth.db') });
    await store.init();
    const db = (store as unknown as { db: Kysely<Database> }).db;
    handle = (store as unknown as { sqlite: SqliteDatabase.Database }).sqlite;
    const now = Date.now();
    // 2,000 names with "ks/" (more than one walk covers), and one before them all whose description
    // holds it only once case-folded: U+212A KELVIN SIGN folds to "k" in FTS5, not in LIKE.
    const names = ['aaa/first', ...Array.from({ length: 2000 }, (_, i) => `ks/app-${String(i).padStart(5, '0')}`), 'zzz/rare-item'];
    for (let start = 0; start < names.length; start += 500) {
      const slice = names.slice(start, start + 500);
      await db.insertInto('repositories').values(slice.map((name) => ({ name, created_at: now }))).execute();
      await db.insertInto('manifests').values(slice.map((name) => ({
        repository: name, digest: `sha256:${'0'.repeat(64)}`, media_type: 'application/vnd.oci.image.manifest.v1+json', size: 2,
        content: Buffer.from('{}'), artifact_type: null, subject: null, annotations: null, created_at: now,
      }))).execute();
    }
    await store.search.reconcile();
    await store.search.setDescription('aaa/first', 'built for \u212As/ only');
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The search store on the same connection, with the statements it runs recorded. */
  function recorded(): { search: KyselySearchStore; statements: Array<{ sql: string; parameters: readonly unknown[] }> } {
    const statements: Array<{ sql: string; parameters: readonly unknown[] }> = [];
    const db = new Kysely<Database>({
      dialect: new SqliteDialect({ database: handle }),
      log: (e) => { if (e.level === 'query') statements.push({ sql: e.query.sql, parameters: e.query.parameters }); },
    });
    return { search: new KyselySearchStore(db, 'sqlite'), statements };
  }
  const plan = (s: { sql: string; parameters: readonly unknown[] }) =>
    (handle.prepare(`explain query plan ${s.sql}`).all(...s.parameters) as Array<{ detail: string }>).map((r) => r.detail);
  /** The answer as the FTS5 query gives it (every match, sorted), to compare with. */
  const byFts = (text: string, after = '', limit = 25) =>
    (handle.prepare(`select s.name from search_repositories s where s.id in (select rowid from search_fts where search_fts match ?)
      and s.name > ? order by s.name limit ?`).all(`"${text}"`, after, limit) as Array<{ name: string }>).map((r) => r.name);

  it('answers a page from one walk in name order: no sort of every match', async () => {
    const { search, statements } = recorded();
    const r = await search.search({ text: 'ks/', visibility: { kind: 'all' }, limit: 25 });
    assert.deepEqual(r.results.map((x) => x.name), byFts('ks/'));
    assert.deepEqual(r.results.map((x) => x.name).slice(0, 3), ['aaa/first', 'ks/app-00000', 'ks/app-00001'], 'the case-folded match is found');
    assert.equal(r.next, 'ks/app-00023');
    assert.equal(statements.length, 1, statements.map((s) => s.sql).join('\n'));
    const steps = plan(statements[0] ?? { sql: '', parameters: [] });
    assert.ok(steps.some((d) => /^SCAN search_repositories USING (COVERING )?INDEX /.test(d)), steps.join(' | '));
    assert.ok(!steps.some((d) => d.includes('TEMP B-TREE')), `sorts the matches: ${steps.join(' | ')}`);
    assert.ok(!steps.some((d) => /^SCAN search_fts /.test(d)), `reads every FTS5 match: ${steps.join(' | ')}`);
  });

  it('pages exactly as the FTS5 query, and asks it when matches are few', async () => {
    const { search, statements } = recorded();
    let after: string | undefined;
    for (const _ of [1, 2, 3]) {
      const r = await search.search({ text: 'KS/APP-0', visibility: { kind: 'all' }, limit: 100, after });
      assert.deepEqual(r.results.map((x) => x.name), byFts('ks/app-0', after, 100));
      after = r.next ?? undefined;
    }
    assert.equal(after, 'ks/app-00299');
    statements.length = 0;
    const rare = await search.search({ text: 'rare-item', visibility: { kind: 'all' }, limit: 25 });
    assert.deepEqual(rare, { results: [{ name: 'zzz/rare-item', description: '' }], next: null });
    assert.equal(statements.length, 2, 'a walk that gives up, then the FTS5 query');
    const nonAscii = await search.search({ text: '\u212As/', visibility: { kind: 'all' }, limit: 2 });
    assert.deepEqual(nonAscii.results.map((x) => x.name), ['aaa/first', 'ks/app-00000'], 'a text beyond ASCII goes to FTS5 (which folds it)');
  });
});

/**
 * PostgreSQL where Berth's user may not create pg_trgm (not a superuser, no
 * CREATE on the database): the migrations go on without the trigram indexes,
 * search still answers (reading the table), and the store names the fix that
 * Berth logs at start.
 */
describe('search on PostgreSQL without the right to create pg_trgm', { skip: postgresSkipReason() ?? false }, () => {
  it('migrates, answers, and names the fix', async () => {
    const scratch = await createScratchDatabase();
    const role = `berth_no_ext_${randomBytes(4).toString('hex')}`;
    const onScratch = async (statements: string[]) => {
      const client = new pg.Client({ connectionString: scratch.url });
      await client.connect();
      try {
        for (const s of statements) await client.query(s);
      } finally {
        await client.end();
      }
    };
    await onScratch([`create role ${role} login password 'pw'`, `grant usage, create on schema public to ${role}`]);
    const url = new URL(scratch.url);
    url.username = role;
    url.password = 'pw';
    const store = new PostgresStore({ url: url.toString() });
    try {
      await store.init();
      const fix = await store.search.missingIndexFix();
      assert.match(fix ?? '', /^a superuser runs, in this database: CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX IF NOT EXISTS search_repositories_name_trgm ON search_repositories USING gin \(name gin_trgm_ops\) WITH \(fastupdate = off\);/);
      await store.content.putManifest({
        manifest: {
          repository: 'acme/app', digest: `sha256:${'1'.repeat(64)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 2,
          content: Buffer.from('{}'), artifactType: null, subject: null, annotations: null,
        },
        references: [],
      });
      await store.search.add('acme/app');
      assert.deepEqual((await store.search.search({ text: 'cme/a', visibility: { kind: 'all' }, limit: 25 })).results.map((r) => r.name), ['acme/app']);
      // What the fix says, done by a superuser, is what makes the index.
      const statements = (fix ?? '').match(/CREATE [^;]*;/g) ?? [];
      assert.equal(statements.length, 3);
      await onScratch(statements);
      assert.equal(await store.search.missingIndexFix(), null);
    } finally {
      await store.close();
      await scratch.drop();
      await onPostgresServer((client) => client.query(`drop role if exists ${role}`));
    }
  });
});
