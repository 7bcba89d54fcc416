import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { runDriverSuite } from '../driver-suite.js';
import { BaseDriver } from '../base.js';
import { PathNotFoundError, StorageUnavailableError, type StorageDriver } from '../driver.js';
import { MIN_PART_BYTES, S3Driver } from './s3.js';
import { startTestS3, type TestS3Server } from '../../../test/helpers/s3.js';

const MiB = 1024 * 1024;
let server: TestS3Server;

runDriverSuite({
  name: 's3',
  redirects: true,
  async create() {
    server = await startTestS3();
    return new S3Driver(server.driverOptions({ rootDirectory: 'registry' }));
  },
  skipTests: process.env.BERTH_TEST_S3_ENDPOINT ? {} : {
    'serves concurrent readers while an object is replaced':
      's3rver rewrites an object\'s file in place, so a reader can see a mix; S3, MinIO and Ceph replace objects atomically (set BERTH_TEST_S3_ENDPOINT to run it against one)',
  },
  async teardown() {
    // Stop the S3 server even when the check fails: a live child would keep the test process from exiting.
    try {
      assert.deepEqual(await server.keys(), [], 'the bucket is empty after the suite');
    } finally {
      await server.close();
    }
  },
});

async function* chunks(...parts: Buffer[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield p;
}

async function* failingAfter(part: Buffer): AsyncGenerator<Buffer> {
  yield part;
  throw new Error('client went away');
}

async function readAll(d: StorageDriver, path: string): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of await d.reader(path)) out.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(out);
}

/** Records the size of every part and of every completion's part list. */
interface PartRecord { parts: Map<string, number[]>; completed: number[][] }

function recordParts(driver: S3Driver, rec: PartRecord): void {
  const client = (driver as unknown as { client: { middlewareStack: { add(mw: unknown, o: unknown): void } } }).client;
  client.middlewareStack.add((next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: Record<string, unknown> }) => {
    const input = args.input;
    if (context.commandName === 'UploadPartCommand') {
      const id = input.UploadId as string;
      const list = rec.parts.get(id) ?? [];
      list[(input.PartNumber as number) - 1] = input.ContentLength as number;
      rec.parts.set(id, list);
    }
    if (context.commandName === 'CompleteMultipartUploadCommand') {
      const id = input.UploadId as string;
      const numbers = ((input.MultipartUpload as { Parts: Array<{ PartNumber: number }> }).Parts).map((p) => p.PartNumber);
      rec.completed.push(numbers.map((n) => rec.parts.get(id)?.[n - 1] ?? -1));
    }
    return next(args);
  }, { step: 'initialize', name: 'berthRecordParts' });
}

describe('s3 driver: multipart appends', () => {
  let s3: TestS3Server;
  let a: S3Driver;
  let b: S3Driver;
  before(async () => {
    s3 = await startTestS3();
    a = new S3Driver(s3.driverOptions({ chunkSize: MIN_PART_BYTES }));
    b = new S3Driver(s3.driverOptions({ chunkSize: MIN_PART_BYTES }));
    await a.init();
    await b.init();
  });
  after(async () => {
    await a.close();
    await b.close();
    await s3.close();
  });

  it('continues an append through another driver instance, in whole 5 MiB parts, and moves it whole', async () => {
    const rec: PartRecord = { parts: new Map(), completed: [] };
    recordParts(a, rec);
    recordParts(b, rec);
    const p1 = randomBytes(3 * MiB);
    const p2 = randomBytes(4 * MiB + 11);
    const p3 = randomBytes(6 * MiB + 5);
    assert.equal(await a.append('/uploads/u1/data', chunks(p1)), p1.length);
    assert.equal((await b.stat('/uploads/u1/data'))?.size, p1.length, 'the other instance sees the appended size');
    assert.equal(await b.append('/uploads/u1/data', chunks(p2.subarray(0, 100), p2.subarray(100))), p1.length + p2.length);
    assert.equal(await a.append('/uploads/u1/data', chunks(p3)), p1.length + p2.length + p3.length);
    assert.deepEqual(await a.list('/uploads'), ['u1']);
    assert.deepEqual(await b.list('/uploads/u1'), ['data']);
    await b.move('/uploads/u1/data', '/blobs/x');
    const whole = Buffer.concat([p1, p2, p3]);
    assert.equal(createHash('sha256').update(await readAll(a, '/blobs/x')).digest('hex'), createHash('sha256').update(whole).digest('hex'));
    const completed = rec.completed;
    assert.equal(completed.length, 1, 'one multipart upload was completed');
    const sizes = completed[0];
    assert.ok(sizes && sizes.length >= 2);
    for (const size of sizes.slice(0, -1)) assert.ok(size >= MIN_PART_BYTES, `a middle part of ${size} bytes is under S3's 5 MiB minimum`);
    assert.equal(sizes.reduce((x, y) => x + y, 0), whole.length);
    assert.equal(await a.delete('/blobs/x'), true);
    assert.equal(await a.delete('/uploads/u1'), false, 'the move left nothing under the upload');
    assert.deepEqual(await s3.keys(), []);
  });

  it('leaves the committed bytes as they were when an append fails after shipping a part', async () => {
    const first = randomBytes(2 * MiB);
    await a.append('/uploads/u2/data', chunks(first));
    await assert.rejects(b.append('/uploads/u2/data', failingAfter(randomBytes(7 * MiB))), /client went away/);
    assert.equal((await a.stat('/uploads/u2/data'))?.size, first.length);
    const second = randomBytes(5 * MiB);
    await b.append('/uploads/u2/data', chunks(second));
    assert.deepEqual(await readAll(a, '/uploads/u2/data'), Buffer.concat([first, second]));
    assert.equal(await a.delete('/uploads/u2'), true);
    assert.deepEqual(await s3.keys(), []);
  });

  it('trusts the append state it wrote itself only while the caller\'s size matches it', async () => {
    const [p0, p1, p2, p3] = [randomBytes(5 * MiB), randomBytes(3 * MiB), randomBytes(6 * MiB), randomBytes(100)];
    let size = await a.append('/uploads/u4/data', chunks(p0), { currentSize: 0, expectedBytes: p0.length });
    size = await a.append('/uploads/u4/data', chunks(p1), { currentSize: size });
    // Another instance appends: `a`'s remembered state is now behind, and the caller's size says so.
    size = await b.append('/uploads/u4/data', chunks(p2), { currentSize: size, expectedBytes: p2.length });
    size = await a.append('/uploads/u4/data', chunks(p3), { currentSize: size, final: true });
    assert.equal(size, 14 * MiB + 100);
    assert.deepEqual((await s3.keys()).filter((k) => k.includes('~append/')), [], 'a final append finishes the object: no append state is left');
    assert.equal(await b.finish('/uploads/u4/data'), size);
    assert.deepEqual(await readAll(b, '/uploads/u4/data'), Buffer.concat([p0, p1, p2, p3]));
    await a.delete('/uploads/u4');
    assert.deepEqual(await s3.keys(), []);
  });

  it('reads an object in progress (completing it), then can still append to it', async () => {
    const first = randomBytes(6 * MiB);
    await a.append('/uploads/u3/data', chunks(first));
    assert.deepEqual(await readAll(b, '/uploads/u3/data'), first);
    const more = randomBytes(1000);
    assert.equal(await a.append('/uploads/u3/data', chunks(more)), first.length + more.length);
    assert.deepEqual(await readAll(b, '/uploads/u3/data'), Buffer.concat([first, more]));
    await a.delete('/uploads/u3');
    assert.deepEqual(await s3.keys(), []);
  });

  it('presigns GET URLs that serve the object, and ranges', async () => {
    const data = randomBytes(4096);
    await a.putContent('/blobs/p', data);
    const url = await a.redirectUrl('/blobs/p', { method: 'GET', expiresInSeconds: 60 });
    assert.ok(url !== null && url.startsWith(s3.endpoint));
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), data);
    const ranged = await fetch(url, { headers: { Range: 'bytes=10-19' } });
    assert.equal(ranged.status, 206);
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), data.subarray(10, 20));
    await a.delete('/blobs/p');
  });

  it('keeps a whole object whole when a move target already exists', async () => {
    await a.putContent('/blobs/m', Buffer.from('old'));
    await a.append('/uploads/u4/data', chunks(Buffer.from('new')));
    await b.move('/uploads/u4/data', '/blobs/m');
    assert.equal((await a.getContent('/blobs/m')).toString(), 'new');
    await assert.rejects(a.move('/uploads/u4/data', '/blobs/m'), PathNotFoundError);
    await a.delete('/blobs/m');
    await a.delete('/uploads/u4');
    assert.deepEqual(await s3.keys(), []);
  });
});

describe('s3 driver: faults', () => {
  it('reports an unreachable store as StorageUnavailableError, leaves the upload intact, and recovers', { skip: process.env.BERTH_TEST_S3_ENDPOINT ? 'needs the s3rver the tests start (cannot stop an external store)' : false }, async () => {
    const s3 = await startTestS3();
    const d = new BaseDriver(new S3Driver(s3.driverOptions({ chunkSize: MIN_PART_BYTES })));
    try {
      await d.init();
      const first = randomBytes(MiB);
      await d.append('/uploads/f/data', chunks(first));
      await s3.stop();
      await assert.rejects(d.stat('/uploads/f/data'), StorageUnavailableError);
      await assert.rejects(d.append('/uploads/f/data', chunks(randomBytes(6 * MiB))), (err: Error) => {
        assert.ok(err instanceof StorageUnavailableError, `${err.name}: ${err.message}`);
        assert.match(err.message, /object store/);
        return true;
      });
      await s3.restart();
      assert.equal((await d.stat('/uploads/f/data'))?.size, first.length, 'the failed append changed nothing');
      const second = randomBytes(6 * MiB);
      await d.append('/uploads/f/data', chunks(second));
      assert.deepEqual(await readAll(d, '/uploads/f/data'), Buffer.concat([first, second]));
      await d.delete('/uploads/f');
    } finally {
      await d.close();
      await s3.close();
    }
  });

  it('refuses to start on a missing bucket, naming the key to fix', async () => {
    const s3 = await startTestS3();
    const d = new S3Driver(s3.driverOptions({ bucket: 'no-such-bucket' }));
    try {
      await assert.rejects(d.init(), /storage\.s3\.bucket: the bucket "no-such-bucket" does not exist/);
    } finally {
      await d.close();
      await s3.close();
    }
  });
});
