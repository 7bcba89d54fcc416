import type { Readable } from 'node:stream';
import { RegistryError } from '../errors/index.js';
import { StorageUnavailableError, type AppendOptions, type FileInfo, type ReadOptions, type StorageDriver } from '../storage/index.js';

/**
 * The storage driver as the registry core uses it: a backend failure
 * (StorageUnavailableError: the object store unreachable, answering 5xx)
 * becomes 503 BERTH_UNAVAILABLE for the client, who may retry; every other
 * error passes through unchanged.
 */
export class StorageErrorMapper implements StorageDriver {
  constructor(private readonly inner: StorageDriver) {}

  get name(): string {
    return this.inner.name;
  }

  get copiesOnMove(): boolean {
    return this.inner.copiesOnMove;
  }

  private async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof StorageUnavailableError) {
        throw new RegistryError('BERTH_UNAVAILABLE', 'the blob storage is unavailable; retry later', { cause: err });
      }
      throw err;
    }
  }

  init(): Promise<void> {
    return this.inner.init();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  stat(path: string): Promise<FileInfo | null> {
    return this.call(() => this.inner.stat(path));
  }

  reader(path: string, options?: ReadOptions): Promise<Readable> {
    return this.call(() => this.inner.reader(path, options));
  }

  getContent(path: string): Promise<Buffer> {
    return this.call(() => this.inner.getContent(path));
  }

  putContent(path: string, content: Uint8Array): Promise<void> {
    return this.call(() => this.inner.putContent(path, content));
  }

  append(path: string, source: AsyncIterable<Uint8Array>, options?: AppendOptions): Promise<number> {
    return this.call(() => this.inner.append(path, source, options));
  }

  finish(path: string): Promise<number> {
    return this.call(() => this.inner.finish(path));
  }

  move(from: string, to: string): Promise<void> {
    return this.call(() => this.inner.move(from, to));
  }

  delete(path: string): Promise<boolean> {
    return this.call(() => this.inner.delete(path));
  }

  deleteMany(paths: readonly string[]): Promise<void> {
    return this.call(() => this.inner.deleteMany(paths));
  }

  list(path: string): Promise<string[]> {
    return this.call(() => this.inner.list(path));
  }

  redirectUrl(path: string, options: { method: 'GET' | 'HEAD'; expiresInSeconds: number }): Promise<string | null> {
    return this.call(() => this.inner.redirectUrl(path, options));
  }
}
