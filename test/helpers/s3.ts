import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { S3DriverOptions } from '../../src/storage/drivers/s3.js';

/**
 * An S3-compatible server for tests. With BERTH_TEST_S3_ENDPOINT (plus
 * BERTH_TEST_S3_ACCESSKEY / _SECRETKEY / _REGION) the tests use that store
 * (MinIO, Ceph RGW, AWS) and a fresh bucket per server; otherwise they start
 * s3rver (a devDependency) as a child process on loopback.
 */
export interface TestS3Server {
  readonly endpoint: string;
  readonly bucket: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
  /** Driver options for this server's bucket. */
  driverOptions(extra?: Partial<S3DriverOptions>): S3DriverOptions;
  /** Config keys (storage.s3.*) as REGISTRY_* environment variables. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Every key in the bucket. */
  keys(): Promise<string[]>;
  /** Stops the server (s3rver) and keeps its data, so `restart` brings the same bucket back. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
  /** Synchronous kill (for a process 'exit' handler). */
  killNow(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`s3rver exited with ${child.exitCode ?? child.signalCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`s3rver did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startTestS3(options: { bucket?: string; port?: number } = {}): Promise<TestS3Server> {
  const bucket = options.bucket ?? `berth-test-${randomBytes(4).toString('hex')}`;
  const external = process.env.BERTH_TEST_S3_ENDPOINT;
  const accessKey = external ? process.env.BERTH_TEST_S3_ACCESSKEY ?? '' : 'S3RVER';
  const secretKey = external ? process.env.BERTH_TEST_S3_SECRETKEY ?? '' : 'S3RVER';
  const region = process.env.BERTH_TEST_S3_REGION ?? 'us-east-1';
  let endpoint = external ?? '';
  let child: ChildProcess | null = null;
  let dir = '';
  let port = options.port ?? 0;

  const launch = async () => {
    const main = fileURLToPath(new URL('./s3rver-main.js', import.meta.url));
    child = spawn(process.execPath, [main, dir, String(port), bucket], { stdio: ['ignore', 'ignore', 'inherit'] });
    // The test process may end while s3rver runs (a shared server is killed on exit).
    child.unref();
    await waitForPort(port, child, 15_000);
  };
  if (!external) {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-s3rver-'));
    if (!port) port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    await launch();
  }
  const client = new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId: accessKey, secretAccessKey: secretKey } });
  if (external) await client.send(new CreateBucketCommand({ Bucket: bucket }));

  const keys = async () => {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, ...(token ? { ContinuationToken: token } : {}) }));
      for (const c of r.Contents ?? []) if (c.Key) out.push(c.Key);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  };
  const stop = async () => {
    const c = child as ChildProcess | null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.ref(); // launch() unref'd it: keep the event loop alive until the exit arrives
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  return {
    endpoint, bucket, accessKey, secretKey, region,
    driverOptions: (extra = {}) => ({ bucket, region, endpoint, accessKey, secretKey, forcePathStyle: true, ...extra }),
    env: (extra = {}) => ({
      REGISTRY_STORAGE_S3_BUCKET: bucket,
      REGISTRY_STORAGE_S3_REGION: region,
      REGISTRY_STORAGE_S3_REGIONENDPOINT: endpoint,
      REGISTRY_STORAGE_S3_ACCESSKEY: accessKey,
      REGISTRY_STORAGE_S3_SECRETKEY: secretKey,
      REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
      ...extra,
    }),
    keys,
    stop,
    killNow() {
      (child as ChildProcess | null)?.kill('SIGKILL');
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      if (external) throw new Error('cannot restart an external S3 server');
      await stop();
      await launch();
    },
    async close() {
      if (external) {
        const left = await keys();
        for (let i = 0; i < left.length; i += 1000) {
          await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: left.slice(i, i + 1000).map((Key) => ({ Key })) } }));
        }
        await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      } else {
        await stop();
        await rm(dir, { recursive: true, force: true });
      }
      client.destroy();
    },
  };
}

let shared: Promise<TestS3Server> | null = null;

/**
 * One S3 server for the whole test process (tests keep apart by key
 * prefix); s3rver is killed when the process exits.
 */
export function sharedTestS3(): Promise<TestS3Server> {
  shared ??= startTestS3().then((s3) => {
    process.once('exit', () => { s3.killNow(); });
    return s3;
  });
  return shared;
}
