/**
 * Reusable read blocks for streaming blobs out. Allocating a fresh block per
 * read (what fs.createReadStream does) at gigabytes a second makes V8 run
 * full garbage collections for the external memory: about a fifth of a
 * pull's CPU, and the peak RSS. A reader takes its blocks here; the last
 * consumer of a chunk (the HTTP answer, once the socket has taken the
 * bytes) may give the block back. A block nobody gives back is simply
 * collected, so giving back is an optimisation, never a duty.
 *
 * Giving back is only safe for the one party that knows nothing else still
 * holds the chunk: a block is refilled as soon as it is taken again.
 */
export class BlockPool {
  private readonly free: Buffer[] = [];
  /** Blocks this pool issued and that are out (not in `free`), by their memory. */
  private readonly out = new WeakSet<ArrayBufferLike>();

  constructor(readonly blockBytes: number, private readonly maxFree: number) {}

  /** A block of `blockBytes` (its contents are garbage). */
  take(): Buffer {
    const block = this.free.pop() ?? Buffer.allocUnsafeSlow(this.blockBytes);
    this.out.add(block.buffer);
    return block;
  }

  /**
   * Returns the block `chunk` is a view of, if this pool issued it and it is
   * out; anything else is ignored (so giving back twice is harmless).
   */
  give(chunk: Uint8Array): void {
    const memory = chunk.buffer;
    if (!this.out.has(memory)) return;
    this.out.delete(memory);
    if (this.free.length < this.maxFree) this.free.push(Buffer.from(memory, 0, this.blockBytes));
  }
}

/** The blocks blob reads stream in: 1 MiB (fewer bytes per stream in flight than 4 MiB, as fast once they are reused). */
export const readBlocks = new BlockPool(1024 * 1024, 16);
