import type { Readable } from 'node:stream';
import { InvalidPathError, type AppendOptions, type FileInfo, type ReadOptions, type StorageDriver } from './driver.js';

const PATH_RE = /^(?:\/[A-Za-z0-9._-]+)+$/;

/** Throws InvalidPathError unless `path` is absolute with safe components. */
export function checkPath(path: string): string {
  if (!PATH_RE.test(path) || path.split('/').some((c) => c === '.' || c === '..')) throw new InvalidPathError(path);
  return path;
}

/** Passes `source` through, failing when it yields more or fewer than `expected` bytes. */
async function* exactly(source: AsyncIterable<Uint8Array>, expected: number): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const chunk of source) {
    seen += chunk.byteLength;
    if (seen > expected) throw new RangeError(`the source yielded more than the ${expected} bytes announced`);
    yield chunk;
  }
  if (seen !== expected) throw new RangeError(`the source ended after ${seen} of the ${expected} bytes announced`);
}

/**
 * Wraps any driver with the checks that belong to all of them, so no driver
 * repeats them: path validation (nothing can escape the storage root) and
 * argument checks. Later: metrics and concurrency limits.
 */
export class BaseDriver implements StorageDriver {
  constructor(private readonly inner: StorageDriver) {}

  get name(): string {
    return this.inner.name;
  }

  get copiesOnMove(): boolean {
    return this.inner.copiesOnMove;
  }

  init(): Promise<void> {
    return this.inner.init();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async ready(): Promise<void> {
    if (this.inner.ready) await this.inner.ready();
    else await this.inner.list('/');
  }

  stat(path: string): Promise<FileInfo | null> {
    return this.inner.stat(checkPath(path));
  }

  reader(path: string, options: ReadOptions = {}): Promise<Readable> {
    const { offset = 0, length } = options;
    if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
      throw new RangeError('invalid read range');
    }
    return this.inner.reader(checkPath(path), options);
  }

  getContent(path: string): Promise<Buffer> {
    return this.inner.getContent(checkPath(path));
  }

  putContent(path: string, content: Uint8Array): Promise<void> {
    return this.inner.putContent(checkPath(path), content);
  }

  append(path: string, source: AsyncIterable<Uint8Array>, options: AppendOptions = {}): Promise<number> {
    const expected = options.expectedBytes;
    if (expected === undefined) return this.inner.append(checkPath(path), source, options);
    if (!Number.isSafeInteger(expected) || expected < 0) throw new RangeError('invalid expectedBytes');
    return this.inner.append(checkPath(path), exactly(source, expected), options);
  }

  finish(path: string): Promise<number> {
    return this.inner.finish(checkPath(path));
  }

  move(from: string, to: string): Promise<void> {
    return this.inner.move(checkPath(from), checkPath(to));
  }

  delete(path: string): Promise<boolean> {
    return this.inner.delete(checkPath(path));
  }

  deleteMany(paths: readonly string[]): Promise<void> {
    return this.inner.deleteMany(paths.map(checkPath));
  }

  list(path: string): Promise<string[]> {
    return this.inner.list(path === '/' ? path : checkPath(path));
  }

  redirectUrl(path: string, options: { method: 'GET' | 'HEAD'; expiresInSeconds: number }): Promise<string | null> {
    return this.inner.redirectUrl(checkPath(path), options);
  }
}
