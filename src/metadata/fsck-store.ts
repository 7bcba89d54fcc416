import type { UploadRecord } from './upload-store.js';

/**
 * The integrity-check store contract: what `berth fsck` (fsck/checker.ts)
 * reads of the content tables, page by page, and the few changes its
 * `--repair` makes. Each change is conditional, re-checked in its own
 * statement or transaction, so a repair running beside a server never
 * removes what a concurrent push made valid again.
 *
 * A corrupt or missing blob leaves by garbage collection's three steps
 * (gc-store.ts): `markBlob` here (unlike `GcStore.markBlobs`, whether or
 * not a manifest references it), then the caller moves its bytes aside,
 * then `GcStore.dropMarkedBlobs`. From the mark on, readers, mounts and
 * manifest pushes do not see it, and an upload of the same digest waits
 * for the record to go, then records its own bytes.
 *
 * One implementation (kysely-fsck-store.ts) for SQLite and PostgreSQL,
 * checked by one contract suite (fsck-suite.ts).
 */
export interface FsckStore {
  /** How many blob records (and their bytes) and manifests there are, for progress. */
  totals(): Promise<{ blobs: number; bytes: number; manifests: number }>;
  /** Blob records by digest after `after`, at most `limit`, marked ones included. */
  blobs(options: { after?: string | undefined; limit: number }): Promise<FsckBlob[]>;
  /** One blob record, marked or not; null when absent. */
  blob(digest: string): Promise<FsckBlob | null>;
  /** Manifests with their bytes, by (repository, digest) after `after`, at most `limit`. */
  manifests(options: { after?: { repository: string; digest: string } | undefined; limit: number }): Promise<FsckManifest[]>;
  /** Tags whose manifest is not in their repository, at most `limit`. */
  danglingTags(limit: number): Promise<FsckTag[]>;
  /** Upload sessions by id after `after`, at most `limit`. */
  uploads(options: { after?: string | undefined; limit: number }): Promise<UploadRecord[]>;
  /**
   * Marks the blob as being deleted at `now`, referenced or not, in a
   * transaction that first locks its record (a concurrent link either
   * committed before or then sees the mark). Returns the record as marked,
   * or null when it is absent or marked already (garbage collection has it).
   */
  markBlob(digest: string, now: number): Promise<FsckBlob | null>;
  /** Takes back a mark this store set at `markedAt` (its bytes turned out fine); false when the record changed. */
  unmarkBlob(digest: string, markedAt: number): Promise<boolean>;
  /** Deletes the tag if, in the same statement, its manifest is still not in the repository (and bumps the tag-list version). */
  deleteTagIfDangling(repository: string, name: string): Promise<boolean>;
}

export interface FsckBlob {
  digest: string;
  size: number;
  /** The recorded storage path, when not the content address. */
  location: string | null;
  /** When garbage collection (or a repair) marked it as being deleted, else null. */
  markedAt: number | null;
  /** Whether its CRC-32 is recorded (verified reads check it; fsck records a missing one). */
  hasChecksum: boolean;
}

export interface FsckManifest {
  repository: string;
  digest: string;
  mediaType: string;
  content: Buffer;
  createdAt: number;
}

export interface FsckTag {
  repository: string;
  name: string;
  digest: string;
}
