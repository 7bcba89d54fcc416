import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import { redactUrl } from '../../config/index.js';
import { RegistryError } from '../../errors/index.js';
import type { MetadataStore } from '../store.js';
import { runMetadataSuite } from '../store-suite.js';
import { runContentSuite } from '../content-suite.js';
import { runUploadSuite } from '../upload-suite.js';
import { runLeaseSuite } from '../lease-suite.js';
import { runIdentitySuite } from '../identity-suite.js';
import { runAuditSuite } from '../audit-suite.js';
import { runTrustSuite } from '../trust-suite.js';
import { runLoginAttemptSuite } from '../login-attempt-suite.js';
import { runPolicySuite } from '../policy-suite.js';
import { runLifecycleSuite } from '../lifecycle-suite.js';
import { runFsckSuite } from '../fsck-suite.js';
import { PostgresStore } from './postgres-store.js';
import { migrationProvider } from '../migrations.js';
import {
  createScratchDatabase, onPostgresServer, postgresSkipReason, startTcpProxy, type ScratchDatabase,
} from '../../../test/helpers/postgres.js';

const skipReason = postgresSkipReason();

// Every suite opens a scratch database of its own.
const scratches = new Map<MetadataStore, ScratchDatabase>();
for (const run of [runMetadataSuite, runContentSuite, runUploadSuite, runLeaseSuite, runIdentitySuite, runAuditSuite, runTrustSuite, runLoginAttemptSuite, runPolicySuite, runLifecycleSuite, runFsckSuite]) {
  run({
    name: 'postgres',
    skipReason,
    async create() {
      const scratch = await createScratchDatabase();
      const store = new PostgresStore({ url: scratch.url });
      scratches.set(store, scratch);
      return store;
    },
    async teardown(store) {
      await store.close();
      await scratches.get(store)?.drop();
      scratches.delete(store);
    },
  });
}

const d = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const manifest = (repository: string, digest: string) => ({
  repository, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 2, content: Buffer.from('{}'),
  artifactType: null, subject: null, annotations: null,
});

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function isUnavailable(err: unknown): boolean {
  return err instanceof RegistryError && err.code === 'BERTH_UNAVAILABLE' && err.status === 503;
}

/** Calls `fn` until it succeeds; every failure on the way must be BERTH_UNAVAILABLE. */
async function eventually<T>(fn: () => Promise<T>, tries = 20): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      assert.ok(isUnavailable(err), `only BERTH_UNAVAILABLE is expected while recovering, got ${String(err)}`);
      if (i >= tries) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function query<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

describe('postgres store: start-up', () => {
  it('retries an unreachable server with backoff, then fails naming database.url, never the password', async () => {
    const url = `postgres://berth:hunter2@127.0.0.1:${await closedPort()}/berth`;
    const warnings: Record<string, unknown>[] = [];
    const store = new PostgresStore({
      url,
      logUrl: redactUrl(url),
      log: { warn: (fields, msg) => warnings.push({ ...fields, msg }) },
      connect: { attempts: 4, initialDelayMs: 20, maxDelayMs: 40 },
    });
    try {
      await assert.rejects(store.init(), (err: unknown) => {
        assert.ok(isUnavailable(err), String(err));
        const { message } = err as Error;
        assert.match(message, /^cannot connect to PostgreSQL at postgres:\/\/berth:\*\*\*@127\.0\.0\.1:\d+\/berth \(ECONNREFUSED\) after 4 attempts\. Check database\.url/);
        assert.doesNotMatch(message, /hunter2/);
        return true;
      });
      assert.deepEqual(warnings.map((w) => [w.msg, w.attempt, w['retry.delay_ms'], w['err.code'], w['database.url']]), [
        ['cannot connect to the database, retrying', 1, 20, 'ECONNREFUSED', redactUrl(url)],
        ['cannot connect to the database, retrying', 2, 40, 'ECONNREFUSED', redactUrl(url)],
        ['cannot connect to the database, retrying', 3, 40, 'ECONNREFUSED', redactUrl(url)],
      ]);
      assert.doesNotMatch(JSON.stringify(warnings), /hunter2/);
    } finally {
      await store.close();
    }
  });
});

describe('postgres store: against a server', { skip: skipReason }, () => {
  it('migrates once when several instances start at the same moment', async () => {
    const db = await createScratchDatabase();
    const stores = Array.from({ length: 6 }, () => new PostgresStore({ url: db.url, poolSize: 2 }));
    try {
      await Promise.all(stores.map((s) => s.init()));
      assert.deepEqual((await query(db.url, 'select name from berth_migrations order by name')).map((r) => r.name), Object.keys(await migrationProvider('postgres').getMigrations()).sort());
      const tables = await query(db.url, "select tablename from pg_tables where schemaname = 'public' order by tablename");
      assert.deepEqual(tables.map((r) => r.tablename), [
        'access_tokens', 'audit_events', 'berth_migrations', 'berth_migrations_lock', 'blobs', 'gc_runs', 'grants', 'leases', 'lifecycle_rules', 'login_failures', 'manifest_references', 'manifests',
        'namespace_quotas', 'notification_endpoints', 'notification_outbox', 'organizations', 'repositories', 'repository_blobs', 'search_repositories', 'tags', 'team_members', 'teams', 'trust_changes', 'trust_files', 'trust_keys', 'trust_policies', 'trust_policy_revision', 'uploads', 'users', 'visibility',
      ]);
      // Byte order for names and tags comes from the schema, not the database's locale.
      const collations = await query(db.url, "select table_name, column_name, collation_name from information_schema.columns where table_schema = 'public' and (column_name in ('name', 'repository') and table_name <> 'berth_migrations') order by 1, 2");
      assert.ok(collations.length >= 6);
      for (const c of collations) assert.equal(c.collation_name, 'C', `${c.table_name}.${c.column_name}`);
      // All instances see one schema and one set of rows.
      await stores[0]?.content.putManifest({ manifest: manifest('mig/a', d(1)), references: [], tag: 'v1' });
      assert.equal((await stores[5]?.content.resolveTag('mig/a', 'v1'))?.digest, d(1));
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await db.drop();
    }
  });

  it('fails at once, naming database.url, when the database does not exist', async () => {
    const db = await createScratchDatabase();
    await db.drop();
    const store = new PostgresStore({ url: db.url, logUrl: redactUrl(db.url), connect: { attempts: 5, initialDelayMs: 5000 } });
    const started = Date.now();
    try {
      await assert.rejects(store.init(), (err: unknown) => {
        assert.ok(isUnavailable(err));
        assert.match((err as Error).message, /^cannot use the PostgreSQL database postgres:\/\/.*: database ".*" does not exist\. Check database\.url\.$/);
        return true;
      });
      assert.ok(Date.now() - started < 4000, 'an error that retrying cannot fix is not retried');
    } finally {
      await store.close();
    }
  });

  it('answers BERTH_UNAVAILABLE while the database is unreachable, and recovers when it returns', async () => {
    const db = await createScratchDatabase();
    const proxy = await startTcpProxy(db.url);
    const store = new PostgresStore({ url: proxy.url, poolSize: 3 });
    try {
      await store.init();
      await store.content.putManifest({ manifest: manifest('lost/a', d(2)), references: [], tag: 'v1' });
      proxy.cut();
      const calls: [string, () => Promise<unknown>][] = [
        ['getManifest', () => store.content.getManifest('lost/a', d(2))],
        ['resolveTag', () => store.content.resolveTag('lost/a', 'v1')],
        ['putManifest (a transaction)', () => store.content.putManifest({ manifest: manifest('lost/a', d(3)), references: [], tag: 'v2' })],
        ['listTags', () => store.content.listTags('lost/a', {})],
        ['ping', () => store.ping()],
      ];
      for (const [name, call] of calls) await assert.rejects(call(), isUnavailable, name);
      proxy.restore();
      assert.equal((await eventually(() => store.content.resolveTag('lost/a', 'v1')))?.digest, d(2));
      await store.content.putManifest({ manifest: manifest('lost/a', d(3)), references: [], tag: 'v2' });
      assert.deepEqual(await store.content.listTags('lost/a', {}), ['v1', 'v2']);
    } finally {
      await store.close();
      await proxy.close();
      await db.drop();
    }
  });

  it('replaces connections the server terminates (pg_terminate_backend)', async () => {
    const db = await createScratchDatabase();
    const store = new PostgresStore({ url: db.url, poolSize: 4 });
    try {
      await store.init();
      await store.content.putManifest({ manifest: manifest('term/a', d(4)), references: [], tag: 'v1' });
      // Fill the pool with idle connections, then have the server kill them all.
      await Promise.all(Array.from({ length: 8 }, () => store.content.resolveTag('term/a', 'v1')));
      const killed = await onPostgresServer(async (c) => (await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [db.name])).rowCount);
      assert.ok((killed ?? 0) >= 1);
      for (let i = 0; i < 8; i++) assert.equal((await eventually(() => store.content.resolveTag('term/a', 'v1')))?.digest, d(4));
      await store.ping();
    } finally {
      await store.close();
      await db.drop();
    }
  });
});
