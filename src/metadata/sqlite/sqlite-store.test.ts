import { mkdtemp, rm } from 'node:fs/promises';
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
