// Three Berth instances sharing one PostgreSQL database and one object store
// (s3rver), behind nginx as a round-robin load balancer. Pushes and pulls
// cross instances; an instance is SIGKILLed mid-push; the object store goes
// down mid-upload; two instances race to finish one upload and to move one
// tag; docker pushes and pulls through nginx. Every byte served is checked
// against its digest. The steps run in order and share the cluster.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as httpCreateServer, request as httpRequest, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createScratchDatabase, postgresSkipReason, type ScratchDatabase } from '../helpers/postgres.js';
import { startTestS3, type TestS3Server } from '../helpers/s3.js';
import { BerthNode, onProcessExit, pickClusterPorts, startFaultyProxy, startLoadBalancer, withClusterLogs, type FaultyProxy, type LoadBalancer } from './cluster.js';
import { DockerEnv, parsePushDigest } from './docker-env.js';
import { describeHttp, digestOf, http, MT, sleep, type HttpResult } from './util.js';

const T = { timeout: 90_000 };
// The SDK's notice about future Node versions (the S3 test helper uses the SDK) is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const MiB = 1024 * 1024;

function skipReason(): string | undefined {
  if ((process.env.E2E_TARGET ?? 'berth') !== 'berth') return 'several instances sharing PostgreSQL and S3 is a Berth feature (E2E_TARGET is not berth)';
  return postgresSkipReason();
}

// ---------------------------------------------------------------------------
// Registry HTTP, checked
// ---------------------------------------------------------------------------

/** Like Promise.all, but waits for every promise before throwing the first failure (nothing left running). */
async function allSettledOrThrow<T extends readonly unknown[]>(promises: readonly [...{ [K in keyof T]: Promise<T[K]> }]): Promise<T> {
  // Widened (checked, not cast): typescript-eslint cannot see the promises in the mapped tuple.
  const all: ReadonlyArray<Promise<unknown>> = promises;
  const results = await Promise.allSettled(all);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/** A Buffer as a fetch body (TypeScript's DOM types want an ArrayBuffer-backed view). */
function bytes(b: Buffer): Uint8Array<ArrayBuffer> {
  return b as Uint8Array<ArrayBuffer>;
}

/** The first OCI error code of a response body. */
function codeOf(r: { body?: Buffer | undefined }): string | undefined {
  try {
    return (JSON.parse(String(r.body)) as { errors?: Array<{ code?: string }> }).errors?.[0]?.code;
  } catch {
    return undefined;
  }
}

async function expectStatus(expect: number, method: string, url: string, init: RequestInit = {}): Promise<HttpResult> {
  const r = await http(url, { ...init, method, redirect: 'manual' });
  if (r.status !== expect) assert.fail(`expected HTTP ${expect}\n${describeHttp(method, url, r)}`);
  return r;
}

/** GET the blob from `base`: exactly `data`, with its digest in the header. */
async function expectBlob(base: string, repo: string, data: Buffer): Promise<void> {
  const digest = digestOf(data);
  const url = `${base}/v2/${repo}/blobs/${digest}`;
  const r = await expectStatus(200, 'GET', url);
  assert.equal(r.headers.get('docker-content-digest'), digest, url);
  assert.equal(r.body.length, data.length, `${url}: length`);
  assert.equal(digestOf(r.body), digest, `${url}: the bytes served do not hash to the digest`);
}

/** A GET that may find nothing yet (404) but must never serve wrong bytes. Returns whether it found the blob. */
async function blobAbsentOrExact(base: string, repo: string, data: Buffer): Promise<boolean> {
  const digest = digestOf(data);
  const url = `${base}/v2/${repo}/blobs/${digest}`;
  const r = await http(url, { redirect: 'manual' });
  if (r.status === 404) return false;
  if (r.status !== 200) assert.fail(`expected 404 or 200\n${describeHttp('GET', url, r)}`);
  assert.equal(digestOf(r.body), digest, `${url}: served ${r.body.length} bytes (of ${data.length}) that do not hash to the digest`);
  return true;
}

async function pushBlob(base: string, repo: string, data: Buffer): Promise<string> {
  const digest = digestOf(data);
  await expectStatus(201, 'POST', `${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    body: bytes(data),
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  return digest;
}

/** POST a session; returns its path and query (to send to any instance). */
async function startSession(base: string, repo: string): Promise<string> {
  const r = await expectStatus(202, 'POST', `${base}/v2/${repo}/blobs/uploads/`);
  const loc = r.headers.get('location');
  assert.ok(loc, 'POST uploads/ answered without Location');
  const u = new URL(loc, base);
  return u.pathname + u.search;
}

function withQuery(session: string, key: string, value: string): string {
  return `${session}${session.includes('?') ? '&' : '?'}${key}=${encodeURIComponent(value)}`;
}

async function patchChunk(base: string, session: string, chunk: Buffer, start: number): Promise<HttpResult> {
  return http(`${base}${session}`, {
    method: 'PATCH',
    body: bytes(chunk),
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${start + chunk.length - 1}` },
  });
}

function ociManifest(config: Buffer, layers: Buffer[], annotations?: Record<string, string>): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: digestOf(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: MT.ociLayerGzip, digest: digestOf(l), size: l.length })),
    ...(annotations ? { annotations } : {}),
  }));
}

function imageConfig(seed: string): Buffer {
  return Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: { Labels: { seed } } }));
}

async function putManifest(base: string, repo: string, ref: string, body: Buffer): Promise<HttpResult> {
  return http(`${base}/v2/${repo}/manifests/${ref}`, { method: 'PUT', body: bytes(body), headers: { 'Content-Type': MT.ociManifest } });
}

async function tagsOf(base: string, repo: string): Promise<string[]> {
  const r = await expectStatus(200, 'GET', `${base}/v2/${repo}/tags/list`);
  return (JSON.parse(r.body.toString('utf8')) as { tags: string[] | null }).tags ?? [];
}

/** The digest `ref` resolves to on `base` (checking that the bytes served hash to it), or null on 404. */
async function resolve(base: string, repo: string, ref: string): Promise<string | null> {
  const url = `${base}/v2/${repo}/manifests/${ref}`;
  const r = await http(url, { headers: { Accept: MT.ociManifest } });
  if (r.status === 404) return null;
  if (r.status !== 200) assert.fail(`expected 200 or 404\n${describeHttp('GET', url, r)}`);
  const digest = r.headers.get('docker-content-digest');
  assert.equal(digestOf(r.body), digest, `${url}: manifest bytes do not match Docker-Content-Digest`);
  return digest;
}

/** Resolves when `req` may be written again, or is closed (listeners removed either way). */
function drained(req: ClientRequest): Promise<void> {
  return new Promise((resolveDrain) => {
    const done = () => {
      req.off('drain', done);
      req.off('close', done);
      resolveDrain();
    };
    req.on('drain', done);
    req.on('close', done);
  });
}

interface StreamedResult {
  status?: number;
  headers?: IncomingHttpHeaders;
  body?: Buffer;
  error?: Error;
}

/**
 * Sends `data` as the body of one request in 256 KiB writes (Content-Length
 * set). When `pauseAt` bytes are written (and drained to the socket), awaits
 * `onPause` (e.g. kill the server, stop the store), then sends the rest. An
 * answer before the body is complete stops the writing. Resolves with the
 * response or the client-side error; never rejects.
 */
function streamRequest(url: string, method: string, headers: Record<string, string>, data: Buffer, pauseAt?: number, onPause?: () => Promise<void>): Promise<StreamedResult> {
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const req = httpRequest(url, { method, headers: { ...headers, 'Content-Length': String(data.length) } });
  const answer = new Promise<StreamedResult>((resolveAnswer) => {
    const finish = (r: StreamedResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolveAnswer(r);
    };
    timer = setTimeout(() => req.destroy(new Error('no answer within 60 s')), 60_000);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', (e) => finish({ error: e }));
    });
    req.on('error', (e) => finish({ error: e }));
  });
  const writer = (async () => {
    let off = 0;
    let paused = pauseAt === undefined;
    while (off < data.length && !settled && !req.destroyed) {
      if (!paused && off >= (pauseAt as number)) {
        paused = true;
        await onPause?.();
        continue;
      }
      const end = Math.min(off + 256 * 1024, data.length, paused ? data.length : (pauseAt as number));
      const piece = data.subarray(off, end);
      off = end;
      if (!req.write(piece)) await drained(req);
    }
    if (!settled && !req.destroyed) req.end();
  })().catch((e: unknown) => {
    req.destroy(e instanceof Error ? e : new Error(String(e)));
  });
  // Both: the answer, and whatever onPause did (a kill is complete when this resolves).
  return Promise.all([answer, writer]).then(([r]) => r);
}

/**
 * GETs `url`, stops reading after `pauseAfter` bytes, runs `fault`, then reads
 * on. `complete` is true only when the whole body (as long as Content-Length)
 * arrived and the response ended normally.
 */
function downloadWhileStoreDies(url: string, pauseAfter: number, fault: () => Promise<void>): Promise<{ status: number; complete: boolean; body: Buffer }> {
  return new Promise((resolveDownload, rejectDownload) => {
    const req = httpRequest(url, (res) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let paused = false;
      let settled = false;
      const finish = (ended: boolean) => {
        if (settled) return;
        settled = true;
        const body = Buffer.concat(chunks);
        const complete = ended && res.complete && body.length === Number(res.headers['content-length']);
        resolveDownload({ status: res.statusCode ?? 0, complete, body });
      };
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        received += c.length;
        if (!paused && received >= pauseAfter) {
          paused = true;
          res.pause();
          fault().then(() => res.resume(), (e: unknown) => {
            req.destroy();
            rejectDownload(e);
          });
        }
      });
      res.on('end', () => finish(true));
      res.on('error', () => finish(false));
      res.on('close', () => finish(false));
    });
    req.setTimeout(60_000, () => req.destroy(new Error('the download neither ended nor broke off within 60 s')));
    req.on('error', (e) => rejectDownload(e));
    req.end();
  });
}

// ---------------------------------------------------------------------------
// What an instance asks of the object store
// ---------------------------------------------------------------------------

/** One request an instance sent to the object store, as the tap saw it. */
interface StoreRequest {
  method: string;
  /** Path and query, e.g. `/bucket/key?partNumber=2&uploadId=…`. */
  url: string;
  /** Request body bytes passed on to the store so far. */
  sent: number;
  /** The store's status, once it answered. */
  status: number | null;
}

/**
 * An HTTP proxy between one instance and the object store that records what
 * the instance asks of it. The steps that break something while an instance
 * is mid-upload wait on what this shows (a part being stored, the body
 * flowing into a PutObject, an upload's tail being read back) instead of
 * sleeping and hoping the instance got that far.
 */
interface StoreTap {
  /** http://127.0.0.1:PORT: the instance's S3 endpoint. */
  readonly url: string;
  /** Where the record stands now: pass it to `until` to look only at what comes after. */
  mark(): number;
  /** Waits (bounded) for a request after `from` that `seen` accepts; fails the step if none comes. */
  until(what: string, from: number, seen: (r: StoreRequest) => boolean, timeoutMs?: number): Promise<StoreRequest>;
  close(): Promise<void>;
}

async function startStoreTap(listenPort: number, target: string): Promise<StoreTap> {
  const to = new URL(target);
  const requests: StoreRequest[] = [];
  const server = httpCreateServer((req, res) => {
    const r: StoreRequest = { method: req.method ?? '', url: req.url ?? '', sent: 0, status: null };
    requests.push(r);
    // Headers pass unchanged (Host too, so SigV4 signatures stay valid).
    const up = httpRequest({ host: to.hostname, port: Number(to.port), method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      r.status = upRes.statusCode ?? 0;
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
    });
    // A store that cannot be reached looks like one: the instance's connection is reset.
    up.on('error', () => req.socket.destroy());
    req.on('error', () => up.destroy());
    req.on('data', (c: Buffer) => { r.sent += c.length; });
    req.pipe(up);
  });
  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(listenPort, '127.0.0.1', () => resolveListen());
  });
  return {
    url: `http://127.0.0.1:${listenPort}`,
    mark: () => requests.length,
    async until(what, from, seen, timeoutMs = 20_000) {
      for (const deadline = Date.now() + timeoutMs; ;) {
        const hit = requests.slice(from).find(seen);
        if (hit) return hit;
        if (Date.now() > deadline) {
          const since = requests.slice(from).map((q) => `${q.method} ${q.url} sent=${q.sent} status=${q.status}`).join('\n  ');
          assert.fail(`${what}: not seen within ${timeoutMs} ms; the store was asked, meanwhile:\n  ${since || '(nothing)'}`);
        }
        await sleep(20);
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    },
  };
}

/** A request that stores bytes: PutObject or UploadPart. */
const storesBytes = (r: StoreRequest, atLeast: number) => r.method === 'PUT' && r.sent >= atLeast;
/** UploadPart: one part of a multipart upload. */
const storesPart = (r: StoreRequest) => r.method === 'PUT' && /[?&]partNumber=\d+/.test(r.url) && r.sent > 0;
/**
 * An append starting: the instance reads back the unfinished upload's state
 * object (unless it wrote the state itself) or its tail (the bytes short of a
 * part), before it takes the new bytes.
 */
const readsUpload = (r: StoreRequest) => r.method === 'GET' && /\/~append\/[^?]*\/(state-|tail-)[^/?]*(\?|$)/.test(r.url);

function describeStreamed(what: string, r: StreamedResult): string {
  if (r.error) return `${what}: client error ${r.error.message}`;
  return `${what} -> ${r.status}\n${JSON.stringify(r.headers)}\n${r.body?.toString('utf8').slice(0, 2000)}`;
}

// ---------------------------------------------------------------------------
// The cluster
// ---------------------------------------------------------------------------

describe('three Berth instances on one PostgreSQL and one object store, behind nginx', { skip: skipReason() }, () => {
  let work = '';
  let s3: TestS3Server | undefined;
  let db: ScratchDatabase | undefined;
  /** nodes[0..2] are behind the round-robin balancer; nodes[3] (blob redirects on) has its own nginx server. */
  let nodes: BerthNode[] = [];
  let lb: LoadBalancer | undefined;
  /** berth-3 reaches the object store through this proxy, which can be told to answer errors. */
  let proxy: FaultyProxy | undefined;
  /** berth-1..3 reach the object store (berth-3 through `proxy`) through these: what each asks of the store. */
  let taps: StoreTap[] = [];
  let tap2: StoreTap, tap3: StoreTap;
  let dockerReady: Promise<DockerEnv> | undefined;
  let docker: DockerEnv | undefined;
  let i1: BerthNode, i2: BerthNode, i3: BerthNode;
  let front = '';
  let redirectFront = '';

  /** Runs a step with the servers' output on failure; no instance may have answered 500 by its end. */
  const logs = <R>(fn: () => Promise<R>): Promise<R> => withClusterLogs(nodes, lb, async () => {
    const r = await fn();
    for (const n of nodes) assert.deepEqual(n.internalErrors(), [], `${n.name} answered 500`);
    return r;
  });
  const bases = (): string[] => [i1.url, i2.url, i3.url];
  /**
   * Waits until nginx sends requests to all three instances again (it
   * leaves out an instance for fail_timeout after a failed connection).
   */
  const untilBalanced = async () => {
    const served = () => nodes.slice(0, 3).map((n) => n.requests.length);
    const start = served();
    for (const deadline = Date.now() + 15_000; ;) {
      await expectStatus(200, 'GET', `http://${front}/v2/`);
      if (served().every((n, k) => n > (start[k] ?? 0))) return;
      if (Date.now() > deadline) assert.fail(`nginx did not use every instance within 15 s (requests: ${served().join(', ')})`);
      await sleep(100);
    }
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-cluster-'));
    // The docker engine and its images are only needed by the docker step:
    // prepared meanwhile, and a failure there fails that step only.
    dockerReady = (async () => {
      docker = await DockerEnv.start();
      await docker.buildImages();
      return docker;
    })();
    dockerReady.catch(() => undefined);

    const [s3Port, p1, p2, p3, p4, lbPort, lbRedirectPort, proxyPort, ...tapPorts] = await pickClusterPorts(11) as [number, number, number, number, number, number, number, number, number, number, number];
    s3 = await startTestS3({ port: s3Port });
    const store = s3;
    onProcessExit(() => void store.stop());
    proxy = await startFaultyProxy(proxyPort, store.endpoint);
    taps = await Promise.all(tapPorts.map((port, i) => startStoreTap(port, i === 2 ? (proxy as FaultyProxy).url : store.endpoint)));
    [, tap2, tap3] = taps as [StoreTap, StoreTap, StoreTap];
    db = await createScratchDatabase();
    const env = (redirects: boolean, endpoint?: string): Record<string, string> => ({
      ...store.env(endpoint ? { REGISTRY_STORAGE_S3_REGIONENDPOINT: endpoint } : {}),
      ...(redirects ? {} : { REGISTRY_STORAGE_REDIRECT_DISABLE: 'true' }),
      // The smallest part size: a few MiB of chunks already span several multipart parts.
      REGISTRY_STORAGE_S3_CHUNKSIZE: String(5 * MiB),
      BERTH_DATABASE_URL: (db as ScratchDatabase).url,
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      REGISTRY_HTTP_DRAINTIMEOUT: '2s',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    });
    nodes = [p1, p2, p3, p4].map((port, i) => new BerthNode(`berth-${i + 1}`, port, env(i === 3, taps[i]?.url), join(work, `data-${i + 1}`)));
    [i1, i2, i3] = nodes as [BerthNode, BerthNode, BerthNode];
    // All at once: the schema migrations run once, under PostgreSQL's advisory lock.
    await Promise.all(nodes.map((n) => n.start()));
    lb = await startLoadBalancer(join(work, 'nginx'), [
      { listen: lbPort, upstreams: [p1, p2, p3] },
      { listen: lbRedirectPort, upstreams: [p4] },
    ]);
    [front, redirectFront] = lb.hosts as [string, string];
  }, { timeout: 120_000 });

  after(async () => {
    // A timer keeps the event loop alive meanwhile: awaiting a child's exit alone may not (an unref'd s3rver).
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      await lb?.stop().catch(() => undefined);
      await Promise.allSettled(nodes.map((n) => n.stop()));
      await dockerReady?.catch(() => undefined);
      await docker?.stop().catch(() => undefined);
      await Promise.allSettled(taps.map((tap) => tap.close()));
      await proxy?.close().catch(() => undefined);
      await s3?.close().catch(() => undefined);
      await db?.drop().catch(() => undefined);
      if (work) await rm(work, { recursive: true, force: true });
    } finally {
      clearInterval(keepAlive);
    }
  }, { timeout: 60_000 });

  it('a) a push through one instance is pulled through the others, never partial; tag lists agree after every tag change', T, () =>
    logs(async () => {
      const repo = 'cluster/a';
      // Another image, already there: pulled throughout.
      const otherLayer = randomBytes(512 * 1024);
      const otherConfig = imageConfig('other');
      await pushBlob(i2.url, 'cluster/other', otherLayer);
      await pushBlob(i3.url, 'cluster/other', otherConfig);
      const otherManifest = ociManifest(otherConfig, [otherLayer]);
      assert.equal((await putManifest(i1.url, 'cluster/other', 'v1', otherManifest)).status, 201);

      const big = randomBytes(4 * MiB + 5);
      const small = randomBytes(300 * 1024);
      const config = imageConfig('a1');
      const manifest = ociManifest(config, [big, small]);
      const blobs = [big, small, config];

      let done = false;
      const puller = async (base: string) => {
        let rounds = 0;
        const found = new Set<string>();
        const deadline = Date.now() + 60_000;
        while (Date.now() < deadline) {
          rounds++;
          const pushFinished = done; // read before looking: a round that starts after the push must find it all
          for (const b of blobs) if (await blobAbsentOrExact(base, repo, b)) found.add(digestOf(b));
          const tagged = await resolve(base, repo, 'v1');
          if (tagged !== null) assert.equal(tagged, digestOf(manifest), `${base}: v1 resolves to an unknown manifest`);
          // The other image is always whole.
          assert.equal(await resolve(base, 'cluster/other', 'v1'), digestOf(otherManifest));
          await expectBlob(base, 'cluster/other', otherLayer);
          if (tagged !== null && found.size === blobs.length) return rounds;
          if (pushFinished) assert.fail(`${base}: the push finished but ${tagged === null ? 'v1 is not found' : 'a blob is not found'}`);
          await sleep(20);
        }
        assert.fail(`${base}: the pushed image did not appear within 60 s`);
      };
      const push = async () => {
        try {
          // The big layer as a chunked session, the rest monolithic; pauses let the pullers look in between.
          const session = await startSession(i1.url, repo);
          const p = await patchChunk(i1.url, session, big, 0);
          assert.equal(p.status, 202, describeHttp('PATCH', session, p));
          await sleep(100);
          await expectStatus(201, 'PUT', `${i1.url}${withQuery(session, 'digest', digestOf(big))}`);
          await sleep(100);
          await pushBlob(i1.url, repo, small);
          await pushBlob(i1.url, repo, config);
          await sleep(100);
          const r = await putManifest(i1.url, repo, 'v1', manifest);
          assert.equal(r.status, 201, describeHttp('PUT', 'manifest v1', r));
          assert.equal(r.headers.get('docker-content-digest'), digestOf(manifest));
        } finally {
          done = true;
        }
      };
      const [, rounds2, rounds3] = await allSettledOrThrow([push(), puller(i2.url), puller(i3.url)]);
      assert.ok((rounds2 ?? 0) > 1 && (rounds3 ?? 0) > 1, `the pullers should have looked during the push (rounds ${rounds2}, ${rounds3})`);
      for (const base of bases()) for (const b of blobs) await expectBlob(base, repo, b);

      // Tag changes, each made through one instance and read back at once through
      // every instance (whose tag-list caches are warm from the previous read).
      const config2 = imageConfig('a2');
      await pushBlob(i2.url, repo, config2);
      const manifest2 = ociManifest(config2, [big, small]);
      const expectEverywhere = async (tags: string[], resolved: Record<string, string | null>, change: string) => {
        for (const base of bases()) {
          assert.deepEqual(await tagsOf(base, repo), tags, `${base}: tag list after ${change}`);
          for (const [tag, digest] of Object.entries(resolved)) {
            assert.equal(await resolve(base, repo, tag), digest, `${base}: ${tag} after ${change}`);
          }
        }
      };
      await expectEverywhere(['v1'], { v1: digestOf(manifest) }, 'the push');
      assert.equal((await putManifest(i2.url, repo, 'v1', manifest2)).status, 201);
      await expectEverywhere(['v1'], { v1: digestOf(manifest2) }, 'moving v1 through berth-2');
      assert.equal((await putManifest(i3.url, repo, 'v2', manifest)).status, 201);
      await expectEverywhere(['v1', 'v2'], { v1: digestOf(manifest2), v2: digestOf(manifest) }, 'adding v2 through berth-3');
      await expectStatus(202, 'DELETE', `${i1.url}/v2/${repo}/manifests/v1`);
      await expectEverywhere(['v2'], { v1: null, v2: digestOf(manifest) }, 'deleting v1 through berth-1');
      assert.equal((await putManifest(`http://${front}`, repo, 'v1', manifest)).status, 201);
      await expectEverywhere(['v1', 'v2'], { v1: digestOf(manifest), v2: digestOf(manifest) }, 'tagging v1 again through nginx');
    }));

  it('b) a chunked upload started on one instance, continued on two others and finished on the first', T, () =>
    logs(async () => {
      const repo = 'cluster/chunked';
      // Chunks above and below S3's 5 MiB part size, so parts and tails are carried between instances.
      const chunks = [1 * MiB + 3, 6 * MiB, 700 * 1024, 5 * MiB + 1, 123, 2 * MiB].map((n) => randomBytes(n));
      const last = randomBytes(17);
      const data = Buffer.concat([...chunks, last]);
      const digest = digestOf(data);
      const session = await startSession(i1.url, repo);
      let offset = 0;
      for (const [k, chunk] of chunks.entries()) {
        const base = k % 2 === 0 ? i2.url : i3.url;
        const r = await patchChunk(base, session, chunk, offset);
        assert.equal(r.status, 202, describeHttp('PATCH', `${base}${session}`, r));
        offset += chunk.length;
        assert.equal(r.headers.get('range'), `0-${offset - 1}`, `Range after chunk ${k} on ${base}`);
        if (k === 2) {
          // Another instance knows where the session stands, and refuses a chunk at the wrong offset.
          const status = await expectStatus(204, 'GET', `${i1.url}${session}`);
          assert.equal(status.headers.get('range'), `0-${offset - 1}`);
          const wrong = await patchChunk(i3.url, session, randomBytes(10), offset - 5);
          assert.equal(wrong.status, 416, describeHttp('PATCH', 'chunk at a wrong offset', wrong));
        }
      }
      // The last chunk travels with the PUT.
      await expectStatus(201, 'PUT', `${i1.url}${withQuery(session, 'digest', digest)}`, {
        body: bytes(last),
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + last.length - 1}` },
      });
      for (const base of [...bases(), `http://${front}`]) await expectBlob(base, repo, data);
      await expectStatus(404, 'GET', `${i2.url}${session}`); // the session is gone everywhere
    }));

  it('c) SIGKILL of an instance mid-push: the client\'s fresh retry through nginx succeeds, nothing partial is ever served', T, () =>
    logs(async () => {
      const repo = 'cluster/killed';
      const data = randomBytes(24 * MiB);
      const digest = digestOf(data);
      // Watch the blob on the survivors the whole time: 404 or exactly the bytes.
      let watching = true;
      let watched = 0;
      const watch = (async () => {
        while (watching) {
          for (const base of [i1.url, i3.url]) await blobAbsentOrExact(base, repo, data);
          watched++;
          await sleep(50);
        }
      })();
      try {
        const from = tap2.mark();
        const killed = await streamRequest(`${i2.url}/v2/${repo}/blobs/uploads/?digest=${digest}`, 'POST',
          { 'Content-Type': 'application/octet-stream' }, data, 12 * MiB, async () => {
            // Killed only once berth-2 is storing the body: a PutObject to the store with a MiB of it passed on.
            await tap2.until('berth-2 storing the pushed body', from, (r) => storesBytes(r, 1 * MiB));
            await i2.kill('SIGKILL');
          });
        assert.ok(killed.error, `the killed instance must not have answered: ${describeStreamed('POST', killed)}`);
        assert.equal(i2.running, false);
        for (const base of [i1.url, i3.url]) {
          assert.equal(await blobAbsentOrExact(base, repo, data), false, `${base}: the blob must not exist after the killed push`);
        }

        // The retry, as docker does it: a fresh session through the balancer,
        // one streamed PATCH, then PUT ?digest=. nginx skips the dead instance.
        const lbUrl = `http://${front}`;
        const session = await startSession(lbUrl, repo);
        const p = await streamRequest(`${lbUrl}${session}`, 'PATCH', { 'Content-Type': 'application/octet-stream' }, data);
        assert.equal(p.status, 202, describeStreamed('PATCH (retry)', p));
        const loc = new URL(String(p.headers?.location), lbUrl);
        await expectStatus(201, 'PUT', `${lbUrl}${withQuery(loc.pathname + loc.search, 'digest', digest)}`);
      } finally {
        watching = false;
        await watch;
      }
      assert.ok(watched > 2, `the survivors should have been watched during the push (${watched} rounds)`);
      for (const base of [i1.url, i3.url, `http://${front}`]) await expectBlob(base, repo, data);
      // berth-2 comes back on the same port and serves the blob too.
      await i2.start();
      await expectBlob(i2.url, repo, data);
    }));

  it('d) docker pushes a multi-layer image through nginx and pulls it back, also with blob redirects to the store', { timeout: 180_000 }, () =>
    logs(async () => {
      const d = await (dockerReady as Promise<DockerEnv>);
      const image = `${front}/cluster/multi:1`;
      const id = await d.imageId(d.images.multi);
      const layers = await d.diffIds(d.images.multi);
      assert.ok(layers.length >= 3, `bb:multi has ${layers.length} layers`);
      await d.docker(['tag', d.images.multi, image]);
      await untilBalanced();
      const pushed = parsePushDigest((await d.docker(['push', image])).stdout);
      // nginx spread the push: every instance took part of it.
      const writes = bases().map((_, k) => nodes[k]?.requests.filter((r) => ['POST', 'PATCH', 'PUT'].includes(r.method) && r.path.startsWith('/v2/cluster/multi/')).length ?? 0);
      assert.ok(writes.every((n) => n > 0), `every instance should have received some of docker's uploads (${writes.join(', ')})`);
      // Every instance has the manifest and every blob it names, with the right bytes.
      const manifests = await Promise.all(bases().map((b) => http(`${b}/v2/cluster/multi/manifests/1`, { headers: { Accept: `${MT.dockerManifest}, ${MT.ociManifest}` } })));
      for (const m of manifests) {
        assert.equal(m.status, 200);
        assert.equal(m.headers.get('docker-content-digest'), pushed.digest);
        assert.equal(digestOf(m.body), pushed.digest);
      }
      const manifest = JSON.parse((manifests[0] as HttpResult).body.toString('utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
      assert.equal(manifest.layers.length, layers.length);
      for (const [k, base] of bases().entries()) {
        for (const blob of [manifest.config, ...manifest.layers]) {
          const r = await expectStatus(200, 'GET', `${base}/v2/cluster/multi/blobs/${blob.digest}`);
          assert.equal(digestOf(r.body), blob.digest, `berth-${k + 1}: ${blob.digest}`);
        }
      }

      await d.removeAllImages();
      await d.docker(['pull', image]);
      assert.equal(await d.imageId(image), id, 'the image pulled back through nginx is the one pushed');
      const out = await d.docker(['run', '--rm', '--network', 'none', image, 'cat', '/f', '/g', '/h']);
      assert.equal(out.stdout.trim(), 'hi\ntwo\nthree');

      // Through berth-4 (blob redirects on): docker follows the 307 to a presigned s3rver URL.
      const direct = await http(`http://${redirectFront}/v2/cluster/multi/blobs/${manifest.layers[0]?.digest}`, { redirect: 'manual' });
      assert.equal(direct.status, 307, describeHttp('GET', 'blob through berth-4', direct));
      assert.ok(direct.headers.get('location')?.startsWith((s3 as TestS3Server).endpoint), `redirected to ${direct.headers.get('location')}`);
      await d.removeAllImages();
      const redirected = `${redirectFront}/cluster/multi:1`;
      await d.docker(['pull', redirected]);
      assert.equal(await d.imageId(redirected), id, 'the image pulled with redirects is the one pushed');
      const out2 = await d.docker(['run', '--rm', '--network', 'none', redirected, 'cat', '/h']);
      assert.equal(out2.stdout.trim(), 'three');
    }));

  it('e1) the object store down mid-upload: 503 BERTH_UNAVAILABLE, /readyz not ready; after it returns the client\'s retry succeeds', {
    ...T,
    skip: process.env.BERTH_TEST_S3_ENDPOINT ? 'an external object store (BERTH_TEST_S3_ENDPOINT) cannot be stopped by the test' : false,
  }, () =>
    logs(async () => {
      const store = s3 as TestS3Server;
      const repo = 'cluster/store-down';
      const first = randomBytes(6 * MiB); // committed: one 5 MiB part and a 1 MiB tail
      const second = randomBytes(8 * MiB);
      const data = Buffer.concat([first, second]);
      const mono = randomBytes(200 * 1024);
      const existing = randomBytes(64 * 1024);
      await pushBlob(i1.url, repo, existing);
      const session = await startSession(i1.url, repo);
      const uuid = session.split('?')[0]?.split('/').pop() as string;
      const p1 = await patchChunk(i1.url, session, first, 0);
      assert.equal(p1.status, 202, describeHttp('PATCH', 'first chunk', p1));
      /** PATCHes `chunk` to berth-2, pausing after `pauseAt` bytes until berth-2's store traffic shows `reached`, then stops the store. */
      const patchWhileStoreDies = (chunk: Buffer, pauseAt: number, reached: { what: string; seen: (r: StoreRequest) => boolean }) => {
        const from = tap2.mark();
        return streamRequest(`${i2.url}${session}`, 'PATCH',
          { 'Content-Type': 'application/octet-stream', 'Content-Range': `${first.length}-${first.length + chunk.length - 1}` }, chunk, pauseAt, async () => {
            await tap2.until(reached.what, from, reached.seen);
            await store.stop();
          });
      };
      const storeBack = async () => {
        await store.restart();
        for (const base of bases()) {
          const deadline = Date.now() + 20_000;
          for (;;) {
            const r = await http(`${base}/readyz`);
            if (r.status === 200) break;
            if (Date.now() > deadline) assert.fail(`${base} not ready 20 s after the store returned\n${describeHttp('GET', '/readyz', r)}`);
            await sleep(200);
          }
        }
      };
      const committedRange = async (base: string) => (await expectStatus(204, 'GET', `${base}${session}`)).headers.get('range');

      try {
        // 0. The store dies while berth-1 sends a blob: the client sees the
        // download break off (a reset, or a body shorter than Content-Length),
        // never a short or wrong body that looks complete.
        const download = randomBytes(16 * MiB);
        await pushBlob(i1.url, repo, download);
        const got = await downloadWhileStoreDies(`${i1.url}/v2/${repo}/blobs/${digestOf(download)}`, 1 * MiB, () => store.stop());
        assert.equal(got.status, 200);
        if (got.complete) {
          assert.equal(digestOf(got.body), digestOf(download), 'a download that completed must be exact');
        } else {
          assert.ok(got.body.length < download.length, `an aborted download got ${got.body.length} bytes`);
        }
        await storeBack();

        // 1. The store dies while berth-2 ships a multipart part of the chunk:
        // berth-2 answers 503 before the body is complete (and closes the
        // connection, so the client may see the reset before the answer), or
        // at its end if that part was already stored and the rest cannot be;
        // its access log says what it answered. The committed 1 MiB tail and
        // 4 MiB of the chunk fill the first part: the pause comes after 5 MiB,
        // and the store stops once berth-2 has begun sending that part.
        const t0 = Date.now();
        const midPart = await patchWhileStoreDies(second, 5 * MiB, { what: 'berth-2 storing a part of the chunk', seen: storesPart });
        assert.ok(Date.now() - t0 < 20_000, `the failure took ${Date.now() - t0} ms`);
        if (midPart.error) {
          assert.match(midPart.error.message, /ECONNRESET|EPIPE|socket hang up/, describeStreamed('PATCH while the store died', midPart));
        } else {
          assert.equal(midPart.status, 503, describeStreamed('PATCH while the store died', midPart));
          assert.equal(codeOf(midPart), 'BERTH_UNAVAILABLE');
        }
        const answered = () => i2.requests.some((r) => r.method === 'PATCH' && r.path.endsWith(uuid) && r.status === 503 && r.code === 'BERTH_UNAVAILABLE');
        for (let deadline = Date.now() + 5000; !answered(); await sleep(50)) {
          if (Date.now() > deadline) assert.fail('berth-2 did not log its 503 BERTH_UNAVAILABLE answer to the PATCH');
        }

        // While it is down: quick 503s, never 500, and not ready, on every instance.
        for (const base of bases()) {
          const t1 = Date.now();
          const post = await http(`${base}/v2/${repo}/blobs/uploads/?digest=${digestOf(mono)}`, { method: 'POST', body: bytes(mono) });
          assert.equal(post.status, 503, describeHttp('POST monolithic', base, post));
          assert.equal(codeOf(post), 'BERTH_UNAVAILABLE');
          const get = await http(`${base}/v2/${repo}/blobs/${digestOf(existing)}`);
          assert.equal(get.status, 503, describeHttp('GET blob', base, get));
          assert.equal(codeOf(get), 'BERTH_UNAVAILABLE');
          const ready = await http(`${base}/readyz`);
          assert.equal(ready.status, 503, describeHttp('GET', `${base}/readyz`, ready));
          assert.equal((JSON.parse(ready.body.toString('utf8')) as { checks: Record<string, string> }).checks.storage, 'unavailable');
          assert.ok(Date.now() - t1 < 20_000, `${base}: answers took ${Date.now() - t1} ms`);
        }
        // nginx passes the 503 on (an answer, not a connection failure).
        assert.equal((await http(`http://${front}/v2/${repo}/blobs/${digestOf(existing)}`)).status, 503);
        await storeBack();
        assert.equal(await committedRange(i3.url), `0-${first.length - 1}`, 'the failed chunk left the committed bytes as they were');

        // 2. The store dies while berth-2 receives a smaller chunk: the failure
        // comes when the body is complete, so the client reads the whole answer.
        // berth-2 has begun the append (read the upload back) before the store stops.
        const atTail = await patchWhileStoreDies(second.subarray(0, 3 * MiB), 1 * MiB, { what: 'berth-2 reading the upload back', seen: readsUpload });
        assert.equal(atTail.status, 503, describeStreamed('PATCH while the store died', atTail));
        assert.equal(codeOf(atTail), 'BERTH_UNAVAILABLE');
      } finally {
        await storeBack();
      }

      // The client retries the chunk on yet another instance and finishes the upload.
      assert.equal(await committedRange(i3.url), `0-${first.length - 1}`, 'the failed chunk left the committed bytes as they were');
      const retried = await patchChunk(i3.url, session, second, first.length);
      assert.equal(retried.status, 202, describeHttp('PATCH (retry)', session, retried));
      await expectStatus(201, 'PUT', `${i1.url}${withQuery(session, 'digest', digestOf(data))}`);
      await pushBlob(`http://${front}`, repo, mono);
      for (const base of bases()) {
        await expectBlob(base, repo, data);
        await expectBlob(base, repo, mono);
        await expectBlob(base, repo, existing);
      }
    }));

  it('e2) the object store answering errors to one instance mid-upload: 503 there, that instance not ready, the others unaffected; the retry succeeds', T, () =>
    logs(async () => {
      const faults = proxy as FaultyProxy;
      const repo = 'cluster/store-errors';
      const first = randomBytes(1 * MiB);
      const second = randomBytes(3 * MiB);
      const data = Buffer.concat([first, second]);
      const existing = randomBytes(64 * 1024);
      await pushBlob(i1.url, repo, existing);
      const session = await startSession(i2.url, repo);
      assert.equal((await patchChunk(i3.url, session, first, 0)).status, 202);
      try {
        // The store starts answering 500 InternalError while berth-3 receives
        // the chunk: once berth-3 has begun the append (read the upload back).
        const from = tap3.mark();
        const cut = await streamRequest(`${i3.url}${session}`, 'PATCH',
          { 'Content-Type': 'application/octet-stream', 'Content-Range': `${first.length}-${data.length - 1}` }, second, 1 * MiB, async () => {
            await tap3.until('berth-3 reading the upload back', from, readsUpload);
            faults.fail(500, 'InternalError');
          });
        assert.equal(cut.status, 503, describeStreamed('PATCH while the store answered 500', cut));
        assert.equal(codeOf(cut), 'BERTH_UNAVAILABLE');
        assert.ok(faults.injected > 0, 'the proxy answered no request with an error');
        // Throttling (503 SlowDown): berth-3 is not ready and refuses with 503; berth-1 and berth-2 are fine.
        faults.fail(503, 'SlowDown');
        const ready3 = await http(`${i3.url}/readyz`);
        assert.equal(ready3.status, 503, describeHttp('GET', 'berth-3 /readyz', ready3));
        const get3 = await http(`${i3.url}/v2/${repo}/blobs/${digestOf(existing)}`);
        assert.equal(get3.status, 503, describeHttp('GET blob', 'berth-3', get3));
        assert.equal(codeOf(get3), 'BERTH_UNAVAILABLE');
        for (const base of [i1.url, i2.url]) {
          await expectStatus(200, 'GET', `${base}/readyz`);
          await expectBlob(base, repo, existing);
        }
      } finally {
        faults.heal();
      }
      await expectStatus(200, 'GET', `${i3.url}/readyz`);
      assert.equal((await expectStatus(204, 'GET', `${i1.url}${session}`)).headers.get('range'), `0-${first.length - 1}`);
      const retried = await patchChunk(i3.url, session, second, first.length);
      assert.equal(retried.status, 202, describeHttp('PATCH (retry)', session, retried));
      await expectStatus(201, 'PUT', `${i3.url}${withQuery(session, 'digest', digestOf(data))}`);
      for (const base of bases()) await expectBlob(base, repo, data);
    }));

  it('f) two instances at the same moment: finishing one upload (one 201, the other 409/404) and moving one tag (one consistent result)', T, () =>
    logs(async () => {
      const repo = 'cluster/race';
      for (let round = 0; round < 3; round++) {
        const data = randomBytes(6 * MiB + round);
        const digest = digestOf(data);
        const session = await startSession(i1.url, repo);
        assert.equal((await patchChunk(i1.url, session, data, 0)).status, 202);
        const put = (base: string) => http(`${base}${withQuery(session, 'digest', digest)}`, { method: 'PUT' });
        const results = await Promise.all([put(i2.url), put(i3.url)]);
        const statuses = results.map((r) => r.status).sort();
        const described = results.map((r, k) => describeHttp('PUT', `berth-${k + 2}`, r)).join('\n\n');
        assert.equal(statuses.filter((s) => s === 201).length, 1, `exactly one PUT must succeed (round ${round})\n${described}`);
        assert.ok([404, 409].includes(statuses.find((s) => s !== 201) as number), `the other PUT answers 409 or 404 (round ${round})\n${described}`);
        for (const r of results) if (r.status !== 201) assert.ok(['BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN'].includes(codeOf(r) ?? ''), described);
        for (const base of bases()) await expectBlob(base, repo, data);
      }

      // Two chunks for the same offset of one session, on two instances at once:
      // one is taken, the other refused (409 busy, or 416 once the offset moved on).
      {
        const x = randomBytes(3 * MiB);
        const y = randomBytes(3 * MiB);
        const session = await startSession(i1.url, repo);
        const results = await Promise.all([patchChunk(i2.url, session, x, 0), patchChunk(i3.url, session, y, 0)]);
        const described = results.map((r, k) => describeHttp('PATCH', `berth-${k + 2}`, r)).join('\n\n');
        assert.equal(results.filter((r) => r.status === 202).length, 1, `exactly one chunk must be taken\n${described}`);
        const refused = results.find((r) => r.status !== 202) as HttpResult;
        assert.ok([409, 416].includes(refused.status), `the other chunk answers 409 or 416\n${described}`);
        const taken = results[0]?.status === 202 ? x : y;
        await expectStatus(201, 'PUT', `${i1.url}${withQuery(session, 'digest', digestOf(taken))}`);
        for (const base of bases()) await expectBlob(base, repo, taken);
      }

      // The same blob pushed through two instances at once: both succeed, one copy is served.
      {
        const same = randomBytes(7 * MiB);
        const results = await Promise.all([i1, i2].map((n) => http(`${n.url}/v2/${repo}/blobs/uploads/?digest=${digestOf(same)}`, { method: 'POST', body: bytes(same) })));
        for (const r of results) assert.equal(r.status, 201, describeHttp('POST', 'the same blob', r));
        for (const base of bases()) await expectBlob(base, repo, same);
      }

      const layer = randomBytes(1024);
      const config = imageConfig('race');
      await pushBlob(i1.url, repo, layer);
      await pushBlob(i1.url, repo, config);
      const [p, q] = [i2, i3];
      for (let round = 0; round < 5; round++) {
        const a = ociManifest(config, [layer], { round: String(round), by: 'berth-2' });
        const b = ociManifest(config, [layer], { round: String(round), by: 'berth-3' });
        const results = await Promise.all([putManifest(p.url, repo, 'race', a), putManifest(q.url, repo, 'race', b)]);
        for (const r of results) assert.equal(r.status, 201, describeHttp('PUT', 'manifest race', r));
        const seen = new Set<string | null>();
        for (const base of bases()) {
          seen.add(await resolve(base, repo, 'race'));
          assert.equal(await resolve(base, repo, digestOf(a)), digestOf(a));
          assert.equal(await resolve(base, repo, digestOf(b)), digestOf(b));
          assert.deepEqual(await tagsOf(base, repo), ['race']);
        }
        assert.equal(seen.size, 1, `every instance resolves the tag alike (round ${round}): ${[...seen].join(', ')}`);
        const winner = [...seen][0];
        assert.ok(winner === digestOf(a) || winner === digestOf(b), `the tag names one of the two manifests (round ${round})`);
      }
    }));
});
