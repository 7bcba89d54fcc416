/**
 * The content store contract: repositories, blobs and their links into
 * repositories, manifests, tags and referrers. Blob bytes live in the storage
 * driver; this store only records which blobs exist, where their bytes are,
 * and which repositories may serve them.
 *
 * One implementation (kysely-content-store.ts) for SQLite and PostgreSQL,
 * checked by one contract suite (content-suite.ts).
 *
 * Invariants every implementation keeps:
 * - a manifest row exists only if every blob and child manifest it references
 *   was linked in its repository when it was written;
 * - `putManifest`, `deleteManifest`, `deleteTag` and `linkBlob` are
 *   transactions: another reader sees all of their effect or none of it;
 * - deleting a manifest, tag or blob link never deletes blob bytes; only
 *   garbage collection (a later wave) may, and only for unreferenced blobs;
 * - a repository exists from its first blob link or manifest; it is listed
 *   (catalog) only while it has manifests.
 */
export interface ContentStore {
  /** Repository names with at least one manifest, sorted, after `last`, at most `limit`. */
  listRepositories(options: { last?: string | undefined; limit: number }): Promise<string[]>;

  /** The blob if it exists anywhere in the registry. */
  getBlob(digest: string): Promise<BlobRecord | null>;
  /** The blob if it is linked into `repository` (the only way a client may read it there). */
  getLinkedBlob(repository: string, digest: string): Promise<BlobRecord | null>;
  /**
   * Records a blob and links it into `repository`, in one transaction that
   * also deletes the upload session `options.uploadId` when given (so a
   * session and the blob it became never both own the bytes: the one place
   * where this store writes to the upload store's records). A blob with
   * that digest already recorded is kept as it is (with its location): the
   * record that is in force is returned, and a caller whose `location`
   * differs owns bytes that nobody references.
   *
   * Linking again refreshes the link's time (garbage collection keeps blobs
   * linked within its grace period). When garbage collection is deleting
   * the recorded blob right now, nothing is written and BlobDeletingError
   * is thrown: the caller waits until the record is gone, then retries with
   * bytes of its own (gc/collector.ts explains the protocol).
   */
  linkBlob(repository: string, blob: BlobRecord, options?: { uploadId?: string }): Promise<BlobRecord>;
  /**
   * Links a blob that is already recorded (a cross-repository mount) and
   * refreshes the link's time; null when the blob is not recorded, or is
   * being deleted by garbage collection (the client then uploads it). Never
   * records a blob: its bytes may be gone.
   */
  linkExistingBlob(repository: string, digest: string): Promise<BlobRecord | null>;
  /**
   * Records the CRC-32 of a blob's bytes, only if none is recorded yet (so
   * concurrent first reads write it once, and a recorded value is never
   * replaced); false when one was recorded already or the blob is not
   * recorded. The caller must have verified the bytes against the digest in
   * the same pass: the value is trusted from then on.
   */
  recordBlobChecksum(digest: string, crc32: number): Promise<boolean>;
  /** Removes a blob link; returns false when the repository had no such link. */
  unlinkBlob(repository: string, digest: string): Promise<boolean>;
  /** Which of `locations` are the recorded location of some blob. */
  blobLocationsInUse(locations: string[]): Promise<string[]>;
  /** Which of `digests` are not linked blobs of `repository` (a blob being deleted by garbage collection is not). */
  missingBlobs(repository: string, digests: string[]): Promise<string[]>;

  getManifest(repository: string, digest: string): Promise<ManifestRecord | null>;
  /** The manifest a tag points to, or null. */
  resolveTag(repository: string, tag: string): Promise<ManifestRecord | null>;
  /** Which of `digests` are not manifests of `repository`. */
  missingManifests(repository: string, digests: string[]): Promise<string[]>;
  /**
   * Stores a manifest (idempotent for the same digest), its references, and
   * optionally points `tag` at it — one transaction. Reports what changed.
   */
  putManifest(input: PutManifestInput): Promise<ManifestPutOutcome>;
  /** Deletes a manifest and every tag pointing at it (one transaction). Returns null when absent. */
  deleteManifest(repository: string, digest: string): Promise<ManifestDeletion | null>;
  /** Deletes one tag (not its manifest). Returns the digest it pointed to, or null when absent. */
  deleteTag(repository: string, tag: string): Promise<string | null>;
  /**
   * A number that changes whenever a tag of the repository is created, moved
   * or deleted (bumped in the same transaction), or null when the repository
   * does not exist. Read it before the tags to validate a cached tag list.
   */
  tagListVersion(repository: string): Promise<number | null>;
  /** Tags of a repository, sorted, after `last`, at most `limit` (all when undefined). */
  listTags(repository: string, options: { last?: string | undefined; limit?: number | undefined }): Promise<string[]>;
  /** Manifests of `repository` whose subject is `subject`, optionally of one artifact type, ordered by digest. */
  listReferrers(repository: string, subject: string, artifactType?: string): Promise<ReferrerRecord[]>;
  /** Digests of the manifests of `repository` (indexes) that list `digest` as a child manifest, sorted, at most `limit`. */
  parentManifests(repository: string, digest: string, limit: number): Promise<string[]>;
}

export interface BlobRecord {
  digest: string;
  size: number;
  /**
   * The storage path of the bytes when they are not at the blob's content
   * address (registry/layout.ts); absent for content-addressed blobs.
   */
  location?: string;
  /**
   * CRC-32 (zlib's, as an unsigned 32-bit number) of all the blob's bytes,
   * recorded by `recordBlobChecksum` once a read proved those bytes right by
   * the digest; absent until then. Verified reads check it instead of the
   * digest (registry/verified-read.ts).
   */
  crc32?: number;
}

export interface ManifestRecord {
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  /** The exact bytes pushed. */
  content: Buffer;
  artifactType: string | null;
  subject: string | null;
  /** JSON text of the manifest's annotations, or null. */
  annotations: string | null;
  createdAt: number;
}

export interface ManifestReference {
  digest: string;
  kind: 'blob' | 'manifest';
}

export interface PutManifestInput {
  manifest: Omit<ManifestRecord, 'createdAt'> & { createdAt?: number };
  references: ManifestReference[];
  tag?: string | undefined;
  /** More tags to point at the manifest in the same transaction (with `tag`, duplicates ignored). */
  tags?: readonly string[] | undefined;
  /**
   * Blobs that must be recorded, and not being deleted by garbage
   * collection, when the manifest is written: checked in its transaction
   * (locking their records in PostgreSQL), so a collection cannot remove
   * one between the caller's check and the write. MANIFEST_BLOB_UNKNOWN otherwise.
   */
  requiredBlobs?: readonly string[] | undefined;
  /** Manifests of the repository that must exist when the manifest is written (an index's children), checked the same way. */
  requiredManifests?: readonly string[] | undefined;
}

/** What a putManifest changed, read in its transaction (for the registry's events). */
export interface ManifestPutOutcome {
  /** The manifest was not stored before. */
  created: boolean;
  /** It is the repository's first manifest: the repository now exists for clients (catalog, tag list). */
  repositoryCreated: boolean;
  /** With a tag: the digest the tag pointed to before, or null when the tag is new. */
  previousTagDigest: string | null;
  /** When `tags` was given: every tag set (`tag`, then `tags`), with the digest it pointed to before, or null when new. */
  previousTagDigests?: Record<string, string | null>;
}

/** What a deleteManifest removed, read in its transaction. */
export interface ManifestDeletion {
  /** Tags that pointed at the manifest and went with it, sorted. */
  tags: string[];
  /** It was the repository's last manifest. */
  repositoryEmptied: boolean;
}

export interface ReferrerRecord {
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  annotations: string | null;
}

/**
 * Thrown by `linkBlob` when garbage collection is deleting the blob's record
 * and bytes: nothing was written. See ContentStore.linkBlob.
 */
export class BlobDeletingError extends Error {
  constructor(readonly digest: string) {
    super(`blob ${digest} is being deleted by garbage collection`);
    this.name = 'BlobDeletingError';
  }
}
