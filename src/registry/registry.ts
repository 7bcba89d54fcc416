import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlobRecord, ManifestRecord, MetadataStore, UploadRecord } from '../metadata/index.js';
import type { StorageDriver } from '../storage/index.js';
import { Blobs, type BlobsLogger, type VerifyReads } from './blobs.js';
import type { GuardOptions } from './changes.js';
import { Manifests } from './manifests.js';
import { assertRepositoryName, parseReference } from './names.js';
import { placementFor, type BlobPlacement } from './placement.js';
import type { ByteRange, ChunkOptions, ManifestDeleteResult, ManifestPushResult, PageOptions, PutBlobOptions, PutManifestOptions, ReadOptions, RegistryService, StartUploadOptions } from './service.js';
import { SparsePolicy } from './sparse-policy.js';
import { StorageErrorMapper } from './storage-errors.js';
import { Tags } from './tags.js';
import { Uploads } from './uploads.js';
import { WritePolicy } from './write-policy.js';

export interface RegistryOptions {
  storage: StorageDriver;
  metadata: MetadataStore;
  deleteEnabled: boolean;
  readOnly: boolean;
  manifestMaxBytes: number;
  /** Repositories and namespaces that accept sparse manifests (manifests.sparse); none when absent. */
  sparse?: SparsePolicy | undefined;
  /** How blobs are verified as they are served (storage.verifyreads: true, 'digest' or false); default true. */
  verifyReads?: VerifyReads | undefined;
  /** Where the core reports what it does beside a request and must not fail it (a blob checksum it could not record). */
  logger?: BlobsLogger | undefined;
}

/**
 * The registry core: repositories, blobs, upload sessions, manifests, tags
 * and referrers, on top of a storage driver and a metadata store. It knows
 * nothing of HTTP or of how a client authenticated; every failure is a
 * RegistryError from the one catalogue.
 *
 * It only composes its parts, one per concern: uploads.ts (sessions and
 * monolithic uploads), blobs.ts (reading, mounting, unlinking), manifests.ts
 * (and referrers), tags.ts (tag lists, catalog, tag deletes). Where bytes go
 * is one strategy chosen here (placement.ts). Work beside requests, such as
 * upload purging, is in maintenance/ and uses the same parts.
 */
export class Registry implements RegistryService {
  readonly options: Readonly<RegistryOptions>;
  /** This process's name as a lease owner (upload writers, scheduled jobs). */
  readonly instanceId = randomUUID();
  /** The storage driver as the core uses it: backend failures become 503 BERTH_UNAVAILABLE. */
  readonly storage: StorageDriver;
  readonly metadata: MetadataStore;
  readonly placement: BlobPlacement;
  readonly uploads: Uploads;
  readonly blobs: Blobs;
  readonly manifests: Manifests;
  readonly tags: Tags;
  private readonly policy: WritePolicy;

  constructor(options: RegistryOptions) {
    this.options = options;
    this.storage = new StorageErrorMapper(options.storage);
    this.metadata = options.metadata;
    this.policy = new WritePolicy(options);
    const { metadata } = options;
    this.placement = placementFor({ storage: this.storage, metadata });
    const common = { storage: this.storage, metadata, placement: this.placement, policy: this.policy };
    this.uploads = new Uploads({ ...common, instanceId: this.instanceId });
    this.blobs = new Blobs({ ...common, verifyReads: options.verifyReads, logger: options.logger });
    this.manifests = new Manifests({ metadata, policy: this.policy, manifestMaxBytes: options.manifestMaxBytes, sparse: options.sparse ?? new SparsePolicy() });
    this.tags = new Tags({ metadata });
  }

  // ---- blobs --------------------------------------------------------------

  statBlob(repo: string, digest: string, options?: ReadOptions): Promise<BlobRecord> {
    return this.blobs.stat(repo, digest, options);
  }

  openBlob(blob: BlobRecord, range: ByteRange | null, signal?: AbortSignal): Promise<Readable> {
    return this.blobs.open(blob, range, signal);
  }

  blobStoragePath(blob: BlobRecord): string {
    return this.blobs.storagePath(blob);
  }

  blobRedirectUrl(blob: BlobRecord, method: 'GET' | 'HEAD'): Promise<string | null> {
    return this.blobs.redirectUrl(blob, method);
  }

  deleteBlob(repo: string, digest: string, options?: GuardOptions): Promise<void> {
    return this.blobs.delete(repo, digest, options);
  }

  mountBlob(repo: string, from: string, digest: string, options?: GuardOptions): Promise<BlobRecord | null> {
    return this.blobs.mount(repo, from, digest, options);
  }

  // ---- uploads ------------------------------------------------------------

  startUpload(repo: string, options?: StartUploadOptions): Promise<UploadRecord> {
    return this.uploads.start(repo, options);
  }

  getUpload(repo: string, id: string): Promise<UploadRecord> {
    return this.uploads.get(repo, id);
  }

  appendUpload(repo: string, id: string, source: AsyncIterable<Uint8Array>, options?: ChunkOptions): Promise<UploadRecord> {
    return this.uploads.append(repo, id, source, options);
  }

  completeUpload(repo: string, id: string, digest: string, source: AsyncIterable<Uint8Array> | null, options?: ChunkOptions): Promise<BlobRecord> {
    return this.uploads.complete(repo, id, digest, source, options);
  }

  putBlob(repo: string, digest: string, source: AsyncIterable<Uint8Array>, options?: PutBlobOptions): Promise<BlobRecord> {
    return this.uploads.putBlob(repo, digest, source, options);
  }

  cancelUpload(repo: string, id: string): Promise<void> {
    return this.uploads.cancel(repo, id);
  }

  // ---- manifests and tags -------------------------------------------------

  getManifest(repo: string, reference: string, accept?: string, options?: ReadOptions): Promise<ManifestRecord> {
    return this.manifests.get(repo, reference, accept, options);
  }

  putManifest(repo: string, reference: string, body: Buffer, contentType: string | undefined, options?: PutManifestOptions): Promise<ManifestPushResult> {
    return this.manifests.put(repo, reference, body, contentType, options);
  }

  /** DELETE by digest removes the manifest and its tags; by tag removes only the tag. */
  async deleteManifest(repo: string, reference: string, options: GuardOptions = {}): Promise<ManifestDeleteResult> {
    assertRepositoryName(repo);
    const ref = parseReference(reference, 'lookup');
    this.policy.assertDeletable();
    if (ref.kind === 'tag') {
      const digest = await this.tags.delete(repo, ref.tag, reference, options);
      return { kind: 'tag', repository: repo, tag: ref.tag, digest };
    }
    const deleted = await this.manifests.delete(repo, ref.digest.digest, reference, options);
    return { kind: 'manifest', repository: repo, digest: ref.digest.digest, tags: deleted.tags, repositoryEmptied: deleted.repositoryEmptied };
  }

  listTags(repo: string, page: PageOptions): Promise<{ tags: string[]; more: boolean }> {
    return this.tags.list(repo, page);
  }

  listRepositories(page: PageOptions & { limit: number }): Promise<{ repositories: string[]; more: boolean }> {
    return this.tags.repositories(page);
  }

  referrers(repo: string, digest: string, artifactType?: string): Promise<Record<string, unknown>> {
    return this.manifests.referrers(repo, digest, artifactType);
  }
}
