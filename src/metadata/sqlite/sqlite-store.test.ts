import { mkdtemp, rm } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import BetterSqlite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { SqliteStore, withStatementCache } from './sqlite-store.js';

// Every suite opens a database file of its own.
const dirs = new Map<MetadataStore, string>();
for (const run of [runMetadataSuite, runContentSuite, runUploadSuite, runLeaseSuite, runIdentitySuite, runAuditSuite, runTrustSuite, runLoginAttemptSuite, runPolicySuite, runLifecycleSuite, runFsckSuite]) {
  run({
    name: 'sqlite (file, WAL)',
    async create() {
      const dir = await mkdtemp(path.join(tmpdir(), 'berth-sqlite-'));
      const store = new SqliteStore({ path: path.join(dir, 'berth.db') });
      dirs.set(store, dir);
      return store;
    },
    async teardown(store) {
      await store.close();
      await rm(dirs.get(store) ?? '', { recursive: true, force: true });
      dirs.delete(store);
    },
  });
}

describe('SQLite transactions that SQLite itself ended', () => {
  it('the error that ended them reaches the caller, not "cannot rollback - no transaction is active"', async () => {
    const sqlite = new BetterSqlite(':memory:');
    const db = new Kysely<{ t: { x: number } }>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    try {
      await sql`create table t (x integer)`.execute(db);
      const failure = new Error('database or disk is full');
      // As after SQLITE_FULL: the transaction is gone when the error surfaces, and Kysely then sends ROLLBACK.
      await assert.rejects(db.transaction().execute(async (trx) => {
        await trx.insertInto('t').values({ x: 1 }).execute();
        sqlite.exec('ROLLBACK');
        throw failure;
      }), (err) => err === failure);
      // A transaction that is still open is rolled back as before.
      await assert.rejects(db.transaction().execute(async (trx) => {
        await trx.insertInto('t').values({ x: 2 }).execute();
        throw new Error('refused');
      }), /refused/);
      assert.equal(sqlite.inTransaction, false);
      assert.deepEqual(await db.selectFrom('t').selectAll().execute(), []);
    } finally {
      await db.destroy();
    }
  });
});

describe('SQLite transactions beside another process that writes', () => {
  it('a transaction that reads, then writes after the other committed, waits for the lock instead of failing with SQLITE_BUSY', { timeout: 30_000 }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-sqlite-busy-'));
    const file = path.join(dir, 'berth.db');
    const sqlite = new BetterSqlite(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.exec('create table t (x integer)');
    const db = new Kysely<{ t: { x: number } }>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    // Another process (berth gc beside a server) holds the write lock, and commits 300 ms after saying so.
    const other = spawn(process.execPath, ['--input-type=module', '-e', `
      import Database from 'better-sqlite3';
      const db = new Database(${JSON.stringify(file)});
      db.pragma('busy_timeout = 5000');
      db.exec('BEGIN IMMEDIATE');
      db.exec('insert into t values (1)');
      process.stdout.write('locked\\n');
      setTimeout(() => { db.exec('COMMIT'); db.close(); }, 300);
    `], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        other.stdout.on('data', (chunk: Buffer) => { if (chunk.toString().includes('locked')) resolve(); });
        other.on('exit', (code) => reject(new Error(`the other process exited (${code}) before taking the lock`)));
      });
      // Deferred, this read would see the table before the other's commit, and the insert would then fail with SQLITE_BUSY.
      const seen = await db.transaction().execute(async (trx) => {
        const rows = await trx.selectFrom('t').selectAll().execute();
        await trx.insertInto('t').values({ x: 2 }).execute();
        return rows.map((r) => r.x);
      });
      assert.deepEqual(seen, [1], 'the transaction began after the other committed');
      assert.deepEqual((await db.selectFrom('t').selectAll().execute()).map((r) => r.x), [1, 2]);
    } finally {
      other.kill();
      await db.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite leases are ephemeral writes', () => {
  it('a lease is visible to another connection at once, and the connection is back to synchronous=FULL after it (taken, refused, given back)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-sqlite-'));
    const file = path.join(dir, 'berth.db');
    const a = new SqliteStore({ path: file });
    const b = new SqliteStore({ path: file });
    const synchronous = async (s: SqliteStore) => {
      const { rows } = await sql<{ synchronous: number }>`pragma synchronous`.execute((s as unknown as { db: Kysely<never> }).db);
      return rows[0]?.synchronous;
    };
    try {
      await a.init();
      await b.init();
      const now = Date.now();
      assert.equal(await a.leases.acquire('upload/x', 'one', now + 60_000, now), true);
      assert.equal(await synchronous(a), 2); // FULL
      // The other connection sees the row: it cannot take the lease.
      assert.equal(await b.leases.acquire('upload/x', 'two', now + 60_000, now), false);
      assert.equal(await synchronous(b), 2);
      await a.leases.release('upload/x', 'one');
      assert.equal(await synchronous(a), 2);
      assert.equal(await b.leases.acquire('upload/x', 'two', now + 60_000, now), true);
    } finally {
      await a.close();
      await b.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
