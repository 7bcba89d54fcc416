import { randomUUID } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { read as readFd } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { readBlocks, type BlockPool } from '../block-pool.js';
import { PathNotFoundError, SizeMismatchError, type AppendOptions, type FileInfo, type ReadOptions, type StorageDriver } from '../driver.js';

export interface FilesystemDriverOptions {
  /** Folder under which every object lives. */
  rootDirectory: string;
  /** Where reads take their blocks (default: the shared 1 MiB blocks; 1 MiB reads stream ~4x faster than Node's 64 KiB default). */
  readBlocks?: BlockPool;
}

const TMP_PREFIX = '.tmp-';
/** Chunks are gathered into writes of about this size (fewer syscalls)... */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** ...while the batches of all appends at once stay under this (100 pushes at once: 80 KiB each). */
const WRITE_BATCHES_TOTAL_BYTES = 8 * 1024 * 1024;
const MIN_WRITE_BATCH_BYTES = 64 * 1024;
/** Appends in progress in this process (see WRITE_BATCHES_TOTAL_BYTES). */
let activeAppends = 0;
/** An append syncs what it wrote in the background every this many bytes (see append): a chunk of a few MiB then ends with a short final sync. */
const BACKGROUND_SYNC_BYTES = 4 * 1024 * 1024;

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === code;
}

/**
 * Objects are plain files under the root; a path maps to the same relative
 * file path. Whole-object writes go to a hidden temporary file beside the
 * target, are fsynced and renamed over it, and the folder is fsynced, so a
 * crash leaves either the old or the new object, never a partial one.
 */
export class FilesystemDriver implements StorageDriver {
  /** When the last readiness probe wrote a file (see ready). */
  private writableAt = 0;
  readonly name = 'filesystem';
  /** rename(2) */
  readonly copiesOnMove = false;
  private readonly root: string;
  private readonly readBlocks: BlockPool;

  constructor(options: FilesystemDriverOptions) {
    this.root = path.resolve(options.rootDirectory);
    this.readBlocks = options.readBlocks ?? readBlocks;
  }

  private full(p: string): string {
    return path.join(this.root, p);
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  async close(): Promise<void> {}

  /**
   * The root is a folder this process can write a file into, with at least
   * 64 MiB free. The write is the costly part: a success is remembered for
   * a second (probes stay cheap), a failure never (recovery shows at once).
   */
  async ready(): Promise<void> {
    const s = await stat(this.root).catch(() => null);
    if (!s?.isDirectory()) throw new Error(`the storage folder ${this.root} is missing`);
    if (Date.now() - this.writableAt > 1000) {
      const probe = path.join(this.root, `${TMP_PREFIX}ready-${randomUUID()}`);
      await writeFile(probe, 'ready');
      await rm(probe, { force: true });
      this.writableAt = Date.now();
    }
    const fs = await statfs(this.root);
    if (fs.bavail * fs.bsize < 64 * 1024 * 1024) throw new Error(`the storage folder ${this.root} is full`);
  }

  async stat(p: string): Promise<FileInfo | null> {
    try {
      const s = await stat(this.full(p));
      return s.isFile() ? { path: p, size: s.size, modifiedAt: s.mtime } : null;
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return null;
      throw err;
    }
  }

  async reader(p: string, options: ReadOptions = {}): Promise<Readable> {
    let fh;
    try {
      fh = await open(this.full(p), fsConstants.O_RDONLY);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'EISDIR') || isErrno(err, 'ENOTDIR')) throw new PathNotFoundError(p);
      throw err;
    }
    if (options.expectedSize !== undefined) {
      const { size } = await fh.stat().catch(async (err: unknown) => {
        await fh.close();
        throw err;
      });
      if (size !== options.expectedSize) {
        await fh.close();
        throw new SizeMismatchError(p, options.expectedSize, size);
      }
    }
    const start = options.offset ?? 0;
    const stream = new FileBlockStream(fh, start, options.length ?? Number.POSITIVE_INFINITY, this.readBlocks);
    if (options.signal) {
      const signal = options.signal;
      const onAbort = () => stream.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      stream.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    return stream;
  }

  async getContent(p: string): Promise<Buffer> {
    try {
      return await readFile(this.full(p));
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'EISDIR') || isErrno(err, 'ENOTDIR')) throw new PathNotFoundError(p);
      throw err;
    }
  }

  async putContent(p: string, content: Uint8Array): Promise<void> {
    const target = this.full(p);
    const dir = path.dirname(target);
    const tmp = path.join(dir, `${TMP_PREFIX}${randomUUID()}`);
    const fh = await inFolder(dir, () => open(tmp, 'w'));
    try {
      await fh.writeFile(content);
      await fh.datasync();
    } catch (err) {
      await fh.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    try {
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    await syncDir(dir);
  }

  /** Appended bytes are durable and whole once append returns: nothing to finish. */
  async finish(p: string): Promise<number> {
    const info = await this.stat(p);
    if (!info) throw new PathNotFoundError(p);
    return info.size;
  }

  async append(p: string, source: AsyncIterable<Uint8Array>, options: AppendOptions = {}): Promise<number> {
    const target = this.full(p);
    const existed = await stat(target).then(() => true, () => false);
    const fh = await inFolder(path.dirname(target), () => open(target, 'a'));
    let size = (await fh.stat()).size;
    const before = size;
    // One write in flight while the next batch is gathered (and hashed, by
    // the caller's source), and the data synced to disk in the background as
    // it grows, so the final datasync before returning has little left to do.
    let writing: Promise<void> | null = null;
    let syncing: Promise<void> | null = null;
    let failure: unknown = null; // of a background write or sync: rethrown at the next step
    let unsynced = 0;
    const settle = async () => {
      await writing;
      await syncing;
    };
    const check = () => {
      if (failure) throw failure;
    };
    activeAppends++;
    try {
      let batch: Uint8Array[] = [];
      let batchBytes = 0;
      const write = async (bufs: Uint8Array[], total: number) => {
        let written = 0;
        // writev may write less than asked; finish the rest.
        while (written < total) {
          const { bytesWritten } = await fh.writev(written === 0 ? bufs : [Buffer.concat(bufs).subarray(written)]);
          written += bytesWritten;
        }
        size += total;
        unsynced += total;
        if (unsynced >= BACKGROUND_SYNC_BYTES && !syncing) {
          unsynced = 0;
          syncing = fh.datasync().then(() => { syncing = null; }, (err: unknown) => { failure ??= err; syncing = null; });
        }
      };
      const flush = async () => {
        await writing;
        check();
        if (batchBytes === 0) return;
        writing = write(batch, batchBytes).catch((err: unknown) => { failure ??= err; });
        batch = [];
        batchBytes = 0;
      };
      for await (const chunk of source) {
        options.signal?.throwIfAborted();
        if (chunk.byteLength === 0) continue;
        batch.push(chunk);
        batchBytes += chunk.byteLength;
        if (batchBytes >= Math.max(MIN_WRITE_BATCH_BYTES, Math.min(WRITE_BATCH_BYTES, WRITE_BATCHES_TOTAL_BYTES / activeAppends))) await flush();
      }
      options.signal?.throwIfAborted();
      await flush();
      await settle();
      check();
      await fh.datasync();
      await fh.close();
      activeAppends--;
      return size;
    } catch (err) {
      try {
        await settle();
        await fh.truncate(before);
        await fh.datasync();
      } finally {
        activeAppends--;
        await fh.close();
        // Created by this call: gone again, as before the call.
        if (!existed) await rm(target, { force: true });
      }
      throw err;
    }
  }

  async move(from: string, to: string): Promise<void> {
    const target = this.full(to);
    const source = this.full(from);
    try {
      await inFolder(path.dirname(target), async () => {
        try {
          await rename(source, target);
        } catch (err) {
          // A missing source is the caller's problem; a missing target folder is a race to retry.
          if (isErrno(err, 'ENOENT') && !(await stat(source).then(() => true, () => false))) throw new PathNotFoundError(from);
          throw err;
        }
      });
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new PathNotFoundError(from);
      throw err;
    }
    await syncDir(path.dirname(target));
    await this.pruneEmptyParents(from);
  }

  async delete(p: string): Promise<boolean> {
    const target = this.full(p);
    let existed = true;
    try {
      await stat(target);
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
      existed = false;
    }
    if (existed) await rm(target, { recursive: true, force: true });
    await this.pruneEmptyParents(p);
    return existed;
  }

  async deleteMany(paths: readonly string[]): Promise<void> {
    // A few at a time: each is an unlink and a look at its now maybe empty folder.
    const queue = [...paths];
    const worker = async () => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
        try {
          await rm(this.full(p), { force: true });
        } catch (err) {
          if (!isErrno(err, 'ENOTDIR')) throw err;
        }
        await this.pruneEmptyParents(p);
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, queue.length) }, worker));
  }

  async list(p: string): Promise<string[]> {
    try {
      const names = await readdir(this.full(p));
      return names.filter((n) => !n.startsWith(TMP_PREFIX)).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
      throw err;
    }
  }

  async redirectUrl(): Promise<string | null> {
    return null;
  }

  /** Removes folders left empty under the root, so deleted content leaves nothing behind. */
  private async pruneEmptyParents(p: string): Promise<void> {
    let dir = path.dirname(this.full(p));
    while (dir.startsWith(this.root + path.sep)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (or already gone): stop here
      }
      dir = path.dirname(dir);
    }
  }
}

/**
 * A file's bytes from `position`, at most `remaining`, read into blocks of
 * `pool` (so the consumer may give them back, see block-pool.ts), one block
 * read ahead. Reads go through the fd with callbacks: no promise per read,
 * and the file is closed only once no read is in flight.
 */
class FileBlockStream extends Readable {
  private reading = false;
  private closeWhenIdle: (() => void) | null = null;

  constructor(private readonly fh: FileHandle, private position: number, private remaining: number, private readonly pool: BlockPool) {
    super({ highWaterMark: pool.blockBytes });
  }

  override _read(): void {
    const want = Math.min(this.pool.blockBytes, this.remaining);
    if (want <= 0) {
      this.push(null);
      return;
    }
    const block = this.pool.take();
    this.reading = true;
    readFd(this.fh.fd, block, 0, want, this.position, (err, n) => {
      this.reading = false;
      if (this.closeWhenIdle) {
        this.pool.give(block);
        this.closeWhenIdle();
        return;
      }
      if (err) {
        this.pool.give(block);
        this.destroy(err);
        return;
      }
      if (n === 0) {
        this.pool.give(block);
        this.push(null);
        return;
      }
      this.position += n;
      this.remaining -= n;
      this.push(block.subarray(0, n));
    });
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const close = () => {
      this.fh.close().then(() => callback(err), (closeErr: unknown) => callback(err ?? (closeErr as Error)));
    };
    if (this.reading) this.closeWhenIdle = close;
    else close();
  }
}

/**
 * Runs `fn` (which creates something in `dir`) after making `dir`. Another
 * request may remove an empty parent at the same moment (pruneEmptyParents
 * after a delete or a move): then `mkdir` or `fn` fails with ENOENT or
 * ENOTDIR, and both are simply tried again.
 */
async function inFolder<T>(dir: string, fn: () => Promise<T>, attempts = 20): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      await mkdir(dir, { recursive: true });
      return await fn();
    } catch (err) {
      if (err instanceof PathNotFoundError || i >= attempts || !(isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR'))) throw err;
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, fsConstants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function createFilesystemDriver(options: FilesystemDriverOptions): StorageDriver {
  return new FilesystemDriver(options);
}
