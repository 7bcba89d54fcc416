import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from '../errors/index.js';

/**
 * Running sha256 states of upload sessions, so completing an upload does not
 * re-read its bytes. Node cannot serialise a hash state, so the cache is
 * per-process: after a restart, on another instance, after a failed chunk
 * (the state saw bytes the driver rolled back) or for sha512, the caller
 * re-reads the upload data instead. Bounded: the oldest entries are dropped.
 */
export class UploadHashes {
  private readonly states = new Map<string, { hash: Hash; size: number }>();

  constructor(private readonly maxEntries = 1024) {}

  /** A hash fed with exactly the first `size` bytes of the upload, or null. */
  take(id: string, size: number): Hash | null {
    const s = this.states.get(id);
    this.states.delete(id);
    if (!s || s.size !== size) return null;
    return s.hash;
  }

  /** A fresh hash for an upload starting at size 0. */
  fresh(): Hash {
    return createHash('sha256');
  }

  put(id: string, hash: Hash, size: number): void {
    this.states.delete(id);
    this.states.set(id, { hash, size });
    if (this.states.size > this.maxEntries) {
      const oldest = this.states.keys().next().value;
      if (oldest !== undefined) this.states.delete(oldest);
    }
  }

  drop(id: string): void {
    this.states.delete(id);
  }
}

/**
 * Wraps a byte source so every chunk also feeds `hash` (hash while
 * streaming). With `exactBytes`, a source that is longer or shorter fails
 * (so the driver rolls the append back) with 416 BLOB_UPLOAD_INVALID.
 */
export async function* hashing(source: AsyncIterable<Uint8Array>, hash: Hash | null, counter: { bytes: number }, exactBytes?: number): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    counter.bytes += chunk.byteLength;
    if (exactBytes !== undefined && counter.bytes > exactBytes) throw rangeMismatch();
    hash?.update(chunk);
    yield chunk;
  }
  if (exactBytes !== undefined && counter.bytes !== exactBytes) throw rangeMismatch();
}

function rangeMismatch(): RegistryError {
  return new RegistryError('BERTH_UPLOAD_RANGE_INVALID', 'the chunk\'s length does not match its Content-Range');
}
