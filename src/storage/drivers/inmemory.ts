import { Readable } from 'node:stream';
import { PathNotFoundError, SizeMismatchError, type FileInfo, type ReadOptions, type StorageDriver } from '../driver.js';

interface Entry {
  data: Buffer;
  modifiedAt: Date;
}

/** Objects in a Map. For tests and `storage.inmemory`; everything is lost on exit. */
export class InMemoryDriver implements StorageDriver {
  readonly name = 'inmemory';
  private readonly objects = new Map<string, Entry>();

  /** `copiesOnMove: true` makes the registry treat it like an object store (tests of that path). */
  constructor(options: { copiesOnMove?: boolean } = {}) {
    this.copiesOnMove = options.copiesOnMove ?? false;
  }

  readonly copiesOnMove: boolean;

  async init(): Promise<void> {}

  async close(): Promise<void> {
    this.objects.clear();
  }

  async stat(p: string): Promise<FileInfo | null> {
    const e = this.objects.get(p);
    return e ? { path: p, size: e.data.length, modifiedAt: e.modifiedAt } : null;
  }

  async reader(p: string, options: ReadOptions = {}): Promise<Readable> {
    const e = this.objects.get(p);
    if (!e) throw new PathNotFoundError(p);
    if (options.expectedSize !== undefined && options.expectedSize !== e.data.length) throw new SizeMismatchError(p, options.expectedSize, e.data.length);
    const start = Math.min(options.offset ?? 0, e.data.length);
    const end = options.length !== undefined ? Math.min(start + options.length, e.data.length) : e.data.length;
    const stream = Readable.from(start === end ? [] : [e.data.subarray(start, end)]);
    options.signal?.addEventListener('abort', () => stream.destroy(new Error('aborted')), { once: true });
    return stream;
  }

  async getContent(p: string): Promise<Buffer> {
    const e = this.objects.get(p);
    if (!e) throw new PathNotFoundError(p);
    return Buffer.from(e.data);
  }

  async putContent(p: string, content: Uint8Array): Promise<void> {
    this.objects.set(p, { data: Buffer.from(content), modifiedAt: new Date() });
  }

  async append(p: string, source: AsyncIterable<Uint8Array>, options: { signal?: AbortSignal } = {}): Promise<number> {
    const chunks: Buffer[] = [];
    for await (const chunk of source) {
      options.signal?.throwIfAborted();
      chunks.push(Buffer.from(chunk));
    }
    options.signal?.throwIfAborted();
    // Only now, with the whole source read, does the object change: atomic per call.
    const prev = this.objects.get(p)?.data ?? Buffer.alloc(0);
    const data = Buffer.concat([prev, ...chunks]);
    this.objects.set(p, { data, modifiedAt: new Date() });
    return data.length;
  }

  async finish(p: string): Promise<number> {
    const e = this.objects.get(p);
    if (!e) throw new PathNotFoundError(p);
    return e.data.length;
  }

  async move(from: string, to: string): Promise<void> {
    const e = this.objects.get(from);
    if (!e) throw new PathNotFoundError(from);
    this.objects.set(to, e);
    this.objects.delete(from);
  }

  async delete(p: string): Promise<boolean> {
    let found = this.objects.delete(p);
    for (const key of [...this.objects.keys()]) {
      if (key.startsWith(`${p}/`)) {
        this.objects.delete(key);
        found = true;
      }
    }
    return found;
  }

  async deleteMany(paths: readonly string[]): Promise<void> {
    for (const p of paths) this.objects.delete(p);
  }

  async list(p: string): Promise<string[]> {
    const prefix = p === '/' ? '/' : `${p}/`;
    const names = new Set<string>();
    for (const key of this.objects.keys()) {
      if (key.startsWith(prefix)) names.add(key.slice(prefix.length).split('/')[0] as string);
    }
    return [...names].sort();
  }

  async redirectUrl(): Promise<string | null> {
    return null;
  }
}

export function createInMemoryDriver(options: { copiesOnMove?: boolean } = {}): StorageDriver {
  return new InMemoryDriver(options);
}
