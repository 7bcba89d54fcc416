import { createHash, type Hash } from 'node:crypto';
import zlib from 'node:zlib';
import { RegistryError } from '../errors/index.js';
import type { ParsedDigest } from './names.js';
import type { ByteRange } from './service.js';

/**
 * zlib's CRC-32 (Node 20.15 and later, 22): about 2.5 times as fast as sha256
 * here. Without it, every read verifies by the digest and none is recorded.
 */
const crc32: ((data: Uint8Array, value?: number) => number) | undefined = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** Whether this Node offers zlib.crc32, so checksums can be computed and checked. */
export const CHECKSUMS_AVAILABLE = typeof crc32 === 'function';

/** A running CRC-32 of a blob's bytes, as verified reads record it; null where this Node has no zlib.crc32. */
export function runningChecksum(): { update(chunk: Uint8Array): void; readonly value: number } | null {
  const fn = crc32;
  if (!fn) return null;
  let value = 0;
  return {
    update(chunk: Uint8Array): void {
      value = fn(chunk, value);
    },
    get value(): number {
      return value;
    },
  };
}

/**
 * How a read is checked, besides its size:
 * - `digest`: hashed with the digest's algorithm; with `onChecksum`, the
 *   CRC-32 of the same bytes is computed in the same pass and handed over
 *   only once the digest verified, so a checksum is only ever learnt from
 *   bytes proven right;
 * - `checksum`: the recorded CRC-32 (`crc32`) of all the bytes, which a
 *   digest-verified read recorded earlier. It detects damage (every burst
 *   up to 32 bits, all but 2^-32 of random changes), not a forgery.
 */
export type ReadCheck =
  | { by: 'digest'; digest: ParsedDigest; onChecksum?: ((crc32: number) => void) | undefined }
  | { by: 'checksum'; digest: ParsedDigest; crc32: number };

/** Accumulates a read's hash or checksum, then gives the verdict (throwing BERTH_BLOB_CORRUPT). */
class Verifier {
  private readonly hash: Hash | null;
  private readonly crc: ReturnType<typeof runningChecksum>;

  constructor(private readonly check: ReadCheck) {
    this.hash = check.by === 'digest' ? createHash(check.digest.algorithm) : null;
    const wantsCrc = check.by === 'checksum' || check.onChecksum !== undefined;
    this.crc = wantsCrc ? runningChecksum() : null;
    if (wantsCrc && !this.crc) throw new Error('zlib.crc32 is not available in this Node');
  }

  update(chunk: Uint8Array): void {
    this.hash?.update(chunk);
    this.crc?.update(chunk);
  }

  /** Throws BERTH_BLOB_CORRUPT unless the bytes passed verify; then reports a checksum learnt by the digest. */
  finish(): void {
    const { check } = this;
    const crc = this.crc?.value ?? 0;
    if (check.by === 'checksum') {
      if (crc !== check.crc32) throw corruptBlob(check.digest.digest, 'its bytes do not match the recorded checksum');
      return;
    }
    if ((this.hash as Hash).digest('hex') !== check.digest.hex) throw corruptBlob(check.digest.digest, 'its bytes do not match the digest');
    check.onChecksum?.(crc);
  }
}

/**
 * Blobs up to this size are read whole and verified before anything is
 * answered, so a damaged one gets a clean error (configs, manifests' small
 * layers, signatures).
 */
export const SMALL_BLOB_BYTES = 1024 * 1024;

/**
 * How much of a larger blob's answer waits until it is verified (by digest
 * or checksum): the client never receives the complete body of a damaged
 * blob, and reports a short read instead of storing wrong bytes.
 */
export const HOLD_BACK_BYTES = 64 * 1024;

export function corruptBlob(digest: string, reason: string, cause?: unknown): RegistryError {
  return new RegistryError('BERTH_BLOB_CORRUPT', `the stored blob failed verification: ${reason}`, { detail: { digest }, cause });
}

/** The expected blob whole: throws BERTH_BLOB_CORRUPT unless `data` has its size and passes `check`. */
export function verifyWhole(data: Buffer, check: ReadCheck, size: number): void {
  if (data.length !== size) throw corruptBlob(check.digest.digest, `storage holds ${data.length} bytes, the blob has ${size}`);
  const verifier = new Verifier(check);
  verifier.update(data);
  verifier.finish();
}

export interface VerifiedBytesOptions {
  /** By the digest or by the recorded checksum (ReadCheck). */
  check: ReadCheck;
  /** The blob's recorded size: the source must yield exactly this many bytes. */
  size: number;
  /** The part to pass on (inclusive ends), or null for all of it; the source is always the whole blob. */
  range: ByteRange | null;
  /** Bytes at the end of the output released only after the bytes are verified. */
  holdBack?: number;
}

/**
 * Passes on the bytes of `range` from a source that yields the whole blob,
 * hashing (or checksumming) all of it, and keeps the last `holdBack` bytes of
 * the output until the check and the size pass. On a mismatch it throws
 * BERTH_BLOB_CORRUPT instead of yielding them, so a consumer that stops at
 * the error (an HTTP answer closed mid-body) never hands out the complete
 * wrong content. The held bytes are copied, so a source may reuse its buffers
 * once the consumer asked for the next chunk.
 */
export async function* verifiedBytes(source: AsyncIterable<Uint8Array>, options: VerifiedBytesOptions): AsyncGenerator<Buffer> {
  const { check, size, range } = options;
  const { digest } = check;
  const verifier = new Verifier(check);
  const from = range ? range.start : 0;
  const to = range ? range.end + 1 : size; // exclusive
  const free = Math.max(0, to - from - (options.holdBack ?? HOLD_BACK_BYTES)); // output bytes that need not wait
  const held: Buffer[] = [];
  let pos = 0; // bytes of the blob read so far
  let out = 0; // bytes passed on so far
  for await (const u8 of source) {
    const chunk = Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
    if (pos + chunk.length > size) throw corruptBlob(digest.digest, `storage holds more than the blob's ${size} bytes`);
    verifier.update(chunk);
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
  verifier.finish();
  if (held.length > 0) yield held.length === 1 ? held[0] as Buffer : Buffer.concat(held);
}
