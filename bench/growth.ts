// Growth mode (issue 14 item 6): how the cost of each operation grows with
// the registry, Berth only (the reference has no search or df).
//
//   npm run bench -- --scale [--sizes 1000,10000,100000] [--tags 1000,10000,100000]
//                            [--db sqlite|postgres|both] [--json FILE] [--duration S]
//                            [--keep DIR] [--seed-only]
//   (or node dist/bench/growth.js with the same options)
//
// --keep DIR (SQLite only) keeps the repositories' data dir in DIR and, on a
// later run, seeds only what it lacks, so one 100k seeding serves several
// measurements (before and after a change); --seed-only stops after seeding.
//
// Repositories: one data dir is filled level by level (1k, then 9k more, then
// 90k more). Each repository holds one image (a config blob of its own, a layer
// blob shared by all, an OCI manifest tagged `latest`), so N repositories are
// N + 1 blobs and N manifests. At each level a Berth process (`berth serve`)
// is started on that data dir and measured: start-up time, idle RSS, image
// pushes into new repositories, manifest GET by tag (c=64), a tag list, a
// catalog page (the first and one in the middle), search (one name, and a
// word every repository has); then, with the server stopped, `berth df` and
// `berth gc` over all the blobs. Tags: a second data dir, one repository, one
// manifest with 1k, 10k, 100k tags: tag list (all, first and middle page of
// 100), manifest GET by tag, tag pushes.
//
// Seeding goes through Berth's own code, without HTTP: an in-process Berth
// (startBerth) and its registry core wrapped in the EventedRegistry, as
// `berth import` does, so every record, blob file, link and search-index row is
// the one a push makes. Tags are added straight through the metadata store's
// putManifest({ tags }), one transaction per 1,000 tags. See bench/README.md.
//
// Growth rule, per 10x size (from the two largest sizes measured; every ratio is
// printed): cost ratio below 1.25 flat; 1.25-2.5 log (grows, much less than the
// size: index depth, caches); 2.5-6 sub-linear; 6-20 linear; 20 and above
// super-linear. Cost is time (or MiB) for the lower-is-better figures and 1/rate
// for rates. On a busy 2-core machine ratios below about 1.3 are noise.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startBerth, type Berth } from '../src/app.js';
import { loadConfig } from '../src/config/index.js';
import { EventedRegistry } from '../src/events/index.js';
import { silentLogger } from '../src/log/index.js';
import type { RegistryService } from '../src/registry/service.js';
import { runRawLoad } from './load.js';
import { RawConn, addQuery, nextLink, toPath, type RawResponse } from './raw-http.js';
import { startPostgres, type PgServer } from './scale.js';
import { median, nowMs, percentile, renderTable } from './stats.js';
import { BERTH_MAIN, cleanupAllSync, makeTempDir, procMem, removeTempDir, startTarget, type RunningTarget } from './targets.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ACCEPT = `${OCI_MANIFEST}, application/vnd.oci.image.index.v1+json`;

type Db = 'sqlite' | 'postgres';

interface GrowthOptions {
  sizes: number[];
  tags: number[];
  dbs: Db[];
  json: string | null;
  durationS: number;
  /** The repositories' data dir, kept and reused (SQLite only); null: a fresh temporary one. */
  keep: string | null;
  seedOnly: boolean;
}

interface Row {
  key: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  /** What the operation should do as the registry grows (a defect when it does worse). */
  expect: 'flat' | 'log' | 'linear';
}

const REPO_ROWS: Row[] = [
  { key: 'startup_ms', label: 'start-up (spawn to GET /v2/ 200)', unit: 'ms', better: 'lower', expect: 'log' },
  { key: 'idle_rss_MiB', label: 'idle RSS 3 s after start', unit: 'MiB', better: 'lower', expect: 'flat' },
  { key: 'push_per_s', label: 'image push into a new repository (2 blobs + manifest), c=16', unit: 'images/s', better: 'higher', expect: 'flat' },
  { key: 'manifest_get_rps', label: 'manifest GET by tag, c=64', unit: 'req/s', better: 'higher', expect: 'flat' },
  { key: 'manifest_get_p99_ms', label: 'manifest GET p99', unit: 'ms', better: 'lower', expect: 'flat' },
  { key: 'tag_list_ms', label: 'tag list of one repository', unit: 'ms', better: 'lower', expect: 'flat' },
  { key: 'catalog_first_ms', label: 'catalog, first page of 100', unit: 'ms', better: 'lower', expect: 'log' },
  { key: 'catalog_middle_ms', label: 'catalog, a page of 100 in the middle (last=)', unit: 'ms', better: 'lower', expect: 'log' },
  { key: 'search_one_ms', label: 'search, one repository by name (/v1/search, n=25)', unit: 'ms', better: 'lower', expect: 'log' },
  { key: 'search_all_ms', label: 'search, a word in every name, first 25', unit: 'ms', better: 'lower', expect: 'log' },
  { key: 'cli_start_ms', label: '`berth --version` (CLI start-up alone, for df and gc)', unit: 'ms', better: 'lower', expect: 'flat' },
  { key: 'df_ms', label: '`berth df --json` (CLI, whole process)', unit: 'ms', better: 'lower', expect: 'linear' },
  { key: 'gc_ms', label: '`berth gc --json` over all blobs (CLI, whole process)', unit: 'ms', better: 'lower', expect: 'linear' },
];

const TAG_ROWS: Row[] = [
  { key: 'tags_all_ms', label: 'tag list, all tags (following Link)', unit: 'ms', better: 'lower', expect: 'linear' },
  { key: 'tags_first_ms', label: 'tag list, first page of 100', unit: 'ms', better: 'lower', expect: 'log' },
  { key: 'tags_middle_ms', label: 'tag list, a page of 100 in the middle (last=)', unit: 'ms', better: 'lower', expect: 'log' },
  { key: 'tag_get_rps', label: 'manifest GET by tag, c=64', unit: 'req/s', better: 'higher', expect: 'flat' },
  { key: 'tag_get_p99_ms', label: 'manifest GET by tag p99', unit: 'ms', better: 'lower', expect: 'flat' },
  { key: 'tag_push_per_s', label: 'tag push (manifest PUT, new tag), c=16', unit: 'ops/s', better: 'higher', expect: 'flat' },
];

const log = (msg: string): void => {
  process.stdout.write(msg + '\n');
};

function usage(msg?: string): never {
  if (msg) console.error(`error: ${msg}`);
  console.error('usage: npm run bench -- --scale [--sizes 1000,10000,100000] [--tags 1000,10000,100000] [--db sqlite|postgres|both] [--json FILE] [--duration S] [--keep DIR] [--seed-only]');
  process.exit(2);
}

function parseArgs(argv: string[]): GrowthOptions {
  const o: GrowthOptions = { sizes: [1000, 10_000, 100_000], tags: [1000, 10_000, 100_000], dbs: ['sqlite'], json: null, durationS: 5, keep: null, seedOnly: false };
  const list = (v: string | undefined, flag: string): number[] => {
    const xs = (v ?? '').split(',').filter(Boolean).map(Number);
    if (!xs.every((x) => Number.isInteger(x) && x > 0)) usage(`${flag} takes positive integers, comma-separated`);
    return [...xs].sort((a, b) => a - b);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const val = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) usage(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--sizes':
        o.sizes = list(val(), flag);
        break;
      case '--tags':
        o.tags = list(val(), flag);
        break;
      case '--db': {
        const v = val();
        if (v === 'both') o.dbs = ['sqlite', 'postgres'];
        else if (v === 'sqlite' || v === 'postgres') o.dbs = [v];
        else usage(`bad --db ${v}`);
        break;
      }
      case '--json':
        o.json = val();
        break;
      case '--duration':
        o.durationS = Number(val());
        if (!(o.durationS > 0)) usage('--duration must be > 0');
        break;
      case '--keep':
        o.keep = path.resolve(val());
        break;
      case '--seed-only':
        o.seedOnly = true;
        break;
      case '-h':
      case '--help':
        usage();
        break;
      default:
        usage(`unknown option ${a}`);
    }
  }
  if (o.keep !== null && o.dbs.includes('postgres')) usage('--keep keeps a SQLite data dir: use it with --db sqlite');
  return o;
}

// ---------------------------------------------------------------- seeding (in-process, through Berth's core)

async function inProcess(dataDir: string, env: Record<string, string>): Promise<Berth> {
  const { config, errors } = await loadConfig({ env: { REGISTRY_GC_ENABLED: 'false', ...env }, flags: { addr: '127.0.0.1:0', dataDir } });
  if (!config) throw new Error(errors.join('; '));
  const berth = await startBerth(config, silentLogger(), { env: {} });
  // Setting up, not measured: SQLite commits without waiting for the disk (the records are the same).
  (berth.metadata as unknown as { sqlite?: { pragma(s: string): unknown } | null }).sqlite?.pragma('synchronous = OFF');
  return berth;
}

/**
 * Runs `fn` with FileHandle.sync/datasync as no-ops in this process: the seeding
 * Berth writes the same files and renames, without waiting for the disk each
 * time (otherwise 100k repositories take hours on this machine). The server
 * measured afterwards is another process, with its fsyncs.
 */
async function withoutFsync<T>(fn: () => Promise<T>): Promise<T> {
  const fh = await fs.promises.open(os.devNull, 'r');
  const proto = Object.getPrototypeOf(fh) as { sync: () => Promise<void>; datasync: () => Promise<void> };
  await fh.close();
  const saved = { sync: proto.sync, datasync: proto.datasync };
  proto.sync = proto.datasync = () => Promise.resolve();
  try {
    return await fn();
  } finally {
    proto.sync = saved.sync;
    proto.datasync = saved.datasync;
  }
}

function seedRegistry(berth: Berth): RegistryService {
  return new EventedRegistry(berth.registry, berth.events, { actor: { kind: 'system', name: 'bench-seed' }, requestId: `bench-seed-${crypto.randomUUID()}`, remoteAddress: null });
}

async function* once(b: Buffer): AsyncIterable<Uint8Array> {
  yield b;
}

const sha = (b: Buffer | string): string => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');

function repoName(i: number): string {
  // 100 namespaces; every name has the word "app" (the broad search).
  return `ns${i % 100}/app-${String(i).padStart(6, '0')}`;
}

const LAYER = Buffer.from(`growth layer ${'x'.repeat(1000)}`);
const LAYER_DIGEST = sha(LAYER);

function image(key: string): { config: Buffer; manifest: Buffer } {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', growth: key, rootfs: { type: 'layers', diff_ids: [LAYER_DIGEST] } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha(config), size: config.length },
    layers: [{ mediaType: OCI_LAYER, digest: LAYER_DIGEST, size: LAYER.length }],
  }));
  return { config, manifest };
}

async function pool(n: number, concurrency: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: Error | null = null;
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (failed === null && next < n) {
      const i = next++;
      try {
        await job(i);
      } catch (e) {
        failed ??= e as Error;
      }
    }
  }));
  if (failed) throw failed;
}

/** In a --keep data dir: how many repositories are seeded there. */
const KEPT_LEVEL = 'growth-seeded-repositories';

function keptLevel(dir: string): number {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, KEPT_LEVEL);
  if (fs.existsSync(file)) return Number(fs.readFileSync(file, 'utf8').trim());
  if (fs.readdirSync(dir).length > 0) throw new Error(`--keep ${dir}: not empty and not a growth data dir (no ${KEPT_LEVEL} file)`);
  return 0;
}

/** Repositories [from, to): one image each; the shared layer is put once and mounted into the others. */
async function seedRepos(dataDir: string, env: Record<string, string>, from: number, to: number): Promise<number> {
  const berth = await inProcess(dataDir, env);
  const t0 = nowMs();
  try {
    const reg = seedRegistry(berth);
    const first = repoName(0);
    if (from === 0) await reg.putBlob(first, LAYER_DIGEST, once(LAYER));
    let done = 0;
    let lastLog = nowMs();
    await pool(to - from, 16, async (k) => {
      const i = from + k;
      const repo = repoName(i);
      const { config, manifest } = image(repo);
      await reg.putBlob(repo, sha(config), once(config));
      if (i !== 0 && !(await reg.mountBlob(repo, first, LAYER_DIGEST))) throw new Error(`mount of the layer into ${repo} failed`);
      await reg.putManifest(repo, 'latest', manifest, OCI_MANIFEST);
      done++;
      if (nowMs() - lastLog > 10_000) {
        lastLog = nowMs();
        log(`    seeded ${from + done} of ${to} repositories (${(done / ((nowMs() - t0) / 1000)).toFixed(0)}/s)`);
      }
    });
    await berth.events.idle();
  } finally {
    await berth.close();
  }
  return (nowMs() - t0) / 1000;
}

const TAG_REPO = 'tags/one';

/** One image in TAG_REPO, then tags [from, to) on it through the store, 1,000 per transaction. */
async function seedTags(dataDir: string, env: Record<string, string>, from: number, to: number): Promise<number> {
  const berth = await inProcess(dataDir, env);
  const t0 = nowMs();
  try {
    const reg = seedRegistry(berth);
    const { config, manifest } = image('tags');
    const digest = sha(manifest);
    if (from === 0) {
      await reg.putBlob(TAG_REPO, LAYER_DIGEST, once(LAYER));
      await reg.putBlob(TAG_REPO, sha(config), once(config));
      await reg.putManifest(TAG_REPO, 't000000', manifest, OCI_MANIFEST);
      from = 1;
    }
    const record = await berth.metadata.content.getManifest(TAG_REPO, digest);
    if (!record) throw new Error('the tagged manifest is missing');
    const references = [{ digest: sha(config), kind: 'blob' as const }, { digest: LAYER_DIGEST, kind: 'blob' as const }];
    for (let i = from; i < to; i += 1000) {
      const tags = Array.from({ length: Math.min(1000, to - i) }, (_, k) => `t${String(i + k).padStart(6, '0')}`);
      await berth.metadata.content.putManifest({ manifest: record, references, tags });
    }
  } finally {
    await berth.close();
  }
  return (nowMs() - t0) / 1000;
}

// ---------------------------------------------------------------- measuring (a berth serve process)

function expectStatus(r: RawResponse, want: number, what: string): void {
  if (r.status !== want) throw new Error(`${what}: HTTP ${r.status} (expected ${want}) ${r.body.toString('utf8', 0, 300)}`);
}

/**
 * Sequential GETs, each checked by `check`: at least `reps` and for at least
 * 2 s (at most 5,000). Records the median as `key` and the 10th percentile as
 * `<key>_p10`: on a busy machine the median moves with the scheduler (a
 * request either runs at once or waits a time slice), the low percentile is
 * the operation's own cost, and growth is judged on it.
 */
async function timeGets(m: Record<string, number>, key: string, t: RunningTarget, paths: string[], reps: number, check: (r: RawResponse, p: string) => void): Promise<void> {
  const c = new RawConn(t.host, t.port);
  try {
    const xs: number[] = [];
    const start = nowMs();
    for (let i = 0; i < reps || (nowMs() - start < 2000 && i < 5000); i++) {
      const p = paths[i % paths.length] ?? '';
      const t0 = nowMs();
      const r = await c.request({ method: 'GET', path: p, headers: { Accept: ACCEPT } });
      xs.push(nowMs() - t0);
      check(r, p);
    }
    m[key] = median(xs);
    m[`${key}_p10`] = percentile(xs, 10);
  } finally {
    c.close();
  }
}

async function getLoad(t: RunningTarget, paths: string[], expected: Map<string, string>, durationS: number): Promise<{ rps: number; p99: number }> {
  const res = await runRawLoad({
    host: t.host, port: t.port, method: 'GET', paths, headers: { Accept: ACCEPT }, connections: 64, durationS, warmupS: 1,
    check: (r, p) => r.headers.get('docker-content-digest') === expected.get(p),
  });
  if (res.errors > 0) throw new Error(`manifest GET load: ${res.errors} failed or wrong responses (${res.requests} ok)`);
  return { rps: res.rps, p99: res.p99Ms };
}

/** Image pushes over HTTP into new repositories, 16 at a time: POST+PUT of the config, a mount of the layer, the manifest PUT. */
async function pushRate(t: RunningTarget, prefix: string, count: number): Promise<number> {
  const conns = Array.from({ length: 16 }, () => new RawConn(t.host, t.port));
  const free = [...conns];
  const from = repoName(0);
  const t0 = nowMs();
  try {
    await pool(count, 16, async (i) => {
      const c = free.pop() as RawConn;
      try {
        const repo = `${prefix}/img-${i}`;
        const { config, manifest } = image(`${prefix}-${i}`);
        const post = await c.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/` });
        expectStatus(post, 202, 'POST upload');
        const put = await c.request({ method: 'PUT', path: addQuery(toPath(post.headers.get('location') ?? '', t.baseUrl), 'digest', sha(config)), body: config });
        expectStatus(put, 201, 'PUT config');
        const mount = await c.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(LAYER_DIGEST)}&from=${encodeURIComponent(from)}` });
        expectStatus(mount, 201, 'mount layer');
        const m = await c.request({ method: 'PUT', path: `/v2/${repo}/manifests/latest`, headers: { 'Content-Type': OCI_MANIFEST }, body: manifest });
        expectStatus(m, 201, 'PUT manifest');
      } finally {
        free.push(c);
      }
    });
    return count / ((nowMs() - t0) / 1000);
  } finally {
    for (const c of conns) c.close();
  }
}

function runCli(args: string[], dataDir: string, env: Record<string, string>): { ms: number; out: string } {
  const t0 = nowMs();
  const out = execFileSync(process.execPath, [BERTH_MAIN, ...args, '--data-dir', dataDir, '--json'], {
    env: { ...process.env, REGISTRY_LOG_LEVEL: 'warn', ...env }, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { ms: nowMs() - t0, out };
}

function runCliBare(args: string[]): number {
  const t0 = nowMs();
  execFileSync(process.execPath, [BERTH_MAIN, ...args], { stdio: 'ignore' });
  return nowMs() - t0;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sample<T>(xs: readonly T[], n: number): T[] {
  if (xs.length <= n) return [...xs];
  const step = xs.length / n;
  return Array.from({ length: n }, (_, i) => xs[Math.floor(i * step)] as T);
}

async function measureRepos(n: number, dataDir: string, env: Record<string, string>, opts: GrowthOptions): Promise<Record<string, number>> {
  const m: Record<string, number> = {};
  const t = await startTarget('berth', { dataDir, env });
  try {
    m['startup_ms'] = t.startupMs;
    await sleep(3000);
    m['idle_rss_MiB'] = procMem(t.pid).rssMiB;
    const names = sample(Array.from({ length: n }, (_, i) => repoName(i)), 2000);
    const expected = new Map(names.map((r) => [`/v2/${r}/manifests/latest`, sha(image(r).manifest)]));
    const g = await getLoad(t, [...expected.keys()], expected, opts.durationS);
    m['manifest_get_rps'] = g.rps;
    m['manifest_get_p99_ms'] = g.p99;
    await timeGets(m, 'tag_list_ms', t, names.map((r) => `/v2/${r}/tags/list`), 200, (r) => {
      expectStatus(r, 200, 'tag list');
      if (JSON.stringify((JSON.parse(r.body.toString()) as { tags: string[] }).tags) !== '["latest"]') throw new Error('tag list: expected ["latest"]');
    });
    const sorted = Array.from({ length: n }, (_, i) => repoName(i)).sort();
    const middle = sorted[Math.floor(n / 2)] ?? '';
    const page = (r: RawResponse, what: string): void => {
      expectStatus(r, 200, what);
      const repos = (JSON.parse(r.body.toString()) as { repositories: string[] }).repositories;
      if (repos.length !== 100) throw new Error(`${what}: ${repos.length} repositories, expected 100`);
    };
    await timeGets(m, 'catalog_first_ms', t, ['/v2/_catalog?n=100'], 100, (r) => page(r, 'catalog first page'));
    await timeGets(m, 'catalog_middle_ms', t, [`/v2/_catalog?n=100&last=${encodeURIComponent(middle)}`], 100, (r) => page(r, 'catalog middle page'));
    const one = repoName(Math.floor(n / 3));
    await timeGets(m, 'search_one_ms', t, [`/v1/search?q=${encodeURIComponent(one.split('/')[1] ?? '')}&n=25`], 50, (r) => {
      expectStatus(r, 200, 'search');
      const res = (JSON.parse(r.body.toString()) as { results: Array<{ name: string }> }).results;
      if (!res.some((x) => x.name === one)) throw new Error(`search for ${one}: not found`);
    });
    await timeGets(m, 'search_all_ms', t, ['/v1/search?q=app&n=25'], 50, (r) => {
      expectStatus(r, 200, 'search');
      const res = (JSON.parse(r.body.toString()) as { results: unknown[] }).results;
      if (res.length !== 25) throw new Error(`search for app: ${res.length} results, expected 25`);
    });
    m['push_per_s'] = await pushRate(t, `push${n}`, 200);
  } finally {
    await t.stop();
  }
  const df = runCli(['df'], dataDir, env);
  const usage = JSON.parse(df.out) as { total: { blobs: number } };
  if (usage.total.blobs < n + 1) throw new Error(`berth df: ${usage.total.blobs} blobs, expected at least ${n + 1}`);
  m['df_ms'] = df.ms;
  // What any CLI command costs before it does anything (node, imports), for reading df and gc.
  m['cli_start_ms'] = runCliBare(['--version']);
  m['gc_ms'] = runCli(['gc'], dataDir, env).ms;
  m['blobs'] = usage.total.blobs;
  return m;
}

/** `pushed`: tags the earlier levels' tag pushes added (they are listed too). */
async function measureTags(n: number, pushed: number, dataDir: string, env: Record<string, string>, opts: GrowthOptions): Promise<Record<string, number>> {
  const m: Record<string, number> = {};
  const t = await startTarget('berth', { dataDir, env });
  try {
    const tagName = (i: number): string => `t${String(i).padStart(6, '0')}`;
    const c = new RawConn(t.host, t.port);
    try {
      const xs: number[] = [];
      for (let rep = 0; rep < 3; rep++) {
        let count = 0;
        let p: string | null = `/v2/${TAG_REPO}/tags/list`;
        const t0 = nowMs();
        while (p) {
          const r = await c.request({ method: 'GET', path: p });
          expectStatus(r, 200, 'tag list');
          count += (JSON.parse(r.body.toString()) as { tags: string[] }).tags.length;
          const next = nextLink(r.headers.get('link'));
          p = next ? toPath(next, t.baseUrl) : null;
        }
        xs.push(nowMs() - t0);
        if (count !== n + pushed) throw new Error(`tag list: ${count} tags, expected ${n + pushed}`);
      }
      m['tags_all_ms'] = median(xs);
    } finally {
      c.close();
    }
    const page = (r: RawResponse): void => {
      expectStatus(r, 200, 'tag page');
      if ((JSON.parse(r.body.toString()) as { tags: string[] }).tags.length !== 100) throw new Error('tag page: expected 100 tags');
    };
    await timeGets(m, 'tags_first_ms', t, [`/v2/${TAG_REPO}/tags/list?n=100`], 100, page);
    await timeGets(m, 'tags_middle_ms', t, [`/v2/${TAG_REPO}/tags/list?n=100&last=${tagName(Math.floor(n / 2))}`], 100, page);
    const digest = sha(image('tags').manifest);
    const paths = sample(Array.from({ length: n }, (_, i) => `/v2/${TAG_REPO}/manifests/${tagName(i)}`), 2000);
    const g = await getLoad(t, paths, new Map(paths.map((p) => [p, digest])), opts.durationS);
    m['tag_get_rps'] = g.rps;
    m['tag_get_p99_ms'] = g.p99;
    const { manifest } = image('tags');
    const conns = Array.from({ length: 16 }, () => new RawConn(t.host, t.port));
    const free = [...conns];
    const t0 = nowMs();
    try {
      await pool(200, 16, async (i) => {
        const pc = free.pop() as RawConn;
        try {
          const r = await pc.request({ method: 'PUT', path: `/v2/${TAG_REPO}/manifests/push-${n}-${i}`, headers: { 'Content-Type': OCI_MANIFEST }, body: manifest });
          expectStatus(r, 201, 'tag push');
        } finally {
          free.push(pc);
        }
      });
    } finally {
      for (const pc of conns) pc.close();
    }
    m['tag_push_per_s'] = 200 / ((nowMs() - t0) / 1000);
  } finally {
    await t.stop();
  }
  return m;
}

// ---------------------------------------------------------------- growth

export function classify(ratioPer10x: number): string {
  if (!Number.isFinite(ratioPer10x)) return '—';
  if (ratioPer10x < 1.25) return 'flat';
  if (ratioPer10x < 2.5) return 'log';
  if (ratioPer10x < 6) return 'sub-linear';
  if (ratioPer10x < 20) return 'linear';
  return 'super-linear';
}

const RANK: Record<string, number> = { flat: 0, log: 1, 'sub-linear': 2, linear: 3, 'super-linear': 4 };

interface Growth {
  /** Cost ratio per 10x size between consecutive sizes. */
  ratios: number[];
  verdict: string;
  /** It grows faster than it should. */
  defect: boolean;
}

function growthOf(row: Row, sizes: number[], values: number[]): Growth {
  const cost = (v: number): number => (row.better === 'higher' ? 1 / v : v);
  const ratios: number[] = [];
  for (let i = 1; i < sizes.length; i++) {
    const r = cost(values[i] ?? NaN) / cost(values[i - 1] ?? NaN);
    // Normalised to a 10x step: r^(1 / log10(size ratio)).
    ratios.push(r ** (1 / Math.log10((sizes[i] ?? NaN) / (sizes[i - 1] ?? NaN))));
  }
  const verdict = classify(ratios[ratios.length - 1] ?? NaN);
  const expectRank = row.expect === 'linear' ? RANK['linear'] ?? 3 : row.expect === 'log' ? RANK['log'] ?? 1 : RANK['flat'] ?? 0;
  // A "log" verdict for a flat operation is within noise here; linear or worse is not.
  const defect = (RANK[verdict] ?? -1) >= Math.max(expectRank + 1, 2) && verdict !== '—';
  return { ratios, verdict, defect };
}

function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

function table(title: string, rows: Row[], sizes: number[], results: Array<Record<string, number>>): { text: string; growth: Record<string, Growth> } {
  const growth: Record<string, Growth> = {};
  const body = rows.map((r) => {
    const vals = results.map((m) => m[r.key] ?? NaN);
    const lows = results.map((m) => m[`${r.key}_p10`]);
    const judged = lows.every((x) => x !== undefined) ? lows.map((x) => x ?? NaN) : vals;
    const g = growthOf(r, sizes, judged);
    growth[r.key] = g;
    const cells = vals.map((v, i) => (judged === vals ? fmt(v) : `${fmt(v)} (${fmt(judged[i])})`));
    return [r.label, r.unit, ...cells, g.ratios.map((x) => `${fmt(x)}x`).join(' / '), g.verdict, r.expect, g.defect ? 'DEFECT' : ''];
  });
  const header = ['operation', 'unit', ...sizes.map((s) => s.toLocaleString('en-US')), 'cost per 10x', 'growth', 'expected', ''];
  const note = 'Latencies: median (10th percentile); growth is judged on the 10th percentile where there is one.';
  return { text: `${title}\n${renderTable(header, body, [false, false, ...sizes.map(() => true), true, false, false, false])}\n${note}`, growth };
}

async function createPgDatabase(server: PgServer): Promise<string> {
  const name = `berth_growth_${crypto.randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: server.url });
  await c.connect();
  try {
    await c.query(`create database ${pg.escapeIdentifier(name)}`);
  } finally {
    await c.end();
  }
  const u = new URL(server.url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function runDb(db: Db, opts: GrowthOptions, pgServer: PgServer | null): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { db };
  const dbEnv = async (): Promise<Record<string, string>> => (db === 'postgres' && pgServer ? { BERTH_DATABASE_URL: await createPgDatabase(pgServer) } : {});

  if (opts.sizes.length > 0) {
    const dataDir = opts.keep ?? makeTempDir(`growth-${db}-repos`);
    const env = await dbEnv();
    const results: Array<Record<string, number>> = [];
    const sizes: number[] = [];
    let have = opts.keep ? keptLevel(opts.keep) : 0;
    try {
      for (const n of opts.sizes) {
        log(`\n[${db}] ${n.toLocaleString('en-US')} repositories (load avg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
        if (n < have) {
          log(`  skipped: ${dataDir} holds ${have.toLocaleString('en-US')} repositories already`);
          continue;
        }
        let seededPerS = NaN;
        if (n > have) {
          const s = await withoutFsync(() => seedRepos(dataDir, env, have, n));
          seededPerS = (n - have) / s;
          log(`  seeded ${(n - have).toLocaleString('en-US')} repositories in ${s.toFixed(1)} s (${seededPerS.toFixed(0)}/s)`);
          have = n;
          if (opts.keep) fs.writeFileSync(path.join(opts.keep, KEPT_LEVEL), `${n}\n`);
        }
        if (opts.seedOnly) continue;
        // The measured pushes add 200 repositories (push<n>/img-*) per level, beside the seeded ones.
        const m = await measureRepos(n, dataDir, env, opts);
        m['seed_per_s'] = seededPerS;
        m['load_avg'] = os.loadavg()[0] ?? NaN;
        results.push(m);
        sizes.push(n);
        log(`  ${Object.entries(m).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);
      }
    } finally {
      if (!opts.keep) removeTempDir(dataDir);
    }
    const t = table(`\n=== [${db}] cost by number of repositories ===`, REPO_ROWS, sizes, results);
    log(t.text);
    out['repositories'] = { sizes, results, growth: t.growth };
  }

  if (opts.tags.length > 0 && !opts.seedOnly) {
    const dataDir = makeTempDir(`growth-${db}-tags`);
    const env = await dbEnv();
    const results: Array<Record<string, number>> = [];
    let have = 0;
    try {
      for (const n of opts.tags) {
        log(`\n[${db}] ${n.toLocaleString('en-US')} tags in one repository (load avg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
        const s = await withoutFsync(() => seedTags(dataDir, env, have, n));
        log(`  seeded ${(n - have).toLocaleString('en-US')} tags in ${s.toFixed(1)} s`);
        have = n;
        const m = await measureTags(n, 200 * results.length, dataDir, env, opts);
        m['load_avg'] = os.loadavg()[0] ?? NaN;
        results.push(m);
        log(`  ${Object.entries(m).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);
      }
    } finally {
      removeTempDir(dataDir);
    }
    const t = table(`\n=== [${db}] cost by number of tags in one repository ===`, TAG_ROWS, opts.tags, results);
    log(t.text);
    out['tags'] = { sizes: opts.tags, results, growth: t.growth };
  }
  return out;
}

export async function runGrowth(argv: string[]): Promise<void> {
  const opts = parseArgs(argv);
  if (!fs.existsSync(BERTH_MAIN)) throw new Error(`${BERTH_MAIN} not found: build Berth first (npm run build)`);
  const started = new Date();
  log(
    `Berth growth benchmark: repositories ${opts.sizes.join(', ') || 'none'}; tags ${opts.tags.join(', ') || 'none'}; databases ${opts.dbs.join(', ')}\n` +
      `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, load avg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}, node ${process.version}\n` +
      'growth rule (cost ratio per 10x size, from the two largest sizes): <1.25 flat, <2.5 log, <6 sub-linear, <20 linear, else super-linear',
  );
  const pgServer = opts.dbs.includes('postgres') ? startPostgres() : null;
  const runs: Array<Record<string, unknown>> = [];
  try {
    for (const db of opts.dbs) runs.push(await runDb(db, opts, pgServer));
  } finally {
    pgServer?.stop();
  }
  const defects = runs.flatMap((r) =>
    (['repositories', 'tags'] as const).flatMap((dim) => {
      const g = (r[dim] as { growth: Record<string, Growth> } | undefined)?.growth ?? {};
      return Object.entries(g).filter(([, v]) => v.defect).map(([k, v]) => `${String(r['db'])} ${dim}: ${k} grows ${v.verdict} (${v.ratios.map((x) => fmt(x)).join(' / ')} per 10x)`);
    }),
  );
  for (const d of defects) log(`GROWS TOO FAST: ${d}`);
  const totalS = (Date.now() - started.getTime()) / 1000;
  log(`\ntotal ${totalS.toFixed(0)} s; load avg now ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  if (opts.json) {
    fs.mkdirSync(path.dirname(path.resolve(opts.json)), { recursive: true });
    const out = { tool: 'berth-bench-growth', started: started.toISOString(), totalSeconds: totalS, options: opts, machine: { cpus: os.cpus().length, node: process.version, loadavgAtEnd: os.loadavg() }, runs, defects };
    fs.writeFileSync(opts.json, JSON.stringify(out, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
    log(`wrote ${opts.json}`);
  }
}

// Run directly: node dist/bench/growth.js [options].
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.on('exit', cleanupAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      cleanupAllSync();
      process.exit(130);
    });
  }
  runGrowth(process.argv.slice(2)).catch((e: unknown) => {
    console.error(`growth bench failed: ${(e as Error).stack ?? String(e)}`);
    cleanupAllSync();
    process.exit(1);
  });
}
