import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { startBerth, type Berth } from '../../src/app.js';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log/index.js';
import { createScratchDatabase, type ScratchDatabase } from './postgres.js';
import { sharedTestS3 } from './s3.js';

export interface TestBerth {
  berth: Berth;
  url: string;
  dataDir: string;
  /** The database.url in use, when not the SQLite default (another instance can share it). */
  databaseUrl: string | undefined;
  /** Stops this instance (keeping its data) and starts a new one on the same data. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The metadata backend of the HTTP tests: SQLite unless
 * BERTH_TEST_DATABASE=postgres, then a fresh PostgreSQL database per Berth
 * (on BERTH_TEST_POSTGRES_URL), dropped when it closes.
 */
async function testDatabase(env: Record<string, string>): Promise<ScratchDatabase | null> {
  const kind = process.env.BERTH_TEST_DATABASE ?? 'sqlite';
  if (kind !== 'sqlite' && kind !== 'postgres') throw new Error(`BERTH_TEST_DATABASE must be sqlite or postgres, got ${kind}`);
  if (kind === 'sqlite' || env.BERTH_DATABASE_URL !== undefined) return null;
  if (!process.env.BERTH_TEST_POSTGRES_URL) throw new Error('BERTH_TEST_DATABASE=postgres needs BERTH_TEST_POSTGRES_URL=postgres://... (test/scripts/pg-throwaway.sh starts a server)');
  return createScratchDatabase();
}

/**
 * The blob storage of the HTTP tests: the filesystem unless
 * BERTH_TEST_STORAGE=s3, then a fresh prefix (storage.s3.rootdirectory) per
 * Berth in one S3 server per test process (s3rver, or BERTH_TEST_S3_ENDPOINT).
 * Blob GETs are served by Berth (no redirect) unless a test asks otherwise.
 */
async function testStorage(env: Record<string, string>): Promise<Record<string, string>> {
  const kind = process.env.BERTH_TEST_STORAGE ?? 'filesystem';
  if (kind !== 'filesystem' && kind !== 's3') throw new Error(`BERTH_TEST_STORAGE must be filesystem or s3, got ${kind}`);
  if (kind === 'filesystem' || Object.keys(env).some((k) => k.startsWith('REGISTRY_STORAGE_'))) return env;
  const s3 = await sharedTestS3();
  return { REGISTRY_STORAGE_REDIRECT_DISABLE: 'true', ...s3.env({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `berth-${randomUUID()}` }), ...env };
}

/** An in-process Berth on an ephemeral port with its own data folder (and database and storage, see testDatabase and testStorage). */
export async function startTestBerth(env: Record<string, string> = {}): Promise<TestBerth> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'berth-test-'));
  env = await testStorage(env);
  const scratch = await testDatabase(env);
  if (scratch) env = { ...env, BERTH_DATABASE_URL: scratch.url };
  const boot = async () => {
    const { config, errors } = await loadConfig({ env, flags: { addr: '127.0.0.1:0', dataDir } });
    if (!config) throw new Error(`test config invalid: ${errors.join('; ')}`);
    return startBerth({ ...config, http: { ...config.http, drainTimeoutMs: 2000 } }, silentLogger(), { env });
  };
  let berth: Berth;
  try {
    berth = await boot();
  } catch (err) {
    await scratch?.drop();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const t: TestBerth = {
    berth,
    url: `http://127.0.0.1:${berth.address.port}`,
    dataDir,
    databaseUrl: env.BERTH_DATABASE_URL,
    async restart() {
      await berth.close();
      const { config, errors } = await loadConfig({ env, flags: { addr: `127.0.0.1:${berth.address.port}`, dataDir } });
      if (!config) throw new Error(errors.join('; '));
      berth = await startBerth(config, silentLogger(), { env });
      t.berth = berth;
    },
    async close() {
      await berth.close();
      await scratch?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Reads an OCI error body and returns its first code. */
export async function errorCode(res: Response): Promise<string | undefined> {
  const body = (await res.json()) as { errors?: { code: string }[] };
  return body.errors?.[0]?.code;
}

/** Uploads a blob monolithically and returns its digest. */
export async function pushBlob(url: string, repo: string, data: Uint8Array<ArrayBuffer> | string): Promise<string> {
  const digest = sha256(data);
  const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data });
  if (res.status !== 201) throw new Error(`blob push failed: ${res.status} ${await res.text()}`);
  return digest;
}

export interface PushedImage {
  manifest: Buffer<ArrayBuffer>;
  digest: string;
  config: string;
  layers: string[];
}

/** Pushes a small OCI image (config + layers) and its manifest under `reference`. */
export async function pushImage(url: string, repo: string, reference: string, options: { layers?: string[]; mediaType?: string; extra?: Record<string, unknown> } = {}): Promise<PushedImage> {
  const configBlob = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed: Math.random() });
  const config = await pushBlob(url, repo, configBlob);
  const layerData = options.layers ?? [`layer-${Math.random()}`];
  const layers: string[] = [];
  for (const l of layerData) layers.push(await pushBlob(url, repo, l));
  const mediaType = options.mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
  const isDocker = mediaType.includes('docker');
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType,
    config: { mediaType: isDocker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json', digest: config, size: Buffer.byteLength(configBlob) },
    layers: layers.map((digest, i) => ({ mediaType: isDocker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: Buffer.byteLength(layerData[i] as string) })),
    ...options.extra,
  }, null, 3));
  const res = await fetch(`${url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: manifest, headers: { 'Content-Type': mediaType } });
  if (res.status !== 201) throw new Error(`manifest push failed: ${res.status} ${await res.text()}`);
  return { manifest, digest: sha256(manifest), config, layers };
}
