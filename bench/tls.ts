// Workloads "tls-push", "tls-pull" and "tls-manifest-get" (issue 14 item 5):
// the same target started a second time over HTTPS, with one certificate per
// key type (ECDSA P-256, RSA 2048) made once per run with openssl and given
// to Berth (http.tls.certificate/key) and to the reference (its config.yml)
// alike.
//
// The client is node:https (the raw-socket client speaks plain TCP only): the
// same code, keep-alive agent and cipher list for both targets. It offers the
// TLS 1.3 suites in the order Go clients (docker, containerd) do, AES-128-GCM
// first. Each server then picks by its own preference: Distribution (Go) and
// Berth (src/tls/ciphers.ts, since 2026-12-03; OpenSSL's default AES-256-GCM
// before) both AES-128-GCM. That is what a docker client gets; the benchmark
// logs the cipher each server picked.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { Samples, median, nowMs, percentile } from './stats.js';
import { CpuMeter, makeTempDir, startTarget, type RunningTarget, type TargetTls } from './targets.js';
import { BigBlobs, MANIFEST_ACCEPT, sha256, type Ctx } from './workloads.js';

export const TLS_KINDS = ['ecdsa', 'rsa'] as const;
export type TlsKind = (typeof TLS_KINDS)[number];

/** Which key types the TLS workloads measure (`--tls ecdsa|rsa|both`). */
let kinds: TlsKind[] = [...TLS_KINDS];
export function setTlsKinds(k: readonly TlsKind[]): void {
  kinds = [...k];
}

interface Cert extends TargetTls {
  ca: Buffer;
}

const certs = new Map<TlsKind, Cert>();

/** One self-signed certificate per key type and run, for 127.0.0.1 (IP SAN); the client trusts exactly it. */
function certFor(kind: TlsKind): Cert {
  let c = certs.get(kind);
  if (c) return c;
  const dir = makeTempDir(`tls-${kind}`);
  const certFile = path.join(dir, 'server.crt');
  const keyFile = path.join(dir, 'server.key');
  const keyArgs = kind === 'ecdsa' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
  execFileSync('openssl', ['req', '-x509', ...keyArgs, '-nodes', '-sha256', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', keyFile, '-out', certFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  c = { certFile, keyFile, ca: fs.readFileSync(certFile) };
  certs.set(kind, c);
  return c;
}

/** Runs `fn` against an HTTPS instance of the round's target, per key type; the reference and embedded Berth only. */
async function withTlsTargets(ctx: Ctx, fn: (kind: TlsKind, t: RunningTarget, client: HttpsClient) => Promise<void>): Promise<void> {
  if (ctx.scale) {
    ctx.log('  skipped: the reference and embedded Berth only');
    return;
  }
  for (const kind of kinds) {
    const cert = certFor(kind);
    const t = await startTarget(ctx.target.name, { tls: cert });
    const client = new HttpsClient(t, cert.ca, 64);
    try {
      ctx.log(`  ${kind}: ${t.baseUrl} (pid ${t.pid})`);
      await fn(kind, t, client);
      ctx.log(`  ${kind}: negotiated ${client.cipher ?? '?'}`);
    } finally {
      client.close();
      await t.stop();
    }
  }
}

// ---------------------------------------------------------------- client

interface Resp {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  bytes: number;
}

/** TLS 1.3 suites as Go clients order them on CPUs with AES instructions. */
const GO_CLIENT_TLS13_ORDER = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

class HttpsClient {
  readonly agent: https.Agent;
  cipher: string | null = null;
  constructor(private readonly t: RunningTarget, private readonly ca: Buffer, maxSockets: number) {
    this.agent = new https.Agent({ keepAlive: true, maxSockets, ca, ciphers: GO_CLIENT_TLS13_ORDER });
  }

  request(method: string, p: string, opts: { headers?: Record<string, string>; body?: Buffer[]; sink?: (b: Buffer) => void } = {}): Promise<Resp> {
    return new Promise((resolve, reject) => {
      const len = (opts.body ?? []).reduce((n, b) => n + b.length, 0);
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.body) headers['Content-Length'] = String(len);
      const req = https.request({ host: this.t.host, port: this.t.port, method, path: p, headers, agent: this.agent, ca: this.ca }, (res) => {
        if (this.cipher === null) {
          const s = res.socket as TLSSocket;
          const ci = s.getCipher?.();
          this.cipher = ci ? `${s.getProtocol?.() ?? '?'} ${ci.standardName ?? ci.name}` : null;
        }
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (d: Buffer) => {
          bytes += d.length;
          if (opts.sink) opts.sink(d);
          else chunks.push(d);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), bytes }));
        res.on('error', reject);
      });
      req.setTimeout(600_000, () => req.destroy(new Error(`${method} ${p}: timeout`)));
      req.on('error', reject);
      for (const b of opts.body ?? []) req.write(b);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function expect(r: Resp, status: number, what: string): void {
  if (r.status !== status) throw new Error(`${what}: HTTP ${r.status} (expected ${status}) ${r.body.toString('utf8', 0, 300)}`);
}

async function pushBlob(t: RunningTarget, c: HttpsClient, repo: string, body: Buffer[], digest: string): Promise<void> {
  const post = await c.request('POST', `/v2/${repo}/blobs/uploads/`);
  expect(post, 202, `POST upload ${repo}`);
  const loc = String(post.headers['location'] ?? '');
  if (!loc) throw new Error('POST upload: no Location header');
  const u = new URL(loc, t.baseUrl);
  u.searchParams.set('digest', digest);
  const put = await c.request('PUT', u.pathname + u.search, { headers: { 'Content-Type': 'application/octet-stream' }, body });
  expect(put, 201, `PUT blob ${repo}`);
}

function blobsOf(ctx: Ctx): BigBlobs {
  // The plain push/pull workloads' blobs when they were made, else our own of the same size.
  ownBlobs ??= ctx.blobs ?? new BigBlobs(ctx.cfg.blobSize, ctx.cfg.chunkSize);
  return ownBlobs;
}
let ownBlobs: BigBlobs | null = null;

function cpuInto(ctx: Ctx, phase: string, m: CpuMeter): void {
  const r = m.end();
  if (r.wallS < 0.5) return;
  ctx.metrics[`cpu:${phase}:server`] = r.server;
  ctx.metrics[`cpu:${phase}:client`] = r.client;
  ctx.metrics[`cpu:${phase}:other`] = r.other;
}

// ---------------------------------------------------------------- workloads

/** Monolithic pushes (POST + PUT with the body) of the push workload's blob size, over HTTPS; 2 per key type, median. */
export async function wlTlsPush(ctx: Ctx): Promise<void> {
  const blobs = blobsOf(ctx);
  await withTlsTargets(ctx, async (kind, t, c) => {
    const xs: number[] = [];
    const m = new CpuMeter(t.pid).start();
    for (let rep = 0; rep < 2; rep++) {
      const v = blobs.variant(`tls-push-${kind}-${ctx.round}-${rep}-${crypto.randomUUID()}`);
      const t0 = nowMs();
      await pushBlob(t, c, 'bench/tls', [blobs.prefix, v.tail], v.digest);
      xs.push(blobs.size / 1e6 / ((nowMs() - t0) / 1000));
    }
    cpuInto(ctx, `tls_${kind}_push`, m);
    ctx.metrics[`tls_${kind}_push_MBps`] = median(xs);
    ctx.log(`  ${kind} push: ${xs.map((x) => x.toFixed(0)).join(', ')} MB/s`);
  });
}

/** Pulls of that blob over HTTPS, 1 and 8 streams, the client hashing and checking digest and length. */
export async function wlTlsPull(ctx: Ctx): Promise<void> {
  const blobs = blobsOf(ctx);
  await withTlsTargets(ctx, async (kind, t, c) => {
    const v = blobs.variant(`tls-pull-${kind}`);
    await pushBlob(t, c, 'bench/tls', [blobs.prefix, v.tail], v.digest);
    const pullOnce = async (): Promise<void> => {
      const h = crypto.createHash('sha256');
      const r = await c.request('GET', `/v2/bench/tls/blobs/${v.digest}`, { sink: (d) => h.update(d) });
      expect(r, 200, 'GET blob');
      const got = 'sha256:' + h.digest('hex');
      if (r.bytes !== blobs.size || got !== v.digest) throw new Error(`GET blob: ${r.bytes} bytes, ${got}; expected ${blobs.size}, ${v.digest}`);
    };
    await pullOnce(); // warm-up: page cache, TLS session, both sides' buffers
    for (const streams of [1, 8]) {
      const xs: number[] = [];
      const m = new CpuMeter(t.pid).start();
      for (let rep = 0; rep < (streams === 1 ? 2 : 1); rep++) {
        const t0 = nowMs();
        await Promise.all(Array.from({ length: streams }, pullOnce));
        xs.push((streams * blobs.size) / 1e6 / ((nowMs() - t0) / 1000));
      }
      cpuInto(ctx, `tls_${kind}_pull_${streams}`, m);
      ctx.metrics[`tls_${kind}_pull_${streams}_MBps`] = median(xs);
      ctx.log(`  ${kind} pull, ${streams} stream(s): ${xs.map((x) => x.toFixed(0)).join(', ')} MB/s`);
    }
  });
}

const TLS_IMAGES = 200;

/** 200 small images over 20 repositories, then manifest GET by tag over HTTPS at c=64 (keep-alive), p50/p99 over the measured window. */
export async function wlTlsManifestGet(ctx: Ctx): Promise<void> {
  const { cfg } = ctx;
  await withTlsTargets(ctx, async (kind, t, c) => {
    const layer = Buffer.from(`tls layer ${ctx.nonce} ${kind}`);
    const layerDigest = sha256(layer);
    const images: Array<{ path: string; digest: string }> = [];
    for (let r = 0; r < 20; r++) await pushBlob(t, c, `bench/tls${r}`, [layer], layerDigest);
    for (let i = 0; i < TLS_IMAGES; i++) {
      const repo = `bench/tls${i % 20}`;
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', bench: `${ctx.nonce}-${kind}-${i}`, rootfs: { type: 'layers', diff_ids: [layerDigest] } }));
      await pushBlob(t, c, repo, [config], sha256(config));
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
      }));
      const r = await c.request('PUT', `/v2/${repo}/manifests/v${i}`, { headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: [manifest] });
      expect(r, 201, `PUT manifest ${repo}:v${i}`);
      images.push({ path: `/v2/${repo}/manifests/v${i}`, digest: sha256(manifest) });
    }
    const lat = new Samples();
    let ok = 0;
    let bad = 0;
    let measuring = false;
    let stop = false;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (!stop) {
        const im = images[next++ % images.length] as { path: string; digest: string };
        // Only requests that started and ended inside the measured window count (as in load.ts).
        const inWindow = measuring;
        const t0 = nowMs();
        const r = await c.request('GET', im.path, { headers: { Accept: MANIFEST_ACCEPT } });
        const ms = nowMs() - t0;
        const good = r.status === 200 && r.headers['docker-content-digest'] === im.digest;
        if (!good) bad++;
        else if (inWindow && !stop) {
          ok++;
          lat.push(ms);
        }
      }
    };
    const workers = Array.from({ length: cfg.loadConnections }, worker);
    await new Promise((r) => setTimeout(r, cfg.loadWarmupS * 1000));
    const m = new CpuMeter(t.pid).start();
    measuring = true;
    const t0 = nowMs();
    await new Promise((r) => setTimeout(r, cfg.loadDurationS * 1000));
    const wallS = (nowMs() - t0) / 1000;
    stop = true;
    cpuInto(ctx, `tls_${kind}_manifest_get`, m);
    await Promise.all(workers);
    if (bad > 0) throw new Error(`tls manifest GET (${kind}): ${bad} failed or wrong responses (${ok} ok)`);
    const rps = ok / wallS;
    const p99 = percentile(lat.values(), 99);
    ctx.metrics[`tls_${kind}_manifest_get_rps`] = rps;
    ctx.metrics[`tls_${kind}_manifest_get_p99_ms`] = p99;
    ctx.log(`  ${kind} manifest GET, c=${cfg.loadConnections}: ${rps.toFixed(0)} req/s, p50 ${percentile(lat.values(), 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
  });
}
