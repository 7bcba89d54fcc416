import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
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
      const { out, error } = await drain(verifiedBytes(chunksOf(data, chunk), { digest: d, size: data.length, range, holdBack: 10_000 }));
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
  const { out, error } = await drain(verifiedBytes(chunksOf(bad, 4096), { digest: d, size: data.length, range: null, holdBack: 10_000 }));
  assert.ok(error instanceof RegistryError && error.code === 'BERTH_BLOB_CORRUPT');
  assert.equal(out.length, data.length - 10_000);
  // Shorter and longer sources fail too, whatever the bytes.
  const short = await drain(verifiedBytes(chunksOf(data.subarray(1), 4096), { digest: d, size: data.length, range: null, holdBack: 10_000 }));
  assert.ok(short.error instanceof RegistryError && short.error.code === 'BERTH_BLOB_CORRUPT');
  assert.ok(short.out.length <= data.length - 10_000);
  const long = await drain(verifiedBytes(chunksOf(Buffer.concat([data, Buffer.from('x')]), 4096), { digest: d, size: data.length, range: null, holdBack: 10_000 }));
  assert.ok(long.error instanceof RegistryError && long.error.code === 'BERTH_BLOB_CORRUPT');
  // A range no longer than the held-back tail yields nothing before the verdict.
  const part = await drain(verifiedBytes(chunksOf(bad, 4096), { digest: d, size: data.length, range: { start: 200_000, end: 205_000 }, holdBack: 10_000 }));
  assert.ok(part.error instanceof RegistryError);
  assert.equal(part.out.length, 0);
});

test('verifyWhole checks size and digest', () => {
  const data = randomBytes(1000);
  const d = digestOf(data);
  verifyWhole(data, d, 1000);
  assert.throws(() => verifyWhole(data, d, 999), (e) => e instanceof RegistryError && e.code === 'BERTH_BLOB_CORRUPT');
  const bad = Buffer.from(data);
  bad[0] = (bad[0] as number) ^ 1;
  assert.throws(() => verifyWhole(bad, d, 1000), (e) => e instanceof RegistryError && e.code === 'BERTH_BLOB_CORRUPT');
});
