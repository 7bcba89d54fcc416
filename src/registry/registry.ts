import { createHash, randomUUID, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { RegistryError } from '../errors/index.js';
import type { BlobRecord, ManifestRecord, MetadataStore, UploadRecord } from '../metadata/index.js';
import type { GuardOptions } from './changes.js';
import type { BodyOptions, ByteRange, ChunkOptions, ManifestDeleteResult, ManifestPushResult, PageOptions, ReadOptions, RegistryService } from './service.js';
import { PathNotFoundError, type StorageDriver } from '../storage/index.js';
import { KeyedMutex } from './keyed-mutex.js';
import { StorageErrorMapper } from './storage-errors.js';
import { blobPath, isUploadId, storedDataPath, STORED_ROOT, uploadDataPath, uploadDir, UPLOADS_ROOT } from './layout.js';
import { acceptsMediaType, parseManifest } from './manifest.js';
import { MediaType } from './media-types.js';
import { assertRepositoryName, isValidRepositoryName, parseDigest, parseReference, type ParsedDigest } from './names.js';
import { hashing, UploadHashes } from './upload-hashes.js';
import { pageOf, TagListCache } from './tag-list-cache.js';

export interface RegistryOptions {
  storage: StorageDriver;
  metadata: MetadataStore;
  deleteEnabled: boolean;
  readOnly: boolean;
  manifestMaxBytes: number;
}

/** How long an upload's writer lease lasts without renewal (an instance killed mid-write frees it then). */
const UPLOAD_LEASE_MS = 60_000;

/**
 * The registry core: repositories, blobs, upload sessions, manifests, tags
 * and referrers, on top of a storage driver and a metadata store. It knows
 * nothing of HTTP or of how a client authenticated; every failure is a
 * RegistryError from the one catalogue.
 */
export class Registry implements RegistryService {
  private readonly storage: StorageDriver;
  private readonly metadata: MetadataStore;
  private readonly hashes = new UploadHashes();
  private readonly uploadLocks = new KeyedMutex();
  private readonly tagLists = new TagListCache();
  readonly options: Readonly<RegistryOptions>;
  /** This process's name as a lease owner (see withUpload). */
  readonly instanceId = randomUUID();

  constructor(options: RegistryOptions) {
    this.storage = new StorageErrorMapper(options.storage);
    this.metadata = options.metadata;
    this.options = options;
  }

  // ---- guards -------------------------------------------------------------

  private assertWritable(): void {
    if (this.options.readOnly) throw new RegistryError('UNSUPPORTED', 'the registry is in read-only mode');
  }

  private assertDeletable(): void {
    this.assertWritable();
    if (!this.options.deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletes are disabled (storage.delete.enabled is false)');
  }

  // ---- blobs --------------------------------------------------------------

  /** The blob, if linked in `repo`; BLOB_UNKNOWN otherwise. */
  async statBlob(repo: string, digest: string, _options?: ReadOptions): Promise<BlobRecord> {
    assertRepositoryName(repo);
    const d = parseDigest(digest);
    const blob = await this.metadata.content.getLinkedBlob(repo, d.digest);
    if (!blob) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: d.digest } });
    return blob;
  }

  /** Where a blob's bytes are: its recorded location, else its content address. */
  private blobLocation(blob: BlobRecord): string {
    return blob.location ?? blobPath(parseDigest(blob.digest));
  }

  /** Opens a blob's bytes (optionally a range already validated against its size). */
  async openBlob(blob: BlobRecord, range: ByteRange | null, signal?: AbortSignal): Promise<Readable> {
    const path = this.blobLocation(blob);
    try {
      return await this.storage.reader(path, range ? { offset: range.start, length: range.end - range.start + 1, signal } : { signal });
    } catch (err) {
      if (err instanceof PathNotFoundError) {
        throw new RegistryError('BLOB_UNKNOWN', 'blob content is missing from storage', { detail: { digest: blob.digest }, cause: err });
      }
      throw err;
    }
  }

  /** The blob's path in the storage layout (relative to the storage root), for a front end that serves files. */
  blobStoragePath(blob: BlobRecord): string {
    return this.blobLocation(blob).slice(1);
  }

  /** A presigned URL for the blob when the storage backend offers one. */
  async blobRedirectUrl(blob: BlobRecord, method: 'GET' | 'HEAD'): Promise<string | null> {
    return this.storage.redirectUrl(this.blobLocation(blob), { method, expiresInSeconds: 1200 });
  }

  /** Removes a blob from a repository (its bytes stay until garbage collection). */
  async deleteBlob(repo: string, digest: string, options: GuardOptions = {}): Promise<void> {
    assertRepositoryName(repo);
    const d = parseDigest(digest);
    this.assertDeletable();
    const unknown = () => new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: d.digest } });
    if (!(await this.metadata.content.getLinkedBlob(repo, d.digest))) throw unknown();
    await options.guard?.({ type: 'blob.delete', repository: repo, digest: d.digest });
    if (!(await this.metadata.content.unlinkBlob(repo, d.digest))) throw unknown();
  }

  // ---- uploads ------------------------------------------------------------

  async startUpload(repo: string, options: GuardOptions = {}): Promise<UploadRecord> {
    assertRepositoryName(repo);
    this.assertWritable();
    await options.guard?.({ type: 'upload.start', repository: repo });
    const now = Date.now();
    const upload: UploadRecord = { id: randomUUID(), repository: repo, size: 0, createdAt: now, updatedAt: now };
    await this.metadata.uploads.create(upload);
    this.hashes.put(upload.id, this.hashes.fresh(), 0);
    return upload;
  }

  /**
   * Cross-repository mount: links a blob that `from` already has. Returns
   * null (the caller then starts an upload session) when it cannot.
   */
  async mountBlob(repo: string, from: string, digest: string, options: GuardOptions = {}): Promise<BlobRecord | null> {
    assertRepositoryName(repo);
    this.assertWritable();
    const d = parseDigest(digest);
    if (!isValidRepositoryName(from)) return null;
    const blob = await this.metadata.content.getLinkedBlob(from, d.digest);
    if (!blob) return null;
    await options.guard?.({ type: 'blob.mount', repository: repo, from, digest: blob.digest, size: blob.size });
    await this.metadata.content.linkBlob(repo, blob);
    return blob;
  }

  async getUpload(repo: string, id: string): Promise<UploadRecord> {
    assertRepositoryName(repo);
    const upload = isUploadId(id) ? await this.metadata.uploads.get(id) : null;
    if (!upload || upload.repository !== repo) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { detail: { uuid: id.slice(0, 64) } });
    return upload;
  }

  /** Appends a chunk (PATCH). Out-of-order or overlapping ranges are 416 with the current Range. */
  async appendUpload(repo: string, id: string, source: AsyncIterable<Uint8Array>, options: ChunkOptions = {}): Promise<UploadRecord> {
    this.assertWritable();
    return this.withUpload(id, async () => {
      const upload = await this.getUpload(repo, id);
      // A PATCH without Content-Range at the start is a streamed upload
      // (docker, skopeo): its PUT normally follows with no body, so the
      // storage may finish the object now (a later chunk still works).
      return this.appendLocked(upload, source, options, !options.range && upload.size === 0);
    });
  }

  /**
   * Where an upload's bytes go: the upload folder on a filesystem (then
   * renamed to the content address), or `blobdata/<id>` on an object store,
   * where they stay as the blob (see layout.ts).
   */
  private dataPath(id: string): string {
    return this.storage.copiesOnMove ? storedDataPath(id) : uploadDataPath(id);
  }

  /**
   * Runs `fn` as the only writer of an upload session: one request at a
   * time in this process (a mutex) and across instances (a lease in the
   * shared metadata store, renewed while `fn` runs, released after). A
   * session busy in another instance answers 409 at once; the client retries.
   */
  private async withUpload<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.uploadLocks.run(id, async () => {
      const name = `upload/${id}`;
      const take = () => this.metadata.leases.acquire(name, this.instanceId, Date.now() + UPLOAD_LEASE_MS, Date.now());
      if (!(await take())) {
        throw new RegistryError('BLOB_UPLOAD_INVALID', 'the upload session is being written by another request; retry later', { status: 409, detail: { uuid: id } });
      }
      const renew = setInterval(() => { take().catch(() => undefined); }, UPLOAD_LEASE_MS / 3);
      renew.unref();
      try {
        return await fn();
      } finally {
        clearInterval(renew);
        await this.metadata.leases.release(name, this.instanceId).catch(() => undefined);
      }
    });
  }

  private rangeError(upload: UploadRecord, message: string): RegistryError {
    return new RegistryError('BLOB_UPLOAD_INVALID', message, {
      status: 416,
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
    const hash = this.hashes.take(upload.id, upload.size);
    const counter = { bytes: 0 };
    const exact = range ? range.end - range.start + 1 : undefined;
    // On any failure the driver restores the data; the hash state saw bytes that
    // are gone, so it is not put back and the next step re-reads instead.
    const newSize = await this.storage.append(this.dataPath(upload.id), hashing(source, hash, counter, exact), {
      signal: options.signal, expectedBytes: exact ?? contentLength, final, currentSize: upload.size,
    });
    if (newSize !== upload.size + counter.bytes) {
      // The stored bytes ran ahead of the session's record: an earlier write
      // reached storage, but its process died before recording it. Neither
      // can be trusted to line up with the client's offsets: end the session.
      await this.discardUpload(upload.id);
      throw new RegistryError('BLOB_UPLOAD_INVALID', 'the upload session\'s stored data does not match its record (an interrupted write); start a new upload', {
        detail: { uuid: upload.id, stored: newSize, expected: upload.size + counter.bytes },
      });
    }
    const now = Date.now();
    if (!(await this.metadata.uploads.advance(upload.id, upload.size, newSize, now))) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', 'the upload session was changed concurrently', { status: 409 });
    }
    if (hash) this.hashes.put(upload.id, hash, newSize);
    return { ...upload, size: newSize, updatedAt: now };
  }

  /** Finishes an upload (PUT ?digest=), with an optional final chunk; verifies the digest. */
  async completeUpload(repo: string, id: string, digest: string, source: AsyncIterable<Uint8Array> | null, options: ChunkOptions = {}): Promise<BlobRecord> {
    this.assertWritable();
    const d = parseDigest(digest);
    return this.withUpload(id, async () => {
      let upload = await this.getUpload(repo, id);
      if (source) upload = await this.appendLocked(upload, source, options, true);
      const path = this.dataPath(upload.id);
      const hash = d.algorithm === 'sha256' ? this.hashes.take(upload.id, upload.size) : null;
      const actual = hash ? `sha256:${hash.digest('hex')}` : await this.digestOf(path, d.algorithm, upload.size);
      if (actual !== d.digest) {
        await this.discardUpload(upload.id);
        throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { detail: { digest: d.digest } });
      }
      try {
        await options.guard?.({ type: 'blob.push', repository: repo, digest: d.digest, size: upload.size });
      } catch (err) {
        await this.discardUpload(upload.id); // refused: nothing of it stays
        throw err;
      }
      const blob = await this.commitBlob(path, d, upload.size, repo, upload.id, source !== null);
      this.hashes.drop(upload.id);
      if (!this.storage.copiesOnMove) await this.storage.delete(uploadDir(upload.id));
      return blob;
    });
  }

  /** Monolithic upload (POST ?digest= with the whole blob as body). */
  async putBlob(repo: string, digest: string, source: AsyncIterable<Uint8Array>, options: BodyOptions & GuardOptions & { contentLength?: number | undefined } = {}): Promise<BlobRecord> {
    assertRepositoryName(repo);
    this.assertWritable();
    const d = parseDigest(digest);
    const id = randomUUID();
    const path = this.dataPath(id);
    const hash = createHash(d.algorithm);
    const counter = { bytes: 0 };
    let committed = false;
    try {
      const size = await this.storage.append(path, hashing(source, hash, counter), { signal: options.signal, expectedBytes: options.contentLength, final: true });
      if (`${d.algorithm}:${hash.digest('hex')}` !== d.digest) {
        throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { detail: { digest: d.digest } });
      }
      await options.guard?.({ type: 'blob.push', repository: repo, digest: d.digest, size });
      const blob = await this.commitBlob(path, d, size, repo, null, true);
      committed = true;
      return blob;
    } finally {
      if (!committed) await this.storage.delete(this.storage.copiesOnMove ? path : uploadDir(id));
      else if (!this.storage.copiesOnMove) await this.storage.delete(uploadDir(id));
    }
  }

  /**
   * Turns verified upload bytes at `from` into the blob: on a filesystem by
   * a rename to the content address, on an object store by recording `from`
   * as the blob's location (no copy). The record, its link into `repo` and
   * the end of the upload session are one transaction. When the blob was
   * already stored, that copy stays in force and these bytes are deleted.
   * `finished`: the last append was final, so the object is whole already.
   */
  private async commitBlob(from: string, d: ParsedDigest, size: number, repo: string, uploadId: string | null, finished: boolean): Promise<BlobRecord> {
    const link = uploadId ? { uploadId } : {};
    if (!this.storage.copiesOnMove) {
      await this.storage.move(from, blobPath(d));
      return this.metadata.content.linkBlob(repo, { digest: d.digest, size }, link);
    }
    const stored = finished ? size : await this.storage.finish(from);
    if (stored !== size) throw new Error(`upload at ${from}: storage holds ${stored} bytes, expected ${size}`);
    const blob = await this.metadata.content.linkBlob(repo, { digest: d.digest, size, location: from }, link);
    if (blob.location !== from) await this.storage.delete(from).catch(() => undefined); // a duplicate: purgeUploads retries
    return blob;
  }

  private async digestOf(path: string, algorithm: 'sha256' | 'sha512', size: number): Promise<string> {
    const hash: Hash = createHash(algorithm);
    if (size > 0) {
      try {
        for await (const chunk of await this.storage.reader(path)) hash.update(chunk as Uint8Array);
      } catch (err) {
        // An earlier attempt to finish this session died after moving its
        // bytes (an instance killed mid-PUT): the session cannot be finished.
        if (err instanceof PathNotFoundError) throw new RegistryError('BLOB_UPLOAD_INVALID', 'the upload session\'s data is gone; start a new upload', { cause: err });
        throw err;
      }
    }
    return `${algorithm}:${hash.digest('hex')}`;
  }

  async cancelUpload(repo: string, id: string): Promise<void> {
    this.assertWritable();
    await this.withUpload(id, async () => {
      const upload = await this.getUpload(repo, id);
      await this.discardUpload(upload.id);
    });
  }

  private async discardUpload(id: string): Promise<void> {
    this.hashes.drop(id);
    await this.metadata.uploads.delete(id);
    await this.storage.delete(this.storage.copiesOnMove ? storedDataPath(id) : uploadDir(id));
  }

  /**
   * Deletes upload sessions untouched for `maxAgeMs`, and upload data that no
   * session owns (left by a crash during a monolithic upload). Returns the ids.
   */
  async purgeUploads(maxAgeMs: number, options: { dryRun?: boolean; now?: number } = {}): Promise<string[]> {
    const before = (options.now ?? Date.now()) - maxAgeMs;
    const purged: string[] = [];
    for (const u of await this.metadata.uploads.listStale(before, 10_000)) {
      purged.push(u.id);
      if (options.dryRun) continue;
      try {
        await this.withUpload(u.id, () => this.discardUpload(u.id));
      } catch (err) {
        if (err instanceof RegistryError && err.code === 'BLOB_UPLOAD_INVALID') continue; // being written right now: not abandoned
        throw err;
      }
    }
    for (const id of await this.storage.list(UPLOADS_ROOT)) {
      if (!isUploadId(id) || purged.includes(id)) continue;
      const info = await this.storage.stat(uploadDataPath(id));
      if (info && info.modifiedAt.getTime() >= before) continue;
      if (await this.metadata.uploads.get(id)) continue;
      purged.push(id);
      if (!options.dryRun) await this.storage.delete(uploadDir(id));
    }
    if (this.storage.copiesOnMove) await this.purgeStoredData(before, purged, options.dryRun ?? false);
    return purged;
  }

  /**
   * Object stores: `blobdata` objects that are neither an upload session's
   * nor a blob's (a crash between storing and recording, a monolithic upload
   * cut off, a duplicate whose delete failed), untouched since `before`.
   */
  private async purgeStoredData(before: number, purged: string[], dryRun: boolean): Promise<void> {
    const ids = (await this.storage.list(STORED_ROOT)).filter((id) => isUploadId(id) && !purged.includes(id));
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500);
      const inUse = new Set(await this.metadata.content.blobLocationsInUse(batch.map(storedDataPath)));
      for (const id of batch) {
        const path = storedDataPath(id);
        if (inUse.has(path)) continue;
        const info = await this.storage.stat(path);
        if (info && info.modifiedAt.getTime() >= before) continue;
        if (await this.metadata.uploads.get(id)) continue;
        // Recorded meanwhile (an upload finishing right now)? Then it is a blob.
        if ((await this.metadata.content.blobLocationsInUse([path])).length > 0) continue;
        purged.push(id);
        if (!dryRun) await this.storage.delete(path);
      }
    }
  }

  // ---- manifests ----------------------------------------------------------

  /** Resolves a tag or digest; MANIFEST_UNKNOWN when absent or not acceptable to the client. */
  async getManifest(repo: string, reference: string, accept?: string, _options?: ReadOptions): Promise<ManifestRecord> {
    assertRepositoryName(repo);
    const ref = parseReference(reference, 'lookup');
    const manifest = ref.kind === 'tag'
      ? await this.metadata.content.resolveTag(repo, ref.tag)
      : await this.metadata.content.getManifest(repo, ref.digest.digest);
    if (!manifest) throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { name: repo, reference } });
    if (!acceptsMediaType(accept, manifest.mediaType)) {
      throw new RegistryError('MANIFEST_UNKNOWN', `the manifest is a ${manifest.mediaType}, which the Accept header does not include`, {
        detail: { name: repo, reference, mediaType: manifest.mediaType },
      });
    }
    return manifest;
  }

  /** Stores a manifest after checking it and everything it references. */
  async putManifest(repo: string, reference: string, body: Buffer, contentType: string | undefined, options: GuardOptions = {}): Promise<ManifestPushResult> {
    assertRepositoryName(repo);
    this.assertWritable();
    const ref = parseReference(reference);
    if (body.length > this.options.manifestMaxBytes) {
      throw new RegistryError('SIZE_INVALID', `manifest exceeds ${this.options.manifestMaxBytes} bytes`, { status: 413 });
    }
    const algorithm = ref.kind === 'digest' ? ref.digest.algorithm : 'sha256';
    const digest = `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
    if (ref.kind === 'digest' && ref.digest.digest !== digest) {
      throw new RegistryError('DIGEST_INVALID', 'the manifest does not match the digest in the URL', { detail: { digest: ref.digest.digest } });
    }
    const parsed = parseManifest(body, contentType);
    const blobs = parsed.references.filter((r) => r.kind === 'blob').map((r) => r.digest);
    const children = parsed.references.filter((r) => r.kind === 'manifest').map((r) => r.digest);
    const missingBlobs = await this.metadata.content.missingBlobs(repo, blobs);
    if (missingBlobs.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', 'the manifest references blobs that are not in the repository', { detail: { digests: missingBlobs.slice(0, 20) } });
    }
    const missingChildren = await this.metadata.content.missingManifests(repo, children);
    if (missingChildren.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', 'the index references manifests that are not in the repository', { detail: { digests: missingChildren.slice(0, 20) } });
    }
    const tag = ref.kind === 'tag' ? ref.tag : null;
    await options.guard?.({
      type: 'manifest.push', repository: repo, digest, mediaType: parsed.mediaType, size: body.length, tag,
      subject: parsed.subject, artifactType: parsed.artifactType, references: parsed.references,
    });
    const outcome = await this.metadata.content.putManifest({
      manifest: {
        repository: repo,
        digest,
        mediaType: parsed.mediaType,
        size: body.length,
        content: body,
        artifactType: parsed.artifactType,
        subject: parsed.subject,
        annotations: parsed.annotations ? JSON.stringify(parsed.annotations) : null,
      },
      references: parsed.references,
      tag: tag ?? undefined,
    });
    return {
      repository: repo, digest, mediaType: parsed.mediaType, size: body.length, subject: parsed.subject, tag,
      previousTagDigest: outcome.previousTagDigest, repositoryCreated: outcome.repositoryCreated,
    };
  }

  /** DELETE by digest removes the manifest and its tags; by tag removes only the tag. */
  async deleteManifest(repo: string, reference: string, options: GuardOptions = {}): Promise<ManifestDeleteResult> {
    assertRepositoryName(repo);
    const ref = parseReference(reference, 'lookup');
    this.assertDeletable();
    const unknown = () => new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { name: repo, reference } });
    if (ref.kind === 'tag') {
      const current = await this.metadata.content.resolveTag(repo, ref.tag);
      if (!current) throw unknown();
      await options.guard?.({ type: 'tag.delete', repository: repo, tag: ref.tag, digest: current.digest });
      const digest = await this.metadata.content.deleteTag(repo, ref.tag);
      if (digest === null) throw unknown();
      return { kind: 'tag', repository: repo, tag: ref.tag, digest };
    }
    const digest = ref.digest.digest;
    if (!(await this.metadata.content.getManifest(repo, digest))) throw unknown();
    await options.guard?.({ type: 'manifest.delete', repository: repo, digest });
    const deleted = await this.metadata.content.deleteManifest(repo, digest);
    if (!deleted) throw unknown();
    return { kind: 'manifest', repository: repo, digest, tags: deleted.tags, repositoryEmptied: deleted.repositoryEmptied };
  }

  // ---- listings -----------------------------------------------------------

  /**
   * One page of tags; `more` says whether another page follows. Served from
   * the tag-list cache while the repository's tag-list version is unchanged
   * (a 10,000-tag list costs one indexed lookup instead of 10,000 rows).
   */
  async listTags(repo: string, page: PageOptions): Promise<{ tags: string[]; more: boolean }> {
    assertRepositoryName(repo);
    // The version is read before the tags (see TagListCache).
    const version = await this.metadata.content.tagListVersion(repo);
    if (version === null) throw new RegistryError('NAME_UNKNOWN', undefined, { detail: { name: repo } });
    if (page.limit === 0) return { tags: [], more: false };
    let all = this.tagLists.get(repo, version);
    if (!all) {
      all = await this.metadata.content.listTags(repo, {});
      this.tagLists.set(repo, version, all);
    }
    const { items, more } = pageOf(all, page.last, page.limit);
    return { tags: items, more };
  }

  async listRepositories(page: PageOptions & { limit: number }): Promise<{ repositories: string[]; more: boolean }> {
    if (page.limit === 0) return { repositories: [], more: false };
    const names = await this.metadata.content.listRepositories({ last: page.last, limit: page.limit + 1 });
    const more = names.length > page.limit;
    return { repositories: more ? names.slice(0, page.limit) : names, more };
  }

  /** The referrers of `digest` as an OCI image index. */
  async referrers(repo: string, digest: string, artifactType?: string): Promise<Record<string, unknown>> {
    assertRepositoryName(repo);
    const d = parseDigest(digest);
    const rows = await this.metadata.content.listReferrers(repo, d.digest, artifactType);
    return {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: rows.map((r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.size,
        ...(r.artifactType ? { artifactType: r.artifactType } : {}),
        ...(r.annotations ? { annotations: JSON.parse(r.annotations) as Record<string, string> } : {}),
      })),
    };
  }
}
