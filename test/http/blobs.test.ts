import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { startTestBerth, sha256, errorCode, pushBlob, type TestBerth } from '../helpers/berth.js';
import { terminateHashThreadForTests } from '../../src/registry/stream-hash.js';

async function startSession(url: string, repo: string): Promise<string> {
  const res = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(res.status, 202);
  assert.equal(res.headers.get('range'), '0-0');
  const location = res.headers.get('location');
  assert.ok(location);
  assert.ok(location.includes(`/v2/${repo}/blobs/uploads/`));
  assert.equal(res.headers.get('docker-upload-uuid'), location.split('/').pop());
  return new URL(location, url).toString();
}

function patch(location: string, body: Buffer<ArrayBuffer>, range?: string): Promise<Response> {
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
  if (range) headers['Content-Range'] = range;
  return fetch(location, { method: 'PATCH', body, headers });
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}

describe('blobs and uploads', () => {
  let t: TestBerth;
  before(async () => {
    t = await startTestBerth();
  });
  after(async () => {
    await t.close();
  });

  it('uploads monolithically with POST ?digest= and serves the bytes back', async () => {
    const data = randomBytes(100_000);
    const digest = await pushBlob(t.url, 'mono/a', data);
    const head = await fetch(`${t.url}/v2/mono/a/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(data.length));
    assert.equal(head.headers.get('docker-content-digest'), digest);
    const get = await fetch(`${t.url}/v2/mono/a/blobs/${digest}`);
    assert.deepEqual(Buffer.from(await get.arrayBuffer()), data);
  });

  it('uploads in chunks with Content-Range and verifies the digest at PUT', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 5);
    const loc = await startSession(t.url, 'chunk/a');
    const cut = 1024 * 1024;
    let res = await patch(loc, data.subarray(0, cut), `0-${cut - 1}`);
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('range'), `0-${cut - 1}`);
    res = await patch(new URL(res.headers.get('location') as string, t.url).toString(), data.subarray(cut, 2 * cut), `${cut}-${2 * cut - 1}`);
    assert.equal(res.status, 202);
    const status = await fetch(loc);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${2 * cut - 1}`);
    // The last chunk travels with the PUT.
    res = await fetch(withDigest(loc, sha256(data)), { method: 'PUT', body: data.subarray(2 * cut), headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), sha256(data));
    assert.match(res.headers.get('location') ?? '', /\/v2\/chunk\/a\/blobs\/sha256:/);
    const get = await fetch(`${t.url}/v2/chunk/a/blobs/${sha256(data)}`);
    assert.deepEqual(Buffer.from(await get.arrayBuffer()), data);
    assert.equal((await fetch(loc)).status, 404, 'a finished session is gone');
  });

  it('accepts streamed PATCHes without Content-Range (as docker sends them)', async () => {
    const a = randomBytes(70_000);
    const b = randomBytes(30_000);
    const loc = await startSession(t.url, 'stream/a');
    assert.equal((await patch(loc, a)).status, 202);
    const res = await patch(loc, b);
    assert.equal(res.headers.get('range'), `0-${a.length + b.length - 1}`);
    const put = await fetch(withDigest(loc, sha256(Buffer.concat([a, b]))), { method: 'PUT' });
    assert.equal(put.status, 201);
  });

  it('refuses out-of-order and overlapping chunks with 416 and the current Range', async () => {
    const loc = await startSession(t.url, 'order/a');
    await patch(loc, Buffer.alloc(10, 1), '0-9');
    for (const range of ['20-29', '5-14', '0-9']) {
      const res = await patch(loc, Buffer.alloc(10, 2), range);
      assert.equal(res.status, 416, range);
      assert.equal(res.headers.get('range'), '0-9');
      assert.equal(await errorCode(res), 'BLOB_UPLOAD_INVALID');
    }
    const res = await patch(loc, Buffer.alloc(10, 2), 'nonsense');
    assert.equal(res.status, 416);
    const mismatch = await patch(loc, Buffer.alloc(10, 2), '10-29');
    assert.equal(mismatch.status, 416, 'a range longer than the body is refused');
    assert.equal((await fetch(loc)).headers.get('range'), '0-9', 'refused chunks change nothing');
  });

  it('refuses a digest mismatch and keeps nothing of the upload', async () => {
    const uploadsDir = path.join(t.dataDir, 'uploads');
    const before = await readdir(uploadsDir).catch(() => []);
    const loc = await startSession(t.url, 'mismatch/a');
    await patch(loc, Buffer.from('some bytes'));
    const wrong = sha256('other bytes');
    const res = await fetch(withDigest(loc, wrong), { method: 'PUT' });
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), 'DIGEST_INVALID');
    assert.equal((await fetch(`${t.url}/v2/mismatch/a/blobs/${wrong}`, { method: 'HEAD' })).status, 404);
    assert.equal((await fetch(loc)).status, 404, 'the session is discarded');
    const mono = await fetch(`${t.url}/v2/mismatch/a/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: 'abc' });
    assert.equal(await errorCode(mono), 'DIGEST_INVALID');
    assert.deepEqual(await readdir(uploadsDir).catch(() => []), before, 'no upload data left behind');
  });

  it('answers unknown upload ids and malformed digests with the spec codes', async () => {
    const unknown = `${t.url}/v2/u/a/blobs/uploads/0b6c1f2e-0000-4000-8000-000000000000`;
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const res = await fetch(unknown, { method, ...(method === 'PATCH' ? { body: 'x' } : {}) });
      assert.equal(res.status, 404, method);
      assert.equal(await errorCode(res), 'BLOB_UPLOAD_UNKNOWN');
    }
    const put = await fetch(`${unknown}?digest=${sha256('x')}`, { method: 'PUT', body: 'x' });
    assert.equal(await errorCode(put), 'BLOB_UPLOAD_UNKNOWN');
    const junk = await fetch(`${t.url}/v2/u/a/blobs/uploads/..%2f..%2fetc`, { method: 'GET' });
    assert.equal(junk.status, 404);
    for (const bad of ['sha256:abc', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'sha256:' + 'Z'.repeat(64)]) {
      const res = await fetch(`${t.url}/v2/u/a/blobs/${bad}`);
      assert.equal(res.status, 400, bad);
      assert.equal(await errorCode(res), 'DIGEST_INVALID');
    }
    const noDigest = await startSession(t.url, 'u/a');
    assert.equal(await errorCode(await fetch(noDigest, { method: 'PUT' })), 'DIGEST_INVALID');
  });

  it('cancels an upload session with DELETE', async () => {
    const loc = await startSession(t.url, 'cancel/a');
    await patch(loc, Buffer.from('abc'));
    assert.equal((await fetch(loc, { method: 'DELETE' })).status, 204);
    assert.equal((await fetch(loc)).status, 404);
  });

  it('serves Range requests: 206 for a range, 416 past the end', async () => {
    const data = randomBytes(1000);
    const digest = await pushBlob(t.url, 'range/a', data);
    const part = await fetch(`${t.url}/v2/range/a/blobs/${digest}`, { headers: { Range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), 'bytes 100-199/1000');
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), data.subarray(100, 200));
    const past = await fetch(`${t.url}/v2/range/a/blobs/${digest}`, { headers: { Range: 'bytes=1000-' } });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), 'bytes */1000');
    const suffix = await fetch(`${t.url}/v2/range/a/blobs/${digest}`, { headers: { Range: 'bytes=-10' } });
    assert.deepEqual(Buffer.from(await suffix.arrayBuffer()), data.subarray(990));
  });

  it('mounts a blob from another repository, and falls back to a session when it cannot', async () => {
    const digest = await pushBlob(t.url, 'mount/src', 'shared layer');
    const ok = await fetch(`${t.url}/v2/mount/dst/blobs/uploads/?mount=${digest}&from=mount/src`, { method: 'POST' });
    assert.equal(ok.status, 201);
    assert.equal(ok.headers.get('docker-content-digest'), digest);
    assert.equal((await fetch(`${t.url}/v2/mount/dst/blobs/${digest}`, { method: 'HEAD' })).status, 200);
    const missing = await fetch(`${t.url}/v2/mount/dst/blobs/uploads/?mount=${sha256('absent')}&from=mount/src`, { method: 'POST' });
    assert.equal(missing.status, 202);
    assert.ok(missing.headers.get('location'));
    const badFrom = await fetch(`${t.url}/v2/mount/dst/blobs/uploads/?mount=${digest}&from=../x`, { method: 'POST' });
    assert.equal(badFrom.status, 202);
  });

  it('keeps blobs per repository: unlinking in one leaves the other intact', async () => {
    const digest = await pushBlob(t.url, 'links/one', 'linked twice');
    await pushBlob(t.url, 'links/two', 'linked twice');
    assert.equal((await fetch(`${t.url}/v2/links/three/blobs/${digest}`, { method: 'HEAD' })).status, 404, 'not visible where not linked');
    assert.equal((await fetch(`${t.url}/v2/links/one/blobs/${digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await fetch(`${t.url}/v2/links/one/blobs/${digest}`, { method: 'HEAD' })).status, 404);
    const still = await fetch(`${t.url}/v2/links/two/blobs/${digest}`);
    assert.equal(await still.text(), 'linked twice');
    assert.equal(await errorCode(await fetch(`${t.url}/v2/links/one/blobs/${digest}`, { method: 'DELETE' })), 'BLOB_UNKNOWN');
  });

  it('lets two clients upload the same blob at once', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const digest = sha256(data);
    const [a, b] = await Promise.all([startSession(t.url, 'race/a'), startSession(t.url, 'race/b')]);
    const results = await Promise.all([a, b].map(async (loc) => {
      await patch(loc, data);
      return fetch(withDigest(loc, digest), { method: 'PUT' });
    }));
    assert.deepEqual(results.map((r) => r.status), [201, 201]);
    for (const repo of ['race/a', 'race/b']) {
      const body = Buffer.from(await (await fetch(`${t.url}/v2/${repo}/blobs/${digest}`)).arrayBuffer());
      assert.equal(sha256(body), digest);
    }
  });

  it('supports sha512 digests', async () => {
    const data = Buffer.from('sha512 content');
    const digest = `sha512:${createHash('sha512').update(data).digest('hex')}`;
    const loc = await startSession(t.url, 'sha512/a');
    await patch(loc, data);
    assert.equal((await fetch(withDigest(loc, digest), { method: 'PUT' })).status, 201);
    assert.equal(await (await fetch(`${t.url}/v2/sha512/a/blobs/${digest}`)).text(), 'sha512 content');
  });

  it('finishes a session whose hashing thread died between chunks: the digest is read back from storage', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 11);
    const cut = 3 * 1024 * 1024; // over a MiB: hashed in the thread
    const loc = await startSession(t.url, 'thread/a');
    let res = await patch(loc, data.subarray(0, cut), `0-${cut - 1}`);
    assert.equal(res.status, 202);
    await terminateHashThreadForTests();
    res = await patch(new URL(res.headers.get('location') as string, t.url).toString(), data.subarray(cut), `${cut}-${data.length - 1}`);
    assert.equal(res.status, 202);
    const put = await fetch(withDigest(new URL(res.headers.get('location') as string, t.url).toString(), sha256(data)), { method: 'PUT' });
    assert.equal(put.status, 201);
    const get = await fetch(`${t.url}/v2/thread/a/blobs/${sha256(data)}`);
    assert.deepEqual(Buffer.from(await get.arrayBuffer()), data);
    // And a wrong digest is still refused after such a death.
    const loc2 = await startSession(t.url, 'thread/b');
    res = await patch(loc2, data.subarray(0, cut), `0-${cut - 1}`);
    await terminateHashThreadForTests();
    const wrong = await fetch(withDigest(new URL(res.headers.get('location') as string, t.url).toString(), sha256(data)), { method: 'PUT' });
    assert.equal(wrong.status, 400);
    assert.equal(await errorCode(wrong), 'DIGEST_INVALID');
  });

  it('rolls back a chunk when the client disconnects mid-upload; the session stays resumable', async () => {
    const loc = await startSession(t.url, 'drop/a');
    const first = randomBytes(1000);
    await patch(loc, first, '0-999');
    await new Promise<void>((resolve, reject) => {
      const u = new URL(loc);
      const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'PATCH', headers: { 'Content-Length': 1_000_000, 'Content-Range': '1000-1000999' } });
      req.on('error', () => resolve());
      // Disconnect only once the server is handling the PATCH (its append has begun), so the rollback is what is tested.
      req.write(randomBytes(300_000), () => {
        const deadline = Date.now() + 10_000;
        const poll = () => {
          if (t.berth.http.inFlight() > 0) {
            req.destroy();
            resolve();
          } else if (Date.now() > deadline) {
            req.destroy();
            reject(new Error('the server never started handling the PATCH'));
          } else setTimeout(poll, 5);
        };
        poll();
      });
    });
    // Give the server a moment to notice and roll back.
    let range = '';
    for (let i = 0; i < 50 && range !== '0-999'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      range = (await fetch(loc)).headers.get('range') ?? '';
    }
    assert.equal(range, '0-999');
    const rest = randomBytes(500);
    assert.equal((await patch(loc, rest, '1000-1499')).status, 202);
    assert.equal((await fetch(withDigest(loc, sha256(Buffer.concat([first, rest]))), { method: 'PUT' })).status, 201);
  });

  it('resumes an upload session after a restart', async () => {
    const loc = await startSession(t.url, 'restart/a');
    const a = randomBytes(5000);
    const b = randomBytes(7000);
    await patch(loc, a, '0-4999');
    await t.restart();
    const status = await fetch(loc);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-4999');
    await patch(loc, b, '5000-11999');
    const put = await fetch(withDigest(loc, sha256(Buffer.concat([a, b]))), { method: 'PUT' });
    assert.equal(put.status, 201, 'the digest is recomputed from storage after a restart');
  });

  it('completes a session that never received a byte: POST, then PUT ?digest= of the empty blob with no body', async () => {
    const empty = sha256(Buffer.alloc(0));
    for (const [repo, headers] of [['empty/nobody', {}], ['empty/cl0', { 'Content-Length': '0' }]] as const) {
      const loc = await startSession(t.url, repo);
      const put = await fetch(withDigest(loc, empty), { method: 'PUT', headers });
      assert.equal(put.status, 201, repo);
      assert.equal(put.headers.get('docker-content-digest'), empty);
      const get = await fetch(`${t.url}/v2/${repo}/blobs/${empty}`);
      assert.equal(get.status, 200);
      assert.equal(get.headers.get('content-length'), '0');
      assert.equal((await get.arrayBuffer()).byteLength, 0);
    }
    // A session with no bytes completed with another digest is still refused.
    const loc = await startSession(t.url, 'empty/wrong');
    const wrong = await fetch(withDigest(loc, sha256('x')), { method: 'PUT' });
    assert.equal(wrong.status, 400);
    assert.equal(await errorCode(wrong), 'DIGEST_INVALID');
  });

  it('accepts the empty blob; a monolithic body shorter than its Content-Length stores nothing', async () => {
    const res = await fetch(`${t.url}/v2/mono/b/blobs/uploads/?digest=${sha256('')}`, { method: 'POST', body: '' });
    assert.equal(res.status, 201, 'the empty blob is a valid blob');
    // 5 bytes of a promised 10, then the client goes away.
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(t.berth.address.port, '127.0.0.1', () => {
        s.write(`POST /v2/mono/b/blobs/uploads/?digest=${sha256('short')} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nshort`);
        s.end();
      });
      let data = '';
      s.on('data', (d) => (data += d.toString()));
      s.on('close', () => resolve(data));
      s.on('error', reject);
    });
    assert.doesNotMatch(reply, /^HTTP\/1\.1 201/, 'never acknowledged');
    const head = await fetch(`${t.url}/v2/mono/b/blobs/${sha256('short')}`, { method: 'HEAD' });
    assert.equal(head.status, 404, 'nothing stored');
  });

  it('refuses a Content-Range whose total cannot hold it (0-9/5)', async () => {
    const loc = await startSession(t.url, 'chunk/total');
    const res = await patch(loc, Buffer.from('0123456789'), '0-9/5');
    assert.equal(res.status, 416);
    assert.equal(await errorCode(res), 'BLOB_UPLOAD_INVALID');
    assert.equal((await fetch(loc)).headers.get('range'), '0-0', 'nothing appended');
  });
});
