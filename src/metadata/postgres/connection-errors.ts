import type { Pool, PoolClient } from 'pg';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import { RegistryError } from '../../errors/index.js';

/**
 * Which failures mean "the database cannot be reached" rather than "this
 * query is wrong". Those become 503 BERTH_UNAVAILABLE (retry later) instead
 * of 500, and are the only ones retried while connecting at start.
 */

/** Socket errors from Node (the server is down, unreachable or went away). */
const SOCKET_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN',
]);

/**
 * SQLSTATEs of a lost or refused connection: class 08 (connection
 * exception), 57P01–57P03 (server shutting down, crashed, starting up) and
 * 53300 (too many connections).
 */
const SQLSTATES = new Set(['08000', '08001', '08003', '08004', '08006', '57P01', '57P02', '57P03', '53300']);

/** pg and pg-pool raise these without a code. */
const MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout)/;

/**
 * A short reason (an errno or SQLSTATE, or "connection terminated") when
 * `err` is a connection-level failure, else null. Follows `cause` and the
 * errors of an AggregateError (Node reports each address tried).
 */
export function connectionErrorReason(err: unknown, depth = 0): string | null {
  if (typeof err !== 'object' || err === null || depth > 5) return null;
  const e = err as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (err instanceof RegistryError) return err.code === 'BERTH_UNAVAILABLE' ? connectionErrorReason(e.cause, depth + 1) ?? 'unavailable' : null;
  if (typeof e.code === 'string' && (SOCKET_CODES.has(e.code) || SQLSTATES.has(e.code))) return e.code;
  if (typeof e.message === 'string' && MESSAGES.test(e.message)) return e.message.split(/[;:(]/)[0]?.trim().toLowerCase() ?? 'connection error';
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const r = connectionErrorReason(inner, depth + 1);
      if (r) return r;
    }
  }
  return connectionErrorReason(e.cause, depth + 1);
}

/** `err` as BERTH_UNAVAILABLE when it is a connection-level failure; otherwise `err` itself. */
export function toUnavailable(err: unknown): unknown {
  if (err instanceof RegistryError || connectionErrorReason(err) === null) return err;
  return new RegistryError('BERTH_UNAVAILABLE', 'the metadata database is unavailable; retry later', { cause: err });
}

async function guarded<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw toUnavailable(err);
  }
}

/** Statements named so far (SQL text -> name); see preparedName. */
const statementNames = new Map<string, string>();
/** Distinct statements Berth prepares at most; later ones run unnamed (parsed each time). */
const MAX_PREPARED = 500;

/**
 * A stable name for a statement's SQL text, so each pooled connection parses
 * and plans it once (a named prepared statement) instead of on every call:
 * for the one-row lookups that serve manifests that is a large share of the
 * server's work. Kysely compiles a query shape to the same text every time;
 * texts that vary (IN lists of different lengths) stay bounded by the cap.
 */
function preparedName(sql: string): string | undefined {
  let name = statementNames.get(sql);
  if (name === undefined && statementNames.size < MAX_PREPARED) {
    name = `berth_${statementNames.size}`;
    statementNames.set(sql, name);
  }
  return name;
}

/**
 * The pool as Kysely's PostgresDialect sees it, with every connection-level
 * failure (checking a connection out, or any statement including BEGIN and
 * COMMIT) turned into BERTH_UNAVAILABLE, and each statement prepared once per
 * connection. Wrapping the pool rather than each
 * store method means no query can forget it.
 */
export function unavailableMappingPool(pool: Pool): PostgresPool {
  const wrappers = new WeakMap<PoolClient, PostgresPoolClient>();
  return {
    async connect() {
      const client = await guarded(pool.connect());
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = {
          // Kysely also declares a cursor overload; Berth never streams, so only (sql, parameters) is called.
          query: ((sql: string, parameters: readonly unknown[]) => {
            const name = preparedName(sql);
            return guarded(name ? client.query({ name, text: sql, values: [...parameters] }) : client.query(sql, [...parameters]));
          }) as unknown as PostgresPoolClient['query'],
          release: () => client.release(),
        };
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}
