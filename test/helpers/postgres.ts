import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';

/**
 * PostgreSQL for tests. BERTH_TEST_POSTGRES_URL names a server (any database
 * on it, e.g. postgres://postgres@127.0.0.1:17100/postgres); each test gets
 * a fresh database with a random name, dropped afterwards.
 * `eval "$(test/scripts/pg-throwaway.sh start)"` starts a throwaway server.
 */

const SKIP_REASON = 'set BERTH_TEST_POSTGRES_URL=postgres://... to run the PostgreSQL suite; .ci/run starts one (test/scripts/pg-throwaway.sh)';

/**
 * Why PostgreSQL tests are skipped, or undefined when they run. With
 * BERTH_TEST_POSTGRES_REQUIRED=1 they always run, so a missing server fails
 * them (in CI a silent skip would hide a broken backend).
 */
export function postgresSkipReason(): string | undefined {
  if (process.env.BERTH_TEST_POSTGRES_URL || process.env.BERTH_TEST_POSTGRES_REQUIRED === '1') return undefined;
  return SKIP_REASON;
}

function serverUrl(): string {
  const url = process.env.BERTH_TEST_POSTGRES_URL;
  if (!url) throw new Error(`BERTH_TEST_POSTGRES_REQUIRED=1 but no server is given: ${SKIP_REASON}`);
  return url;
}

export interface ScratchDatabase {
  readonly name: string;
  /** URL of the new database. */
  readonly url: string;
  /** Drops the database, closing any connection still open to it. */
  drop(): Promise<void>;
}

async function onServer<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A fresh, empty database. Its default collation is ICU en-US where the
 * server offers it, which sorts `_x` before `C`: the schema's own COLLATE "C"
 * must then be what gives byte order, so the suite proves it does.
 */
export async function createScratchDatabase(): Promise<ScratchDatabase> {
  const name = `berth_test_${randomBytes(6).toString('hex')}`;
  const quoted = pg.escapeIdentifier(name);
  await onServer(async (client) => {
    try {
      await client.query(`create database ${quoted} template template0 encoding 'UTF8' locale_provider icu icu_locale 'en-US'`);
    } catch {
      await client.query(`create database ${quoted}`); // a server without ICU (or before PostgreSQL 15)
    }
  });
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => onServer(async (client) => {
      await client.query(`drop database if exists ${quoted} with (force)`);
    }),
  };
}

/** Runs SQL on the server's own database (e.g. pg_terminate_backend). */
export async function onPostgresServer<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return onServer(fn);
}

/**
 * A TCP proxy in front of the server, which a test can cut (every open
 * connection reset, new ones closed at once) and restore: a database that
 * goes away and comes back, without disturbing the shared server.
 */
export interface TcpProxy {
  /** `url` with its host and port replaced by the proxy's. */
  readonly url: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  let open = true;
  const server = net.createServer((client) => {
    if (!open) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(targetUrl);
  proxied.hostname = '127.0.0.1';
  proxied.port = String((server.address() as net.AddressInfo).port);
  const cut = () => {
    open = false;
    for (const s of sockets) s.resetAndDestroy();
  };
  return {
    url: proxied.toString(),
    cut,
    restore() {
      open = true;
    },
    async close() {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
