import { setTimeout as sleep } from 'node:timers/promises';
import { Kysely, PostgresDialect } from 'kysely';
import { Pool, TypeOverrides, types } from 'pg';
import { RegistryError } from '../../errors/index.js';
import { KyselyStore } from '../kysely-store.js';
import type { Database } from '../schema.js';
import { connectionErrorReason, unavailableMappingPool } from './connection-errors.js';

/** Where a store reports trouble with its database; a pino logger fits. */
export interface MetadataLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface PostgresStoreOptions {
  /** postgres:// or postgresql:// URL (database.url). */
  url: string;
  /** The URL as logs and errors may show it, without its password. Without it they show no URL. */
  logUrl?: string | undefined;
  /** Most connections this instance opens (database.poolsize). Default 10. */
  poolSize?: number | undefined;
  log?: MetadataLog | undefined;
  /** Connecting at start: how often to try, and the backoff between tries (doubling up to the maximum). */
  connect?: { attempts?: number; initialDelayMs?: number; maxDelayMs?: number } | undefined;
  /** How long a query waits for a connection (pool exhausted, server silent) before 503. Default 10 s. */
  connectionTimeoutMs?: number | undefined;
}

/**
 * int8 (bigint) columns arrive from pg as strings; Berth's are sizes and
 * epoch milliseconds, far below 2^53, so numbers are exact. Set per pool,
 * not on pg's global parser, so no other pg user in the process is affected.
 */
function berthTypes(): TypeOverrides {
  const t = new TypeOverrides();
  t.setTypeParser(types.builtins.INT8, Number);
  return t;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The metadata store on PostgreSQL, for several Berth instances sharing one
 * database. Same queries and migrations as SQLite (kysely-store.ts). Every
 * connection-level failure surfaces as BERTH_UNAVAILABLE (503), and the pool
 * replaces broken connections, so Berth recovers by itself when the server
 * comes back. Migrations at start hold a PostgreSQL advisory lock (Kysely's
 * Migrator), so instances starting together migrate once.
 */
export class PostgresStore extends KyselyStore {
  readonly kind = 'postgres' as const;
  protected db!: Kysely<Database>;
  private pool: Pool | null = null;

  constructor(private readonly options: PostgresStoreOptions) {
    super();
  }

  override async init(): Promise<void> {
    if (!this.pool) {
      const pool = new Pool({
        connectionString: this.options.url,
        max: this.options.poolSize ?? 10,
        connectionTimeoutMillis: this.options.connectionTimeoutMs ?? 10_000,
        keepAlive: true,
        application_name: 'berth',
        types: berthTypes(),
      });
      // An idle connection that breaks (server restart, pg_terminate_backend)
      // is dropped by the pool, which then emits 'error': without a listener
      // that would kill the process.
      pool.on('error', (err) => {
        this.options.log?.warn({ 'database.url': this.options.logUrl, 'err.code': connectionErrorReason(err) ?? 'error', 'err.message': err.message }, 'database connection lost');
      });
      // A checked-out connection that breaks also emits 'error' on the client;
      // its query fails with the same error (-> 503), so this only stops the crash.
      pool.on('connect', (client) => client.on('error', () => {}));
      this.pool = pool;
      this.db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: unavailableMappingPool(pool) }) });
    }
    await this.waitForDatabase();
    await super.init();
  }

  /**
   * Pings until the server answers. Connection failures are retried with
   * backoff (a database starting alongside Berth); anything else (bad
   * password, no such database) fails at once.
   */
  private async waitForDatabase(): Promise<void> {
    const { attempts = 10, initialDelayMs = 250, maxDelayMs = 4000 } = this.options.connect ?? {};
    const where = this.options.logUrl ?? 'the PostgreSQL server';
    let delay = initialDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ping();
        return;
      } catch (err) {
        const reason = connectionErrorReason(err);
        if (reason === null) {
          throw new RegistryError('BERTH_UNAVAILABLE', `cannot use the PostgreSQL database ${where}: ${messageOf(err)}. Check database.url.`, { cause: err });
        }
        if (attempt >= attempts) {
          throw new RegistryError('BERTH_UNAVAILABLE', `cannot connect to PostgreSQL at ${where} (${reason}) after ${attempts} attempts. Check database.url and that the server is running and reachable.`, { cause: err });
        }
        this.options.log?.warn({ 'database.url': this.options.logUrl, attempt, attempts, 'retry.delay_ms': delay, 'err.code': reason }, 'cannot connect to the database, retrying');
        await sleep(delay);
        delay = Math.min(delay * 2, maxDelayMs);
      }
    }
  }

  async close(): Promise<void> {
    if (this.pool) {
      this.pool = null;
      await this.db.destroy();
    }
  }
}
