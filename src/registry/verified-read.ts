import { createHash } from 'node:crypto';
import { RegistryError } from '../errors/index.js';
import type { ParsedDigest } from './names.js';
import type { ByteRange } from './service.js';

/**
 * Blobs up to this size are read whole and verified before anything is
 * answered, so a damaged one gets a clean error (configs, manifests' small
 * layers, signatures).
 */
export const SMALL_BLOB_BYTES = 1024 * 1024;

/**
 * How much of a larger blob's answer waits until its digest is verified: the
 * client never receives the complete body of a damaged blob, and reports a
 * short read instead of storing wrong bytes.
 */
export const HOLD_BACK_BYTES = 64 * 1024;

export function corruptBlob(digest: string, reason: string, cause?: unknown): RegistryError {
  return new RegistryError('BERTH_BLOB_CORRUPT', `the stored blob failed verification: ${reason}`, { detail: { digest }, cause });
}

/** The expected blob whole: throws BERTH_BLOB_CORRUPT unless `data` has its size and digest. */
export function verifyWhole(data: Buffer, d: ParsedDigest, size: number): void {
  if (data.length !== size) throw corruptBlob(d.digest, `storage holds ${data.length} bytes, the blob has ${size}`);
  if (createHash(d.algorithm).update(data).digest('hex') !== d.hex) throw corruptBlob(d.digest, 'its bytes do not match the digest');
}

export interface VerifiedBytesOptions {
  digest: ParsedDigest;
  /** The blob's recorded size: the source must yield exactly this many bytes. */
  size: number;
  /** The part to pass on (inclusive ends), or null for all of it; the source is always the whole blob. */
  range: ByteRange | null;
  /** Bytes at the end of the output released only after the digest is verified. */
  holdBack?: number;
}

/**
 * Passes on the bytes of `range` from a source that yields the whole blob,
 * hashing all of it, and keeps the last `holdBack` bytes of the output until
 * the digest and size are verified. On a mismatch it throws
 * BERTH_BLOB_CORRUPT instead of yielding them, so a consumer that stops at
 * the error (an HTTP answer closed mid-body) never hands out the complete
 * wrong content. The held bytes are copied, so a source may reuse its buffers
 * once the consumer asked for the next chunk.
 */
export async function* verifiedBytes(source: AsyncIterable<Uint8Array>, options: VerifiedBytesOptions): AsyncGenerator<Buffer> {
  const { digest, size, range } = options;
  const hash = createHash(digest.algorithm);
  const from = range ? range.start : 0;
  const to = range ? range.end + 1 : size; // exclusive
  const free = Math.max(0, to - from - (options.holdBack ?? HOLD_BACK_BYTES)); // output bytes that need not wait
  const held: Buffer[] = [];
  let pos = 0; // bytes of the blob read so far
  let out = 0; // bytes passed on so far
  for await (const u8 of source) {
    const chunk = Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
    if (pos + chunk.length > size) throw corruptBlob(digest.digest, `storage holds more than the blob's ${size} bytes`);
    hash.update(chunk);
    const a = Math.max(from - pos, 0);
    const b = Math.min(to - pos, chunk.length);
    pos += chunk.length;
    if (b <= a) continue;
    const now = Math.min(b - a, free - out);
    if (now > 0) {
      out += now;
      yield chunk.subarray(a, a + now);
    }
    if (a + Math.max(now, 0) < b) held.push(Buffer.from(chunk.subarray(a + Math.max(now, 0), b)));
  }
  if (pos !== size) throw corruptBlob(digest.digest, `storage holds ${pos} bytes, the blob has ${size}`);
  if (hash.digest('hex') !== digest.hex) throw corruptBlob(digest.digest, 'its bytes do not match the digest');
  if (held.length > 0) yield held.length === 1 ? held[0] as Buffer : Buffer.concat(held);
}
