import { RegistryError } from '../errors/index.js';
import type { DigestAlgorithm } from './names.js';
import { StreamHash } from './stream-hash.js';

/**
 * Running hash states of upload sessions, in the algorithm the session was
 * started with (`digest-algorithm`, sha256 by default), so completing an
 * upload does not re-read its bytes. Node cannot serialise a hash state, so
 * the cache is per-process: after a restart, on another instance, after a
 * failed chunk (the state saw bytes the driver rolled back) or when the
 * final digest names another algorithm, the caller re-reads the upload data
 * instead. Bounded: the oldest entries are dropped.
 */
export class UploadHashes {
  private readonly states = new Map<string, { hash: StreamHash; size: number; algorithm: DigestAlgorithm }>();

  constructor(private readonly maxEntries = 1024) {}

  /** A hash fed with exactly the first `size` bytes of the upload, or null. */
  take(id: string, size: number): { hash: StreamHash; algorithm: DigestAlgorithm } | null {
    const s = this.states.get(id);
    this.states.delete(id);
    if (!s) return null;
    if (s.size !== size) {
      s.hash.dispose();
      return null;
    }
    return { hash: s.hash, algorithm: s.algorithm };
  }

  /** A fresh hash for an upload starting at size 0. */
  fresh(algorithm: DigestAlgorithm = 'sha256'): { hash: StreamHash; algorithm: DigestAlgorithm } {
    return { hash: new StreamHash(algorithm), algorithm };
  }

  put(id: string, state: { hash: StreamHash; algorithm: DigestAlgorithm }, size: number): void {
    const old = this.states.get(id);
    if (old && old.hash !== state.hash) old.hash.dispose();
    this.states.delete(id);
    this.states.set(id, { ...state, size });
    if (this.states.size > this.maxEntries) {
      const [oldest, entry] = this.states.entries().next().value ?? [];
      if (oldest !== undefined) {
        this.states.delete(oldest);
        entry?.hash.dispose();
      }
    }
  }

  drop(id: string): void {
    this.states.get(id)?.hash.dispose();
    this.states.delete(id);
  }
}

/**
 * Wraps a byte source so every chunk also feeds `hash` (hash while
 * streaming; waits when the hashing thread is behind). With `exactBytes`, a source that is longer or shorter fails
 * (so the driver rolls the append back) with 416 BLOB_UPLOAD_INVALID.
 */
export async function* hashing(source: AsyncIterable<Uint8Array>, hash: StreamHash | null, counter: { bytes: number }, exactBytes?: number): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    counter.bytes += chunk.byteLength;
    if (exactBytes !== undefined && counter.bytes > exactBytes) throw rangeMismatch();
    const wait = hash?.update(chunk);
    if (wait) await wait;
    yield chunk;
  }
  const flushed = hash?.flush(); // an upload between its chunks holds no bytes
  if (flushed) await flushed;
  if (exactBytes !== undefined && counter.bytes !== exactBytes) throw rangeMismatch();
}

function rangeMismatch(): RegistryError {
  return new RegistryError('BERTH_UPLOAD_RANGE_INVALID', 'the chunk\'s length does not match its Content-Range');
}
