import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { RegistryError } from '../errors/index.js';
import { parseDigest } from './names.js';
import { verifiedBytes, verifyWhole } from './verified-read.js';

function digestOf(data: Buffer) {
  return parseDigest(`sha256:${createHash('sha256').update(data).digest('hex')}`);
}

async function* chunksOf(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

/** Drains the generator, keeping what it yielded before any error. */
async function drain(gen: AsyncGenerator<Buffer>): Promise<{ out: Buffer; error: unknown }> {
  const parts: Buffer[] = [];
  try {
    for await (const c of gen) parts.push(c);
    return { out: Buffer.concat(parts), error: null };
  } catch (error) {
    return { out: Buffer.concat(parts), error };
  }
}

test('verifiedBytes passes on the whole blob, or any range of it, when it verifies', async () => {
  const data = randomBytes(300_000);
  const d = digestOf(data);
  for (const chunk of [1, 4096, 65_536, 1 << 20]) {
    for (const range of [null, { start: 0, end: 0 }, { start: 1000, end: 250_000 }, { start: 299_990, end: 299_999 }, { start: 0, end: 299_999 }]) {
      const { out, error } = await drain(verifiedBytes(chunksOf(data, chunk), { check: { by: 'digest', digest: d }, size: data.length, range, holdBack: 10_000 }));
      assert.equal(error, null);
      assert.ok(out.equals(range ? data.subarray(range.start, range.end + 1) : data), `chunk ${chunk}, range ${JSON.stringify(range)}`);
    }
  }
});

test('verifiedBytes never yields the held-back tail of a blob that fails verification', async () => {
  const data = randomBytes(300_000);
  const d = digestOf(data);
  const bad = Buffer.from(data);
  bad[123] = (bad[123] as number) ^ 1;
  const { out, error } = await drain(verifiedBytes(chunksOf(bad, 4096), { check: { by: 'digest', digest: d }, size: data.length, range: null, holdBack: 10_000 }));
  assert.ok(error instanceof RegistryError && error.code === 'BERTH_BLOB_CORRUPT');
  assert.equal(out.length, data.length - 10_000);
  // Shorter and longer sources fail too, whatever the bytes.
  const short = await drain(verifiedBytes(chunksOf(data.subarray(1), 4096), { check: { by: 'digest', digest: d }, size: data.length, range: null, holdBack: 10_000 }));
  assert.ok(short.error instanceof RegistryError && short.error.code === 'BERTH_BLOB_CORRUPT');
  assert.ok(short.out.length <= data.length - 10_000);
  const long = await drain(verifiedBytes(chunksOf(Buffer.concat([data, Buffer.from('x')]), 4096), { check: { by: 'digest', digest: d }, size: data.length, range: null, holdBack: 10_000 }));
  assert.ok(long.error instanceof RegistryError && long.error.code === 'BERTH_BLOB_CORRUPT');
  // A range no longer than the held-back tail yields nothing before the verdict.
  const part = await drain(verifiedBytes(chunksOf(bad, 4096), { check: { by: 'digest', digest: d }, size: data.length, range: { start: 200_000, end: 205_000 }, holdBack: 10_000 }));
  assert.ok(part.error instanceof RegistryError);
  assert.equal(part.out.length, 0);
});

test('verifyWhole checks size and digest', () => {
  const data = randomBytes(1000);
  const d = digestOf(data);
  verifyWhole(data, { by: 'digest', digest: d }, 1000);
  assert.throws(() => verifyWhole(data, { by: 'digest', digest: d }, 999), (e) => e instanceof RegistryError && e.code === 'BERTH_BLOB_CORRUPT');
  const bad = Buffer.from(data);
  bad[0] = (bad[0] as number) ^ 1;
  assert.throws(() => verifyWhole(bad, { by: 'digest', digest: d }, 1000), (e) => e instanceof RegistryError && e.code === 'BERTH_BLOB_CORRUPT');
});

test('a read verified by the digest hands over the CRC-32 of all the blob\'s bytes, whatever the range, and only once the digest verified', async () => {
  const data = randomBytes(300_000);
  const d = digestOf(data);
  const learnt: number[] = [];
  const onChecksum = (crc: number) => learnt.push(crc);
  const part = await drain(verifiedBytes(chunksOf(data, 4096), { check: { by: 'digest', digest: d, onChecksum }, size: data.length, range: { start: 10, end: 20 }, holdBack: 10_000 }));
  assert.equal(part.error, null);
  assert.deepEqual(learnt, [zlib.crc32(data)]);
  const bad = Buffer.from(data);
  bad[5] = (bad[5] as number) ^ 1;
  const failed = await drain(verifiedBytes(chunksOf(bad, 4096), { check: { by: 'digest', digest: d, onChecksum }, size: data.length, range: null, holdBack: 10_000 }));
  assert.ok(failed.error instanceof RegistryError && failed.error.code === 'BERTH_BLOB_CORRUPT');
  assert.throws(() => verifyWhole(bad, { by: 'digest', digest: d, onChecksum }, data.length), (e) => e instanceof RegistryError && e.code === 'BERTH_BLOB_CORRUPT');
  assert.deepEqual(learnt, [zlib.crc32(data)], 'bytes that fail the digest teach nothing');
  verifyWhole(data, { by: 'digest', digest: d, onChecksum }, data.length);
  assert.deepEqual(learnt, [zlib.crc32(data), zlib.crc32(data)]);
});

test('a read verified by the recorded checksum passes intact bytes and refuses damaged ones, holding back the tail', async () => {
  const data = randomBytes(300_000);
  const d = digestOf(data);
  const check = { by: 'checksum', digest: d, crc32: zlib.crc32(data) } as const;
  const ok = await drain(verifiedBytes(chunksOf(data, 65_536), { check, size: data.length, range: { start: 1000, end: 250_000 }, holdBack: 10_000 }));
  assert.equal(ok.error, null);
  assert.ok(ok.out.equals(data.subarray(1000, 250_001)));
  verifyWhole(data, check, data.length);
  const bad = Buffer.from(data);
  bad[200_000] = (bad[200_000] as number) ^ 0xff;
  const { out, error } = await drain(verifiedBytes(chunksOf(bad, 4096), { check, size: data.length, range: null, holdBack: 10_000 }));
  assert.ok(error instanceof RegistryError && error.code === 'BERTH_BLOB_CORRUPT');
  assert.match(error.message, /recorded checksum/);
  assert.equal(out.length, data.length - 10_000);
  assert.throws(() => verifyWhole(bad, check, data.length), (e) => e instanceof RegistryError && e.code === 'BERTH_BLOB_CORRUPT');
  // The checksum is all that is checked: bytes that match it pass, whatever the digest says (the trade-off of storage.verifyreads: true).
  const forged = { by: 'checksum', digest: d, crc32: zlib.crc32(bad) } as const;
  verifyWhole(bad, forged, data.length);
  // A wrong recorded checksum refuses intact bytes.
  assert.throws(() => verifyWhole(data, forged, data.length), (e) => e instanceof RegistryError && e.code === 'BERTH_BLOB_CORRUPT');
});
