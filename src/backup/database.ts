import { spawn } from 'node:child_process';
import { chmod, copyFile, stat } from 'node:fs/promises';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { RegistryError } from '../errors/index.js';
import type { BackupBlob, BackupCounts } from './layout.js';

/**
 * How each metadata database is snapshotted and restored.
 *
 * SQLite: `VACUUM INTO` on a connection of its own. It reads the whole
 * database in one read transaction, so the copy is the database as of one
 * commit; in WAL mode writers go on meanwhile (the online backup API would
 * restart every time another connection writes, and may never finish under
 * steady pushes). The blob list is then read from the copy itself.
 *
 * PostgreSQL: a REPEATABLE READ transaction exports its snapshot
 * (pg_export_snapshot); Berth lists the blobs in that transaction, and
 * `pg_dump --snapshot` dumps exactly the same state while the transaction
 * stays open. The dump and the blob list cannot disagree, whatever commits
 * in between. pg_dump's custom format restores with pg_restore, which
 * operators know.
 */
export interface DatabaseSnapshot {
  /** The file written in the generation folder. */
  file: string;
  snapshotAt: Date;
  /** Unmarked blobs (a mark means garbage collection is deleting it: nothing references it). */
  blobs: BackupBlob[];
  counts: BackupCounts;
}

export interface DatabaseSource {
  readonly kind: 'sqlite' | 'postgres';
  /** Writes a consistent snapshot into `folder` and lists what it references. */
  snapshot(folder: string): Promise<DatabaseSnapshot>;
}

export interface DatabaseTarget {
  readonly kind: 'sqlite' | 'postgres';
  /** Null when the target holds no Berth data; else what it holds, for the refusal. */
  nonEmpty(): Promise<string | null>;
  /**
   * Loads the snapshot `file`, then forgets what the backup cannot bring
   * back (upload sessions, whose bytes it does not hold; leases) and, with
   * `contentAddressed`, every recorded location (the target keeps each blob
   * at its content address).
   */
  restore(file: string, options: { contentAddressed: boolean }): Promise<void>;
  /** The unmarked blobs of a snapshot file, before it is restored (SQLite only; null when the file cannot be read so). */
  blobsOf(file: string): Promise<Set<string> | null>;
  /** Undoes a failed restore (removes the database file it wrote). */
  discard(): Promise<void>;
}

const COUNTS_SQL = {
  repositories: 'select count(*) as n from repositories',
  manifests: 'select count(*) as n from manifests',
  tags: 'select count(*) as n from tags',
};
const BLOBS_SQL = 'select digest, size, location from blobs where deleting_at is null order by digest';

function countsOf(blobs: BackupBlob[], rows: { repositories: number; manifests: number; tags: number }): BackupCounts {
  return { ...rows, blobs: blobs.length, blobBytes: blobs.reduce((n, b) => n + b.size, 0) };
}

/** SQLite: VACUUM INTO from a read-only connection beside the server's. */
export function sqliteSource(dbPath: string): DatabaseSource {
  return {
    kind: 'sqlite',
    async snapshot(folder) {
      const file = path.join(folder, 'berth.db');
      const live = new SqliteDatabase(dbPath, { readonly: true, fileMustExist: true });
      let snapshotAt: Date;
      try {
        live.pragma('busy_timeout = 10000');
        snapshotAt = new Date();
        live.prepare('VACUUM INTO ?').run(file);
      } finally {
        live.close();
      }
      await chmod(file, 0o600);
      const copy = new SqliteDatabase(file, { readonly: true, fileMustExist: true });
      try {
        const blobs = (copy.prepare(BLOBS_SQL).all() as { digest: string; size: number; location: string | null }[])
          .map((r) => ({ digest: r.digest, size: Number(r.size), location: r.location }));
        const n = (sql: string) => Number((copy.prepare(sql).get() as { n: number }).n);
        return { file: 'berth.db', snapshotAt, blobs, counts: countsOf(blobs, { repositories: n(COUNTS_SQL.repositories), manifests: n(COUNTS_SQL.manifests), tags: n(COUNTS_SQL.tags) }) };
      } finally {
        copy.close();
      }
    },
  };
}

export function sqliteTarget(dbPath: string): DatabaseTarget {
  return {
    kind: 'sqlite',
    async nonEmpty() {
      return (await stat(dbPath).then(() => true, () => false)) ? `the database file ${dbPath} exists` : null;
    },
    async blobsOf(file) {
      const db = new SqliteDatabase(file, { readonly: true, fileMustExist: true });
      try {
        return new Set((db.prepare(BLOBS_SQL).all() as { digest: string }[]).map((r) => r.digest));
      } finally {
        db.close();
      }
    },
    async restore(file, { contentAddressed }) {
      await copyFile(file, dbPath);
      await chmod(dbPath, 0o600);
      const db = new SqliteDatabase(dbPath, { fileMustExist: true });
      try {
        db.transaction(() => {
          db.prepare('delete from leases').run();
          db.prepare('delete from uploads').run();
          if (contentAddressed) db.prepare('update blobs set location = null where location is not null').run();
        })();
      } finally {
        db.close();
      }
    },
    async discard() {
      const { rm } = await import('node:fs/promises');
      for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) await rm(f, { force: true });
    },
  };
}

/**
 * libpq's connection for pg_dump and pg_restore: the URL without its
 * password (command lines are visible to every user of the machine), the
 * password in PGPASSWORD.
 */
function libpq(url: string): { dbname: string; env: NodeJS.ProcessEnv } {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  return { dbname: u.toString(), env: { ...process.env, ...(password ? { PGPASSWORD: password } : {}) } };
}

/** Runs a PostgreSQL client tool; its standard error (never the password) becomes the error. */
function runTool(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr = (stderr + b.toString('utf8')).slice(-4000); });
    child.on('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT'
      ? new RegistryError('BERTH_UNAVAILABLE', `${command} is not installed; install the PostgreSQL client tools of the server's major version (Debian: postgresql-client)`)
      : err));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new RegistryError('BERTH_UNAVAILABLE', `${command} failed (exit ${code}): ${stderr.trim()}`))));
  });
}

/** PostgreSQL: an exported REPEATABLE READ snapshot, listed by Berth and dumped by pg_dump. */
export function postgresSource(url: string): DatabaseSource {
  return {
    kind: 'postgres',
    async snapshot(folder) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query('begin isolation level repeatable read read only');
        const id = (await client.query<{ id: string }>('select pg_export_snapshot() as id')).rows[0]?.id;
        if (!id) throw new Error('pg_export_snapshot returned nothing');
        const snapshotAt = new Date();
        const blobs = (await client.query<{ digest: string; size: string | number; location: string | null }>(BLOBS_SQL)).rows
          .map((r) => ({ digest: r.digest, size: Number(r.size), location: r.location }));
        const n = async (sql: string) => Number((await client.query<{ n: string }>(sql)).rows[0]?.n ?? 0);
        const counts = countsOf(blobs, { repositories: await n(COUNTS_SQL.repositories), manifests: await n(COUNTS_SQL.manifests), tags: await n(COUNTS_SQL.tags) });
        const { dbname, env } = libpq(url);
        const file = path.join(folder, 'berth.pgdump');
        await runTool('pg_dump', ['--format=custom', `--snapshot=${id}`, '--no-password', `--file=${file}`, `--dbname=${dbname}`], env);
        await chmod(file, 0o600);
        await client.query('commit');
        return { file: 'berth.pgdump', snapshotAt, blobs, counts };
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}

export function postgresTarget(url: string): DatabaseTarget {
  const withClient = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
    } catch (err) {
      // The driver's message names the host and the user, never the password.
      throw new RegistryError('BERTH_UNAVAILABLE', `cannot connect to the target database (database.url): ${(err as Error).message}; create it empty first, e.g. createdb`, { cause: err });
    }
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  return {
    kind: 'postgres',
    nonEmpty: () => withClient(async (c) => {
      const rows = (await c.query<{ name: string }>("select schemaname || '.' || tablename as name from pg_tables where schemaname not in ('pg_catalog', 'information_schema') order by 1 limit 3")).rows;
      return rows.length > 0 ? `the database holds tables (${rows.map((r) => r.name).join(', ')}…)` : null;
    }),
    blobsOf: async () => null,
    async restore(file, { contentAddressed }) {
      const { dbname, env } = libpq(url);
      await runTool('pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', '--no-password', `--dbname=${dbname}`, file], env);
      await withClient(async (c) => {
        await c.query('begin');
        await c.query('delete from leases');
        await c.query('delete from uploads');
        if (contentAddressed) await c.query('update blobs set location = null where location is not null');
        await c.query('commit');
      });
    },
    // pg_restore --single-transaction left nothing behind if it failed; after it, the clean-up above is one transaction too.
    discard: async () => undefined,
  };
}
