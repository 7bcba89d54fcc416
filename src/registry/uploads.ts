import { createHash, randomUUID, type Hash } from 'node:crypto';
import { RegistryError } from '../errors/index.js';
import type { BlobRecord, MetadataStores, UploadRecord } from '../metadata/index.js';
import { PathNotFoundError, type StorageDriver } from '../storage/index.js';
import type { GuardOptions } from './changes.js';
import { KeyedMutex } from './keyed-mutex.js';
import { isUploadId } from './layout.js';
import { assertRepositoryName, parseDigest } from './names.js';
import type { BlobPlacement } from './placement.js';
import type { ChunkOptions, PutBlobOptions, StartUploadOptions } from './service.js';
import { hashing, UploadHashes } from './upload-hashes.js';
import { StreamHash } from './stream-hash.js';
import type { WritePolicy } from './write-policy.js';

/** How long an upload's writer lease lasts without renewal (an instance killed mid-write frees it then). */
const UPLOAD_LEASE_MS = 60_000;

export interface UploadsOptions {
  /** The driver as the core uses it (errors mapped). */
  storage: StorageDriver;
  /** Its stores are read per call (they belong to the open database handle). */
  metadata: Pick<MetadataStores, 'uploads' | 'leases'>;
  placement: BlobPlacement;
  policy: WritePolicy;
  /** This process's name as a lease owner (see withWriter). */
  instanceId: string;
}

/**
 * Upload sessions (POST, PATCH, PUT, DELETE of /blobs/uploads/) and
 * monolithic uploads: bytes are hashed as they stream into storage, checked
 * against the digest the client names, and only then become a blob (how:
 * placement.ts). One writer per session at a time, across instances.
 */
export class Uploads {
  private readonly hashes = new UploadHashes();
  private readonly writers = new KeyedMutex();

  constructor(private readonly options: UploadsOptions) {}

  async start(repo: string, options: StartUploadOptions = {}): Promise<UploadRecord> {
    assertRepositoryName(repo);
    this.options.policy.assertWritable();
    await options.guard?.({ type: 'upload.start', repository: repo });
    const now = Date.now();
    const upload: UploadRecord = { id: randomUUID(), repository: repo, size: 0, createdAt: now, updatedAt: now };
    await this.options.metadata.uploads.create(upload);
    this.hashes.put(upload.id, this.hashes.fresh(options.algorithm), 0);
    return upload;
  }

  async get(repo: string, id: string): Promise<UploadRecord> {
    assertRepositoryName(repo);
    const upload = isUploadId(id) ? await this.options.metadata.uploads.get(id) : null;
    if (!upload || upload.repository !== repo) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { uuid: id.slice(0, 64) } });
    return upload;
  }

  /** Appends a chunk (PATCH). Out-of-order or overlapping ranges are 416 with the current Range. */
  async append(repo: string, id: string, source: AsyncIterable<Uint8Array>, options: ChunkOptions = {}): Promise<UploadRecord> {
    this.options.policy.assertWritable();
    return this.withWriter(id, async () => {
      const upload = await this.get(repo, id);
      // A PATCH without Content-Range at the start is a streamed upload
      // (docker, skopeo): its PUT normally follows with no body, so the
      // storage may finish the object now (a later chunk still works).
      return this.appendLocked(upload, source, options, !options.range && upload.size === 0);
    });
  }

  /** Finishes an upload (PUT ?digest=), with an optional final chunk; verifies the digest. */
  async complete(repo: string, id: string, digest: string, source: AsyncIterable<Uint8Array> | null, options: ChunkOptions = {}): Promise<BlobRecord> {
    this.options.policy.assertWritable();
    const d = parseDigest(digest);
    return this.withWriter(id, async () => {
      let upload = await this.get(repo, id);
      if (source) upload = await this.appendLocked(upload, source, options, true);
      // An empty blob's session may have no bytes at all (POST, then PUT with no body): store zero bytes, so it commits like any other.
      else if (upload.size === 0) upload = await this.appendLocked(upload, noBytes(), options, true);
      const state = this.hashes.take(upload.id, upload.size);
      if (state && state.algorithm !== d.algorithm) state.hash.dispose();
      const actual = state?.algorithm === d.algorithm
        ? await this.finish(state.hash, upload.id, upload.size)
        : await this.digestOf(this.options.placement.dataPath(upload.id), d.algorithm, upload.size);
      if (actual !== d.digest) {
        await this.discard(upload.id);
        throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { detail: { digest: d.digest } });
      }
      try {
        await options.guard?.({ type: 'blob.push', repository: repo, digest: d.digest, size: upload.size });
      } catch (err) {
        await this.discard(upload.id); // refused: nothing of it stays
        throw err;
      }
      const blob = await this.options.placement.commit(upload.id, d, upload.size, repo, { session: upload.id, finished: source !== null });
      this.hashes.drop(upload.id);
      return blob;
    });
  }

  /** Monolithic upload (POST ?digest= with the whole blob as body). */
  async putBlob(repo: string, digest: string, source: AsyncIterable<Uint8Array>, options: PutBlobOptions = {}): Promise<BlobRecord> {
    assertRepositoryName(repo);
    this.options.policy.assertWritable();
    const d = parseDigest(digest);
    if (options.algorithm !== undefined && options.algorithm !== d.algorithm) {
      throw new RegistryError('DIGEST_INVALID', `the digest is ${d.algorithm}, but digest-algorithm says ${options.algorithm}`, { detail: { digest: d.digest } });
    }
    const { storage, placement } = this.options;
    const id = randomUUID();
    const hash = new StreamHash(d.algorithm);
    const counter = { bytes: 0 };
    let committed = false;
    try {
      const size = await storage.append(placement.dataPath(id), hashing(source, hash, counter), { signal: options.signal, expectedBytes: options.contentLength, final: true });
      if (await this.finish(hash, id, size) !== d.digest) {
        throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { detail: { digest: d.digest } });
      }
      await options.guard?.({ type: 'blob.push', repository: repo, digest: d.digest, size });
      const blob = await placement.commit(id, d, size, repo, { session: null, finished: true });
      committed = true;
      return blob;
    } finally {
      hash.dispose();
      if (!committed) await placement.discard(id);
    }
  }

  /**
   * The digest of a finished hash, as `algorithm:hex`. Should the hashing
   * thread have failed, the stored bytes are read back instead.
   */
  private async finish(hash: StreamHash, id: string, size: number): Promise<string> {
    try {
      return `${hash.algorithm}:${await hash.digest()}`;
    } catch {
      return this.digestOf(this.options.placement.dataPath(id), hash.algorithm, size);
    }
  }

  async cancel(repo: string, id: string): Promise<void> {
    this.options.policy.assertWritable();
    await this.withWriter(id, async () => {
      const upload = await this.get(repo, id);
      await this.discard(upload.id);
    });
  }

  /**
   * Ends session `id` and deletes its bytes unless a request is writing it
   * right now, here or in another instance (then it is not abandoned).
   * Returns whether it was discarded. For upload purging.
   */
  async discardIfIdle(id: string): Promise<boolean> {
    try {
      await this.withWriter(id, () => this.discard(id));
      return true;
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'BERTH_UPLOAD_BUSY') return false; // being written
      throw err;
    }
  }

  /**
   * Runs `fn` as the only writer of an upload session: one request at a
   * time in this process (a mutex) and across instances (a lease in the
   * shared metadata store, renewed while `fn` runs, released after). A
   * session busy in another instance answers 409 at once; the client retries.
   */
  private async withWriter<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const { metadata, instanceId } = this.options;
    return this.writers.run(id, async () => {
      const name = `upload/${id}`;
      const take = () => metadata.leases.acquire(name, instanceId, Date.now() + UPLOAD_LEASE_MS, Date.now());
      if (!(await take())) {
        throw new RegistryError('BERTH_UPLOAD_BUSY', 'the upload session is being written by another request; retry later', { detail: { uuid: id } });
      }
      const renew = setInterval(() => { take().catch(() => undefined); }, UPLOAD_LEASE_MS / 3);
      renew.unref();
      try {
        return await fn();
      } finally {
        clearInterval(renew);
        await metadata.leases.release(name, instanceId).catch(() => undefined);
      }
    });
  }

  private rangeError(upload: UploadRecord, message: string): RegistryError {
    return new RegistryError('BERTH_UPLOAD_RANGE_INVALID', message, {
      headers: { Range: `0-${Math.max(upload.size - 1, 0)}`, 'Docker-Upload-UUID': upload.id },
      detail: { size: upload.size },
    });
  }

  private async appendLocked(upload: UploadRecord, source: AsyncIterable<Uint8Array>, options: ChunkOptions, final: boolean): Promise<UploadRecord> {
    const { range, contentLength } = options;
    if (range) {
      if (range.start !== upload.size) throw this.rangeError(upload, `chunk starts at ${range.start}, the upload has ${upload.size} bytes`);
      if (contentLength !== undefined && range.end - range.start + 1 !== contentLength) {
        throw this.rangeError(upload, 'Content-Range does not match Content-Length');
      }
    }
    const state = this.hashes.take(upload.id, upload.size);
    const counter = { bytes: 0 };
    const exact = range ? range.end - range.start + 1 : undefined;
    // On any failure the driver restores the data; the hash state saw bytes that
    // are gone, so it is not put back and the next step re-reads instead.
    let newSize: number;
    try {
      newSize = await this.options.storage.append(this.options.placement.dataPath(upload.id), hashing(source, state?.hash ?? null, counter, exact), {
        signal: options.signal, expectedBytes: exact ?? contentLength, final, currentSize: upload.size,
      });
    } catch (err) {
      state?.hash.dispose();
      throw err;
    }
    if (newSize !== upload.size + counter.bytes) {
      state?.hash.dispose();
      // The stored bytes ran ahead of the session's record: an earlier write
      // reached storage, but its process died before recording it. Neither
      // can be trusted to line up with the client's offsets: end the session.
      await this.discard(upload.id);
      throw new RegistryError('BLOB_UPLOAD_INVALID', 'the upload session\'s stored data does not match its record (an interrupted write); start a new upload', {
        detail: { uuid: upload.id, stored: newSize, expected: upload.size + counter.bytes },
      });
    }
    const now = Date.now();
    if (!(await this.options.metadata.uploads.advance(upload.id, upload.size, newSize, now))) {
      state?.hash.dispose();
      throw new RegistryError('BERTH_UPLOAD_BUSY', 'the upload session was changed concurrently');
    }
    if (state) this.hashes.put(upload.id, state, newSize);
    return { ...upload, size: newSize, updatedAt: now };
  }

  private async digestOf(path: string, algorithm: 'sha256' | 'sha512', size: number): Promise<string> {
    const hash: Hash = createHash(algorithm);
    if (size > 0) {
      try {
        for await (const chunk of await this.options.storage.reader(path)) hash.update(chunk as Uint8Array);
      } catch (err) {
        // An earlier attempt to finish this session died after moving its
        // bytes (an instance killed mid-PUT): the session cannot be finished.
        if (err instanceof PathNotFoundError) throw new RegistryError('BLOB_UPLOAD_INVALID', 'the upload session\'s data is gone; start a new upload', { cause: err });
        throw err;
      }
    }
    return `${algorithm}:${hash.digest('hex')}`;
  }

  private async discard(id: string): Promise<void> {
    this.hashes.drop(id);
    await this.options.metadata.uploads.delete(id);
    await this.options.placement.discard(id);
  }
}

async function* noBytes(): AsyncIterable<Uint8Array> {
  // nothing: an empty body
}
