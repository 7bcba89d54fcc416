import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorCode, pushBlob, sha256, startTestBerth } from '../helpers/berth.js';
import { sharedTestS3, startTestS3 } from '../helpers/s3.js';

// Berth on S3 storage (s3rver). These run in every `npm test`, whatever
// BERTH_TEST_STORAGE says; with it, the whole HTTP suite also runs on S3.

/**
 * A pass-through HTTP proxy between Berth and the object store that counts
 * the request body bytes of PUTs it passes on: a test waits on that (Berth
 * really is storing the bytes) before it breaks the store, instead of
 * sleeping. A store that cannot be reached resets Berth's connection.
 */
async function startStoreTap(target: string): Promise<{ url: string; putBytes: () => number; close: () => Promise<void> }> {
  const to = new URL(target);
  let putBytes = 0;
  const server = http.createServer((req, res) => {
    const up = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
    });
    up.on('error', () => req.socket.destroy());
    req.on('error', () => up.destroy());
    if (req.method === 'PUT') req.on('data', (c: Buffer) => { putBytes += c.length; });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    putBytes: () => putBytes,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Polls `ok` every 10 ms; rejects naming `what` if it is not true within `ms`. */
async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !ok();) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('blob GETs redirect to a presigned URL that serves the bytes; HEAD answers itself', async (t) => {
  const s3 = await sharedTestS3();
  const b = await startTestBerth(s3.env({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `redirect-${randomBytes(4).toString('hex')}` }));
  t.after(() => b.close());
  const data = randomBytes(100_000);
  const digest = await pushBlob(b.url, 'r/app', data);
  const res = await fetch(`${b.url}/v2/r/app/blobs/${digest}`, { redirect: 'manual' });
  assert.equal(res.status, 307);
  assert.equal(res.headers.get('docker-content-digest'), digest);
  const location = res.headers.get('location') ?? '';
  assert.ok(location.startsWith(s3.endpoint), location);
  assert.match(location, /X-Amz-Signature=/);
  const direct = await fetch(location);
  assert.equal(direct.status, 200);
  assert.equal(sha256(Buffer.from(await direct.arrayBuffer())), digest);
  const head = await fetch(`${b.url}/v2/r/app/blobs/${digest}`, { method: 'HEAD', redirect: 'manual' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(data.length));
});

test('the object store down mid-upload: 503 BERTH_UNAVAILABLE, /readyz 503, nothing half-done; the retry succeeds', { skip: process.env.BERTH_TEST_S3_ENDPOINT ? 'stops the s3rver it starts; cannot stop an external store' : false }, async (t) => {
  const s3 = await startTestS3();
  t.after(() => s3.close());
  const b = await startTestBerth({ ...s3.env(), REGISTRY_STORAGE_REDIRECT_DISABLE: 'true', REGISTRY_STORAGE_S3_CHUNKSIZE: String(5 * 1024 * 1024) });
  t.after(() => b.close());
  const first = randomBytes(6 * 1024 * 1024);
  const second = randomBytes(3 * 1024 * 1024);
  const stored = await pushBlob(b.url, 'f/app', randomBytes(1000));
  const start = await fetch(`${b.url}/v2/f/app/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202);
  const location = new URL(start.headers.get('location') ?? '', b.url).toString();
  const p1 = await fetch(location, { method: 'PATCH', body: first, headers: { 'Content-Range': `0-${first.length - 1}` } });
  assert.equal(p1.status, 202);

  await s3.stop();
  const down = await fetch(location, { method: 'PATCH', body: second, headers: { 'Content-Range': `${first.length}-${first.length + second.length - 1}` } });
  assert.equal(down.status, 503);
  assert.equal(await errorCode(down), 'BERTH_UNAVAILABLE');
  const ready = await fetch(`${b.url}/readyz`);
  assert.equal(ready.status, 503);
  assert.equal(((await ready.json()) as { checks: Record<string, string> }).checks.storage, 'unavailable');
  // Whether a blob exists is the database's answer, and the database is up:
  // a blob that was never completed is unknown, store or no store. A blob
  // that does exist cannot be read while the store is down: that is the 503.
  const neverCompleted = await fetch(`${b.url}/v2/f/app/blobs/${sha256(first)}`);
  assert.equal(neverCompleted.status, 404);
  assert.equal(await errorCode(neverCompleted), 'BLOB_UNKNOWN');
  const unreadable = await fetch(`${b.url}/v2/f/app/blobs/${stored}`);
  assert.equal(unreadable.status, 503);
  assert.equal(await errorCode(unreadable), 'BERTH_UNAVAILABLE');

  await s3.restart();
  assert.equal((await fetch(`${b.url}/readyz`)).status, 200);
  const status = await fetch(location);
  assert.equal(status.headers.get('range'), `0-${first.length - 1}`, 'the failed PATCH left the upload at its committed size');
  const retry = await fetch(location, { method: 'PATCH', body: second, headers: { 'Content-Range': `${first.length}-${first.length + second.length - 1}` } });
  assert.equal(retry.status, 202);
  const whole = Buffer.concat([first, second]);
  const done = await fetch(`${location}${location.includes('?') ? '&' : '?'}digest=${sha256(whole)}`, { method: 'PUT' });
  assert.equal(done.status, 201, await done.text());
  const got = await fetch(`${b.url}/v2/f/app/blobs/${sha256(whole)}`);
  assert.equal(sha256(Buffer.from(await got.arrayBuffer())), sha256(whole));
});

test('the object store failing while a chunk streams into it: the client gets 503, the instance lives on, the retry succeeds', { skip: process.env.BERTH_TEST_S3_ENDPOINT ? 'stops the s3rver it starts; cannot stop an external store' : false }, async (t) => {
  const MiB = 1024 * 1024;
  const s3 = await startTestS3();
  t.after(() => s3.close());
  const tap = await startStoreTap(s3.endpoint);
  t.after(() => tap.close());
  const b = await startTestBerth({ ...s3.env({ REGISTRY_STORAGE_S3_REGIONENDPOINT: tap.url }), REGISTRY_STORAGE_REDIRECT_DISABLE: 'true' });
  t.after(() => b.close());
  const chunk = randomBytes(8 * MiB);
  const start = await fetch(`${b.url}/v2/mid/app/blobs/uploads/`, { method: 'POST' });
  const location = new URL(start.headers.get('location') ?? '', b.url);
  // A sized chunk goes on to the store as it arrives: after the first MiB,
  // stop the store once half of it has reached the store (the part is being stored).
  const before = tap.putBytes();
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer to the PATCH within 30 s')), 30_000);
    const req = http.request({
      host: location.hostname, port: location.port, path: location.pathname + location.search, method: 'PATCH',
      headers: { 'Content-Length': chunk.length, 'Content-Range': `0-${chunk.length - 1}`, 'Content-Type': 'application/octet-stream' },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode ?? 0, body }); });
    });
    req.on('error', () => undefined); // the rest of the body may meet a closed connection; the answer is what counts
    req.write(chunk.subarray(0, MiB));
    until('Berth storing the chunk', () => tap.putBytes() - before >= MiB / 2)
      .then(() => s3.stop())
      .then(() => req.end(chunk.subarray(MiB)), (err: unknown) => {
        clearTimeout(timer);
        req.destroy();
        reject(err instanceof Error ? err : new Error(String(err)));
      });
  });
  assert.equal(answer.status, 503, answer.body);
  assert.equal((JSON.parse(answer.body) as { errors: Array<{ code: string }> }).errors[0]?.code, 'BERTH_UNAVAILABLE');
  await s3.restart();
  assert.equal((await fetch(`${b.url}/readyz`)).status, 200, 'the instance lived through it');
  assert.equal((await fetch(location)).headers.get('range'), '0-0', 'nothing of the failed chunk was kept');
  const retry = await fetch(location, { method: 'PATCH', body: chunk, headers: { 'Content-Range': `0-${chunk.length - 1}` } });
  assert.equal(retry.status, 202, await retry.text());
  const done = await fetch(`${location}${location.search ? '&' : '?'}digest=${sha256(chunk)}`, { method: 'PUT' });
  assert.equal(done.status, 201, await done.text());
  const got = await fetch(`${b.url}/v2/mid/app/blobs/${sha256(chunk)}`);
  assert.equal(sha256(Buffer.from(await got.arrayBuffer())), sha256(chunk));
});

test('a chunked upload continues through a second instance sharing the database and bucket', async (t) => {
  const s3 = await sharedTestS3();
  const env = { ...s3.env({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `spans-${randomBytes(4).toString('hex')}` }), REGISTRY_STORAGE_REDIRECT_DISABLE: 'true', REGISTRY_STORAGE_S3_CHUNKSIZE: String(5 * 1024 * 1024) };
  const a = await startTestBerth(env);
  t.after(() => a.close());
  if (!a.databaseUrl) {
    t.skip('needs a shared database: run with BERTH_TEST_DATABASE=postgres (as CI does) for the two-instance case');
    return;
  }
  const b = await startTestBerth({ ...env, BERTH_DATABASE_URL: a.databaseUrl });
  t.after(() => b.close());
  const chunks = [randomBytes(2 * 1024 * 1024), randomBytes(5 * 1024 * 1024 + 7), randomBytes(1000)];
  const start = await fetch(`${a.url}/v2/s/app/blobs/uploads/`, { method: 'POST' });
  const path = new URL(start.headers.get('location') ?? '', a.url);
  let offset = 0;
  for (const [i, chunk] of chunks.entries()) {
    const via = i % 2 === 0 ? b.url : a.url;
    const res = await fetch(`${via}${path.pathname}${path.search}`, { method: 'PATCH', body: chunk, headers: { 'Content-Range': `${offset}-${offset + chunk.length - 1}` } });
    assert.equal(res.status, 202, await res.text());
    offset += chunk.length;
  }
  const whole = Buffer.concat(chunks);
  const sep = path.search ? '&' : '?';
  const done = await fetch(`${b.url}${path.pathname}${path.search}${sep}digest=${sha256(whole)}`, { method: 'PUT' });
  assert.equal(done.status, 201, await done.text());
  for (const url of [a.url, b.url]) {
    const got = await fetch(`${url}/v2/s/app/blobs/${sha256(whole)}`);
    assert.equal(sha256(Buffer.from(await got.arrayBuffer())), sha256(whole));
  }
});
