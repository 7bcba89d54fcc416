import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { DigestAlgorithm } from './names.js';

/** Messages to the hashing thread (hash-thread.ts). */
export type ToHashThread =
  | { op: 'open'; id: number; algorithm: DigestAlgorithm }
  | { op: 'data'; id: number; index: number; block: SharedArrayBuffer; length: number }
  | { op: 'digest'; id: number }
  | { op: 'drop'; id: number };

/** Messages from the hashing thread. */
export type FromHashThread =
  | { op: 'ack'; id: number; index: number }
  | { op: 'digest'; id: number; hex: string }
  | { op: 'error'; id: number; message: string };

/** The size of a block: bytes gathered before they go to the hashing thread (one copy, one small message per block). */
export const BLOCK_BYTES = 1024 * 1024;
/** Blocks sent to the thread and not yet hashed, over all streams, before feeding ones wait. */
export const MAX_BLOCKS = 16;
/** Bytes gathered by all streams together (100 uploads at once send every 160 KiB), but at least... */
const GATHERED_TOTAL_BYTES = 16 * 1024 * 1024;
/** ...this much per stream. */
const MIN_SEND_BYTES = 64 * 1024;
/** Streams holding gathered bytes. */
const gathering = new Set<StreamHash>();

/**
 * The shared memory the thread reads: blocks are reused, so the copy lands
 * in memory already mapped, and only their number crosses to the thread.
 * A block is taken and sent in one step, so only the thread ever holds one
 * (an idle upload holds none), and waiting for one always ends.
 */
class Blocks {
  private readonly all: { shared: SharedArrayBuffer; view: Buffer }[] = [];
  private free: number[] = [];
  private waiters: (() => void)[] = [];

  take(): number | null {
    const index = this.free.pop();
    if (index !== undefined) return index;
    if (this.all.length >= MAX_BLOCKS) return null;
    const shared = new SharedArrayBuffer(BLOCK_BYTES);
    this.all.push({ shared, view: Buffer.from(shared) });
    return this.all.length - 1;
  }

  view(index: number): Buffer {
    return (this.all[index] as { view: Buffer }).view;
  }

  shared(index: number): SharedArrayBuffer {
    return (this.all[index] as { shared: SharedArrayBuffer }).shared;
  }

  give(index: number): void {
    this.free.push(index);
    this.waiters.shift()?.();
  }

  /** Resolves when a block may be free (take again: another stream may have got it first). */
  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The thread died: whatever it held is free again. */
  reset(): void {
    this.free = this.all.map((_, i) => i);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

const blocks = new Blocks();

/**
 * The running hash of an upload's bytes. Streams up to 1 MiB (less while many
 * streams gather bytes at once) are hashed on
 * the event loop when the digest is asked for; longer ones in a hashing
 * thread, fed 1 MiB blocks as the bytes arrive, so a push's sha256 (about
 * 0.6 CPU-seconds per GB here) runs beside the socket reads and file writes
 * instead of between them. If the thread fails, digest() rejects and the
 * caller re-reads the stored bytes (as after a restart).
 */
export class StreamHash {
  private readonly id = nextId++;
  /** Chunks not yet sent (only read, never changed: sources hand over fresh buffers). */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** Whether the thread holds a hash for this stream (from the first block on). */
  private opened = false;
  private failure: Error | null = null;
  private result: { resolve: (hex: string) => void; reject: (err: Error) => void } | null = null;
  private done = false;

  constructor(readonly algorithm: DigestAlgorithm) {}

  /**
   * Feeds bytes. The chunk must not be changed afterwards. A returned promise
   * asks the caller to wait before feeding more (the thread is behind).
   */
  update(chunk: Uint8Array): Promise<void> | undefined {
    if (this.done) throw new Error('the hash is finished');
    if (this.failure || chunk.byteLength === 0) return undefined;
    this.pending.push(chunk);
    this.pendingBytes += chunk.byteLength;
    gathering.add(this);
    const sendAt = Math.max(MIN_SEND_BYTES, Math.min(BLOCK_BYTES, GATHERED_TOTAL_BYTES / gathering.size));
    return this.pendingBytes >= sendAt ? this.send() : undefined;
  }

  /**
   * Sends what is gathered once it is more than one block's worth, so a
   * stream that pauses (an upload between its chunks) holds no bytes.
   */
  flush(): Promise<void> | undefined {
    if (this.done || this.failure || !this.opened) return undefined;
    return this.send();
  }

  /** The hex digest of every byte fed; the hash is finished. */
  async digest(): Promise<string> {
    if (this.done) throw new Error('the hash is finished');
    if (!this.opened && !this.failure) {
      // Never reached the thread: a small stream, hashed here.
      this.done = true;
      const hash = createHash(this.algorithm);
      for (const chunk of this.pending) hash.update(chunk);
      this.pending = [];
      gathering.delete(this);
      return hash.digest('hex');
    }
    await this.send();
    this.done = true;
    if (this.failure) throw this.failure;
    return new Promise<string>((resolve, reject) => {
      this.result = { resolve, reject };
      thread.post({ op: 'digest', id: this.id });
    });
  }

  /** Gives the hash up (an upload discarded, or its state no longer lines up with the data). */
  dispose(): void {
    if (!this.done && this.opened && !this.failure) thread.post({ op: 'drop', id: this.id });
    this.done = true;
    this.pending = [];
    this.pendingBytes = 0;
    gathering.delete(this);
    thread.forget(this.id);
  }

  /** Copies the gathered bytes into blocks and sends them. */
  private send(): Promise<void> | undefined {
    if (!this.opened) {
      this.opened = true;
      thread.register(this.id, this);
      thread.post({ op: 'open', id: this.id, algorithm: this.algorithm });
    }
    while (!this.failure && !this.done && this.pendingBytes > 0) {
      const index = blocks.take();
      if (index === null) return blocks.wait().then(() => this.send());
      const view = blocks.view(index);
      let filled = 0;
      while (filled < BLOCK_BYTES && this.pending.length > 0) {
        const head = this.pending[0] as Uint8Array;
        const n = Math.min(head.byteLength, BLOCK_BYTES - filled);
        view.set(n === head.byteLength ? head : head.subarray(0, n), filled);
        filled += n;
        if (n === head.byteLength) this.pending.shift();
        else this.pending[0] = head.subarray(n);
      }
      this.pendingBytes -= filled;
      if (this.pendingBytes === 0) gathering.delete(this);
      thread.post({ op: 'data', id: this.id, index, block: blocks.shared(index), length: filled });
    }
    return undefined;
  }

  /** From the thread. */
  onMessage(m: FromHashThread): void {
    if (m.op === 'digest') {
      thread.forget(this.id);
      this.result?.resolve(m.hex);
    } else if (m.op === 'error') {
      this.fail(new Error(`hashing thread: ${m.message}`));
    }
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.pending = [];
    this.pendingBytes = 0;
    gathering.delete(this);
    thread.forget(this.id);
    this.result?.reject(this.failure);
  }
}

let nextId = 1;

/**
 * The one hashing thread of the process, started on first use, keeping the
 * process alive only while a stream uses it. If it dies, every stream it held fails (their
 * callers re-read) and the next block starts a new one.
 */
class HashThread {
  private worker: Worker | null = null;
  private readonly streams = new Map<number, StreamHash>();

  register(id: number, stream: StreamHash): void {
    this.streams.set(id, stream);
    this.start().ref(); // a stream waits on it: the process must not exit under it (a CLI import)
  }

  forget(id: number): void {
    if (this.streams.delete(id) && this.streams.size === 0) this.worker?.unref();
  }

  post(message: ToHashThread, transfer?: ArrayBuffer[]): void {
    this.start().postMessage(message, transfer);
  }

  async terminate(): Promise<void> {
    await this.worker?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./hash-thread.js', import.meta.url));
    worker.unref();
    worker.on('message', (m: FromHashThread) => {
      if (this.worker !== worker) return; // a dead thread's last words: its blocks were freed already
      if (m.op === 'ack') blocks.give(m.index); // even if its stream is gone
      else this.streams.get(m.id)?.onMessage(m);
    });
    const failAll = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = null;
      const streams = [...this.streams.values()];
      this.streams.clear();
      blocks.reset();
      for (const s of streams) s.fail(err);
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`the hashing thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }
}

const thread = new HashThread();

/** For tests: ends the hashing thread as a crash would (its streams fail). */
export async function terminateHashThreadForTests(): Promise<void> {
  await thread.terminate();
}
