// The benchmark workloads. Each one prepares what it needs (so `--only` works)
// and records figures into the round's metric map.
import crypto from 'node:crypto';
import { RawConn, addQuery, nextLink, toPath, type RawResponse } from './raw-http.js';
import { runRawLoad, runWrkGet, wrkAvailable, type LoadResult } from './load.js';
import { Samples, median, nowMs, percentile, MiB } from './stats.js';
import { CpuMeter, isBerth, type CpuShares, type RunningTarget } from './targets.js';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cosignArtifact, cosignKeyPair, cosignPayload, cosignSign } from '../src/signatures/testkit.js';
import {
  S3_PART_SIZE,
  directGetSdk,
  directMultipart,
  directPut,
  objectSize,
  pinStoreCore,
  type CorePinning,
  presignGet,
  type ScaleBackend,
  type PgServer,
} from './scale.js';

// ---------------------------------------------------------------- configuration

export interface BenchConfig {
  quick: boolean;
  blobSize: number;
  chunkSize: number;
  pushReps: number;
  pull1Reps: number;
  pull8Reps: number;
  pullStreams: number;
  images: number;
  imageRepos: number;
  concurrency: number;
  loadConnections: number;
  loadDurationS: number;
  loadWarmupS: number;
  tags: number;
  tagListReps: number;
  catalogRepos: number;
  catalogPage: number;
  catalogReps: number;
  idleWaitMs: number;
  /** Generator for manifest GET load: wrk (default when installed) or the raw-socket client. */
  getClient: 'wrk' | 'raw';
}

export function makeConfig(quick: boolean): BenchConfig {
  return {
    quick,
    blobSize: (quick ? 32 : 256) * MiB,
    chunkSize: 8 * MiB,
    pushReps: 2,
    pull1Reps: 2,
    pull8Reps: 1,
    pullStreams: 8,
    images: quick ? 200 : 2000,
    imageRepos: quick ? 20 : 200,
    concurrency: 16,
    loadConnections: 64,
    loadDurationS: quick ? 3 : 8,
    loadWarmupS: quick ? 1 : 2,
    tags: quick ? 1000 : 10_000,
    tagListReps: 5,
    catalogRepos: quick ? 200 : 2000,
    catalogPage: 100,
    catalogReps: 3,
    idleWaitMs: quick ? 2000 : 3000,
    getClient: wrkAvailable() ? 'wrk' : 'raw',
  };
}

export const WORKLOADS = [
  'push',
  'pull',
  'manifest-push',
  'manifest-get',
  'manifest-head',
  'manifest-get-policy',
  'tags',
  'catalog',
  // push-100.ts and tls.ts
  'push-100',
  'tls-push',
  'tls-pull',
  'tls-manifest-get',
] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

// ---------------------------------------------------------------- metrics

export interface MetricDef {
  key: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  /** The CPU phase (see CPU_PHASES) the figure was measured in, for flagging interference. */
  phase?: string;
  /** ratio: Berth must be at least `min`× better than the reference; abs: value <= max. */
  target?: { kind: 'ratio'; min: number } | { kind: 'abs'; max: number };
  /** berth-scale (PostgreSQL + S3) must reach at least this fraction of the embedded default (in the "better" direction). */
  scaleMin?: number;
}

export const METRICS: MetricDef[] = [
  { key: 'push_mono_MBps', phase: 'push_mono', label: 'blob push, monolithic', unit: 'MB/s', better: 'higher', target: { kind: 'ratio', min: 1 } },
  { key: 'push_chunked_MBps', phase: 'push_chunked', label: 'blob push, 8 MiB PATCH chunks', unit: 'MB/s', better: 'higher', target: { kind: 'ratio', min: 1 } },
  { key: 'pull_1_MBps', phase: 'pull_1', label: 'blob pull, 1 stream (client hashes)', unit: 'MB/s', better: 'higher', target: { kind: 'ratio', min: 1 } },
  { key: 'pull_8_MBps', phase: 'pull_8', label: 'blob pull, 8 streams (client hashes)', unit: 'MB/s', better: 'higher', target: { kind: 'ratio', min: 1 } },
  { key: 'pull_1_nohash_MBps', phase: 'pull_1_nohash', label: 'blob pull, 1 stream (bytes only, info)', unit: 'MB/s', better: 'higher' },
  { key: 'pull_8_nohash_MBps', phase: 'pull_8_nohash', label: 'blob pull, 8 streams (bytes only, info)', unit: 'MB/s', better: 'higher' },
  // berth-scale only: blob pulls answered with a 307 to a presigned URL (the client then reads from the store),
  // and the direct-S3 baseline on the same s3rver in the same round.
  { key: 'pull_1_redirect_MBps', phase: 'pull_1_redirect', label: 'blob pull, 1 stream, 307 to the store (client hashes)', unit: 'MB/s', better: 'higher' },
  { key: 'pull_8_redirect_MBps', phase: 'pull_8_redirect', label: 'blob pull, 8 streams, 307 to the store (client hashes)', unit: 'MB/s', better: 'higher' },
  { key: 's3_put_MBps', phase: 's3_put', label: 'direct S3: PutObject (one buffer)', unit: 'MB/s', better: 'higher' },
  { key: 's3_mpu_MBps', phase: 's3_mpu', label: 'direct S3: multipart upload (10 MiB parts, 2 in flight)', unit: 'MB/s', better: 'higher' },
  { key: 's3_get_1_MBps', phase: 's3_get_1', label: 'direct S3: GET, 1 stream, raw client (client hashes)', unit: 'MB/s', better: 'higher' },
  { key: 's3_get_1_sdk_MBps', phase: 's3_get_1_sdk', label: 'direct S3: GetObject via SDK, streamed (client hashes)', unit: 'MB/s', better: 'higher' },
  { key: 's3_get_8_MBps', phase: 's3_get_8', label: 'direct S3: GET, 8 streams, raw client (client hashes)', unit: 'MB/s', better: 'higher' },
  { key: 'small_blob_uploads_per_s', phase: 'small_blob_uploads', label: 'small blob uploads (POST+PUT), c=16', unit: 'blobs/s', better: 'higher' },
  { key: 'manifest_put_per_s', phase: 'manifest_put', label: 'manifest PUT, c=16', unit: 'ops/s', better: 'higher' },
  { key: 'manifest_put_p99_ms', phase: 'manifest_put', label: 'manifest PUT p99', unit: 'ms', better: 'lower' },
  // Issue 14 item 3: at least 5x the reference's rate, with a p99 at most 0.2x the reference's (5x better); on PostgreSQL + S3 at least 0.75x the embedded default.
  { key: 'manifest_get_rps', phase: 'manifest_get', label: 'manifest GET by tag, c=64', unit: 'req/s', better: 'higher', target: { kind: 'ratio', min: 5 }, scaleMin: 0.75 },
  { key: 'manifest_get_p99_ms', phase: 'manifest_get', label: 'manifest GET p99', unit: 'ms', better: 'lower', target: { kind: 'ratio', min: 5 } },
  // Berth only (embedded): the same GETs once every image has a cosign signature and a registry-wide policy requires its key.
  { key: 'manifest_get_policy_rps', phase: 'manifest_get_policy', label: 'manifest GET by tag with a trust policy (cosign), c=64', unit: 'req/s', better: 'higher' },
  { key: 'manifest_get_policy_p99_ms', phase: 'manifest_get_policy', label: 'manifest GET with a trust policy p99', unit: 'ms', better: 'lower' },
  { key: 'manifest_get_policy_cold_per_s', phase: 'manifest_get_policy_cold', label: 'first manifest GET of each image under the policy (verifying), c=16', unit: 'req/s', better: 'higher' },
  { key: 'manifest_head_rps', phase: 'manifest_head', label: 'manifest HEAD by tag, c=64', unit: 'req/s', better: 'higher', target: { kind: 'ratio', min: 5 }, scaleMin: 0.5 },
  { key: 'manifest_head_p99_ms', phase: 'manifest_head', label: 'manifest HEAD p99', unit: 'ms', better: 'lower', target: { kind: 'ratio', min: 5 } },
  { key: 'tag_put_per_s', phase: 'tag_put', label: 'tag PUTs (same manifest), c=16', unit: 'ops/s', better: 'higher' },
  { key: 'tag_list_ms', phase: 'tag_list', label: 'tag list, all tags', unit: 'ms', better: 'lower', target: { kind: 'ratio', min: 5 } },
  { key: 'catalog_ms', phase: 'catalog', label: 'catalog, all repos in pages of 100', unit: 'ms', better: 'lower', target: { kind: 'ratio', min: 5 } },
  { key: 'idle_rss_MiB', label: 'idle RSS after start', unit: 'MiB', better: 'lower', target: { kind: 'abs', max: 120 } },
  // push-100.ts (issue 14 item 4): 100 concurrent pushes of distinct 16 MiB blobs; the registry's peak RSS while they run.
  { key: 'push100_s', phase: 'push100', label: '100 concurrent pushes of 16 MiB, wall time', unit: 's', better: 'lower', target: { kind: 'ratio', min: 1.5 } },
  { key: 'push100_MBps', phase: 'push100', label: '100 concurrent pushes of 16 MiB, throughput', unit: 'MB/s', better: 'higher' },
  { key: 'push100_peak_rss_MiB', phase: 'push100', label: 'peak RSS during the 100 concurrent pushes', unit: 'MiB', better: 'lower', target: { kind: 'abs', max: 200 } },
  // tls.ts (issue 14 item 5): the same target over HTTPS, one certificate per key type, shared by both targets.
  { key: 'tls_ecdsa_push_MBps', phase: 'tls_ecdsa_push', label: 'HTTPS (ECDSA P-256): blob push, monolithic', unit: 'MB/s', better: 'higher', target: { kind: 'ratio', min: 1 } },
  { key: 'tls_ecdsa_pull_1_MBps', phase: 'tls_ecdsa_pull_1', label: 'HTTPS (ECDSA P-256): blob pull, 1 stream (client hashes)', unit: 'MB/s', better: 'higher', target: { kind: 'ratio', min: 1 } },
  { key: 'tls_ecdsa_pull_8_MBps', phase: 'tls_ecdsa_pull_8', label: 'HTTPS (ECDSA P-256): blob pull, 8 streams (client hashes)', unit: 'MB/s', better: 'higher', target: { kind: 'ratio', min: 1 } },
  { key: 'tls_ecdsa_manifest_get_rps', phase: 'tls_ecdsa_manifest_get', label: 'HTTPS (ECDSA P-256): manifest GET by tag, c=64', unit: 'req/s', better: 'higher', target: { kind: 'ratio', min: 1 } },
  { key: 'tls_ecdsa_manifest_get_p99_ms', phase: 'tls_ecdsa_manifest_get', label: 'HTTPS (ECDSA P-256): manifest GET p99', unit: 'ms', better: 'lower' },
  { key: 'tls_rsa_push_MBps', phase: 'tls_rsa_push', label: 'HTTPS (RSA 2048): blob push, monolithic', unit: 'MB/s', better: 'higher', target: { kind: 'ratio', min: 1 } },
  { key: 'tls_rsa_pull_1_MBps', phase: 'tls_rsa_pull_1', label: 'HTTPS (RSA 2048): blob pull, 1 stream (client hashes)', unit: 'MB/s', better: 'higher', target: { kind: 'ratio', min: 1 } },
  { key: 'tls_rsa_pull_8_MBps', phase: 'tls_rsa_pull_8', label: 'HTTPS (RSA 2048): blob pull, 8 streams (client hashes)', unit: 'MB/s', better: 'higher', target: { kind: 'ratio', min: 1 } },
  { key: 'tls_rsa_manifest_get_rps', phase: 'tls_rsa_manifest_get', label: 'HTTPS (RSA 2048): manifest GET by tag, c=64', unit: 'req/s', better: 'higher', target: { kind: 'ratio', min: 1 } },
  { key: 'tls_rsa_manifest_get_p99_ms', phase: 'tls_rsa_manifest_get', label: 'HTTPS (RSA 2048): manifest GET p99', unit: 'ms', better: 'lower' },
  { key: 'peak_rss_MiB', label: 'peak RSS (VmHWM) at end', unit: 'MiB', better: 'lower' },
];

/** Per-phase CPU use, in cores (CPU seconds / wall seconds), keyed `cpu:<phase>:server|client`. */
export const CPU_PHASES = [
  'push_mono',
  'push_chunked',
  'pull_1',
  'pull_8',
  'pull_1_nohash',
  'pull_8_nohash',
  'pull_1_redirect',
  'pull_8_redirect',
  's3_put',
  's3_mpu',
  's3_get_1',
  's3_get_1_sdk',
  's3_get_8',
  'small_blob_uploads',
  'manifest_put',
  'manifest_get',
  'manifest_get_policy',
  'manifest_get_policy_cold',
  'manifest_head',
  'tag_put',
  'tag_list',
  'catalog',
  'push100',
  'tls_ecdsa_push',
  'tls_ecdsa_pull_1',
  'tls_ecdsa_pull_8',
  'tls_ecdsa_manifest_get',
  'tls_rsa_push',
  'tls_rsa_pull_1',
  'tls_rsa_pull_8',
  'tls_rsa_manifest_get',
] as const;

/**
 * Berth on S3 against the same s3rver used directly, same round, same object
 * size, same client hashing. The target is met when Berth reaches `S3_MIN` of
 * the best direct figure of the round (the store's own throughput).
 */
export interface S3Comparison {
  label: string;
  berth: string;
  direct: string[];
}
export const S3_MIN = 0.8;
export const S3_COMPARISONS: S3Comparison[] = [
  { label: 'push, monolithic (POST + PUT)', berth: 'push_mono_MBps', direct: ['s3_put_MBps', 's3_mpu_MBps'] },
  { label: 'push, 8 MiB PATCH chunks', berth: 'push_chunked_MBps', direct: ['s3_put_MBps', 's3_mpu_MBps'] },
  { label: 'pull, 1 stream, through Berth', berth: 'pull_1_MBps', direct: ['s3_get_1_MBps', 's3_get_1_sdk_MBps'] },
  { label: 'pull, 1 stream, 307 to the store', berth: 'pull_1_redirect_MBps', direct: ['s3_get_1_MBps', 's3_get_1_sdk_MBps'] },
  { label: 'pull, 8 streams, through Berth', berth: 'pull_8_MBps', direct: ['s3_get_8_MBps'] },
  { label: 'pull, 8 streams, 307 to the store', berth: 'pull_8_redirect_MBps', direct: ['s3_get_8_MBps'] },
];

// ---------------------------------------------------------------- shared data

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
/** What docker/containerd send when pulling by tag. */
export const MANIFEST_ACCEPT = [
  OCI_MANIFEST,
  'application/vnd.oci.image.index.v1+json',
  DOCKER_MANIFEST,
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export function sha256(data: Buffer | string): string {
  return 'sha256:' + crypto.createHash('sha256').update(data).digest('hex');
}

/**
 * The large blobs. Every push uploads distinct content (a registry may treat a
 * re-push of an existing digest differently), but we do not want to keep and
 * hash 256 MiB per variant: all variants share a random prefix and differ only
 * in their last chunk, so the prefix is hashed once and the hash state copied.
 */
export class BigBlobs {
  readonly prefix: Buffer;
  readonly tailLen: number;
  private readonly prefixHash: crypto.Hash;
  private readonly cache = new Map<string, { tail: Buffer; digest: string }>();

  constructor(readonly size: number, readonly chunkSize: number) {
    this.tailLen = Math.min(chunkSize, size);
    this.prefix = crypto.randomBytes(size - this.tailLen);
    this.prefixHash = crypto.createHash('sha256').update(this.prefix);
  }

  variant(name: string): { tail: Buffer; digest: string } {
    let v = this.cache.get(name);
    if (!v) {
      const tail = crypto.randomBytes(this.tailLen);
      crypto.createHash('sha256').update(name).digest().copy(tail, 0);
      const digest = 'sha256:' + this.prefixHash.copy().update(tail).digest('hex');
      v = { tail, digest };
      this.cache.set(name, v);
    }
    return v;
  }

  /** The body as 8 MiB chunks (for PATCH uploads). */
  chunks(name: string): Buffer[] {
    const out: Buffer[] = [];
    for (let off = 0; off < this.prefix.length; off += this.chunkSize) {
      out.push(this.prefix.subarray(off, Math.min(off + this.chunkSize, this.prefix.length)));
    }
    out.push(this.variant(name).tail);
    return out;
  }
}

export interface ImageRef {
  repo: string;
  tag: string;
  digest: string;
  mediaType: string;
  manifest: Buffer;
}

/** Per target-round state: what exists in this target's (fresh) data dir. */
export interface State {
  repos: Set<string>;
  images: ImageRef[];
  pullBlob: { repo: string; digest: string; size: number } | null;
  tagsRepo: { repo: string; count: number } | null;
}

export function newState(): State {
  return { repos: new Set(), images: [], pullBlob: null, tagsRepo: null };
}

/** What a berth-scale round adds: its store, and a way to start a second instance that redirects blob GETs. */
export interface ScaleCtx {
  backend: ScaleBackend;
  pgServer: PgServer | null;
  /** A second Berth on the same database and bucket with storage.redirect enabled (the main one serves blob bytes itself). */
  startRedirectInstance(): Promise<RunningTarget>;
}

export interface Ctx {
  cfg: BenchConfig;
  target: RunningTarget;
  /** 1-based; the order of interleaved measurements flips with it. */
  round: number;
  /** Set for berth-scale only. */
  scale: ScaleCtx | null;
  /** Further registry processes whose CPU counts as "server" (the redirecting instance while it runs). */
  extraServerPids: number[];
  blobs: BigBlobs | null;
  /** Random per run so content is unique per run but identical for both targets. */
  nonce: string;
  state: State;
  metrics: Record<string, number>;
  notes: string[];
  log: (msg: string) => void;
}

/** The push and pull workloads' big blobs, made only when one of those workloads runs. */
function bigBlobs(ctx: Ctx): BigBlobs {
  if (!ctx.blobs) throw new Error('the push and pull workloads need the big blobs, which were not made');
  return ctx.blobs;
}

// ---------------------------------------------------------------- protocol helpers

function conn(ctx: Ctx, readBufferSize?: number): RawConn {
  return new RawConn(ctx.target.host, ctx.target.port, readBufferSize ? { readBufferSize } : {});
}

function expectStatus(r: RawResponse, want: number[], what: string): void {
  if (!want.includes(r.status)) {
    const body = r.body.toString('utf8', 0, Math.min(r.body.length, 400));
    throw new Error(`${what}: HTTP ${r.status} (expected ${want.join('/')}) ${body}`);
  }
}

function location(ctx: Ctx, r: RawResponse, what: string): string {
  const loc = r.headers.get('location');
  if (!loc) throw new Error(`${what}: no Location header`);
  return toPath(loc, ctx.target.baseUrl);
}

async function startUpload(ctx: Ctx, c: RawConn, repo: string): Promise<string> {
  const r = await c.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/` });
  expectStatus(r, [202], `POST upload ${repo}`);
  return location(ctx, r, 'POST upload');
}

/** Monolithic upload: POST to open a session, PUT ?digest= with the whole body. */
async function uploadMonolithic(ctx: Ctx, c: RawConn, repo: string, body: Buffer[], digest: string): Promise<void> {
  const loc = await startUpload(ctx, c, repo);
  const r = await c.request({
    method: 'PUT',
    path: addQuery(loc, 'digest', digest),
    headers: { 'Content-Type': 'application/octet-stream' },
    body,
  });
  expectStatus(r, [201], `PUT blob ${repo}`);
  const got = r.headers.get('docker-content-digest');
  if (got && got !== digest) throw new Error(`PUT blob: server digest ${got} != ${digest}`);
}

/** Chunked upload: POST, PATCH each chunk with Content-Range, then PUT ?digest= with no body. */
async function uploadChunked(ctx: Ctx, c: RawConn, repo: string, chunks: Buffer[], digest: string): Promise<void> {
  let loc = await startUpload(ctx, c, repo);
  let off = 0;
  for (const ch of chunks) {
    const r = await c.request({
      method: 'PATCH',
      path: loc,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${off}-${off + ch.length - 1}` },
      body: ch,
    });
    expectStatus(r, [202], `PATCH ${repo} @${off}`);
    loc = location(ctx, r, 'PATCH');
    off += ch.length;
  }
  const r = await c.request({ method: 'PUT', path: addQuery(loc, 'digest', digest), body: [] });
  expectStatus(r, [201], `PUT (close chunked) ${repo}`);
}

async function putManifest(c: RawConn, repo: string, ref: string, body: Buffer, mediaType: string, digest: string): Promise<void> {
  const r = await c.request({
    method: 'PUT',
    path: `/v2/${repo}/manifests/${ref}`,
    headers: { 'Content-Type': mediaType },
    body,
  });
  expectStatus(r, [201], `PUT manifest ${repo}:${ref}`);
  const got = r.headers.get('docker-content-digest');
  if (got && got !== digest) throw new Error(`PUT manifest: server digest ${got} != ${digest}`);
}

/**
 * GET following redirects (a registry may redirect blob reads). A redirect to
 * another host (S3 presigned URLs) is followed on a new connection, opened
 * inside the caller's clock: that is part of what a redirected pull costs.
 */
async function getFollow(ctx: Ctx, c: RawConn, path: string, headers: Record<string, string>, sink?: (b: Buffer) => void): Promise<RawResponse> {
  let p = path;
  let cur = c;
  let other: RawConn | null = null;
  try {
    for (let hop = 0; hop < 4; hop++) {
      const r = await cur.request(sink ? { method: 'GET', path: p, headers, sink, timeoutMs: 600_000 } : { method: 'GET', path: p, headers });
      if (r.status >= 300 && r.status < 400 && r.headers.has('location')) {
        const u = new URL(r.headers.get('location') ?? '', `http://${cur.hostHeader}`);
        if (u.protocol !== 'http:') throw new Error(`redirect to ${u.protocol} is not supported by the benchmark`);
        p = u.pathname + u.search;
        if (u.host !== cur.hostHeader) {
          other?.close();
          other = new RawConn(u.hostname, Number(u.port || 80), sink ? { readBufferSize: MiB } : {});
          cur = other;
        }
        continue;
      }
      return r;
    }
  } finally {
    other?.close();
  }
  throw new Error(`too many redirects for ${path}`);
}

/** Runs one job per item, in order, over `concurrency` keep-alive connections. */
async function pool<T>(ctx: Ctx, items: readonly T[], concurrency: number, job: (item: T, c: RawConn) => Promise<void>): Promise<void> {
  // One iterator shared by the workers: each item is taken once, in order.
  const queue = items.values();
  let failed: Error | null = null;
  const worker = async (): Promise<void> => {
    const c = conn(ctx);
    try {
      while (failed === null) {
        const next = queue.next();
        if (next.done) return;
        await job(next.value, c);
      }
    } catch (e) {
      failed ??= e as Error;
    } finally {
      c.close();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failed) throw failed;
}

function meter(ctx: Ctx): CpuMeter {
  return new CpuMeter([ctx.target.pid, ...ctx.extraServerPids], ctx.target.storeCpuSeconds);
}

function recordCpu(ctx: Ctx, phase: string, r: CpuShares): void {
  // /proc CPU times tick every 10 ms: shorter windows would give meaningless shares.
  if (r.wallS < 0.5) return;
  ctx.metrics[`cpu:${phase}:server`] = r.server;
  ctx.metrics[`cpu:${phase}:client`] = r.client;
  ctx.metrics[`cpu:${phase}:other`] = r.other;
  if (ctx.target.storeCpuSeconds) ctx.metrics[`cpu:${phase}:store`] = r.store;
}

/** Measures CPU (server / client / store / other) around a phase and stores it as `cpu:<phase>:*`, in cores. */
function cpuWindow(ctx: Ctx, phase: string): { end: (extraClientCpuS?: number) => void } {
  const m = meter(ctx).start();
  return { end: (extraClientCpuS = 0) => recordCpu(ctx, phase, m.end(extraClientCpuS)) };
}

/** One measured alternative in an interleaved comparison: returns MB/s. */
interface Contender {
  key: string;
  phase: string;
  run: () => Promise<number>;
}

/**
 * Runs each contender `reps` times, in an order that is reversed every rep
 * and every round (A B C, C B A, ...), so neither side always runs first or on
 * a warmer machine. Records medians, and CPU summed over all of a contender's runs.
 */
async function interleave(ctx: Ctx, contenders: Contender[], reps: number): Promise<void> {
  const runs = contenders.map((c) => ({ c, xs: [] as number[], cpu: { wallS: 0, server: 0, client: 0, store: 0, other: 0 } satisfies CpuShares }));
  for (let rep = 0; rep < reps; rep++) {
    const order = (rep + ctx.round) % 2 === 1 ? runs : [...runs].reverse();
    for (const { c, xs, cpu: a } of order) {
      const m = meter(ctx).start();
      const v = await c.run();
      const r = m.end();
      xs.push(v);
      // Shares are weighted by wall time: the sum is CPU seconds, divided by total wall time below.
      a.server += r.server * r.wallS;
      a.client += r.client * r.wallS;
      a.store += r.store * r.wallS;
      a.other += r.other * r.wallS;
      a.wallS += r.wallS;
    }
  }
  for (const { c, xs: v, cpu: a } of runs) {
    ctx.metrics[c.key] = median(v);
    recordCpu(ctx, c.phase, { wallS: a.wallS, server: a.server / a.wallS, client: a.client / a.wallS, store: a.store / a.wallS, other: a.other / a.wallS });
    ctx.log(`  ${c.key}: ${v.map((x) => x.toFixed(0)).join(', ')} MB/s`);
  }
}

// ---------------------------------------------------------------- small images

interface ImageBlobs {
  repo: string;
  tag: string;
  config: Buffer;
  configDigest: string;
  layer: Buffer;
  layerDigest: string;
  manifest: Buffer;
  mediaType: string;
  digest: string;
}

/**
 * A small image: a unique ~300 B config and a 512 B layer that is shared by all
 * images with the same `layerKey` (one per repository), OCI or Docker schema 2.
 */
function buildImage(nonce: string, key: string, layerKey: string, repo: string, tag: string, docker: boolean): ImageBlobs {
  const seed = crypto.createHash('sha256').update(`layer:${nonce}:${layerKey}`).digest();
  const layer = Buffer.concat(Array.from({ length: 16 }, () => seed));
  const layerDigest = sha256(layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: [`BENCH_IMAGE=${key}`], Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [layerDigest] },
      history: [{ created_by: `berth-bench ${nonce} ${key}` }],
    }),
  );
  const configDigest = sha256(config);
  const mediaType = docker ? DOCKER_MANIFEST : OCI_MANIFEST;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: docker ? DOCKER_CONFIG : OCI_CONFIG, digest: configDigest, size: config.length },
      layers: [{ mediaType: docker ? DOCKER_LAYER : OCI_LAYER, digest: layerDigest, size: layer.length }],
    }),
  );
  return { repo, tag, config, configDigest, layer, layerDigest, manifest, mediaType, digest: sha256(manifest) };
}

/**
 * Uploads the distinct blobs of a set of images (c=16), then PUTs their
 * manifests (c=16). The two phases are timed separately so the manifest rate
 * is not diluted by blob uploads.
 */
async function pushImages(ctx: Ctx, imgs: ImageBlobs[], record: boolean): Promise<void> {
  const { cfg } = ctx;
  const uploads = new Map<string, { repo: string; data: Buffer; digest: string }>();
  for (const im of imgs) {
    uploads.set(`${im.repo}@${im.configDigest}`, { repo: im.repo, data: im.config, digest: im.configDigest });
    uploads.set(`${im.repo}@${im.layerDigest}`, { repo: im.repo, data: im.layer, digest: im.layerDigest });
  }
  const ups = [...uploads.values()];
  let cpu = record ? cpuWindow(ctx, 'small_blob_uploads') : null;
  let t0 = nowMs();
  await pool(ctx, ups, cfg.concurrency, async (u, c) => {
    await uploadMonolithic(ctx, c, u.repo, [u.data], u.digest);
  });
  let ms = nowMs() - t0;
  if (record) {
    cpu?.end();
    ctx.metrics['small_blob_uploads_per_s'] = ups.length / (ms / 1000);
  }

  const lat = new Samples();
  cpu = record ? cpuWindow(ctx, 'manifest_put') : null;
  t0 = nowMs();
  await pool(ctx, imgs, cfg.concurrency, async (im, c) => {
    const s = nowMs();
    await putManifest(c, im.repo, im.tag, im.manifest, im.mediaType, im.digest);
    lat.push(nowMs() - s);
  });
  ms = nowMs() - t0;
  if (record) {
    cpu?.end();
    ctx.metrics['manifest_put_per_s'] = imgs.length / (ms / 1000);
    ctx.metrics['manifest_put_p99_ms'] = percentile(lat.values(), 99);
  }
  for (const im of imgs) {
    ctx.state.repos.add(im.repo);
    ctx.state.images.push({ repo: im.repo, tag: im.tag, digest: im.digest, mediaType: im.mediaType, manifest: im.manifest });
  }
}

function imageSet(ctx: Ctx): ImageBlobs[] {
  const { cfg, nonce } = ctx;
  const out: ImageBlobs[] = [];
  for (let i = 0; i < cfg.images; i++) {
    const repo = `bench/app-${String(i % cfg.imageRepos).padStart(3, '0')}`;
    const tag = `v${Math.floor(i / cfg.imageRepos)}`;
    out.push(buildImage(nonce, `img-${i}`, repo, repo, tag, i % 2 === 1));
  }
  return out;
}

async function ensureImages(ctx: Ctx): Promise<void> {
  if (ctx.state.images.length >= ctx.cfg.images) return;
  ctx.log(`  setup: pushing ${ctx.cfg.images} images`);
  await pushImages(ctx, imageSet(ctx), false);
}

// ---------------------------------------------------------------- workloads

const BIG_REPO = 'bench/big';

async function pushBig(ctx: Ctx, mode: 'mono' | 'chunked', name: string): Promise<number> {
  const blobs = bigBlobs(ctx);
  const v = blobs.variant(name);
  const c = conn(ctx);
  await c.connect();
  try {
    const t0 = nowMs();
    if (mode === 'mono') await uploadMonolithic(ctx, c, BIG_REPO, [blobs.prefix, v.tail], v.digest);
    else await uploadChunked(ctx, c, BIG_REPO, blobs.chunks(name), v.digest);
    return nowMs() - t0;
  } finally {
    c.close();
  }
}

/** Gives the big-blob repository a manifest so that every repository we create is a "real" one in the catalog. */
async function tagBigRepo(ctx: Ctx, digest: string): Promise<void> {
  if (ctx.state.repos.has(BIG_REPO)) return;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digest] } }));
  const configDigest = sha256(config);
  const c = conn(ctx);
  try {
    await uploadMonolithic(ctx, c, BIG_REPO, [config], configDigest);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
        layers: [{ mediaType: OCI_LAYER, digest, size: bigBlobs(ctx).size }],
      }),
    );
    await putManifest(c, BIG_REPO, 'latest', manifest, OCI_MANIFEST, sha256(manifest));
  } finally {
    c.close();
  }
  ctx.state.repos.add(BIG_REPO);
}

/**
 * berth-scale: Berth's two push modes interleaved with a direct PutObject and
 * a direct multipart upload of the same size to the same s3rver, after a
 * small warm-up of each path (connections, JIT; objects of 2.5 parts).
 */
async function wlPushScale(ctx: Ctx, scale: ScaleCtx): Promise<void> {
  const blobs = bigBlobs(ctx);
  const size = blobs.size;
  const body = Buffer.concat([blobs.prefix, blobs.variant('direct').tail]);
  const pin = pinned(ctx, scale);
  try {
    await pushScaleRuns(ctx, scale, body);
  } finally {
    pin.undo();
  }
  ctx.state.pullBlob = { repo: BIG_REPO, digest: blobs.variant('mono-0').digest, size };
  await tagBigRepo(ctx, ctx.state.pullBlob.digest);
}

/** Gives the store a core of its own for a blob workload (see pinStoreCore), noting it once per round. */
function pinned(ctx: Ctx, scale: ScaleCtx): CorePinning {
  const pin = pinStoreCore(scale.pgServer, scale.backend, [ctx.target.pid, ...ctx.extraServerPids]);
  if (pin.note && !ctx.notes.includes(pin.note)) ctx.notes.push(pin.note);
  return pin;
}

async function pushScaleRuns(ctx: Ctx, scale: ScaleCtx, body: Buffer): Promise<void> {
  const { cfg } = ctx;
  const size = body.length;
  const b = scale.backend;
  const warm = crypto.randomBytes(Math.min(size, Math.floor(2.5 * S3_PART_SIZE)));
  const c = conn(ctx);
  try {
    await uploadMonolithic(ctx, c, BIG_REPO, [warm], sha256(warm));
  } finally {
    c.close();
  }
  await directPut(b, 'bench-direct/warm-put', warm);
  await directMultipart(b, 'bench-direct/warm-mpu', warm);
  const n = { mono: 0, chunked: 0, put: 0, mpu: 0 };
  const mbps = (ms: number): number => size / 1e6 / (ms / 1000);
  await interleave(
    ctx,
    [
      { key: 'push_mono_MBps', phase: 'push_mono', run: async () => mbps(await pushBig(ctx, 'mono', `mono-${n.mono++}`)) },
      { key: 's3_put_MBps', phase: 's3_put', run: async () => mbps(await directPut(b, `bench-direct/put-${n.put++}`, body)) },
      { key: 'push_chunked_MBps', phase: 'push_chunked', run: async () => mbps(await pushBig(ctx, 'chunked', `chunked-${n.chunked++}`)) },
      { key: 's3_mpu_MBps', phase: 's3_mpu', run: async () => mbps(await directMultipart(b, `bench-direct/mpu-${n.mpu++}`, body)) },
    ],
    cfg.pushReps,
  );
}

export async function wlPush(ctx: Ctx): Promise<void> {
  if (ctx.scale) return wlPushScale(ctx, ctx.scale);
  const { cfg } = ctx;
  const size = bigBlobs(ctx).size;
  const mono: number[] = [];
  const chunked: number[] = [];
  // Interleave the two modes so neither gets systematically warmer page cache.
  for (let rep = 0; rep < cfg.pushReps; rep++) {
    for (const mode of ['mono', 'chunked'] as const) {
      const cpu = cpuWindow(ctx, `push_${mode}`);
      const ms = await pushBig(ctx, mode, `${mode}-${rep}`);
      if (rep === cfg.pushReps - 1 || cfg.pushReps === 1) cpu.end();
      (mode === 'mono' ? mono : chunked).push(size / 1e6 / (ms / 1000));
      ctx.log(`  push ${mode} #${rep + 1}: ${(size / 1e6 / (ms / 1000)).toFixed(0)} MB/s`);
    }
  }
  ctx.metrics['push_mono_MBps'] = median(mono);
  ctx.metrics['push_chunked_MBps'] = median(chunked);
  ctx.state.pullBlob = { repo: BIG_REPO, digest: bigBlobs(ctx).variant('mono-0').digest, size };
  await tagBigRepo(ctx, ctx.state.pullBlob.digest);
}

async function ensurePullBlob(ctx: Ctx): Promise<{ repo: string; digest: string; size: number }> {
  if (!ctx.state.pullBlob) {
    ctx.log('  setup: pushing the pull blob');
    await pushBig(ctx, 'mono', 'mono-0');
    const blobs = bigBlobs(ctx);
    ctx.state.pullBlob = { repo: BIG_REPO, digest: blobs.variant('mono-0').digest, size: blobs.size };
    await tagBigRepo(ctx, ctx.state.pullBlob.digest);
  }
  return ctx.state.pullBlob;
}

/**
 * GETs a blob over `streams` parallel raw connections to host:port (following
 * redirects); the client hashes while reading (or only counts bytes) and
 * checks digest and length. Returns MB/s for all bytes together.
 */
async function timedGet(
  ctx: Ctx,
  host: string,
  port: number,
  path: string,
  streams: number,
  hash: boolean,
  b: { digest: string; size: number },
): Promise<number> {
  // 1 MiB reused read buffer per stream: see RawConn (keeps the client's CPU per byte low).
  const conns = Array.from({ length: streams }, () => new RawConn(host, port, { readBufferSize: MiB }));
  // Connections are opened before the clock starts: this measures transfer, not connect.
  await Promise.all(conns.map((c) => c.connect()));
  const t0 = nowMs();
  try {
    await Promise.all(
      conns.map(async (c) => {
        const h = hash ? crypto.createHash('sha256') : null;
        let n = 0;
        const sink = h ? (chunk: Buffer) => h.update(chunk) : (chunk: Buffer) => void (n += chunk.length);
        const r = await getFollow(ctx, c, path, {}, sink);
        expectStatus(r, [200], 'GET blob');
        if (r.bodyBytes !== b.size) throw new Error(`GET blob: got ${r.bodyBytes} bytes, expected ${b.size}`);
        if (h) {
          const got = 'sha256:' + h.digest('hex');
          if (got !== b.digest) throw new Error(`GET blob: digest mismatch ${got} != ${b.digest}`);
        } else if (n !== b.size) throw new Error('GET blob: length mismatch');
      }),
    );
  } finally {
    for (const c of conns) c.close();
  }
  const ms = nowMs() - t0;
  return (streams * b.size) / 1e6 / (ms / 1000);
}

/** Pulls the blob from the target under test (or `via`, another instance) over `streams` connections; MB/s. */
async function pullOnce(ctx: Ctx, streams: number, hash: boolean, via?: RunningTarget): Promise<number> {
  const b = await ensurePullBlob(ctx);
  const t = via ?? ctx.target;
  return timedGet(ctx, t.host, t.port, `/v2/${b.repo}/blobs/${b.digest}`, streams, hash, b);
}

/**
 * berth-scale: pulls through Berth (the main instance serves the bytes), via
 * a 307 to a presigned URL (a second instance with redirects on), and
 * directly from s3rver: the very object Berth stores the blob in, with the
 * same raw client and hashing, and with the SDK's GetObject. Interleaved,
 * after one warm-up run of each path.
 */
async function wlPullScale(ctx: Ctx, scale: ScaleCtx): Promise<void> {
  await ensurePullBlob(ctx);
  const pin = pinned(ctx, scale);
  try {
    await pullScaleRuns(ctx, scale, pin);
  } finally {
    pin.undo();
  }
}

async function pullScaleRuns(ctx: Ctx, scale: ScaleCtx, pin: CorePinning): Promise<void> {
  const { cfg } = ctx;
  const b = await ensurePullBlob(ctx);
  const bk = scale.backend;
  const stored = await bk.blobKey(b.digest);
  let key = stored ?? 'bench-direct/pull-copy';
  if (stored === null || (await objectSize(bk, stored)) !== b.size) {
    // Not where Berth's metadata says: read an identical copy instead (same size and bytes).
    key = 'bench-direct/pull-copy';
    const blobs = bigBlobs(ctx);
    await directPut(bk, key, Buffer.concat([blobs.prefix, blobs.variant('mono-0').tail]));
    ctx.notes.push(`direct S3 GET read a copy of the blob: Berth's object ${stored ?? '(no blob record)'} was not found`);
  }
  const rawDirect = async (streams: number): Promise<number> => {
    const u = new URL(await presignGet(bk, key));
    return timedGet(ctx, bk.s3Host, bk.s3Port, u.pathname + u.search, streams, true, b);
  };
  const sdkDirect = async (): Promise<number> => b.size / 1e6 / ((await directGetSdk(bk, key, b.digest, b.size)) / 1000);
  const redirecting = await scale.startRedirectInstance();
  ctx.extraServerPids.push(redirecting.pid);
  pin.addBerth(redirecting.pid);
  try {
    // The redirect must actually happen (a 307 to the store), or the rows would measure Berth's own serving.
    const rc = new RawConn(redirecting.host, redirecting.port);
    try {
      const r = await rc.request({ method: 'GET', path: `/v2/${b.repo}/blobs/${b.digest}` });
      if (r.status !== 307 || !(r.headers.get('location') ?? '').startsWith(bk.endpoint)) {
        throw new Error(`redirecting instance answered ${r.status} ${r.headers.get('location') ?? ''}, expected a 307 to ${bk.endpoint}`);
      }
    } finally {
      rc.close();
    }
    const one: Contender[] = [
      { key: 'pull_1_MBps', phase: 'pull_1', run: () => pullOnce(ctx, 1, true) },
      { key: 's3_get_1_MBps', phase: 's3_get_1', run: () => rawDirect(1) },
      { key: 'pull_1_redirect_MBps', phase: 'pull_1_redirect', run: () => pullOnce(ctx, 1, true, redirecting) },
      { key: 's3_get_1_sdk_MBps', phase: 's3_get_1_sdk', run: sdkDirect },
    ];
    for (const c of one) await c.run(); // warm-up: page cache, connections, JIT of every path
    await interleave(ctx, one, cfg.pull1Reps);
    await interleave(
      ctx,
      [
        { key: 'pull_8_MBps', phase: 'pull_8', run: () => pullOnce(ctx, cfg.pullStreams, true) },
        { key: 's3_get_8_MBps', phase: 's3_get_8', run: () => rawDirect(cfg.pullStreams) },
        { key: 'pull_8_redirect_MBps', phase: 'pull_8_redirect', run: () => pullOnce(ctx, cfg.pullStreams, true, redirecting) },
      ],
      cfg.pull8Reps,
    );
  } finally {
    ctx.extraServerPids.splice(ctx.extraServerPids.indexOf(redirecting.pid), 1);
    await redirecting.stop();
  }
  // Information only, as for the other targets: Berth's serving without the client's hashing.
  const xs: number[] = [];
  const cpu = cpuWindow(ctx, 'pull_1_nohash');
  for (let i = 0; i < cfg.pull1Reps; i++) xs.push(await pullOnce(ctx, 1, false));
  cpu.end();
  ctx.metrics['pull_1_nohash_MBps'] = median(xs);
  ctx.log(`  pull_1_nohash_MBps: ${xs.map((x) => x.toFixed(0)).join(', ')} MB/s`);
}

export async function wlPull(ctx: Ctx): Promise<void> {
  if (ctx.scale) return wlPullScale(ctx, ctx.scale);
  const { cfg } = ctx;
  await ensurePullBlob(ctx);
  await pullOnce(ctx, 1, false); // warm the page cache for both targets alike
  const run = async (key: string, cpuPhase: string | null, streams: number, hash: boolean, reps: number): Promise<void> => {
    const xs: number[] = [];
    const cpu = cpuPhase ? cpuWindow(ctx, cpuPhase) : null;
    const t0 = nowMs();
    for (let i = 0; i < reps; i++) xs.push(await pullOnce(ctx, streams, hash));
    cpu?.end();
    ctx.metrics[key] = median(xs);
    ctx.log(`  ${key}: ${xs.map((x) => x.toFixed(0)).join(', ')} MB/s`);
  };
  await run('pull_1_MBps', 'pull_1', 1, true, cfg.pull1Reps);
  await run('pull_8_MBps', 'pull_8', cfg.pullStreams, true, cfg.pull8Reps);
  await run('pull_1_nohash_MBps', 'pull_1_nohash', 1, false, cfg.pull1Reps);
  await run('pull_8_nohash_MBps', 'pull_8_nohash', cfg.pullStreams, false, cfg.pull8Reps);
}

export async function wlManifestPush(ctx: Ctx): Promise<void> {
  if (ctx.state.images.length > 0) throw new Error('manifest-push must run before other image pushes');
  await pushImages(ctx, imageSet(ctx), true);
  ctx.log(
    `  ${ctx.cfg.images} images: blobs ${(ctx.metrics['small_blob_uploads_per_s'] ?? NaN).toFixed(0)}/s, manifests ${(ctx.metrics['manifest_put_per_s'] ?? NaN).toFixed(0)}/s`,
  );
}

/** Checks a sample of manifests by GET (status, digest header, body digest) before load, so load results count only correct answers. */
async function verifyManifests(ctx: Ctx, sample: ImageRef[]): Promise<void> {
  const c = conn(ctx);
  try {
    for (const im of sample) {
      const r = await c.request({ method: 'GET', path: `/v2/${im.repo}/manifests/${im.tag}`, headers: { Accept: MANIFEST_ACCEPT } });
      expectStatus(r, [200], `GET manifest ${im.repo}:${im.tag}`);
      if (sha256(r.body) !== im.digest) throw new Error(`GET manifest ${im.repo}:${im.tag}: body digest mismatch`);
      const dh = r.headers.get('docker-content-digest');
      if (dh !== undefined && dh !== im.digest) throw new Error(`GET manifest ${im.repo}:${im.tag}: Docker-Content-Digest ${dh}`);
      const ct = r.headers.get('content-type') ?? '';
      if (!ct.startsWith(im.mediaType)) throw new Error(`GET manifest ${im.repo}:${im.tag}: Content-Type ${ct}, expected ${im.mediaType}`);
    }
  } finally {
    c.close();
  }
}

function recordLoad(ctx: Ctx, key: 'manifest_get' | 'manifest_head' | 'manifest_get_policy', res: LoadResult): void {
  if (res.errors > 0) throw new Error(`${key}: ${res.errors} failed requests during load (${res.requests} ok)`);
  ctx.metrics[`${key}_rps`] = res.rps;
  ctx.metrics[`${key}_p99_ms`] = res.p99Ms;
  const f = (k: string): string => (ctx.metrics[`cpu:${key}:${k}`] ?? NaN).toFixed(2);
  ctx.log(
    `  ${key} (${res.generator}): ${res.rps.toFixed(0)} req/s, p50 ${res.p50Ms.toFixed(1)} ms, p99 ${res.p99Ms.toFixed(1)} ms; ` +
      `cores: server ${f('server')}, client ${f('client')}, other ${f('other')}`,
  );
}

/** Hooks for the load generators: CPU is measured over the measured window only (not warm-up). */
function loadCpuHooks(ctx: Ctx, key: string): { onMeasureStart: () => void; onMeasureEnd: (externalCpuS: number) => void } {
  let w: { end: (x?: number) => void } | null = null;
  return {
    onMeasureStart: () => void (w = cpuWindow(ctx, key)),
    onMeasureEnd: (externalCpuS: number) => w?.end(externalCpuS),
  };
}

export async function wlManifestGet(ctx: Ctx, workDir: string): Promise<void> {
  const { cfg } = ctx;
  await ensureImages(ctx);
  const imgs = ctx.state.images;
  await verifyManifests(ctx, imgs.filter((_, i) => i % Math.max(1, Math.floor(imgs.length / 20)) === 0));
  const paths = imgs.map((im) => `/v2/${im.repo}/manifests/${im.tag}`);
  const opts = {
    host: ctx.target.host,
    port: ctx.target.port,
    paths,
    headers: { Accept: MANIFEST_ACCEPT },
    connections: cfg.loadConnections,
    durationS: cfg.loadDurationS,
    warmupS: cfg.loadWarmupS,
    ...loadCpuHooks(ctx, 'manifest_get'),
  };
  let res: LoadResult;
  if (cfg.getClient === 'wrk') res = await runWrkGet(opts, workDir);
  else res = await runRawLoad({ ...opts, method: 'GET' });
  recordLoad(ctx, 'manifest_get', res);
}

/**
 * Manifest GET by tag under a trust policy: every image gets a cosign
 * signature (the `sha256-<hex>.sig` tag, built by the signatures testkit),
 * then `berth trust policy set registry --key` on the target's database, and
 * the same wrk load as manifest-get. Embedded Berth only (the reference has
 * no policy; berth-scale's database is not reachable by the CLI here).
 */
export async function wlManifestGetPolicy(ctx: Ctx, workDir: string): Promise<void> {
  const { cfg } = ctx;
  if (!isBerth(ctx.target.name) || ctx.scale) {
    ctx.log('  skipped: embedded Berth only');
    return;
  }
  await ensureImages(ctx);
  // A copy: the unsigned image pushed below to check the policy joins ctx.state.images.
  const imgs = [...ctx.state.images];
  const key = cosignKeyPair('ecdsa-p256');
  ctx.log(`  setup: a cosign signature for each of ${imgs.length} images`);
  await pool(ctx, imgs, cfg.concurrency, async (im, c) => {
    const payload = cosignPayload({ digest: im.digest, reference: `${ctx.target.host}/${im.repo}` });
    const sig = cosignArtifact([{ payload, signature: cosignSign(payload, key.privateKey) }]);
    for (const b of sig.blobs) await uploadMonolithic(ctx, c, im.repo, [b], sha256(b));
    await putManifest(c, im.repo, `sha256-${im.digest.slice(7)}.sig`, sig.manifest, sig.mediaType, sig.digest);
  });
  const pem = path.join(workDir, 'bench-cosign.pub');
  fs.writeFileSync(pem, key.publicKeyPem);
  const main = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'src', 'cli', 'main.js');
  execFileSync(process.execPath, [main, 'trust', 'policy', 'set', 'registry', '--key', `bench=${pem}`, '--data-dir', path.join(ctx.target.dir, 'data'), '--json'], { stdio: ['ignore', 'ignore', 'pipe'] });
  // The policy is in force: a sample verifies, and an unsigned image is refused.
  await verifyManifests(ctx, imgs.filter((_, i) => i % Math.max(1, Math.floor(imgs.length / 20)) === 0));
  const c = conn(ctx);
  try {
    const unsigned = buildImage(ctx.nonce, 'unsigned-policy', 'unsigned-policy', 'bench/unsigned', 'v1', false);
    await pushImages(ctx, [unsigned], false);
    const r = await c.request({ method: 'GET', path: '/v2/bench/unsigned/manifests/v1', headers: { Accept: MANIFEST_ACCEPT } });
    expectStatus(r, [403], 'GET an unsigned manifest under the policy');
  } finally {
    c.close();
  }
  // First pulls verify (read the .sig manifest and payload, check the signature); later ones
  // hit the verdict cache. Timed apart: one pass over every image, c=16, then the steady-state load.
  const cold = cpuWindow(ctx, 'manifest_get_policy_cold');
  const t0 = nowMs();
  await pool(ctx, imgs, cfg.concurrency, async (im, pc) => {
    const r = await pc.request({ method: 'GET', path: `/v2/${im.repo}/manifests/${im.tag}`, headers: { Accept: MANIFEST_ACCEPT } });
    expectStatus(r, [200], `GET ${im.repo}:${im.tag} under the policy`);
  });
  ctx.metrics['manifest_get_policy_cold_per_s'] = imgs.length / ((nowMs() - t0) / 1000);
  cold.end();
  ctx.log(`  first pulls (verifying), c=${cfg.concurrency}: ${(ctx.metrics['manifest_get_policy_cold_per_s'] ?? NaN).toFixed(0)}/s`);
  const opts = {
    host: ctx.target.host,
    port: ctx.target.port,
    paths: imgs.map((im) => `/v2/${im.repo}/manifests/${im.tag}`),
    headers: { Accept: MANIFEST_ACCEPT },
    connections: cfg.loadConnections,
    durationS: cfg.loadDurationS,
    warmupS: cfg.loadWarmupS,
    ...loadCpuHooks(ctx, 'manifest_get_policy'),
  };
  const res = cfg.getClient === 'wrk' ? await runWrkGet(opts, workDir) : await runRawLoad({ ...opts, method: 'GET' });
  recordLoad(ctx, 'manifest_get_policy', res);
  const base = ctx.metrics['manifest_get_rps'];
  if (base) ctx.log(`  with a policy: ${(base / res.rps).toFixed(2)}x the cost of a GET without one (target at most 1.5x)`);
}

export async function wlManifestHead(ctx: Ctx): Promise<void> {
  const { cfg } = ctx;
  await ensureImages(ctx);
  const expected = new Map<string, string>();
  for (const im of ctx.state.images) expected.set(`/v2/${im.repo}/manifests/${im.tag}`, im.digest);
  const paths = [...expected.keys()];
  const res = await runRawLoad({
    host: ctx.target.host,
    port: ctx.target.port,
    method: 'HEAD',
    paths,
    headers: { Accept: MANIFEST_ACCEPT },
    connections: cfg.loadConnections,
    durationS: cfg.loadDurationS,
    warmupS: cfg.loadWarmupS,
    ...loadCpuHooks(ctx, 'manifest_head'),
    // A HEAD that answers 200 without the right digest does not count.
    check: (r, p) => r.headers.get('docker-content-digest') === expected.get(p),
  });
  recordLoad(ctx, 'manifest_head', res);
}

/**
 * Repeats a timed action at least `minReps` times and until ~1 s has passed
 * (at most 500 times): a fast server gets many samples, so its median is
 * stable and the CPU shares cover a meaningful window.
 */
async function repeatFor(minReps: number, fn: () => Promise<number>): Promise<number[]> {
  const xs: number[] = [];
  const t0 = nowMs();
  while (xs.length < minReps || (nowMs() - t0 < 1000 && xs.length < 500)) xs.push(await fn());
  return xs;
}

/** Fetches every page of a paginated list, following rel="next" Link headers. Timing covers the requests only. */
async function fetchAllPages(ctx: Ctx, c: RawConn, first: string): Promise<{ ms: number; bodies: Buffer[] }> {
  const bodies: Buffer[] = [];
  let p: string | null = first;
  const t0 = nowMs();
  while (p !== null) {
    const r: RawResponse = await c.request({ method: 'GET', path: p });
    expectStatus(r, [200], `GET ${p}`);
    bodies.push(r.body);
    const next = nextLink(r.headers.get('link'));
    p = next === null ? null : toPath(next, ctx.target.baseUrl);
    if (bodies.length > 100_000) throw new Error('pagination does not terminate');
  }
  return { ms: nowMs() - t0, bodies };
}

function collect(bodies: Buffer[], key: 'tags' | 'repositories'): string[] {
  const out: string[] = [];
  for (const b of bodies) {
    const j = JSON.parse(b.toString('utf8')) as Record<string, unknown>;
    const list = j[key];
    if (Array.isArray(list)) for (const x of list) out.push(String(x));
  }
  return out;
}

async function ensureTags(ctx: Ctx): Promise<{ repo: string; count: number }> {
  if (ctx.state.tagsRepo) return ctx.state.tagsRepo;
  const { cfg } = ctx;
  const repo = 'bench/tags';
  const im = buildImage(ctx.nonce, 'tags', repo, repo, 't00000', false);
  ctx.log(`  setup: ${cfg.tags} tags on ${repo}`);
  await pushImages(ctx, [im], false);
  // Every tag points at the same manifest: the tag count, not manifest count, is what the list scales with.
  const cpu = cpuWindow(ctx, 'tag_put');
  const t0 = nowMs();
  const tagNumbers = Array.from({ length: Math.max(0, cfg.tags - 1) }, (_, i) => i + 1);
  await pool(ctx, tagNumbers, cfg.concurrency, async (n, c) => {
    await putManifest(c, repo, `t${String(n).padStart(5, '0')}`, im.manifest, im.mediaType, im.digest);
  });
  const ms = nowMs() - t0;
  cpu.end();
  ctx.metrics['tag_put_per_s'] = (cfg.tags - 1) / (ms / 1000);
  ctx.state.tagsRepo = { repo, count: cfg.tags };
  return ctx.state.tagsRepo;
}

export async function wlTags(ctx: Ctx): Promise<void> {
  const { cfg } = ctx;
  const t = await ensureTags(ctx);
  const c = conn(ctx);
  await c.connect();
  try {
    // No `n`: the client asks for the whole list; if the server paginates anyway, its pages are followed.
    const first = `/v2/${t.repo}/tags/list`;
    const warm = await fetchAllPages(ctx, c, first);
    const tags = collect(warm.bodies, 'tags');
    const uniq = new Set(tags);
    if (uniq.size !== t.count) throw new Error(`tag list returned ${uniq.size} distinct tags (${tags.length} total), expected ${t.count}`);
    const pagesNote = `tag list: ${warm.bodies.length} page(s)`;
    const cpu = cpuWindow(ctx, 'tag_list');
    const xs = await repeatFor(cfg.tagListReps, () => fetchAllPages(ctx, c, first).then((r) => r.ms));
    cpu.end();
    ctx.metrics['tag_list_ms'] = median(xs);
    ctx.log(`  tag list (${t.count} tags, ${warm.bodies.length} page(s)): median ${median(xs).toFixed(1)} ms over ${xs.length} runs (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`);
    ctx.notes.push(pagesNote);
  } finally {
    c.close();
  }
}

/**
 * Cross-repository mount of a blob (POST ?mount=&from=). A registry may answer
 * 202 instead of mounting; then the blob is uploaded into the open session.
 * Returns false when it had to upload.
 */
async function mountBlob(ctx: Ctx, c: RawConn, repo: string, from: string, data: Buffer, digest: string): Promise<boolean> {
  const r = await c.request({
    method: 'POST',
    path: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
  });
  if (r.status === 201) return true;
  expectStatus(r, [202], `POST mount ${repo}`);
  const put = await c.request({
    method: 'PUT',
    path: addQuery(location(ctx, r, 'POST mount'), 'digest', digest),
    headers: { 'Content-Type': 'application/octet-stream' },
    body: data,
  });
  expectStatus(put, [201], `PUT blob ${repo}`);
  return false;
}

/**
 * Tops the registry up to `catalogRepos` repositories. Setup only (untimed):
 * one seed image is pushed, then every new repository mounts its two blobs and
 * gets the same manifest (3 requests per repository instead of 5).
 */
async function ensureCatalogRepos(ctx: Ctx): Promise<void> {
  const { cfg, state } = ctx;
  const missing = cfg.catalogRepos - state.repos.size;
  if (missing <= 0) return;
  ctx.log(`  setup: ${missing} more repositories (catalog of ${cfg.catalogRepos})`);
  const seedRepo = 'bench/cat-seed';
  const seed = buildImage(ctx.nonce, 'cat-seed', seedRepo, seedRepo, 'latest', false);
  await pushImages(ctx, [seed], false);
  const repos: string[] = [];
  for (let k = 0; repos.length < missing - 1; k++) {
    const repo = `bench/cat-${String(k).padStart(4, '0')}`;
    if (!state.repos.has(repo)) repos.push(repo);
  }
  let uploaded = 0;
  await pool(ctx, repos, cfg.concurrency, async (repo, c) => {
    if (!(await mountBlob(ctx, c, repo, seedRepo, seed.config, seed.configDigest))) uploaded++;
    if (!(await mountBlob(ctx, c, repo, seedRepo, seed.layer, seed.layerDigest))) uploaded++;
    await putManifest(c, repo, 'latest', seed.manifest, seed.mediaType, seed.digest);
    state.repos.add(repo);
  });
  if (uploaded > 0) ctx.notes.push(`catalog setup: ${uploaded} cross-repo mounts answered 202 (blob uploaded instead)`);
}

export async function wlCatalog(ctx: Ctx): Promise<void> {
  const { cfg, state } = ctx;
  await ensureCatalogRepos(ctx);
  const expected = state.repos.size;
  const c = conn(ctx);
  await c.connect();
  try {
    const first = `/v2/_catalog?n=${cfg.catalogPage}`;
    const warm = await fetchAllPages(ctx, c, first);
    const repos = collect(warm.bodies, 'repositories');
    const uniq = new Set(repos);
    for (const r of state.repos) if (!uniq.has(r)) throw new Error(`catalog is missing ${r} (${uniq.size} listed, ${expected} expected)`);
    if (uniq.size !== repos.length) throw new Error(`catalog listed duplicates (${repos.length} entries, ${uniq.size} distinct)`);
    const cpu = cpuWindow(ctx, 'catalog');
    const xs = await repeatFor(cfg.catalogReps, () => fetchAllPages(ctx, c, first).then((r) => r.ms));
    cpu.end();
    ctx.metrics['catalog_ms'] = median(xs);
    ctx.log(`  catalog (${uniq.size} repos, ${warm.bodies.length} pages): median ${median(xs).toFixed(1)} ms over ${xs.length} runs (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`);
  } finally {
    c.close();
  }
}
