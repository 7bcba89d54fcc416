import type { Readable } from 'node:stream';
import type { BlobRecord, ManifestRecord, UploadRecord } from '../metadata/index.js';
import type {
  ByteRange, ChunkOptions, CommitGuard, GuardOptions, ManifestDeleteResult, ManifestPushResult, PageOptions, PutBlobOptions, PutManifestOptions, ReadOptions, RegistryChange, RegistryService,
  StartUploadOptions,
} from '../registry/index.js';
import type { EventBus } from './bus.js';
import type { EventContext, RegistryEvent } from './events.js';

type Emitted = RegistryEvent extends infer E ? (E extends RegistryEvent ? Omit<E, keyof EventContext | 'time' | 'mediaType' | 'size' | 'digest'> & Partial<Pick<E, 'mediaType' | 'size' | 'digest'>> : never) : never;

/**
 * The registry as one request sees it: the core, wrapped so that every
 * change is first put to the bus's pre-hooks and every committed change
 * (and every pull) becomes an event for its listeners, stamped with the
 * request's actor and id. Distribution wraps its repository in notification
 * listeners the same way; handlers cannot forget to emit, because they
 * only ever hold this wrapper.
 */
export class EventedRegistry implements RegistryService {
  private readonly guard: CommitGuard;

  constructor(private readonly inner: RegistryService, private readonly bus: EventBus, private readonly context: EventContext) {
    this.guard = (change: RegistryChange) => bus.check(change, context);
  }

  /** The caller's guard (if any) first, then the bus's pre-hooks. */
  private guarded(options: GuardOptions | undefined): CommitGuard {
    const outer = options?.guard;
    return outer ? async (change) => { await outer(change); await this.guard(change); } : this.guard;
  }

  private emit(e: Emitted): void {
    if (!this.bus.hasListeners) return;
    this.bus.emit({ digest: null, mediaType: null, size: null, ...e, ...this.context, time: Date.now() } as RegistryEvent);
  }

  // ---- reads: pre-hooks may refuse handing content out ------------------

  async statBlob(repo: string, digest: string, options?: ReadOptions): Promise<BlobRecord> {
    const blob = await this.inner.statBlob(repo, digest, options);
    await this.guard({ type: 'blob.pull', repository: repo, digest: blob.digest, size: blob.size });
    this.emit({ type: 'blob.pulled', repository: repo, digest: blob.digest, size: blob.size, method: options?.method ?? 'GET' });
    return blob;
  }

  openBlob(blob: BlobRecord, range: ByteRange | null, signal?: AbortSignal): Promise<Readable> {
    return this.inner.openBlob(blob, range, signal);
  }

  blobStoragePath(blob: BlobRecord): string {
    return this.inner.blobStoragePath(blob);
  }

  blobRedirectUrl(blob: BlobRecord, method: 'GET' | 'HEAD'): Promise<string | null> {
    return this.inner.blobRedirectUrl(blob, method);
  }

  async getManifest(repo: string, reference: string, accept?: string, options?: ReadOptions): Promise<ManifestRecord> {
    const m = await this.inner.getManifest(repo, reference, accept, options);
    await this.guard({ type: 'manifest.pull', repository: repo, reference, digest: m.digest, mediaType: m.mediaType, size: m.size });
    this.emit({ type: 'manifest.pulled', repository: repo, reference, digest: m.digest, mediaType: m.mediaType, size: m.size, method: options?.method ?? 'GET' });
    return m;
  }

  listTags(repo: string, page: PageOptions): Promise<{ tags: string[]; more: boolean }> {
    return this.inner.listTags(repo, page);
  }

  listRepositories(page: PageOptions & { limit: number }): Promise<{ repositories: string[]; more: boolean }> {
    return this.inner.listRepositories(page);
  }

  referrers(repo: string, digest: string, artifactType?: string): Promise<Record<string, unknown>> {
    return this.inner.referrers(repo, digest, artifactType);
  }

  // ---- writes: the core asks the guard before committing ----------------

  async deleteBlob(repo: string, digest: string, options?: GuardOptions): Promise<void> {
    await this.inner.deleteBlob(repo, digest, { guard: this.guarded(options) });
    this.emit({ type: 'blob.deleted', repository: repo, digest });
  }

  async startUpload(repo: string, options?: StartUploadOptions): Promise<UploadRecord> {
    const upload = await this.inner.startUpload(repo, { ...options, guard: this.guarded(options) });
    this.emit({ type: 'upload.started', repository: repo, uploadId: upload.id });
    return upload;
  }

  async mountBlob(repo: string, from: string, digest: string, options?: GuardOptions): Promise<BlobRecord | null> {
    const blob = await this.inner.mountBlob(repo, from, digest, { guard: this.guarded(options) });
    if (blob) this.emit({ type: 'blob.mounted', repository: repo, from, digest: blob.digest, size: blob.size });
    return blob;
  }

  getUpload(repo: string, id: string): Promise<UploadRecord> {
    return this.inner.getUpload(repo, id);
  }

  appendUpload(repo: string, id: string, source: AsyncIterable<Uint8Array>, options?: ChunkOptions): Promise<UploadRecord> {
    return this.inner.appendUpload(repo, id, source, options);
  }

  async completeUpload(repo: string, id: string, digest: string, source: AsyncIterable<Uint8Array> | null, options: ChunkOptions = {}): Promise<BlobRecord> {
    const blob = await this.inner.completeUpload(repo, id, digest, source, { ...options, guard: this.guarded(options) });
    this.emit({ type: 'blob.pushed', repository: repo, digest: blob.digest, size: blob.size });
    return blob;
  }

  async putBlob(repo: string, digest: string, source: AsyncIterable<Uint8Array>, options: PutBlobOptions = {}): Promise<BlobRecord> {
    const blob = await this.inner.putBlob(repo, digest, source, { ...options, guard: this.guarded(options) });
    this.emit({ type: 'blob.pushed', repository: repo, digest: blob.digest, size: blob.size });
    return blob;
  }

  async cancelUpload(repo: string, id: string): Promise<void> {
    await this.inner.cancelUpload(repo, id);
    this.emit({ type: 'upload.cancelled', repository: repo, uploadId: id });
  }

  async putManifest(repo: string, reference: string, body: Buffer, contentType: string | undefined, options?: PutManifestOptions): Promise<ManifestPushResult> {
    const r = await this.inner.putManifest(repo, reference, body, contentType, { ...options, guard: this.guarded(options) });
    if (r.repositoryCreated) this.emit({ type: 'repository.created', repository: repo });
    this.emit({ type: 'manifest.pushed', repository: repo, digest: r.digest, mediaType: r.mediaType, size: r.size, tag: r.tag });
    // One tag.moved per tag that now points elsewhere (a push by digest may set several).
    for (const t of r.tags) {
      if (t.previousDigest !== r.digest) {
        this.emit({ type: 'tag.moved', repository: repo, tag: t.tag, digest: r.digest, mediaType: r.mediaType, size: r.size, previous: t.previousDigest });
      }
    }
    return r;
  }

  async deleteManifest(repo: string, reference: string, options?: GuardOptions): Promise<ManifestDeleteResult> {
    const r = await this.inner.deleteManifest(repo, reference, { guard: this.guarded(options) });
    if (r.kind === 'tag') {
      this.emit({ type: 'tag.deleted', repository: repo, tag: r.tag, digest: r.digest });
    } else {
      for (const tag of r.tags) this.emit({ type: 'tag.deleted', repository: repo, tag, digest: r.digest });
      this.emit({ type: 'manifest.deleted', repository: repo, digest: r.digest });
      if (r.repositoryEmptied) this.emit({ type: 'repository.deleted', repository: repo });
    }
    return r;
  }
}
