import { Readable } from 'node:stream';
import { RegistryError } from '../errors/index.js';
import type { BlobRecord, ContentStore, MetadataStores } from '../metadata/index.js';
import { PathNotFoundError, SizeMismatchError, type StorageDriver } from '../storage/index.js';
import type { GuardOptions } from './changes.js';
import { assertRepositoryName, isValidRepositoryName, parseDigest } from './names.js';
import type { BlobPlacement } from './placement.js';
import type { ByteRange, ReadOptions } from './service.js';
import { CHECKSUMS_AVAILABLE, corruptBlob, type ReadCheck, SMALL_BLOB_BYTES, verifiedBytes, verifyWhole } from './verified-read.js';
import type { WritePolicy } from './write-policy.js';

/**
 * storage.verifyreads: `true` checks a blob's recorded CRC-32 when it has
 * one, else its digest (recording the CRC-32 once the digest verified);
 * `'digest'` always checks the digest; `false` checks only the size.
 */
export type VerifyReads = boolean | 'digest';

/** The little of a logger that blobs need (pino's satisfies it; registry/ does not import log/). */
export interface BlobsLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface BlobsOptions {
  /** The driver as the core uses it (errors mapped). */
  storage: StorageDriver;
  metadata: Pick<MetadataStores, 'content'>;
  placement: BlobPlacement;
  policy: WritePolicy;
  /** How blobs' bytes are verified as they are served (storage.verifyreads); default true. */
  verifyReads?: VerifyReads | undefined;
  /** Where a failure to record a checksum is reported (it never fails the read). */
  logger?: BlobsLogger | undefined;
}

/**
 * Blobs that exist: reading them, linking one repository's blob into another
 * (mount) and unlinking them. Making new blobs is the upload sessions' work
 * (uploads.ts).
 */
export class Blobs {
  /** Digests whose checksum is being recorded by this process: concurrent first reads write it once. */
  private readonly recording = new Set<string>();

  constructor(private readonly options: BlobsOptions) {}

  /** Read per call: the store belongs to the open database handle. */
  private get content(): ContentStore {
    return this.options.metadata.content;
  }

  /** The blob, if linked in `repo`; BLOB_UNKNOWN otherwise. */
  async stat(repo: string, digest: string, _options?: ReadOptions): Promise<BlobRecord> {
    assertRepositoryName(repo);
    const d = parseDigest(digest);
    const blob = await this.content.getLinkedBlob(repo, d.digest);
    if (!blob) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: d.digest } });
    return blob;
  }

  /**
   * Opens a blob's bytes (optionally a range already validated against its
   * size). Never hands out bytes that fail verification (unless
   * `verifyReads` is off): a blob whose stored size differs from its record
   * is refused with BERTH_BLOB_CORRUPT before any byte; a small one
   * (SMALL_BLOB_BYTES) is read whole and checked before this returns; a
   * larger one is checked as it streams, and its last bytes wait for the
   * verdict (verified-read.ts), so the stream fails instead of ending with
   * wrong content. A range is served from a read of the whole blob, so it
   * is verified too. The check is the blob's recorded CRC-32 when it has
   * one (and `verifyReads` is true), else its digest: such a read computes
   * the CRC-32 in the same pass and records it once the digest verified,
   * without waiting for the write (see `check`).
   */
  async open(blob: BlobRecord, range: ByteRange | null, signal?: AbortSignal): Promise<Readable> {
    const { storage } = this.options;
    const path = this.options.placement.location(blob);
    const verify = this.options.verifyReads ?? true;
    return this.mapReadErrors(blob, async () => {
      if (verify && blob.size <= SMALL_BLOB_BYTES) {
        const data = await this.options.storage.getContent(path);
        verifyWhole(data, this.check(blob), blob.size);
        const part = range ? data.subarray(range.start, range.end + 1) : data;
        return Readable.from(part.length > 0 ? [part] : [], { objectMode: false });
      }
      if (!verify) {
        const part = range ? { offset: range.start, length: range.end - range.start + 1 } : {};
        return storage.reader(path, { ...part, signal, expectedSize: blob.size });
      }
      const whole = await storage.reader(path, { signal, expectedSize: blob.size });
      return Readable.from(verifiedBytes(whole, { check: this.check(blob), size: blob.size, range }), { objectMode: false });
    });
  }

  /**
   * How a read of `blob` is verified. With `verifyReads: true`, by its
   * recorded checksum, or else by its digest while learning the checksum.
   * A checksum is thus only recorded for bytes the digest proved right, and
   * a blob recorded again (after garbage collection or a repair removed its
   * record) starts without one.
   */
  private check(blob: BlobRecord): ReadCheck {
    const digest = parseDigest(blob.digest);
    if (this.options.verifyReads === 'digest' || !CHECKSUMS_AVAILABLE) return { by: 'digest', digest };
    if (blob.crc32 !== undefined) return { by: 'checksum', digest, crc32: blob.crc32 };
    return { by: 'digest', digest, onChecksum: (crc32) => this.recordChecksum(blob.digest, crc32) };
  }

  /** Fire and forget: the read never waits for the write, nor fails with it. */
  private recordChecksum(digest: string, crc32: number): void {
    if (this.recording.has(digest)) return;
    this.recording.add(digest);
    this.content.recordBlobChecksum(digest, crc32)
      .catch((err: unknown) => this.options.logger?.warn({ digest, err: (err as Error)?.message }, 'failed to record a blob checksum'))
      .finally(() => this.recording.delete(digest));
  }

  /** Bytes gone from storage are BLOB_UNKNOWN; bytes of the wrong size, BERTH_BLOB_CORRUPT. */
  private async mapReadErrors<T>(blob: BlobRecord, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      if (err instanceof PathNotFoundError) {
        throw new RegistryError('BLOB_UNKNOWN', 'blob content is missing from storage', { detail: { digest: blob.digest }, cause: err });
      }
      if (err instanceof SizeMismatchError) throw corruptBlob(blob.digest, `storage holds ${err.actual} bytes, the blob has ${err.expected}`, err);
      throw err;
    }
  }

  /** The blob's path in the storage layout (relative to the storage root), for a front end that serves files. */
  storagePath(blob: BlobRecord): string {
    return this.options.placement.location(blob).slice(1);
  }

  /** A presigned URL for the blob when the storage backend offers one. */
  async redirectUrl(blob: BlobRecord, method: 'GET' | 'HEAD'): Promise<string | null> {
    return this.options.storage.redirectUrl(this.options.placement.location(blob), { method, expiresInSeconds: 1200 });
  }

  /**
   * Cross-repository mount: links a blob that `from` already has. Returns
   * null (the caller then starts an upload session) when it cannot.
   */
  async mount(repo: string, from: string, digest: string, options: GuardOptions = {}): Promise<BlobRecord | null> {
    assertRepositoryName(repo);
    this.options.policy.assertWritable();
    const d = parseDigest(digest);
    if (!isValidRepositoryName(from)) return null;
    const blob = await this.content.getLinkedBlob(from, d.digest);
    if (!blob) return null;
    await options.guard?.({ type: 'blob.mount', repository: repo, from, digest: blob.digest, size: blob.size });
    // Only while the blob is recorded and not being collected (else the client uploads it): never records it again, as its bytes may be gone.
    return this.content.linkExistingBlob(repo, blob.digest);
  }

  /** Removes a blob from a repository (its bytes stay until garbage collection). */
  async delete(repo: string, digest: string, options: GuardOptions = {}): Promise<void> {
    assertRepositoryName(repo);
    const d = parseDigest(digest);
    this.options.policy.assertDeletable();
    const unknown = () => new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: d.digest } });
    if (!(await this.content.getLinkedBlob(repo, d.digest))) throw unknown();
    await options.guard?.({ type: 'blob.delete', repository: repo, digest: d.digest });
    if (!(await this.content.unlinkBlob(repo, d.digest))) throw unknown();
  }
}
