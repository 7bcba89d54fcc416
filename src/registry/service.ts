import type { Readable } from 'node:stream';
import type { BlobRecord, ManifestRecord, UploadRecord } from '../metadata/index.js';
import type { GuardOptions } from './changes.js';
import type { DigestAlgorithm } from './names.js';

/** A byte range of a blob, both ends inclusive, already checked against its size. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface BodyOptions {
  signal?: AbortSignal | undefined;
}

export interface ChunkOptions extends BodyOptions, GuardOptions {
  /** The client's `Content-Range: start-end`, if it sent one. */
  range?: ByteRange | undefined;
  /** The client's Content-Length, if it sent one. */
  contentLength?: number | undefined;
}

/** Options of a read: which HTTP method asked (a HEAD hands out no bytes, but is still a pull). */
export interface ReadOptions {
  method?: 'GET' | 'HEAD' | undefined;
}

export interface PageOptions {
  last?: string | undefined;
  limit?: number | undefined;
}

/** Options of a manifest push. */
export interface PutManifestOptions extends GuardOptions {
  /**
   * More tags to point at the manifest (`?tag=` of a push by digest), all
   * in the same transaction as the manifest: every one or none.
   */
  tags?: readonly string[] | undefined;
}

/** Options of a monolithic upload. */
export interface PutBlobOptions extends BodyOptions, GuardOptions {
  /** The client's Content-Length, if it sent one. */
  contentLength?: number | undefined;
  /** The client's `digest-algorithm`, if it sent one: it must be the digest's. */
  algorithm?: DigestAlgorithm | undefined;
}

/** Options of starting an upload session. */
export interface StartUploadOptions extends GuardOptions {
  /** The client's `digest-algorithm`: the digest its PUT will name is of this algorithm (sha256 when absent). */
  algorithm?: DigestAlgorithm | undefined;
}

/** One tag a manifest push set, and where it pointed before (null: it is new). */
export interface TagUpdate {
  tag: string;
  previousDigest: string | null;
}

/** What a manifest push stored. */
export interface ManifestPushResult {
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  subject: string | null;
  /** The (first) tag the push named, or null for a push by digest without tags. */
  tag: string | null;
  /** With a tag: the digest it pointed to before (equal to `digest` when unchanged), or null when new. */
  previousTagDigest: string | null;
  /** Every tag the push set, in request order (the reference's tag, or the `tag` parameters). */
  tags: TagUpdate[];
  /** The repository's first manifest. */
  repositoryCreated: boolean;
}

/** What a manifest DELETE removed: a tag alone, or a manifest with its tags. */
export type ManifestDeleteResult =
  | { kind: 'tag'; repository: string; tag: string; digest: string }
  | { kind: 'manifest'; repository: string; digest: string; tags: string[]; repositoryEmptied: boolean };

/**
 * What the HTTP layer asks of the registry. The core (Registry) implements
 * it; wrappers implement it around the core (events/: pre-hooks and
 * post-commit listeners), so a handler never knows which it talks to.
 *
 * Every failure is a RegistryError from the catalogue. Write operations take
 * `guard` (see changes.ts): asked with the validated change before anything
 * is committed; if it throws, nothing is committed.
 */
export interface RegistryService {
  /** The blob, if linked in `repo`; BLOB_UNKNOWN otherwise. */
  statBlob(repo: string, digest: string, options?: ReadOptions): Promise<BlobRecord>;
  /** Opens a blob's bytes (optionally a range already validated against its size). */
  openBlob(blob: BlobRecord, range: ByteRange | null, signal?: AbortSignal): Promise<Readable>;
  /** The blob's path in the storage layout, for a front end that serves files (nginx). */
  blobStoragePath(blob: BlobRecord): string;
  /** A presigned URL for the blob when the storage backend offers one. */
  blobRedirectUrl(blob: BlobRecord, method: 'GET' | 'HEAD'): Promise<string | null>;
  /** Unlinks a blob from a repository (its bytes stay until garbage collection). */
  deleteBlob(repo: string, digest: string, options?: GuardOptions): Promise<void>;

  startUpload(repo: string, options?: StartUploadOptions): Promise<UploadRecord>;
  /** Links a blob that `from` has into `repo`; null when it cannot (the caller then starts an upload). */
  mountBlob(repo: string, from: string, digest: string, options?: GuardOptions): Promise<BlobRecord | null>;
  getUpload(repo: string, id: string): Promise<UploadRecord>;
  appendUpload(repo: string, id: string, source: AsyncIterable<Uint8Array>, options?: ChunkOptions): Promise<UploadRecord>;
  /** Finishes an upload with an optional last chunk; verifies the digest. */
  completeUpload(repo: string, id: string, digest: string, source: AsyncIterable<Uint8Array> | null, options?: ChunkOptions): Promise<BlobRecord>;
  /** A monolithic upload. */
  putBlob(repo: string, digest: string, source: AsyncIterable<Uint8Array>, options?: PutBlobOptions): Promise<BlobRecord>;
  cancelUpload(repo: string, id: string): Promise<void>;

  /** Resolves a tag or digest; MANIFEST_UNKNOWN when absent or not acceptable to the client. */
  getManifest(repo: string, reference: string, accept?: string, options?: ReadOptions): Promise<ManifestRecord>;
  /** Pushes a manifest by tag or digest; `options.tags` adds tags, atomically with the manifest. */
  putManifest(repo: string, reference: string, body: Buffer, contentType: string | undefined, options?: PutManifestOptions): Promise<ManifestPushResult>;
  /** By digest: the manifest and its tags; by tag: the tag only. */
  deleteManifest(repo: string, reference: string, options?: GuardOptions): Promise<ManifestDeleteResult>;

  listTags(repo: string, page: PageOptions): Promise<{ tags: string[]; more: boolean }>;
  listRepositories(page: PageOptions & { limit: number }): Promise<{ repositories: string[]; more: boolean }>;
  /** The referrers of `digest` as an OCI image index. */
  referrers(repo: string, digest: string, artifactType?: string): Promise<Record<string, unknown>>;
}
