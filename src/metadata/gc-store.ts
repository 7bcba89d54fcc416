/**
 * The garbage-collection store contract: what online garbage collection
 * (gc/collector.ts) reads and changes in the content tables, each change a
 * transaction that re-checks, under row locks, that what it removes is still
 * unneeded; the record of runs; and exact storage usage (`berth df`).
 *
 * A blob is *needed* while any manifest (of any repository) references it,
 * while it was recorded or linked into a repository at or after `cutoff`
 * (the grace period: an upload or mount in progress, a push whose manifest
 * has not arrived yet), or while it is not marked. Deleting a blob is three
 * steps: `markBlobs` (readers, mounts and manifest pushes stop seeing it),
 * the caller deletes its bytes, `dropMarkedBlobs` removes the records.
 * A mark left by a run that died is finished by the next (`markedBlobs`).
 *
 * One implementation (kysely-gc-store.ts) for SQLite and PostgreSQL,
 * checked by one contract suite (gc-suite.ts).
 */
export interface GcStore {
  /**
   * Blobs that look unneeded at `cutoff`, by digest after `after`, at most
   * `limit`. Only a hint: `markBlobs` decides.
   */
  blobCandidates(cutoff: number, options: { after?: string | undefined; limit: number }): Promise<GcBlob[]>;
  /**
   * Marks those of `digests` that are still unneeded at `cutoff` as being
   * deleted (at `now`), in one transaction that first locks their records,
   * so a concurrent link or manifest push either committed before (and the
   * blob is needed) or waits and then sees the mark. Returns the marked blobs.
   */
  markBlobs(digests: readonly string[], cutoff: number, now: number): Promise<GcBlob[]>;
  /** Blobs marked as being deleted (a run that died left them), at most `limit`. */
  markedBlobs(limit: number): Promise<GcBlob[]>;
  /** Whether the blob's record is marked as being deleted (false when absent). */
  isMarked(digest: string): Promise<boolean>;
  /** Removes the records and links of these marked blobs (unmarked ones are left alone); returns those removed. */
  dropMarkedBlobs(digests: readonly string[]): Promise<GcBlob[]>;

  /** Repository names after `after`, sorted, at most `limit` (with or without manifests). */
  repositories(options: { after?: string | undefined; limit: number }): Promise<string[]>;
  /** A repository's manifests, tags and index-to-child links, for marking. */
  manifestGraph(repository: string): Promise<ManifestGraph>;
  /**
   * Deletes the manifest if, in its transaction with the manifest's row
   * locked, it is still unneeded: created before `cutoff`, no tag on it but
   * `allowedTags` (cosign signature tags of an absent subject), no index of
   * the repository lists it, and its subject (if any) is not in the
   * repository. Its tags and references go with it. Returns whether it did.
   */
  deleteManifestIfUnneeded(repository: string, digest: string, cutoff: number, allowedTags: readonly string[]): Promise<boolean>;

  /** Records the start of a run. */
  startRun(run: GcRunStart): Promise<void>;
  /** Records the end of a run. */
  finishRun(id: string, end: GcRunEnd): Promise<void>;
  /** The latest runs, newest first. */
  listRuns(limit: number): Promise<GcRun[]>;

  /** Exact storage usage, from the blob records (what the storage holds, uploads in progress aside). */
  usage(): Promise<StorageUsage>;
  /** usage().total's blobs and bytes alone: one aggregate over the blob records (for /metrics scrapes). */
  totals(): Promise<{ blobs: number; bytes: number }>;
}

export interface GcBlob {
  digest: string;
  size: number;
  /** The recorded storage path, when not the content address. */
  location: string | null;
}

export interface ManifestGraph {
  manifests: { digest: string; subject: string | null; createdAt: number; size: number }[];
  tags: { name: string; digest: string }[];
  /** Index → child manifest. */
  children: { parent: string; child: string }[];
}

export interface GcRunStart {
  id: string;
  startedAt: number;
  trigger: string;
  dryRun: boolean;
  deleteUntagged: boolean;
  graceMs: number;
}

export interface GcRunEnd {
  finishedAt: number;
  status: 'succeeded' | 'failed';
  blobs: number;
  manifests: number;
  bytes: number;
  error: string | null;
}

export interface GcRun extends GcRunStart {
  finishedAt: number | null;
  status: 'running' | 'succeeded' | 'failed';
  blobs: number;
  manifests: number;
  bytes: number;
  error: string | null;
}

export interface RepositoryUsage {
  repository: string;
  /** Blobs linked into it (what it can serve). */
  blobs: number;
  /** Their bytes. */
  bytes: number;
  /** Bytes of its blobs linked into no other repository. */
  uniqueBytes: number;
  /** Bytes of its blobs also linked into another repository. */
  sharedBytes: number;
  manifests: number;
  /** Bytes of its manifests (kept in the database, not in the blob storage). */
  manifestBytes: number;
  tags: number;
}

export interface StorageUsage {
  repositories: RepositoryUsage[];
  total: {
    /** Blob records, each counted once however many repositories link it. */
    blobs: number;
    /** Their bytes: what the blob storage holds (uploads in progress aside). */
    bytes: number;
    /** Bytes of blobs linked into two or more repositories, counted once. */
    sharedBytes: number;
    /** Bytes of blobs no manifest references: what garbage collection may free (once older than its grace period). */
    unreferencedBytes: number;
    manifests: number;
    manifestBytes: number;
  };
}
