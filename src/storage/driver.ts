import type { Readable } from 'node:stream';

/**
 * The blob storage driver contract. A driver is a small key/value store of
 * byte objects addressed by paths; it knows nothing of digests, repositories
 * or manifests (the registry core lays those out, see registry/layout.ts).
 *
 * Paths are absolute, `/`-separated, made of `[A-Za-z0-9._-]` components,
 * never contain `.` or `..` components; the base wrapper (storage/base.ts)
 * enforces that before any driver sees a path.
 *
 * Durability: every method that writes returns only once the bytes are
 * durable (fsync on a filesystem, a completed request on an object store).
 */
export interface StorageDriver {
  /** Short name used in logs and metrics ("filesystem", "inmemory", "s3"). */
  readonly name: string;

  /**
   * True when `move` copies the bytes (an object store has no rename), false
   * when it is a cheap rename (a filesystem). The registry core then leaves
   * an uploaded blob where it was written and records that location
   * instead of moving it to its content address (registry/layout.ts).
   */
  readonly copiesOnMove: boolean;

  /** Prepares the backend (create folders, check the bucket). Idempotent. */
  init(): Promise<void>;

  /** Releases resources. The driver is not used afterwards. */
  close(): Promise<void>;

  /**
   * Readiness: throws (with a message saying what is wrong) unless the
   * backend can take writes right now: the filesystem root exists, is
   * writable and has free space; the bucket answers. Cheap enough for a
   * probe every few seconds. Optional: without it, a listing stands in.
   */
  ready?(): Promise<void>;

  /** Size and modification time of an object, or null when absent. Folders are not objects. */
  stat(path: string): Promise<FileInfo | null>;

  /**
   * Reads `length` bytes (default: to the end) from `offset` (default 0).
   * Throws PathNotFoundError when absent. The caller must consume or destroy
   * the stream; aborting `signal` destroys it.
   */
  reader(path: string, options?: ReadOptions): Promise<Readable>;

  /** Reads a small object whole. Throws PathNotFoundError when absent. */
  getContent(path: string): Promise<Buffer>;

  /** Writes a small object whole, atomically replacing any previous one. */
  putContent(path: string, content: Uint8Array): Promise<void>;

  /**
   * Appends a stream to an object, creating it when absent, and returns the
   * object's new size. Atomic per call: if the source fails or `signal`
   * aborts, the object is left exactly as it was before the call (a client
   * that disconnects mid-chunk leaves nothing behind) and the error is
   * rethrown. Concurrent appends to one path are the caller's to prevent.
   * An object store may keep appended data as a multipart upload and finish
   * it in `finish` or `move`; `reader` and `stat` must still see all
   * appended bytes. See AppendOptions for the hints a caller may give.
   */
  append(path: string, source: AsyncIterable<Uint8Array>, options?: AppendOptions): Promise<number>;

  /**
   * Ends appending to an object: an object store completes its multipart
   * upload, so the object becomes one plain object. Returns its size. Throws
   * PathNotFoundError when absent. A later append still works, but may have
   * to re-read the object.
   */
  finish(path: string): Promise<number>;

  /**
   * Moves an object, atomically replacing `to` if it exists. Readers of `to`
   * see either the old or the new object, never a partial one.
   * Throws PathNotFoundError when `from` is absent.
   */
  move(from: string, to: string): Promise<void>;

  /** Deletes an object or, recursively, everything under a path prefix. Returns false when nothing was there. */
  delete(path: string): Promise<boolean>;

  /**
   * Deletes these objects (objects, not folders; absent ones are skipped),
   * as few requests as the backend allows: an object store sends them in
   * batches (S3 DeleteObjects, 1000 keys a request). For garbage
   * collection, which deletes many finished objects at once. Not atomic: on
   * failure some may be gone; calling again with the same paths finishes.
   */
  deleteMany(paths: readonly string[]): Promise<void>;

  /** Names (not paths) of the direct children under a folder path, sorted; empty when absent. */
  list(path: string): Promise<string[]>;

  /**
   * A URL from which a client may fetch the object directly (presigned), or
   * null when the driver cannot redirect (the filesystem never does).
   */
  redirectUrl(path: string, options: { method: 'GET' | 'HEAD'; expiresInSeconds: number }): Promise<string | null>;
}

export interface FileInfo {
  readonly path: string;
  readonly size: number;
  readonly modifiedAt: Date;
}

export interface AppendOptions {
  signal?: AbortSignal | undefined;
  /**
   * The source yields exactly this many bytes (a request's Content-Length).
   * The base wrapper enforces it (a source that yields more or fewer fails
   * the append), so a driver may send the bytes on in one sized request as
   * they arrive instead of buffering them.
   */
  expectedBytes?: number | undefined;
  /**
   * The object's size as the caller last saw it committed (a registry's
   * upload session), when the caller guarantees no other writer appended
   * since. A driver may then skip re-reading its own state of the object.
   */
  currentSize?: number | undefined;
  /**
   * The caller expects no further append (a monolithic upload, or its last
   * chunk): the object is finished when append returns, as by `finish`
   * (a later append still works, as after `finish`).
   */
  final?: boolean | undefined;
}

export interface ReadOptions {
  offset?: number;
  length?: number;
  signal?: AbortSignal;
  /**
   * The whole object must be exactly this many bytes (a blob's recorded
   * size): otherwise `reader` throws SizeMismatchError before yielding any
   * byte. A driver that cannot tell cheaply may skip the check; the caller
   * still counts what it reads.
   */
  expectedSize?: number;
}

/** Thrown by drivers when an object does not exist. */
export class PathNotFoundError extends Error {
  constructor(readonly path: string) {
    super(`path not found: ${path}`);
    this.name = 'PathNotFoundError';
  }
}

/** Thrown by `reader` when the object's size is not ReadOptions.expectedSize. */
export class SizeMismatchError extends Error {
  constructor(readonly path: string, readonly expected: number, readonly actual: number) {
    super(`object ${path} holds ${actual} bytes, expected ${expected}`);
    this.name = 'SizeMismatchError';
  }
}

/**
 * Thrown by drivers when the backend cannot be reached or answers with a
 * server-side error (an object store's 5xx, a timeout). Nothing was changed
 * that a retry of the same call would not repair; the caller may retry later.
 */
export class StorageUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageUnavailableError';
  }
}

/** Thrown by the base wrapper for a path outside the contract's grammar. */
export class InvalidPathError extends Error {
  constructor(readonly path: string) {
    super(`invalid storage path: ${JSON.stringify(path.slice(0, 200))}`);
    this.name = 'InvalidPathError';
  }
}

/** Options every driver factory receives. */
export type DriverFactory<O> = (options: O) => StorageDriver;
