// The "scale" backend: Berth on PostgreSQL + S3, plus the direct-S3 baseline.
//
// PostgreSQL: BERTH_BENCH_POSTGRES_URL names a server (any database on it);
// otherwise one throwaway cluster is started for the whole run with
// test/scripts/pg-throwaway.sh on a port in 17000-17099 and stopped at exit.
// Every berth-scale round gets a fresh database on it and a fresh s3rver
// (test/helpers/s3rver-main.js, the S3-compatible server the tests use) on its
// own temp dir and port, both removed when the round ends.
//
// The direct baseline talks to the same s3rver in the same round with
// @aws-sdk/client-s3, configured like Berth's S3 driver (keep-alive agent,
// checksums only when required, so the SDK signs buffered bodies with their
// SHA-256 just as the driver's requests are signed).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import pg from 'pg';
import { MiB, nowMs } from './stats.js';
import { REPO_ROOT, S3RVER_MAIN, childPids, makeTempDir, pickPort, procCpuSeconds, procTreeCpuSeconds, registerCleanup, removeTempDir, tail, trackChild } from './targets.js';

/** Part size of Berth's S3 multipart uploads (its default storage.s3.chunksize, set explicitly) and of the direct multipart baseline. */
export const S3_PART_SIZE = 10 * MiB;
/** Parts Berth's S3 driver keeps in flight per append (its default); the direct multipart baseline does the same. */
export const S3_PART_CONCURRENCY = 2;

// The SDK warns on every client about Node 20 (checked when a client is made, not at import).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const PG_SCRIPT = path.join(REPO_ROOT, 'test', 'scripts', 'pg-throwaway.sh');
const S3_KEY = 'S3RVER';
const S3_REGION = 'us-east-1';

// ---------------------------------------------------------------- PostgreSQL

export interface PgServer {
  /** Server URL (its `postgres` database). */
  url: string;
  /** Postmaster pid when we started the server (for CPU accounting), else null. */
  postmasterPid: number | null;
  external: boolean;
  describe: string;
  stop(): void;
}

export function startPostgres(): PgServer {
  const given = process.env.BERTH_BENCH_POSTGRES_URL;
  if (given) {
    return { url: given, postmasterPid: null, external: true, describe: `BERTH_BENCH_POSTGRES_URL (${redact(given)})`, stop: () => undefined };
  }
  const out = execFileSync('bash', [PG_SCRIPT, 'start'], {
    encoding: 'utf8',
    env: { ...process.env, BERTH_PG_PORTS: '17000-17099' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const dir = /^export BERTH_PG_DIR=(.*)$/m.exec(out)?.[1];
  const url = /^export BERTH_TEST_POSTGRES_URL=(.*)$/m.exec(out)?.[1];
  if (!dir || !url) throw new Error(`pg-throwaway.sh start printed no URL/dir: ${out}`);
  const stop = (): void => {
    unregister();
    try {
      execFileSync('bash', [PG_SCRIPT, 'stop', dir], { stdio: 'ignore' });
    } catch {
      /* best effort */
    }
  };
  const unregister = registerCleanup(stop);
  let pid: number | null = null;
  try {
    pid = Number(fs.readFileSync(path.join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]) || null;
  } catch {
    pid = null;
  }
  return { url, postmasterPid: pid, external: false, describe: `throwaway PostgreSQL at ${url} (pg-throwaway.sh)`, stop };
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

async function onPg<T>(serverUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------- the backend of one round

export interface ScaleBackend {
  endpoint: string;
  s3Host: string;
  s3Port: number;
  /** The s3rver process. */
  s3Pid: number;
  bucket: string;
  dbName: string;
  client: S3Client;
  /** The key of the object holding a blob Berth stored (its recorded location, see src/registry/layout.ts), or null. */
  blobKey(digest: string): Promise<string | null>;
  /** Environment for a Berth instance on this database and bucket; redirect=false serves blob bytes through Berth. */
  berthEnv(redirect: boolean): Record<string, string>;
  /** CPU seconds used so far by s3rver plus (when we started it) PostgreSQL. */
  storeCpuSeconds(): number;
  logTail(): string;
  close(): Promise<void>;
}

async function waitForPort(port: number, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`s3rver exited with ${child.exitCode ?? child.signalCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`s3rver did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts s3rver (own temp dir, port in 17000-17099, tracked for cleanup) and
 * creates a fresh database. Not test/helpers/s3.ts's startTestS3: that one
 * would switch to an external store when BERTH_TEST_S3_ENDPOINT is set, and
 * its child is not visible to the benchmark's exit/Ctrl-C cleanup.
 */
export async function startScaleBackend(pgServer: PgServer): Promise<ScaleBackend> {
  const dir = makeTempDir('s3rver');
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir);
  const logFile = path.join(dir, 's3rver.log');
  const bucket = `berth-bench-${crypto.randomBytes(4).toString('hex')}`;
  let child: ChildProcess | null = null;
  let port = 0;
  const tried = new Set<number>();
  for (let attempt = 0; attempt < 3 && !child; attempt++) {
    port = await pickPort(tried);
    tried.add(port);
    const fd = fs.openSync(logFile, 'a');
    const c = spawn(process.execPath, [S3RVER_MAIN, dataDir, String(port), bucket], { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    trackChild(c);
    c.on('error', () => undefined);
    try {
      await waitForPort(port, c, 15_000);
      child = c;
    } catch {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  }
  if (!child || child.pid === undefined) {
    removeTempDir(dir);
    throw new Error(`s3rver failed to start: ${tail(logFile)}`);
  }
  const s3 = child;
  const s3Pid = child.pid;
  const endpoint = `http://127.0.0.1:${port}`;

  const dbName = `berth_bench_${crypto.randomBytes(6).toString('hex')}`;
  const quoted = pg.escapeIdentifier(dbName);
  await onPg(pgServer.url, (c) => c.query(`create database ${quoted}`));
  const dbUrl = new URL(pgServer.url);
  dbUrl.pathname = `/${dbName}`;

  const client = new S3Client({
    endpoint,
    region: S3_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_KEY, secretAccessKey: S3_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 128 }), connectionTimeout: 10_000, requestTimeout: 600_000 },
  });

  return {
    endpoint,
    s3Host: '127.0.0.1',
    s3Port: port,
    s3Pid,
    bucket,
    dbName,
    client,
    blobKey: async (digest) => {
      const r = await onPg(dbUrl.toString(), (c) => c.query<{ location: string | null }>('select location from blobs where digest = $1', [digest]));
      const row = r.rows[0];
      if (!row) return null;
      return row.location ? row.location.slice(1) : contentAddress(digest);
    },
    berthEnv: (redirect) => ({
      BERTH_DATABASE_URL: dbUrl.toString(),
      REGISTRY_STORAGE_S3_BUCKET: bucket,
      REGISTRY_STORAGE_S3_REGION: S3_REGION,
      REGISTRY_STORAGE_S3_REGIONENDPOINT: endpoint,
      REGISTRY_STORAGE_S3_ACCESSKEY: S3_KEY,
      REGISTRY_STORAGE_S3_SECRETKEY: S3_KEY,
      REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
      REGISTRY_STORAGE_S3_CHUNKSIZE: String(S3_PART_SIZE),
      ...(redirect ? {} : { REGISTRY_STORAGE_REDIRECT_DISABLE: 'true' }),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    }),
    storeCpuSeconds: () => procCpuSeconds(s3Pid) + (pgServer.postmasterPid ? procTreeCpuSeconds(pgServer.postmasterPid) : 0),
    logTail: () => tail(logFile),
    async close() {
      client.destroy();
      if (s3.exitCode === null && s3.signalCode === null) {
        const exited = new Promise((r) => s3.once('exit', r));
        s3.kill('SIGKILL');
        await exited;
      }
      removeTempDir(dir);
      await onPg(pgServer.url, (c) => c.query(`drop database if exists ${quoted} with (force)`)).catch(() => undefined);
    },
  };
}

// ---------------------------------------------------------------- the store on a core of its own

export interface CorePinning {
  /** What was pinned, for the report; null when nothing was. */
  note: string | null;
  /** Pins one more Berth process (started after pinning). */
  addBerth(pid: number): void;
  undo(): void;
}

/**
 * For the blob workloads: s3rver and PostgreSQL get the last CPU to
 * themselves, and everything on the client side of the store shares the
 * others: the load generator (this process) with Berth in Berth's runs, and
 * the direct S3 client (this process too) in the direct runs. So the store
 * has the same resources in both, and Berth's own cost per byte shows as
 * what it is: CPU taken from the client's side, as on a real client or
 * Berth machine. Without this, on a 2-core machine, every cycle Berth
 * spends is taken from the single-threaded s3rver, and the ratio measures
 * core sharing more than Berth. BERTH_BENCH_SHARED_CORES=1 turns it off.
 */
export function pinStoreCore(pgServer: PgServer | null, b: ScaleBackend, berthPids: number[]): CorePinning {
  const n = os.availableParallelism();
  const none: CorePinning = { note: null, addBerth: () => undefined, undo: () => undefined };
  if (process.env.BERTH_BENCH_SHARED_CORES === '1' || n < 2) return none;
  const all = `0-${n - 1}`;
  const clientSide = n === 2 ? '0' : `0-${n - 2}`;
  const store = String(n - 1);
  const set = (cpus: string, pid: number): boolean => {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
      return true;
    } catch {
      return false; // no taskset, or the process is gone
    }
  };
  const stores = [b.s3Pid, ...(pgServer?.postmasterPid ? [pgServer.postmasterPid, ...childPids(pgServer.postmasterPid)] : [])];
  const clients = [process.pid, ...berthPids];
  if (!set(store, b.s3Pid)) return none;
  for (const pid of stores) set(store, pid);
  for (const pid of clients) set(clientSide, pid);
  return {
    note: `s3rver and PostgreSQL pinned to CPU ${store}; Berth and the load generator (or the direct S3 client) to CPU ${clientSide} (BERTH_BENCH_SHARED_CORES=1 to share all cores)`,
    addBerth: (pid) => {
      clients.push(pid);
      set(clientSide, pid);
    },
    undo: () => {
      for (const pid of [...stores, ...clients]) set(all, pid);
    },
  };
}

// ---------------------------------------------------------------- direct S3 operations (timed by the caller)

/** A blob's content address in Berth's layout (storage.s3.rootdirectory unset): see src/registry/layout.ts blobPath. */
function contentAddress(digest: string): string {
  const [alg, hex] = digest.split(':') as [string, string];
  return `blobs/${alg}/${hex.slice(0, 2)}/${hex}`;
}

export async function objectSize(b: ScaleBackend, key: string): Promise<number | null> {
  try {
    const r = await b.client.send(new HeadObjectCommand({ Bucket: b.bucket, Key: key }));
    return r.ContentLength ?? null;
  } catch {
    return null;
  }
}

/** One PutObject with the whole object as a buffer. Returns ms. */
export async function directPut(b: ScaleBackend, key: string, body: Buffer): Promise<number> {
  const t0 = nowMs();
  await b.client.send(new PutObjectCommand({ Bucket: b.bucket, Key: key, Body: body, ContentLength: body.length, ContentType: 'application/octet-stream' }));
  return nowMs() - t0;
}

/** A multipart upload in parts of S3_PART_SIZE, S3_PART_CONCURRENCY in flight, completed. Returns ms. */
export async function directMultipart(b: ScaleBackend, key: string, body: Buffer): Promise<number> {
  const t0 = nowMs();
  const created = await b.client.send(new CreateMultipartUploadCommand({ Bucket: b.bucket, Key: key, ContentType: 'application/octet-stream' }));
  const uploadId = created.UploadId;
  if (!uploadId) throw new Error('CreateMultipartUpload answered without an UploadId');
  try {
    const ranges: Array<{ n: number; start: number; end: number }> = [];
    for (let start = 0, n = 1; start < body.length; start += S3_PART_SIZE, n++) ranges.push({ n, start, end: Math.min(start + S3_PART_SIZE, body.length) });
    const parts: Array<{ PartNumber: number; ETag: string }> = [];
    // One iterator shared by the workers: each range is taken once.
    const queue = ranges.values();
    const worker = async (): Promise<void> => {
      for (const r of queue) {
        const part = body.subarray(r.start, r.end);
        const out = await b.client.send(new UploadPartCommand({ Bucket: b.bucket, Key: key, UploadId: uploadId, PartNumber: r.n, Body: part, ContentLength: part.length }));
        parts.push({ PartNumber: r.n, ETag: out.ETag ?? '' });
      }
    };
    await Promise.all(Array.from({ length: Math.min(S3_PART_CONCURRENCY, ranges.length) }, worker));
    parts.sort((x, y) => x.PartNumber - y.PartNumber);
    await b.client.send(new CompleteMultipartUploadCommand({ Bucket: b.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
  } catch (e) {
    await b.client.send(new AbortMultipartUploadCommand({ Bucket: b.bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
    throw e;
  }
  return nowMs() - t0;
}

/** GetObject through the SDK, streamed; the client hashes and checks like the pull workload. Returns ms. */
export async function directGetSdk(b: ScaleBackend, key: string, digest: string, size: number): Promise<number> {
  const t0 = nowMs();
  const r = await b.client.send(new GetObjectCommand({ Bucket: b.bucket, Key: key }));
  const h = crypto.createHash('sha256');
  let n = 0;
  for await (const chunk of r.Body as Readable) {
    h.update(chunk as Buffer);
    n += (chunk as Buffer).length;
  }
  const ms = nowMs() - t0;
  if (n !== size) throw new Error(`direct GetObject: ${n} bytes, expected ${size}`);
  const got = 'sha256:' + h.digest('hex');
  if (got !== digest) throw new Error(`direct GetObject: digest ${got} != ${digest}`);
  return ms;
}

/** A presigned GET URL (what Berth's 307 points at), for the raw-socket client. */
export function presignGet(b: ScaleBackend, key: string): Promise<string> {
  return getSignedUrl(b.client, new GetObjectCommand({ Bucket: b.bucket, Key: key }), { expiresIn: 3600 });
}
