import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type SqliteDatabase as KyselySqliteDatabase, type SqliteStatement } from 'kysely';
import { KyselyStore } from '../kysely-store.js';
import type { Database } from '../schema.js';

export interface SqliteStoreOptions {
  /** Database file, or ':memory:' for tests. */
  path: string;
}

/** Prepared statements kept per connection; SQL with long IN lists varies, so the cache is bounded. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * SQLite ends a transaction by itself on some errors (SQLITE_FULL, IOERR,
 * NOMEM, BUSY during COMMIT). Kysely then sends ROLLBACK, which fails with
 * "cannot rollback - no transaction is active" and is thrown instead of the
 * error that mattered (a full disk then read as 500 "unknown error"). A
 * ROLLBACK with no transaction open does nothing here, so the first error
 * reaches the caller.
 */
function rollbackIfActive(db: SqliteDatabase.Database): SqliteStatement {
  const rollback = db.prepare('ROLLBACK');
  const statement = {
    reader: false,
    all: () => [],
    iterate: () => [][Symbol.iterator](),
    run: () => (db.inTransaction ? rollback.run() : { changes: 0, lastInsertRowid: 0 }),
  };
  return statement as unknown as SqliteStatement;
}

/**
 * Kysely prepares every statement anew, which cost ~11% of a manifest GET in
 * profiles. better-sqlite3 statements are reusable and used synchronously, so
 * caching them by SQL text is safe.
 *
 * Kysely begins transactions DEFERRED. Beside another process that writes
 * (berth gc, backup, import or fsck next to a server) a deferred transaction
 * that read before the other's commit and writes after it fails at once with
 * SQLITE_BUSY (its snapshot is stale; the busy timeout cannot help), which a
 * push saw as a 500. Begun IMMEDIATE, a transaction takes the write lock
 * first and waits for it under the busy timeout. In one process Kysely runs
 * one transaction at a time on the connection, so nothing waits more than
 * before.
 */
export function withStatementCache(db: SqliteDatabase.Database): KyselySqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => db.close(),
    prepare(sqlText: string): SqliteStatement {
      let stmt = cache.get(sqlText);
      if (stmt) return stmt;
      stmt = /^\s*rollback\s*$/i.test(sqlText) ? rollbackIfActive(db)
        : (/^\s*begin\s*$/i.test(sqlText) ? db.prepare('BEGIN IMMEDIATE') : db.prepare(sqlText)) as unknown as SqliteStatement;
      cache.set(sqlText, stmt);
      if (cache.size > STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      return stmt;
    },
  };
}

/**
 * The embedded default: one SQLite file in WAL mode. synchronous=FULL makes
 * every committed transaction durable before the client hears 201.
 */
export class SqliteStore extends KyselyStore {
  readonly kind = 'sqlite' as const;
  protected db!: Kysely<Database>;
  private sqlite: SqliteDatabase.Database | null = null;

  constructor(private readonly options: SqliteStoreOptions) {
    super();
  }

  override async init(): Promise<void> {
    if (this.sqlite) return super.init(); // already open: only re-check migrations
    if (this.options.path !== ':memory:') mkdirSync(path.dirname(this.options.path), { recursive: true });
    const sqlite = new SqliteDatabase(this.options.path);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    this.sqlite = sqlite;
    this.db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    await super.init();
  }

  /**
   * Writes with synchronous=NORMAL: in WAL mode the commit is written to the
   * log but not fsynced (the next ordinary commit's fsync covers it). The
   * connection is held throughout, so no other statement runs in between.
   */
  protected override ephemeral<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    return this.db.connection().execute(async (db) => {
      await sql`pragma synchronous = NORMAL`.execute(db);
      try {
        return await fn(db);
      } finally {
        await sql`pragma synchronous = FULL`.execute(db);
      }
    });
  }

  async close(): Promise<void> {
    if (this.sqlite) {
      await this.db.destroy();
      this.sqlite = null;
    }
  }
}
