// What a Berth process killed in the middle of a write leaves in s3rver,
// and that the S3 driver of the next process is not misled by it.
//
// s3rver (it keeps running when Berth is killed) writes an object's file in
// place while the request body streams in, and keeps whatever arrived when
// the client's connection dies: the key then holds a partial object that
// GET, HEAD and listings show. Real S3, MinIO and Ceph create nothing from a
// request that did not complete. The cut request is made here by hand (a
// PUT whose body stops short, then the socket closed), as a SIGKILL leaves
// it; crash.test.ts kills real processes, but cannot aim at one request.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { S3Driver } from '../../src/storage/drivers/s3.js';
import { startTestS3, type TestS3Server } from '../helpers/s3.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const T = { timeout: 60_000 };

/**
 * Sends a PUT of `key` that announces `declared` bytes and sends `sent` of
 * them; once s3rver has stored those (it handles the request on its own
 * time), the connection dies, as when the sending process is killed.
 */
async function cutPut(s3: TestS3Server, key: string, declared: number, sent: Buffer): Promise<void> {
  const u = new URL(s3.endpoint);
  const socket = net.connect(Number(u.port), u.hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  socket.write(`PUT /${s3.bucket}/${key} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`);
  socket.write(sent);
  const size = async () => {
    const head = await fetch(`${s3.endpoint}/${s3.bucket}/${key}`, { method: 'HEAD' });
    return head.status === 200 ? Number(head.headers.get('content-length')) : -1;
  };
  try {
    for (let i = 0; (await size()) !== sent.length; i++) {
      assert.ok(i < 400, `s3rver never stored the ${sent.length} bytes sent of ${key}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    socket.destroy();
  }
}

async function readAll(d: S3Driver, path: string): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of await d.reader(path)) out.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(out);
}

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

describe('s3rver after a writer was killed', () => {
  let s3: TestS3Server;
  before(async () => {
    s3 = await startTestS3();
  }, T);
  after(async () => {
    await s3?.close();
  });

  it('keeps a cut PUT as a partial object under its final key (why Berth never names a key before its write completed)', T, async () => {
    const key = `probe/${randomUUID()}`;
    await cutPut(s3, key, 1000, Buffer.from('only the start'));
    assert.ok((await s3.keys()).includes(key), 'listed');
    const got = await fetch(`${s3.endpoint}/${s3.bucket}/${key}`);
    assert.equal(got.status, 200);
    assert.equal(await got.text(), 'only the start');
  });

  it('an upload whose next append state was cut mid-write goes on from its committed state in the next process', T, async () => {
    const path = `/uploads/${randomUUID()}/data`;
    const first = randomBytes(10 * 1024);
    const second = randomBytes(7 * 1024);
    const killed = new S3Driver(s3.driverOptions({ rootDirectory: 'crash' }));
    assert.equal(await killed.append(path, once(first), { currentSize: 0 }), first.length);
    // The process is killed while writing the state of its next append: a
    // newer state object, cut in the middle of its JSON.
    const newer = Buffer.from(JSON.stringify({ v: 1, size: first.length + 4096, uploadId: null, parts: [], tail: { name: `tail-${randomUUID()}`, size: first.length + 4096 }, modified: Date.now() + 60_000 }));
    await cutPut(s3, `crash/~append${path}/state-${(Date.now() + 60_000).toString(36).padStart(9, '0')}-${randomUUID()}.json`, newer.length, newer.subarray(0, newer.length >> 1));
    await killed.close();

    const next = new S3Driver(s3.driverOptions({ rootDirectory: 'crash' }));
    try {
      assert.equal((await next.stat(path))?.size, first.length, 'the committed size');
      assert.equal(await next.append(path, once(second), { currentSize: first.length }), first.length + second.length);
      assert.equal(await next.finish(path), first.length + second.length);
      assert.deepEqual(await readAll(next, path), Buffer.concat([first, second]));
      await next.delete(path);
      assert.deepEqual((await s3.keys()).filter((k) => k.startsWith('crash/')), [], 'nothing of the upload is left');
    } finally {
      await next.close();
    }
  });
});
