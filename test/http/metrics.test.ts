import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cosignKeyPair } from '../../src/signatures/testkit.js';
import { loadConfig } from '../../src/config/index.js';
import { errorCode, pushImage, sha256, startTestBerth, type TestBerth } from '../helpers/berth.js';

/**
 * Prometheus metrics: scraped before and after pushes, pulls, a failed
 * login, a trust-policy refusal and a GC run, each counter checked to move
 * by exactly what was done; who may scrape; the debug listener; scrapes
 * under concurrent pulls.
 */

const ADMIN_PASSWORD = 'admin-password-1';
const ADMIN = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

/** One sample of the text exposition format: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus' text exposition format (comments skipped); fails on a line it cannot read. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unreadable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    // prom-client writes NaN as `Nan`; Prometheus reads any case.
    const raw = m[3] as string;
    const value = /^nan$/i.test(raw) ? NaN : /^[+-]?inf$/i.test(raw) ? (raw.startsWith('-') ? -Infinity : Infinity) : Number(raw);
    assert.ok(/^nan$/i.test(raw) || !Number.isNaN(value), `not a number: ${line}`);
    samples.push({ name: m[1] as string, labels, value });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `labels` (0 when none: a series not yet seen). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

async function scrape(url: string, authorization?: string): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`, { headers: authorization ? { Authorization: authorization } : {} });
  assert.equal(res.status, 200, `scrape ${url}: ${res.status}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

describe('metrics, with users from the database (admin scrapes /metrics; debug listener open)', () => {
  let t: TestBerth;
  let debugUrl: string;
  const tokens = new Map<string, string>();

  /** A registry request as docker makes it: on 401, a token for the challenge's scope as admin, then again. */
  async function call(method: string, path: string, init: { body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<Response> {
    const send = (token?: string) => fetch(`${t.url}${path}`, { method, body: init.body === undefined ? null : typeof init.body === 'string' ? init.body : new Uint8Array(init.body), headers: { ...init.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) } });
    const key = path.split('/').slice(2, 4).join('/');
    const first = await send(tokens.get(key));
    if (first.status !== 401) return first;
    const scope = /scope="([^"]*)"/.exec(first.headers.get('www-authenticate') ?? '')?.[1];
    const q = new URLSearchParams({ service: 'berth', ...(scope ? { scope: scope.replace(/:[a-z,]+$/, ':pull,push,delete') } : {}) });
    const tr = await fetch(`${t.url}/auth/token?${q}`, { headers: { Authorization: ADMIN } });
    assert.equal(tr.status, 200);
    const { token } = (await tr.json()) as { token: string };
    tokens.set(key, token);
    return send(token);
  }

  /** Pushes config + one layer + manifest; returns the manifest digest and the blob sizes. */
  async function push(repo: string, tag: string): Promise<{ digest: string; layer: Buffer; blobBytes: number }> {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed: Math.random() }));
    const layer = Buffer.from(`layer ${repo} ${Math.random()} `.repeat(500));
    for (const blob of [config, layer]) {
      const res = await call('POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { body: blob });
      assert.equal(res.status, 201);
    }
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }));
    const res = await call('PUT', `/v2/${repo}/manifests/${tag}`, { body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(res.status, 201);
    return { digest: sha256(manifest), layer, blobBytes: config.length + layer.length };
  }

  before(async () => {
    t = await startTestBerth({
      REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD, REGISTRY_METRICS_ENABLED: 'true',
      REGISTRY_HTTP_DEBUG_ADDR: '127.0.0.1:0', REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true',
    });
    await t.berth.identity.createUser({ name: 'carl', password: 'carl-password' });
    assert.ok(t.berth.debugAddress);
    debugUrl = `http://127.0.0.1:${t.berth.debugAddress.port}`;
  });
  after(async () => {
    await t?.close();
  });

  it('counters move by exactly what was done: pushes, pulls, a failed login, a trust-policy refusal, a GC run', async () => {
    const before = await scrape(debugUrl);
    const app = await push('acme/app', 'v1');
    const locked = await push('acme/locked', 'v1');
    for (let i = 0; i < 3; i++) assert.equal((await call('GET', '/v2/acme/app/manifests/v1')).status, 200);
    const blob = await call('GET', `/v2/acme/app/blobs/${sha256(app.layer)}`);
    assert.equal(blob.status, 200);
    assert.equal(Buffer.from(await blob.arrayBuffer()).length, app.layer.length);
    // A failed login at the token endpoint.
    const bad = await fetch(`${t.url}/auth/token?service=berth`, { headers: { Authorization: `Basic ${Buffer.from('admin:wrong-password').toString('base64')}` } });
    assert.equal(bad.status, 401);
    // A trust policy on acme/locked: its unsigned image is refused.
    const policy = await fetch(`${t.url}/api/v1/trust/policies/repository:acme/locked`, { method: 'PUT', headers: { Authorization: ADMIN, 'Content-Type': 'application/json' }, body: JSON.stringify({ keys: [{ name: 'release', pem: cosignKeyPair().publicKeyPem }] }) });
    assert.equal(policy.status, 200);
    const refused = await call('GET', '/v2/acme/locked/manifests/v1');
    assert.equal(refused.status, 403);
    assert.equal(await errorCode(refused), 'DENIED');
    assert.equal((await call('GET', `/v2/acme/locked/manifests/${locked.digest}`)).status, 403);
    const gc = await fetch(`${t.url}/api/v1/gc?dry-run=true`, { method: 'POST', headers: { Authorization: ADMIN } });
    assert.equal(gc.status, 200);
    await t.berth.events.idle();
    const after = await scrape(debugUrl);
    const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);

    const requests = 'berth_http_requests_total';
    assert.equal(delta(requests, { route: 'upload.start', method: 'POST', status: '201' }), 4);
    assert.equal(delta(requests, { route: 'manifest.put', method: 'PUT', status: '201' }), 2);
    assert.equal(delta(requests, { route: 'manifest.get', method: 'GET', status: '200' }), 3);
    assert.equal(delta(requests, { route: 'manifest.get', method: 'GET', status: '403' }), 2);
    assert.equal(delta(requests, { route: 'blob.get', method: 'GET', status: '200' }), 1);
    assert.equal(delta(requests, { route: 'token.get', status: '401' }), 1);
    assert.equal(delta(requests, { route: 'api.gc.run', status: '200' }), 1);
    // The latency histogram counts every request of the route, whatever its status.
    assert.equal(delta('berth_http_request_duration_seconds_count', { route: 'manifest.get' }), delta(requests, { route: 'manifest.get' }));
    assert.equal(delta('berth_http_request_duration_seconds_bucket', { route: 'manifest.get', le: '+Inf' }), delta(requests, { route: 'manifest.get' }));
    // Bytes on the connection: the bodies, plus heads of less than 2 KiB a request.
    const uploadIn = delta('berth_http_request_bytes_total', { route: 'upload.start' });
    const uploads = delta(requests, { route: 'upload.start' });
    assert.ok(uploadIn >= app.blobBytes + locked.blobBytes && uploadIn < app.blobBytes + locked.blobBytes + 2048 * uploads, `upload bytes in: ${uploadIn}`);
    const blobOut = delta('berth_http_response_bytes_total', { route: 'blob.get' });
    assert.ok(blobOut >= app.layer.length && blobOut < app.layer.length + 2048, `blob bytes out: ${blobOut}`);
    // Failed logins, trust refusals by hook, GC runs.
    assert.equal(delta('berth_login_failures_total'), 1);
    assert.equal(delta('berth_prehook_refusals_total', { hook: 'trust-policy' }), 2);
    assert.equal(delta('berth_prehook_refusals_total'), 2);
    assert.equal(delta('berth_gc_runs_total', { outcome: 'succeeded', dry_run: 'true' }), 1);
    assert.equal(delta('berth_gc_runs_total'), 1);
    assert.equal(delta('berth_gc_duration_seconds_count'), 1);
    assert.equal(delta('berth_gc_freed_bytes_total'), 0, 'a dry run frees nothing');
    // Storage: exactly the four blobs pushed; nothing is uploading now.
    assert.equal(delta('berth_storage_blobs'), 4);
    assert.equal(delta('berth_storage_bytes'), app.blobBytes + locked.blobBytes);
    assert.equal(value(after, 'berth_uploads_in_progress'), 0);
    // No label carries a repository name or a path.
    for (const s of after) for (const v of Object.values(s.labels)) assert.ok(!v.includes('acme') && !v.startsWith('/'), `${s.name} ${JSON.stringify(s.labels)}`);
  });

  it('a GC run that deletes counts what it freed', async () => {
    const before = await scrape(debugUrl);
    const orphan = Buffer.from(`orphan ${Math.random()}`);
    assert.equal((await call('POST', `/v2/acme/orphan/blobs/uploads/?digest=${sha256(orphan)}`, { body: orphan })).status, 201);
    const gc = await fetch(`${t.url}/api/v1/gc?grace=0s`, { method: 'POST', headers: { Authorization: ADMIN } });
    assert.equal(gc.status, 200);
    const report = (await gc.json()) as { blobsDeleted: number; bytesFreed: number };
    assert.ok(report.blobsDeleted >= 1);
    const after = await scrape(debugUrl);
    const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
    assert.equal(delta('berth_gc_runs_total', { outcome: 'succeeded', dry_run: 'false' }), 1);
    assert.equal(delta('berth_gc_deleted_blobs_total'), report.blobsDeleted);
    assert.equal(delta('berth_gc_freed_bytes_total'), report.bytesFreed);
    assert.equal(delta('berth_storage_bytes'), orphan.length - report.bytesFreed);
  });

  it('/metrics on http.addr: 401 anonymous, 403 DENIED for a non-administrator, 200 for an administrator', async () => {
    const anonymous = await fetch(`${t.url}/metrics`);
    assert.equal(anonymous.status, 401);
    assert.equal(await errorCode(anonymous), 'UNAUTHORIZED');
    const carl = await fetch(`${t.url}/metrics`, { headers: { Authorization: `Basic ${Buffer.from('carl:carl-password').toString('base64')}` } });
    assert.equal(carl.status, 403);
    assert.equal(await errorCode(carl), 'DENIED');
    const samples = await scrape(t.url, ADMIN);
    // The scrape on http.addr is itself a request in flight; the debug listener's are not measured.
    assert.equal(value(samples, 'berth_http_requests_in_flight'), 1);
  });

  it('the debug listener serves metrics and health without credentials, and nothing of the registry', async () => {
    assert.equal((await fetch(`${debugUrl}/metrics`)).status, 200);
    assert.equal((await fetch(`${debugUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${debugUrl}/readyz`)).status, 200);
    const v2 = await fetch(`${debugUrl}/v2/`);
    assert.equal(v2.status, 404);
    assert.equal(await errorCode(v2), 'BERTH_ROUTE_UNKNOWN');
    const before = value(await scrape(debugUrl), 'berth_http_requests_total', { route: 'metrics.get' });
    const after = value(await scrape(debugUrl), 'berth_http_requests_total', { route: 'metrics.get' });
    assert.equal(after, before, 'debug scrapes are not counted');
  });
});

describe('metrics behind metrics.token, and under load', () => {
  let t: TestBerth;
  before(async () => {
    t = await startTestBerth({ REGISTRY_METRICS_ENABLED: 'true', REGISTRY_METRICS_TOKEN: METRICS_TOKEN });
  });
  after(async () => {
    await t?.close();
  });

  it('needs the bearer token: none and a wrong one are 401 UNAUTHORIZED with a Bearer challenge', async () => {
    const none = await fetch(`${t.url}/metrics`);
    assert.equal(none.status, 401);
    assert.equal(await errorCode(none), 'UNAUTHORIZED');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer /);
    const wrong = await fetch(`${t.url}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}x` } });
    assert.equal(wrong.status, 401);
    assert.equal(await errorCode(wrong), 'UNAUTHORIZED');
    const basic = await fetch(`${t.url}/metrics`, { headers: { Authorization: `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}` } });
    assert.equal(basic.status, 401);
    await scrape(t.url, `Bearer ${METRICS_TOKEN}`);
    assert.equal(t.berth.debugAddress, null, 'no debug listener without http.debug.addr');
  });

  it('20 scrapes during concurrent pulls: all 200, counters never go down, every pull counted', async () => {
    const image = await pushImage(t.url, 'load/app', 'v1');
    const auth = `Bearer ${METRICS_TOKEN}`;
    const first = value(await scrape(t.url, auth), 'berth_http_requests_total', { route: 'manifest.get', status: '200' });
    let stop = false;
    let pulls = 0;
    const failures: number[] = [];
    const puller = async () => {
      while (!stop) {
        const res = await fetch(`${t.url}/v2/load/app/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
        const body = Buffer.from(await res.arrayBuffer());
        if (res.status !== 200 || sha256(body) !== image.digest) failures.push(res.status);
        pulls++;
      }
    };
    const pullers = Array.from({ length: 8 }, puller);
    const seen: number[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const samples = await scrape(t.url, auth);
        seen.push(value(samples, 'berth_http_requests_total', { route: 'manifest.get', status: '200' }));
      }
    } finally {
      stop = true;
      await Promise.all(pullers);
    }
    assert.deepEqual(failures, []);
    for (let i = 1; i < seen.length; i++) assert.ok((seen[i] as number) >= (seen[i - 1] as number), `scrape ${i}: ${seen[i]} after ${seen[i - 1]}`);
    assert.ok((seen.at(-1) as number) > first, 'pulls were counted while scraping');
    const last = value(await scrape(t.url, auth), 'berth_http_requests_total', { route: 'manifest.get', status: '200' });
    assert.equal(last - first, pulls);
  });
});

describe('metrics off by default, and config errors that name the key', () => {
  it('/metrics is 404 on http.addr unless metrics.enabled', async () => {
    const t = await startTestBerth();
    try {
      const res = await fetch(`${t.url}/metrics`);
      assert.equal(res.status, 404);
      assert.equal(await errorCode(res), 'BERTH_ROUTE_UNKNOWN');
      assert.equal(t.berth.metrics, null);
    } finally {
      await t.close();
    }
  });

  it('refuses unprotected or incomplete metrics settings', async () => {
    const check = async (env: Record<string, string>) => {
      const { config, errors } = await loadConfig({ env, flags: { addr: '127.0.0.1:5000', dataDir: '/tmp/berth-metrics-config' } });
      assert.equal(config, null, JSON.stringify(env));
      return errors.join('\n');
    };
    assert.match(await check({ REGISTRY_METRICS_ENABLED: 'true' }), /^metrics\.enabled: .*metrics\.token/m);
    assert.match(await check({ REGISTRY_METRICS_ENABLED: 'true', REGISTRY_METRICS_TOKEN: 'short' }), /^metrics\.token: too short/m);
    assert.match(await check({ REGISTRY_METRICS_TOKEN: METRICS_TOKEN }), /^metrics\.token: set but metrics\.enabled is not true/m);
    assert.match(await check({ REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true' }), /^http\.debug\.prometheus\.enabled: needs http\.debug\.addr/m);
    assert.match(await check({ REGISTRY_HTTP_DEBUG_ADDR: ':5000' }), /^http\.debug\.addr: port 5000 is http\.addr's/m);
    assert.match(await check({ REGISTRY_HTTP_DEBUG_ADDR: 'nonsense' }), /^http\.debug\.addr: expected HOST:PORT/m);
    const ok = await loadConfig({ env: { REGISTRY_HTTP_DEBUG_ADDR: 'localhost:5001', REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true' }, flags: { addr: '127.0.0.1:5000', dataDir: '/tmp/berth-metrics-config' } });
    assert.deepEqual(ok.errors, []);
    assert.deepEqual(ok.config?.metrics, { main: null, debug: { host: 'localhost', port: 5001, metricsPath: '/metrics' } });
    assert.ok(!ok.warnings.some((w) => w.startsWith('http.debug')), ok.warnings.join('\n'));
  });
});
