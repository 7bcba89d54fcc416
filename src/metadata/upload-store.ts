/**
 * The upload store contract: blob upload sessions, the record of how many
 * bytes each has received. The bytes themselves are in the storage driver
 * (registry/layout.ts); a session ends when the registry deletes it, or when
 * the content store links the blob it became (`ContentStore.linkBlob` with
 * `uploadId`, in the same transaction).
 *
 * One implementation (kysely-upload-store.ts) for SQLite and PostgreSQL,
 * checked by one contract suite (upload-suite.ts).
 */
export interface UploadStore {
  /** Records a new session; its id must be new. */
  create(upload: UploadRecord): Promise<void>;
  get(id: string): Promise<UploadRecord | null>;
  /**
   * Sets an upload's size only if it still has `expectedSize` (compare and
   * set), so two writers can never both advance one session. Returns false
   * when the session changed or is gone.
   */
  advance(id: string, expectedSize: number, newSize: number, updatedAt: number): Promise<boolean>;
  /** Ends a session; false when it was already gone. */
  delete(id: string): Promise<boolean>;
  /** Upload sessions not touched since `before` (epoch ms), least recently touched first, at most `limit`. */
  listStale(before: number, limit: number): Promise<UploadRecord[]>;
}

export interface UploadRecord {
  id: string;
  repository: string;
  size: number;
  createdAt: number;
  updatedAt: number;
}
