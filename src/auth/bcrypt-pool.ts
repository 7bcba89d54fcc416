import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

interface Pending {
  worker: Worker;
  resolve: (v: boolean | string) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: number;
}

/**
 * bcrypt off the main thread: a small pool of worker threads (one per core,
 * at most `size`), started on first use and not keeping the process alive.
 * Requests queue on the least busy worker. Login load can then only slow
 * logins, never the event loop, health probes or registry traffic.
 */
export class BcryptPool {
  private slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly size = Math.min(2, availableParallelism())) {}

  compare(password: string, hash: string): Promise<boolean> {
    return this.run({ op: 'compare', password, hash }) as Promise<boolean>;
  }

  hash(password: string, cost: number): Promise<string> {
    return this.run({ op: 'hash', password, cost }) as Promise<string>;
  }

  private run(task: { op: 'compare'; password: string; hash: string } | { op: 'hash'; password: string; cost: number }): Promise<boolean | string> {
    const slot = this.slot();
    const id = this.nextId++;
    // A busy worker keeps the process alive (its answer is awaited); an idle one does not.
    if (slot.busy++ === 0) slot.worker.ref();
    const done = () => {
      if (--slot.busy === 0) slot.worker.unref();
    };
    return new Promise<boolean | string>((resolve, reject) => {
      this.pending.set(id, {
        worker: slot.worker,
        resolve: (v) => { done(); resolve(v); },
        reject: (e) => { done(); reject(e); },
      });
      slot.worker.postMessage({ id, ...task });
    });
  }

  private slot(): Slot {
    if (this.slots.length < this.size && this.slots.every((s) => s.busy > 0)) {
      const worker = new Worker(new URL('./bcrypt-worker.js', import.meta.url));
      worker.on('message', (m: { id: number; result?: boolean | string; error?: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error !== undefined || m.result === undefined) p.reject(new Error(m.error ?? 'bcrypt worker returned nothing'));
        else p.resolve(m.result);
      });
      worker.on('error', (err) => this.fail(worker, err));
      worker.on('exit', (code) => { if (code !== 0) this.fail(worker, new Error(`bcrypt worker exited with ${code}`)); });
      // After the listeners: adding a 'message' listener refs the worker's port again.
      worker.unref();
      const slot = { worker, busy: 0 };
      this.slots.push(slot);
      return slot;
    }
    return this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  /** A dead worker fails what it held and is replaced on next use. */
  private fail(worker: Worker, err: Error): void {
    this.slots = this.slots.filter((s) => s.worker !== worker);
    for (const [id, p] of this.pending) {
      if (p.worker !== worker) continue;
      this.pending.delete(id);
      p.reject(err);
    }
  }

  async close(): Promise<void> {
    const workers = this.slots.map((s) => s.worker);
    this.slots = [];
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** The process's pool (bcrypt work is CPU-bound: one pool is enough). */
export const bcryptPool = new BcryptPool();
