import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import zlib from 'node:zlib';
import { errorCode, pushBlob, sha256, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { sharedTestS3 } from '../helpers/s3.js';
import { Fsck } from '../../src/fsck/index.js';
import { SparsePolicy } from '../../src/registry/index.js';

// "A blob that fails verification is never served" (issue 13 item 4), on the
// filesystem and on S3 served through Berth (no redirect): the stored bytes
// are damaged through the storage driver itself, so both backends are
// damaged the same way. With storage.verifyreads: true (the default) the
// first read verified by the digest records the blob's CRC-32, and later
// reads check that instead (issue 14 item 1); `digest` never uses it.

const MiB = 1024 * 1024;

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The whole declared body arrived and the response ended normally. */
  complete: boolean;
}

/** A GET or HEAD with node:http, keeping whatever body arrived when the server cuts the connection. */
function raw(url: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete });
      };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', done);
      res.on('error', done); // "aborted": the connection closed mid-body
      res.on('close', done);
    });
    req.on('error', reject);
    req.end();
  });
}

function digestOf(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Replaces the stored bytes of a blob (through the storage driver, so on any backend). */
async function damage(t: TestBerth, repo: string, digest: string, change: (bytes: Buffer) => Buffer): Promise<void> {
  const blob = await t.berth.registry.statBlob(repo, digest);
  const where = t.berth.registry.placement.location(blob);
  const stored = await t.berth.storage.getContent(where);
  await t.berth.storage.putContent(where, change(Buffer.from(stored)));
}

/** The CRC-32 recorded for a blob, read through the metadata store; undefined when none is. */
async function recorded(t: TestBerth, digest: string): Promise<number | undefined> {
  const blob = await t.berth.registry.metadata.content.getBlob(digest);
  assert.ok(blob, `${digest} is recorded`);
  return blob.crc32;
}

/** Waits until the read that verified a blob by its digest has recorded its CRC-32 (the read does not wait for that write). */
async function checksumRecorded(t: TestBerth, digest: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const crc = await recorded(t, digest);
    if (crc !== undefined) return crc;
    if (Date.now() > deadline) assert.fail(`no checksum recorded for ${digest} within 10 s`);
    await delay(20);
  }
}

/** Asserts a large blob's GET was refused the only way left once headers went out: a cut connection, never the complete body. */
function assertCut(res: RawAnswer, data: Buffer, digest: string): void {
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-length'], String(data.length));
  assert.equal(res.complete, false, 'the connection is aborted');
  assert.ok(res.body.length <= data.length - 64 * 1024, `at most all but the held-back tail arrived (${res.body.length} bytes)`);
  assert.notEqual(digestOf(res.body), digest);
}

function flipByte(at: number): (bytes: Buffer) => Buffer {
  return (bytes) => {
    bytes[at] = (bytes[at] as number) ^ 0xff;
    return bytes;
  };
}

for (const backend of ['filesystem', 's3'] as const) {
  describe(`blob verification on ${backend}`, () => {
    let t: TestBerth;
    before(async () => {
      // Any REGISTRY_STORAGE_* setting keeps the test helper from choosing S3 (BERTH_TEST_STORAGE=s3): the filesystem case stays on the filesystem.
      t = await startTestBerth(backend === 's3'
        ? (await sharedTestS3()).env({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `verify-${randomBytes(4).toString('hex')}`, REGISTRY_STORAGE_REDIRECT_DISABLE: 'true' })
        : { REGISTRY_STORAGE_DELETE_ENABLED: 'true' });
    });
    after(async () => {
      await t.close();
    });

    it('serves intact blobs whole and by range, every range verified (large blob)', async () => {
      const data = randomBytes(3 * MiB + 17);
      const digest = await pushBlob(t.url, 'ok/large', data);
      const url = `${t.url}/v2/ok/large/blobs/${digest}`;
      const whole = await raw(url);
      assert.equal(whole.status, 200);
      assert.ok(whole.complete);
      assert.equal(digestOf(whole.body), digest);
      const cases: [string, number, number, string][] = [
        ['bytes=0-', 0, data.length, `bytes 0-${data.length - 1}/${data.length}`],
        ['bytes=100-199', 100, 200, `bytes 100-199/${data.length}`],
        [`bytes=${MiB - 5}-${2 * MiB + 5}`, MiB - 5, 2 * MiB + 6, `bytes ${MiB - 5}-${2 * MiB + 5}/${data.length}`],
        ['bytes=-10', data.length - 10, data.length, `bytes ${data.length - 10}-${data.length - 1}/${data.length}`],
        [`bytes=-${data.length + 5}`, 0, data.length, `bytes 0-${data.length - 1}/${data.length}`],
        [`bytes=${data.length - 70_000}-`, data.length - 70_000, data.length, `bytes ${data.length - 70_000}-${data.length - 1}/${data.length}`],
      ];
      for (const [range, from, to, contentRange] of cases) {
        const part = await raw(url, { headers: { Range: range } });
        assert.equal(part.status, 206, range);
        assert.equal(part.headers['content-range'], contentRange, range);
        assert.equal(part.headers['content-length'], String(to - from), range);
        assert.ok(part.complete, range);
        assert.ok(part.body.equals(data.subarray(from, to)), range);
      }
      // Several ranges are refused by serving the whole blob (as before); past the end is 416.
      const multi = await raw(url, { headers: { Range: 'bytes=0-1,5-6' } });
      assert.equal(multi.status, 200);
      assert.equal(digestOf(multi.body), digest);
      const past = await raw(url, { headers: { Range: `bytes=${data.length}-` } });
      assert.equal(past.status, 416);
      assert.equal(past.headers['content-range'], `bytes */${data.length}`);
      const head = await raw(url, { method: 'HEAD', headers: { Range: 'bytes=-10' } });
      assert.equal(head.status, 206);
      assert.equal(head.headers['content-length'], '10');
      assert.equal(head.body.length, 0);
    });

    it('never delivers the complete wrong bytes of a large blob with one byte flipped', async () => {
      const data = randomBytes(3 * MiB + 5);
      const digest = await pushBlob(t.url, 'bad/large', data);
      await damage(t, 'bad/large', digest, flipByte(MiB + 3));
      const url = `${t.url}/v2/bad/large/blobs/${digest}`;
      const res = await raw(url);
      // The headers went out before the damage could be seen; the body is cut short.
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-length'], String(data.length));
      assert.equal(res.complete, false, 'the connection is aborted');
      assert.ok(res.body.length <= data.length - 64 * 1024, `at most all but the held-back tail arrived (${res.body.length} bytes)`);
      assert.notEqual(digestOf(res.body), digest);
      // A range is verified against the whole blob too, even one far from the damage.
      // One within the held-back tail waits for the verdict, so it gets the clean error.
      const part = await fetch(url, { headers: { Range: 'bytes=0-99' } });
      assert.equal(part.status, 500);
      assert.equal(await errorCode(part), 'BERTH_BLOB_CORRUPT');
      const longer = await raw(url, { headers: { Range: `bytes=0-${MiB}` } });
      assert.equal(longer.status, 206);
      assert.equal(longer.complete, false);
      assert.ok(longer.body.length <= MiB + 1 - 64 * 1024);
      // The server stays healthy: an intact blob is served afterwards.
      const fine = randomBytes(2 * MiB);
      const fineDigest = await pushBlob(t.url, 'bad/large', fine);
      const again = await raw(`${t.url}/v2/bad/large/blobs/${fineDigest}`);
      assert.ok(again.complete);
      assert.equal(digestOf(again.body), fineDigest);
      // Bytes that failed the digest never get a checksum; the intact blob read meanwhile does.
      assert.equal(await checksumRecorded(t, fineDigest), zlib.crc32(fine));
      assert.equal(await recorded(t, digest), undefined);
    });

    it('answers GET of a damaged small blob with BERTH_BLOB_CORRUPT, before any byte; HEAD, which reads no bytes, answers from the record', async () => {
      const data = randomBytes(200_000);
      const digest = await pushBlob(t.url, 'bad/small', data);
      await damage(t, 'bad/small', digest, flipByte(1000));
      const get = await fetch(`${t.url}/v2/bad/small/blobs/${digest}`);
      assert.equal(get.status, 500);
      assert.equal(await errorCode(get), 'BERTH_BLOB_CORRUPT');
      const part = await fetch(`${t.url}/v2/bad/small/blobs/${digest}`, { headers: { Range: 'bytes=0-9' } });
      assert.equal(part.status, 500);
      assert.equal(await errorCode(part), 'BERTH_BLOB_CORRUPT');
      const head = await fetch(`${t.url}/v2/bad/small/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(data.length));
      assert.equal(await recorded(t, digest), undefined, 'bytes that failed the digest get no checksum');
    });

    it('records a blob\'s CRC-32 on its first pull verified by the digest (whole or a range), never on HEAD', async () => {
      const large = randomBytes(3 * MiB + 1);
      const largeDigest = await pushBlob(t.url, 'crc/first', large);
      assert.equal(await recorded(t, largeDigest), undefined, 'a push computes no checksum');
      const head = await raw(`${t.url}/v2/crc/first/blobs/${largeDigest}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      const whole = await raw(`${t.url}/v2/crc/first/blobs/${largeDigest}`);
      assert.ok(whole.complete);
      assert.equal(digestOf(whole.body), largeDigest);
      assert.equal(await checksumRecorded(t, largeDigest), zlib.crc32(large));
      // Checked by the checksum from now on: still served whole, and by range.
      const again = await raw(`${t.url}/v2/crc/first/blobs/${largeDigest}`);
      assert.ok(again.complete);
      assert.equal(digestOf(again.body), largeDigest);
      const part = await raw(`${t.url}/v2/crc/first/blobs/${largeDigest}`, { headers: { Range: 'bytes=5-70004' } });
      assert.equal(part.status, 206);
      assert.ok(part.complete);
      assert.ok(part.body.equals(large.subarray(5, 70_005)));
      // A range reads the whole blob, so its first read records the checksum too; so does a small blob's.
      const small = randomBytes(100_000);
      const smallDigest = await pushBlob(t.url, 'crc/first', small);
      const smallPart = await raw(`${t.url}/v2/crc/first/blobs/${smallDigest}`, { headers: { Range: 'bytes=0-9' } });
      assert.equal(smallPart.status, 206);
      assert.ok(smallPart.body.equals(small.subarray(0, 10)));
      assert.equal(await checksumRecorded(t, smallDigest), zlib.crc32(small));
      const smallWhole = await fetch(`${t.url}/v2/crc/first/blobs/${smallDigest}`);
      assert.equal(smallWhole.status, 200);
      assert.ok(Buffer.from(await smallWhole.arrayBuffer()).equals(small));
    });

    it('refuses a blob damaged after its checksum was recorded: small with BERTH_BLOB_CORRUPT, large with a cut connection', async () => {
      const large = randomBytes(3 * MiB + 9);
      const largeDigest = await pushBlob(t.url, 'crc/damaged', large);
      const small = randomBytes(300_000);
      const smallDigest = await pushBlob(t.url, 'crc/damaged', small);
      for (const [digest, data] of [[largeDigest, large], [smallDigest, small]] as const) {
        assert.ok((await raw(`${t.url}/v2/crc/damaged/blobs/${digest}`)).complete);
        assert.equal(await checksumRecorded(t, digest), zlib.crc32(data));
        await damage(t, 'crc/damaged', digest, flipByte(data.length - 100_000)); // same size: only the checksum can tell
      }
      assertCut(await raw(`${t.url}/v2/crc/damaged/blobs/${largeDigest}`), large, largeDigest);
      const part = await fetch(`${t.url}/v2/crc/damaged/blobs/${largeDigest}`, { headers: { Range: 'bytes=0-99' } });
      assert.equal(part.status, 500);
      assert.equal(await errorCode(part), 'BERTH_BLOB_CORRUPT');
      const get = await fetch(`${t.url}/v2/crc/damaged/blobs/${smallDigest}`);
      assert.equal(get.status, 500);
      assert.equal(await errorCode(get), 'BERTH_BLOB_CORRUPT');
      const smallPart = await fetch(`${t.url}/v2/crc/damaged/blobs/${smallDigest}`, { headers: { Range: 'bytes=0-9' } });
      assert.equal(smallPart.status, 500);
      assert.equal(await errorCode(smallPart), 'BERTH_BLOB_CORRUPT');
    });

    it('trusts a recorded checksum: a wrong one refuses intact bytes (the documented trade-off of the default)', async () => {
      const large = randomBytes(2 * MiB + 3);
      const largeDigest = await pushBlob(t.url, 'crc/wrong', large);
      const small = randomBytes(1000);
      const smallDigest = await pushBlob(t.url, 'crc/wrong', small);
      const content = t.berth.registry.metadata.content;
      assert.equal(await content.recordBlobChecksum(largeDigest, zlib.crc32(large) ^ 1), true);
      assert.equal(await content.recordBlobChecksum(smallDigest, zlib.crc32(small) ^ 1), true);
      assertCut(await raw(`${t.url}/v2/crc/wrong/blobs/${largeDigest}`), large, largeDigest);
      const get = await fetch(`${t.url}/v2/crc/wrong/blobs/${smallDigest}`);
      assert.equal(get.status, 500);
      assert.equal(await errorCode(get), 'BERTH_BLOB_CORRUPT');
    });

    it('berth fsck records the checksum of blobs that verify by their digest and have none, never of damaged ones', async () => {
      const data = randomBytes(2 * MiB + 7);
      const digest = await pushBlob(t.url, 'crc/fsck', data);
      const bad = randomBytes(3000);
      const badDigest = await pushBlob(t.url, 'crc/fsck', bad);
      await damage(t, 'crc/fsck', badDigest, flipByte(10));
      const wrong = randomBytes(5000);
      const wrongDigest = await pushBlob(t.url, 'crc/fsck', wrong);
      await t.berth.registry.metadata.content.recordBlobChecksum(wrongDigest, zlib.crc32(wrong) ^ 1);
      const fsck = new Fsck({
        metadata: t.berth.registry.metadata, storage: t.berth.registry.storage, placement: t.berth.registry.placement,
        sparse: new SparsePolicy(), instanceId: 'test', quietMs: 0,
      });
      const report = await fsck.run({ repair: false });
      assert.ok(report.checksumsRecorded >= 1, `checksums recorded: ${report.checksumsRecorded}`);
      assert.equal(await recorded(t, digest), zlib.crc32(data), 'recorded by fsck, awaited before it returns');
      assert.equal(await recorded(t, badDigest), undefined);
      assert.ok(report.findings.some((f) => f.kind === 'corrupt-blob' && f.digest === badDigest));
      // fsck checks the digest, not a recorded checksum, and leaves one in place.
      assert.ok(!report.findings.some((f) => f.digest === wrongDigest));
      assert.equal(await recorded(t, wrongDigest), zlib.crc32(wrong) ^ 1);
      const again = await fsck.run({ repair: false });
      assert.ok(!again.findings.some((f) => f.digest === digest));
      assert.equal(await recorded(t, digest), zlib.crc32(data));
    });

    it('refuses a blob whose stored size differs from its record before sending any byte', async () => {
      const large = randomBytes(2 * MiB + 1);
      const largeDigest = await pushBlob(t.url, 'bad/short', large);
      await damage(t, 'bad/short', largeDigest, (b) => b.subarray(0, b.length - 1));
      const res = await fetch(`${t.url}/v2/bad/short/blobs/${largeDigest}`);
      assert.equal(res.status, 500);
      assert.equal(await errorCode(res), 'BERTH_BLOB_CORRUPT');
      const longer = randomBytes(2 * MiB);
      const longerDigest = await pushBlob(t.url, 'bad/short', longer);
      await damage(t, 'bad/short', longerDigest, (b) => Buffer.concat([b, Buffer.from('x')]));
      const res2 = await fetch(`${t.url}/v2/bad/short/blobs/${longerDigest}`, { headers: { Range: 'bytes=5-10' } });
      assert.equal(res2.status, 500);
      assert.equal(await errorCode(res2), 'BERTH_BLOB_CORRUPT');
      const small = Buffer.from('a small config');
      const smallDigest = await pushBlob(t.url, 'bad/short', small);
      await damage(t, 'bad/short', smallDigest, (b) => b.subarray(1));
      const res3 = await fetch(`${t.url}/v2/bad/short/blobs/${smallDigest}`);
      assert.equal(res3.status, 500);
      assert.equal(await errorCode(res3), 'BERTH_BLOB_CORRUPT');
      assert.equal(sha256(small), smallDigest);
    });
  });

  describe(`blob verification by digest (storage.verifyreads: digest) on ${backend}`, () => {
    let t: TestBerth;
    before(async () => {
      const env = { REGISTRY_STORAGE_VERIFYREADS: 'digest' };
      t = await startTestBerth(backend === 's3'
        ? (await sharedTestS3()).env({ ...env, REGISTRY_STORAGE_S3_ROOTDIRECTORY: `verify-digest-${randomBytes(4).toString('hex')}`, REGISTRY_STORAGE_REDIRECT_DISABLE: 'true' })
        : env);
    });
    after(async () => {
      await t.close();
    });

    it('never uses the recorded checksum: damaged bytes that match it are refused, intact bytes that do not are served', async () => {
      const large = randomBytes(3 * MiB + 11);
      const largeDigest = await pushBlob(t.url, 'digest/forged', large);
      const small = randomBytes(500_000);
      const smallDigest = await pushBlob(t.url, 'digest/forged', small);
      const content = t.berth.registry.metadata.content;
      // A checksum written for the bytes that then replace the blob's (as someone able to write the store could).
      for (const [digest, data] of [[largeDigest, large], [smallDigest, small]] as const) {
        const forged = flipByte(1234)(Buffer.from(data));
        assert.equal(await content.recordBlobChecksum(digest, zlib.crc32(forged)), true);
        await damage(t, 'digest/forged', digest, () => forged);
      }
      assertCut(await raw(`${t.url}/v2/digest/forged/blobs/${largeDigest}`), large, largeDigest);
      const get = await fetch(`${t.url}/v2/digest/forged/blobs/${smallDigest}`);
      assert.equal(get.status, 500);
      assert.equal(await errorCode(get), 'BERTH_BLOB_CORRUPT');

      const intact = randomBytes(2 * MiB + 1);
      const intactDigest = await pushBlob(t.url, 'digest/wrong', intact);
      assert.equal(await content.recordBlobChecksum(intactDigest, zlib.crc32(intact) ^ 1), true);
      const res = await raw(`${t.url}/v2/digest/wrong/blobs/${intactDigest}`);
      assert.ok(res.complete);
      assert.equal(digestOf(res.body), intactDigest);
    });

    it('records no checksum when pulling', async () => {
      const data = randomBytes(2 * MiB);
      const digest = await pushBlob(t.url, 'digest/plain', data);
      const res = await raw(`${t.url}/v2/digest/plain/blobs/${digest}`);
      assert.ok(res.complete);
      assert.equal(digestOf(res.body), digest);
      // A second, small pull: its (absent) recording would have been issued after the first's.
      const small = Buffer.from('a small blob');
      const smallDigest = await pushBlob(t.url, 'digest/plain', small);
      assert.equal((await fetch(`${t.url}/v2/digest/plain/blobs/${smallDigest}`)).status, 200);
      assert.equal(await recorded(t, digest), undefined);
      assert.equal(await recorded(t, smallDigest), undefined);
    });
  });
}
