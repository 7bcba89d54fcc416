// kill -9 of a Berth process during concurrent pushes, 50 times in a row on
// the same data (issue 13, item 5), on SQLite + filesystem and on
// PostgreSQL + s3rver. Each round starts Berth, lets four clients push small
// images (blobs monolithic, chunked with Content-Range, and streamed; a base
// layer every client uploads at once; now and then a chunked layer big
// enough for S3 multipart parts), and kills the process with SIGKILL at a
// moment chosen by what was observed (k pushes acknowledged, then r more
// requests sent), never by a timer. After the restart:
//   - no partial blob is visible: every blob a client tried to push answers
//     HEAD and GET with 200 and exactly its bytes, or 404, never anything else
//     (on the filesystem, every file at a content address also hashes to its
//     name);
//   - no manifest points at a missing blob: the catalog and every tag list
//     are read, every manifest not checked after an earlier restart (all of
//     them every tenth round and at the end) is fetched, and every blob it
//     references answers HEAD with 200 and its size;
//   - every image whose manifest PUT was answered 201, in any round so far,
//     pulls with the right digests;
//   - an upload session cut by the kill is resumed where the registry says it
//     stands: its offset must be a chunk boundary the client sent (an append
//     is all or nothing), and finishing it either stores exactly the blob or
//     is refused with a catalogue error, never a 500.
//
// s3rver writes an object's file in place while the request body streams in
// and keeps whatever arrived when its client dies (it stays running when
// Berth is killed): the key then holds a partial object that GET, HEAD and
// listings show. Berth never makes such a key visible as a blob: bytes go
// to a fresh per-upload key (blobdata/<upload id>) that a blob record names
// only after the write completed and the digest was verified; the same
// holds for an upload's state objects (see the S3 driver's loadState).
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { readdir, readFile, stat, mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { createScratchDatabase, postgresSkipReason, type ScratchDatabase } from '../helpers/postgres.js';
import { startTestS3, type TestS3Server } from '../helpers/s3.js';
import { BerthNode, onProcessExit, pickClusterPorts } from './cluster.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ROUNDS = Number(process.env.BERTH_CRASH_ROUNDS ?? 50);
const PUSHERS = 4;
const KiB = 1024;
const MiB = 1024 * KiB;
// About 3 minutes per backend on 2 cores of their own; far more on a loaded machine.
const T = { timeout: 1_200_000 };
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

// ---------------------------------------------------------------------------
// HTTP with one connection pool per round (the pool dies with the process)
// ---------------------------------------------------------------------------

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

class Client {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });
  constructor(readonly base: string) {}

  /** Resolves with the whole answer; rejects on any transport error, a short body included. */
  send(method: string, target: string, options: { headers?: Record<string, string>; body?: Buffer } = {}): Promise<Answer> {
    const url = new URL(target, this.base);
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...options.headers };
      if (options.body) headers['Content-Length'] = String(options.body.length);
      else if (method === 'PUT' || method === 'POST' || method === 'PATCH') headers['Content-Length'] = '0';
      const req = httpRequest(url, { method, headers, agent: this.agent }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('error', reject);
        res.on('aborted', () => reject(new Error(`${method} ${url.pathname}: the response was cut short`)));
        res.on('end', () => {
          if (!res.complete) reject(new Error(`${method} ${url.pathname}: the response was cut short`));
          else resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) });
        });
      });
      req.on('error', reject);
      // A request the registry never answers is a failure to report, not a hang.
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${url.pathname}: no answer within 30 s`)));
      req.end(options.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function errorCode(a: Answer): string {
  try {
    return ((JSON.parse(a.body.toString('utf8')) as { errors?: { code?: string }[] }).errors ?? []).map((e) => e.code).join(',');
  } catch {
    return '';
  }
}

function describeAnswer(what: string, a: Answer): string {
  return `${what} answered ${a.status} ${a.body.toString('utf8').slice(0, 600)}`;
}

// ---------------------------------------------------------------------------
// Images and how they are pushed
// ---------------------------------------------------------------------------

interface Blob {
  digest: string;
  bytes: Buffer;
}

const blobOf = (bytes: Buffer): Blob => ({ digest: digestOf(bytes), bytes });

interface Image {
  repo: string;
  tag: string;
  config: Blob;
  layers: Blob[];
  manifest: Buffer;
  digest: string;
}

function makeImage(repo: string, tag: string, base: Blob, big: boolean): Image {
  const layers = [base, blobOf(randomBytes(randomInt(1, 64) * KiB)), blobOf(randomBytes(big ? 5 * MiB + randomInt(1, 512) * KiB : randomInt(16, 256) * KiB))];
  const config = blobOf(Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Labels: { tag } },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  })));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.bytes.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.digest, size: l.bytes.length })),
  }));
  return { repo, tag, config, layers, manifest, digest: digestOf(manifest) };
}

/** An upload session a kill may cut: where it is and which chunk boundaries the client sent. */
interface OpenSession {
  repo: string;
  blob: Blob;
  location: string;
  /** Offsets the session may stand at: 0 and the end of every chunk sent. */
  boundaries: number[];
}

/** What the clients of one round did, and the condition that ends it. */
class Round {
  requests = 0;
  acks: Image[] = [];
  /** Every blob a client started to push, by repository. */
  readonly attempted: Array<{ repo: string; blob: Blob }> = [];
  readonly open = new Set<OpenSession>();
  killed = false;
  failure: Error | null = null;
  /** Conditions awaited with `until`; each answers whether it held (and is then dropped). */
  private waiters: Array<() => boolean> = [];

  constructor(readonly client: Client) {}

  /** Resolves once `pred` holds (checked after every request, acknowledgement and failure). */
  until(pred: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!pred()) return false;
        resolve();
        return true;
      };
      if (!check()) this.waiters.push(check);
    });
  }

  changed(): void {
    this.waiters = this.waiters.filter((check) => !check());
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.changed();
  }

  async send(method: string, target: string, expect: number, what: string, options: { headers?: Record<string, string>; body?: Buffer } = {}): Promise<Answer> {
    this.requests++;
    this.changed();
    const a = await this.client.send(method, target, options);
    if (a.status !== expect) throw new Error(describeAnswer(`${what}: ${method} ${target}`, a));
    return a;
  }
}

const withDigest = (location: string, digest: string) => `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;

async function pushMonolithic(r: Round, repo: string, b: Blob): Promise<void> {
  r.attempted.push({ repo, blob: b });
  await r.send('POST', `/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(b.digest)}`, 201, 'monolithic upload', { body: b.bytes, headers: { 'Content-Type': 'application/octet-stream' } });
}

/** POST, PATCHes with Content-Range, PUT ?digest= with the last chunk. */
async function pushChunked(r: Round, repo: string, b: Blob, chunks: number): Promise<void> {
  r.attempted.push({ repo, blob: b });
  const start = await r.send('POST', `/v2/${repo}/blobs/uploads/`, 202, 'upload start');
  const session: OpenSession = { repo, blob: b, location: String(start.headers.location), boundaries: [0] };
  r.open.add(session);
  const size = b.bytes.length;
  const cuts = [...new Set(Array.from({ length: chunks - 1 }, () => randomInt(1, size)))].sort((x, y) => x - y);
  const edges = [0, ...cuts, size];
  for (let i = 0; i < edges.length - 2; i++) {
    const from = edges[i] as number;
    const to = edges[i + 1] as number;
    session.boundaries.push(to);
    const a = await r.send('PATCH', session.location, 202, 'chunk', {
      body: b.bytes.subarray(from, to),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${from}-${to - 1}` },
    });
    session.location = String(a.headers.location);
  }
  const last = edges[edges.length - 2] as number;
  session.boundaries.push(size);
  await r.send('PUT', withDigest(session.location, b.digest), 201, 'last chunk', {
    body: b.bytes.subarray(last),
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${last}-${size - 1}` },
  });
  r.open.delete(session);
}

/** As docker and skopeo do: one PATCH without Content-Range, then PUT ?digest= without a body. */
async function pushStreamed(r: Round, repo: string, b: Blob): Promise<void> {
  r.attempted.push({ repo, blob: b });
  const start = await r.send('POST', `/v2/${repo}/blobs/uploads/`, 202, 'upload start');
  const session: OpenSession = { repo, blob: b, location: String(start.headers.location), boundaries: [0, b.bytes.length] };
  r.open.add(session);
  const a = await r.send('PATCH', session.location, 202, 'streamed chunk', { body: b.bytes, headers: { 'Content-Type': 'application/octet-stream' } });
  session.location = String(a.headers.location);
  await r.send('PUT', withDigest(session.location, b.digest), 201, 'upload end');
  r.open.delete(session);
}

async function pushImage(r: Round, image: Image): Promise<void> {
  const [base, small, layer] = image.layers as [Blob, Blob, Blob];
  await pushMonolithic(r, image.repo, base);
  await pushMonolithic(r, image.repo, image.config);
  await pushStreamed(r, image.repo, small);
  await pushChunked(r, image.repo, layer, layer.bytes.length > MiB ? 3 : randomInt(2, 5));
  await r.send('PUT', `/v2/${image.repo}/manifests/${image.tag}`, 201, 'manifest', { body: image.manifest, headers: { 'Content-Type': OCI_MANIFEST } });
  r.acks.push(image);
  r.changed();
}

// ---------------------------------------------------------------------------
// Checks after a restart
// ---------------------------------------------------------------------------

/** Runs `fn` on every item, `width` at a time. */
async function eachLimited<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  }));
}

/** A blob answers HEAD and GET with 200 and exactly its bytes, or 404 to both. Returns whether it is there. */
async function blobWholeOrAbsent(c: Client, repo: string, b: Blob): Promise<boolean> {
  const path = `/v2/${repo}/blobs/${b.digest}`;
  const head = await c.send('HEAD', path);
  const got = await c.send('GET', path);
  if (head.status === 404 && got.status === 404) {
    assert.equal(errorCode(got), 'BLOB_UNKNOWN', describeAnswer(`GET ${path}`, got));
    return false;
  }
  assert.equal(head.status, 200, `HEAD ${path} answered ${head.status} while GET answered ${got.status}`);
  assert.equal(Number(head.headers['content-length']), b.bytes.length, `HEAD ${path}: Content-Length`);
  assert.equal(got.status, 200, describeAnswer(`GET ${path}`, got));
  assert.equal(got.body.length, b.bytes.length, `GET ${path}: ${got.body.length} bytes, the blob has ${b.bytes.length}`);
  assert.equal(digestOf(got.body), b.digest, `GET ${path}: the bytes do not match the digest`);
  return true;
}

/** An acknowledged image pulls: the manifest by tag with its digest, then every blob with its bytes. */
async function pulls(c: Client, image: Image): Promise<void> {
  const path = `/v2/${image.repo}/manifests/${image.tag}`;
  const m = await c.send('GET', path, { headers: { Accept: OCI_MANIFEST } });
  assert.equal(m.status, 200, describeAnswer(`acknowledged image: GET ${path}`, m));
  assert.equal(m.headers['docker-content-digest'], image.digest, `GET ${path}: Docker-Content-Digest`);
  assert.equal(digestOf(m.body), image.digest, `GET ${path}: the manifest's bytes`);
  for (const b of [image.config, ...image.layers]) {
    assert.ok(await blobWholeOrAbsent(c, image.repo, b), `acknowledged image ${image.repo}:${image.tag}: blob ${b.digest} is missing`);
  }
}

interface Walk {
  repositories: number;
  tags: number;
  blobsChecked: number;
}

/**
 * Every tag of every repository: its manifest, and a 200 with the right size
 * for every blob it references. Tags in `walked` (checked after an earlier
 * restart) are listed but not fetched again; the tags checked are added.
 */
async function walkRegistry(c: Client, walked: Set<string>): Promise<Walk> {
  const catalog = await c.send('GET', '/v2/_catalog?n=10000');
  assert.equal(catalog.status, 200, describeAnswer('GET /v2/_catalog', catalog));
  const repos = (JSON.parse(catalog.body.toString('utf8')) as { repositories: string[] }).repositories;
  const refs: Array<{ repo: string; tag: string }> = [];
  for (const repo of repos) {
    const list = await c.send('GET', `/v2/${repo}/tags/list?n=10000`);
    assert.equal(list.status, 200, describeAnswer(`GET tags of ${repo}`, list));
    for (const tag of (JSON.parse(list.body.toString('utf8')) as { tags: string[] | null }).tags ?? []) {
      if (!walked.has(`${repo}:${tag}`)) refs.push({ repo, tag });
    }
  }
  let blobsChecked = 0;
  await eachLimited(refs, 6, async ({ repo, tag }) => {
    const m = await c.send('GET', `/v2/${repo}/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(m.status, 200, describeAnswer(`GET ${repo}:${tag}`, m));
    assert.equal(digestOf(m.body), m.headers['docker-content-digest'], `${repo}:${tag}: the manifest's bytes do not match its digest`);
    const manifest = JSON.parse(m.body.toString('utf8')) as { config: { digest: string; size: number }; layers: Array<{ digest: string; size: number }> };
    for (const d of [manifest.config, ...manifest.layers]) {
      const h = await c.send('HEAD', `/v2/${repo}/blobs/${d.digest}`);
      assert.equal(h.status, 200, `${repo}:${tag} references ${d.digest}, which answers HEAD with ${h.status}`);
      assert.equal(Number(h.headers['content-length']), d.size, `${repo}:${tag}: ${d.digest} has the wrong size`);
      blobsChecked++;
    }
    walked.add(`${repo}:${tag}`);
  });
  return { repositories: repos.length, tags: refs.length, blobsChecked };
}

/**
 * Every file at a content address under `<root>/blobs` hashes to its name
 * (files already checked with the same size and time are skipped).
 */
async function blobFilesVerified(root: string, seen: Map<string, string>): Promise<number> {
  const dir = join(root, 'blobs', 'sha256');
  let files: string[];
  try {
    files = (await readdir(dir, { recursive: true })).map(String);
  } catch {
    return 0;
  }
  let checked = 0;
  for (const rel of files) {
    const full = join(dir, rel);
    const s = await stat(full);
    if (!s.isFile()) continue;
    const name = rel.split('/').pop() ?? '';
    const mark = `${s.size}:${s.mtimeMs}`;
    if (seen.get(full) === mark) continue;
    assert.ok(!name.startsWith('.'), `a stray file at a content address: ${full}`);
    assert.equal(digestOf(await readFile(full)), `sha256:${name}`, `the file at the content address ${full} holds other bytes (a partial blob)`);
    seen.set(full, mark);
    checked++;
  }
  return checked;
}

type Resumed = 'finished' | 'gone' | `refused ${string}`;

/**
 * Resumes an upload session the kill cut: asks where it stands (a chunk
 * boundary the client sent), sends the rest and finishes it.
 */
async function resume(c: Client, s: OpenSession): Promise<Resumed> {
  const status = await c.send('GET', s.location);
  if (status.status === 404) {
    assert.equal(errorCode(status), 'BLOB_UPLOAD_UNKNOWN', describeAnswer('GET of a cut upload session', status));
    return 'gone';
  }
  assert.equal(status.status, 204, describeAnswer('GET of a cut upload session', status));
  const range = /^0-(\d+)$/.exec(String(status.headers.range));
  assert.ok(range, `the session's Range header: ${status.headers.range}`);
  let offset = Number(range[1]) + 1;
  if (offset === 1 && !s.boundaries.includes(1)) offset = 0; // "0-0" also stands for an empty session
  assert.ok(s.boundaries.includes(offset), `the session stands at ${offset} bytes, which is no chunk boundary the client sent (${s.boundaries.join(', ')}): part of a chunk was recorded`);
  const size = s.blob.bytes.length;
  const put = await c.send('PUT', withDigest(s.location, s.blob.digest), {
    body: s.blob.bytes.subarray(offset),
    headers: { 'Content-Type': 'application/octet-stream', ...(offset < size ? { 'Content-Range': `${offset}-${size - 1}` } : {}) },
  });
  if (put.status === 201) {
    assert.ok(await blobWholeOrAbsent(c, s.repo, s.blob), `a resumed upload answered 201, but ${s.blob.digest} is not there`);
    return 'finished';
  }
  assert.ok(put.status >= 400 && put.status < 500, describeAnswer('finishing a cut upload session', put));
  const code = errorCode(put);
  assert.ok(['BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'BERTH_UPLOAD_BUSY'].includes(code), describeAnswer('finishing a cut upload session', put));
  return `refused ${code}`;
}

// ---------------------------------------------------------------------------
// The loop
// ---------------------------------------------------------------------------

interface Figures {
  rounds: number;
  kills: number;
  pushesAcknowledged: number;
  requestsSent: number;
  blobsAttempted: number;
  blobsVisible: number;
  manifestsWalked: number;
  blobFilesVerified: number;
  resumed: Record<string, number>;
  /** Time spent restarting, pushing until the kill, and checking. */
  ms: { starting: number; pushing: number; checking: number; total: number };
}

interface LoopOptions {
  /** The filesystem storage root, whose content-addressed files are hashed after each restart. */
  blobRoot: string | null;
  /** Now and then a chunked layer of over 5 MiB, so an object store's append spans multipart parts. */
  bigLayers: boolean;
}

async function tortureLoop(t: TestContext, node: BerthNode, { blobRoot, bigLayers }: LoopOptions): Promise<Figures> {
  const started = Date.now();
  const acked: Image[] = [];
  const seenFiles = new Map<string, string>();
  const walked = new Set<string>();
  const figures: Figures = { rounds: 0, kills: 0, pushesAcknowledged: 0, requestsSent: 0, blobsAttempted: 0, blobsVisible: 0, manifestsWalked: 0, blobFilesVerified: 0, resumed: {}, ms: { starting: 0, pushing: 0, checking: 0, total: 0 } };
  let cut: OpenSession[] = [];
  let round = 0;
  try {
    await rounds();
  } catch (e) {
    if (e instanceof Error) e.message = `round ${round} of ${ROUNDS}, after ${((Date.now() - started) / 1000).toFixed(1)} s (${JSON.stringify(figures)}): ${e.message}`;
    throw e;
  }
  figures.ms.total = Date.now() - started;
  t.diagnostic(`rounds ${figures.rounds}, kills ${figures.kills}, pushes acknowledged ${figures.pushesAcknowledged}, requests sent ${figures.requestsSent}`);
  t.diagnostic(`blobs attempted ${figures.blobsAttempted} (visible after the restart: ${figures.blobsVisible}), manifests walked ${figures.manifestsWalked}, blob files hashed ${figures.blobFilesVerified}`);
  t.diagnostic(`cut upload sessions resumed: ${JSON.stringify(figures.resumed)}`);
  const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  t.diagnostic(`time ${sec(figures.ms.total)}: restarts ${sec(figures.ms.starting)}, pushing ${sec(figures.ms.pushing)}, checks ${sec(figures.ms.checking)}`);
  return figures;

  async function rounds(): Promise<void> {
    await node.start();
    for (round = 1; round <= ROUNDS; round++) {
      const client = new Client(node.url);
      try {
        // The sessions the last kill cut, resumed on the restarted process.
        for (const s of cut) {
          const outcome = await resume(client, s);
          figures.resumed[outcome] = (figures.resumed[outcome] ?? 0) + 1;
        }
        let phase = Date.now();
        const r = new Round(client);
        const base = blobOf(randomBytes(randomInt(8, 48) * KiB));
        let serial = 0;
        const pushers = Array.from({ length: PUSHERS }, async (_, p) => {
          try {
            for (let first = true; !r.killed; first = false) {
              // Every third round, one image of over 5 MiB (few: they cost the most to push and check).
              const big = bigLayers && p === 0 && first && round % 3 === 1;
              await pushImage(r, makeImage(`crash/p${p}`, `r${round}-n${serial++}`, base, big));
            }
          } catch (err) {
            if (!r.killed) r.fail(err as Error);
          }
        });
        // The moment of the kill: k pushes acknowledged, then `extra` more requests sent.
        const k = randomInt(1, 4);
        const extra = randomInt(0, 16);
        let mark = -1;
        await Promise.race([
          r.until(() => {
            if (r.failure) return true;
            if (mark < 0 && r.acks.length >= k) mark = r.requests;
            return mark >= 0 && r.requests >= mark + extra;
          }),
          Promise.all(pushers),
        ]);
        r.killed = true;
        await node.kill('SIGKILL');
        figures.kills++;
        client.close();
        await Promise.all(pushers);
        if (r.failure) throw r.failure;
        figures.rounds++;
        figures.requestsSent += r.requests;
        figures.pushesAcknowledged += r.acks.length;
        acked.push(...r.acks);
        cut = [...r.open];

        figures.ms.pushing += Date.now() - phase;
        // Restart on the same data and check.
        phase = Date.now();
        await node.start();
        figures.ms.starting += Date.now() - phase;
        phase = Date.now();
        const checker = new Client(node.url);
        try {
          let visible = 0;
          await eachLimited(r.attempted, 6, async ({ repo, blob }) => {
            if (await blobWholeOrAbsent(checker, repo, blob)) visible++;
          });
          figures.blobsAttempted += r.attempted.length;
          figures.blobsVisible += visible;
          // Every acknowledged image of every round: the newest in full each
          // round, all of them every tenth round and at the end.
          const full = round % 10 === 0 || round === ROUNDS;
          await eachLimited(full ? acked : r.acks, 4, (image) => pulls(checker, image));
          // The whole registry every tenth round and at the end, else the tags not walked yet.
          if (full) walked.clear();
          const walk = await walkRegistry(checker, walked);
          figures.manifestsWalked += walk.tags;
          if (blobRoot) figures.blobFilesVerified += await blobFilesVerified(blobRoot, seenFiles);
        } finally {
          checker.close();
          figures.ms.checking += Date.now() - phase;
        }
      } finally {
        client.close();
      }
    }
    const c = new Client(node.url);
    try {
      for (const s of cut) {
        const outcome = await resume(c, s);
        figures.resumed[outcome] = (figures.resumed[outcome] ?? 0) + 1;
      }
    } finally {
      c.close();
    }
    await node.stop();
  }
}

function assertFigures(f: Figures): void {
  assert.equal(f.kills, ROUNDS);
  assert.equal(f.rounds, ROUNDS);
  assert.ok(f.pushesAcknowledged >= ROUNDS, `every round acknowledges at least one push before its kill (${f.pushesAcknowledged})`);
}

async function withLogs<R>(node: BerthNode | undefined, fn: () => Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Error && node) e.message += `\n--- ${node.name} output (tail) ---\n${node.logs().slice(-5000)}`;
    throw e;
  }
}

describe('kill -9 during concurrent pushes', { skip: (process.env.E2E_TARGET ?? 'berth') !== 'berth' ? 'a Berth process is killed (E2E_TARGET is not berth)' : false }, () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-crash-'));
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it(`SQLite + filesystem: ${ROUNDS} kills, no partial blob, no dangling manifest, every acknowledged push pulls`, T, async (t) => {
    const [port] = await pickClusterPorts(1) as [number];
    const dataDir = join(work, 'fs');
    const node = new BerthNode('berth-crash-fs', port, { REGISTRY_STORAGE_DELETE_ENABLED: 'true', REGISTRY_HTTP_DRAINTIMEOUT: '1s' }, dataDir);
    try {
      assertFigures(await withLogs(node, () => tortureLoop(t, node, { blobRoot: dataDir, bigLayers: false })));
    } finally {
      await node.kill('SIGKILL');
    }
  });

  describe('PostgreSQL + S3 (s3rver)', { skip: postgresSkipReason() ?? false }, () => {
    let s3: TestS3Server | undefined;
    let db: ScratchDatabase | undefined;
    before(async () => {
      s3 = await startTestS3();
      const store = s3;
      onProcessExit(() => store.killNow());
      db = await createScratchDatabase();
    });
    after(async () => {
      const keepAlive = setInterval(() => undefined, 1000);
      try {
        await s3?.close();
        await db?.drop();
      } finally {
        clearInterval(keepAlive);
      }
    });

    it(`${ROUNDS} kills, no partial blob, no dangling manifest, every acknowledged push pulls`, T, async (t) => {
      const [port] = await pickClusterPorts(1) as [number];
      const env = {
        ...(s3 as TestS3Server).env({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: 'crash' }),
        // The smallest part size, so the big chunked layers span multipart parts.
        REGISTRY_STORAGE_S3_CHUNKSIZE: String(5 * MiB),
        REGISTRY_STORAGE_REDIRECT_DISABLE: 'true',
        BERTH_DATABASE_URL: (db as ScratchDatabase).url,
        REGISTRY_STORAGE_DELETE_ENABLED: 'true',
        REGISTRY_HTTP_DRAINTIMEOUT: '1s',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      };
      const node = new BerthNode('berth-crash-s3', port, env, join(work, 's3'));
      try {
        assertFigures(await withLogs(node, () => tortureLoop(t, node, { blobRoot: null, bigLayers: true })));
      } finally {
        await node.kill('SIGKILL');
      }
    });
  });
});
