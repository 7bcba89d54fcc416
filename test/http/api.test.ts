import http from 'node:http';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startTestBerth, errorCode, pushBlob, sha256, type TestBerth } from '../helpers/berth.js';

/** A GET whose path is sent exactly as given (no client-side normalisation). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject).end();
  });
}

describe('API basics', () => {
  let t: TestBerth;
  before(async () => {
    t = await startTestBerth();
  });
  after(async () => {
    await t.close();
  });

  it('answers GET /v2/ with the API version header', async () => {
    const res = await fetch(`${t.url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.ok(res.headers.get('x-request-id'));
  });

  it('echoes a sane X-Request-Id and replaces an unsafe one', async () => {
    assert.equal((await fetch(`${t.url}/v2/`, { headers: { 'X-Request-Id': 'abc-123' } })).headers.get('x-request-id'), 'abc-123');
    assert.notEqual((await fetch(`${t.url}/v2/`, { headers: { 'X-Request-Id': 'a b<script>' } })).headers.get('x-request-id'), 'a b<script>');
  });

  it('reports health', async () => {
    const res = await fetch(`${t.url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok', checks: { database: 'ok' } });
  });

  it('answers unknown routes with 404 and wrong methods with 405 and Allow', async () => {
    const res = await fetch(`${t.url}/nothing`);
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'BERTH_ROUTE_UNKNOWN');
    const m = await fetch(`${t.url}/v2/a/tags/list`, { method: 'DELETE' });
    assert.equal(m.status, 405);
    assert.equal(m.headers.get('allow'), 'GET');
  });

  it('refuses invalid repository names with NAME_INVALID, and nothing escapes the data folder', async () => {
    const digest = await pushBlob(t.url, 'safe/a', 'x');
    for (const name of ['UPPER', 'a..b', 'a%2f..%2fb', '_x', 'a/-b']) {
      const res = await fetch(`${t.url}/v2/${name}/blobs/${digest}`);
      assert.equal(res.status, 400, name);
      assert.equal(await errorCode(res), 'NAME_INVALID', name);
    }
    // Routing is on the raw path (fetch would resolve the dots itself, so a
    // raw request): dot segments and backslashes are part of the name, which
    // is invalid, as a proxy in front of Berth would also have read it.
    for (const raw of [`/v2/safe/a/../../../etc/blobs/${digest}`, `/v2/safe/a/%2e%2e/b/blobs/${digest}`, `/v2/safe/./a/blobs/${digest}`, `/v2/safe\\a/blobs/${digest}`]) {
      const { status, body } = await rawGet(t.berth.address.port, raw);
      assert.equal(status, 400, raw);
      assert.equal((JSON.parse(body) as { errors: { code: string }[] }).errors[0]?.code, 'NAME_INVALID', raw);
    }
    const long = await fetch(`${t.url}/v2/${'a'.repeat(300)}/tags/list`);
    assert.equal(await errorCode(long), 'NAME_INVALID');
  });

  it('answers a malformed HTTP request with 400, not a crash', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(t.berth.address.port, '127.0.0.1', () => s.write('THIS IS NOT HTTP\r\n\r\n'));
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 400/);
    assert.equal((await fetch(`${t.url}/v2/`)).status, 200, 'the server is still up');
  });

  it('refuses oversized headers with 431', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(t.berth.address.port, '127.0.0.1', () => s.write(`GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`));
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.on('end', () => resolve(data));
      s.on('error', (e) => (data ? resolve(data) : reject(e)));
    });
    assert.match(reply, /^HTTP\/1\.1 431/);
  });

  it('closes a connection whose headers do not arrive within 60 s (not 90)', { timeout: 80_000 }, async () => {
    const started = Date.now();
    const reply = await new Promise<string>((resolve, reject) => {
      // The request line, then nothing: a slowloris client.
      const s = net.connect(t.berth.address.port, '127.0.0.1', () => s.write('GET /v2/ HTTP/1.1\r\nHost: x\r\n'));
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.on('close', () => resolve(data));
      s.on('error', (e) => (data ? resolve(data) : reject(e)));
    });
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds >= 59 && seconds < 64, `closed after ${seconds.toFixed(1)} s`);
    assert.match(reply, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(reply, /"code":"BERTH_REQUEST_TIMEOUT"/);
  });
});

describe('configuration effects', () => {
  it('refuses deletes when storage.delete.enabled is false (405 UNSUPPORTED)', async () => {
    const t = await startTestBerth({ REGISTRY_STORAGE_DELETE_ENABLED: 'false' });
    try {
      const digest = await pushBlob(t.url, 'nodel/a', 'x');
      const res = await fetch(`${t.url}/v2/nodel/a/blobs/${digest}`, { method: 'DELETE' });
      assert.equal(res.status, 405);
      assert.equal(await errorCode(res), 'UNSUPPORTED');
    } finally {
      await t.close();
    }
  });

  it('refuses writes in read-only mode', async () => {
    const t = await startTestBerth({ REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED: 'true' });
    try {
      const res = await fetch(`${t.url}/v2/ro/a/blobs/uploads/`, { method: 'POST' });
      assert.equal(res.status, 405);
      assert.equal(await errorCode(res), 'UNSUPPORTED');
    } finally {
      await t.close();
    }
  });

  it('sends relative Location headers with http.relativeurls', async () => {
    const t = await startTestBerth({ REGISTRY_HTTP_RELATIVEURLS: 'true' });
    try {
      const res = await fetch(`${t.url}/v2/rel/a/blobs/uploads/`, { method: 'POST' });
      assert.match(res.headers.get('location') ?? '', /^\/v2\/rel\/a\/blobs\/uploads\//);
    } finally {
      await t.close();
    }
  });
});
