import type { MetadataStores } from '../../metadata/index.js';
import type { StorageDriver } from '../../storage/index.js';
import { isUploadId, storedDataPath, uploadDataPath, uploadDir, UPLOADS_ROOT } from '../layout.js';
import type { BlobPlacement } from '../placement.js';
import type { Uploads } from '../uploads.js';

/**
 * What upload purging works on: the registry's own parts, so that ending a
 * session goes through the same writer lock as requests do. A Registry fits.
 */
export interface UploadPurgeOptions {
  /** The driver as the core uses it (errors mapped). */
  storage: StorageDriver;
  metadata: Pick<MetadataStores, 'content' | 'uploads'>;
  placement: BlobPlacement;
  uploads: Pick<Uploads, 'discardIfIdle'>;
}

/** Stale sessions looked at per run; the rest wait for the next run. */
const STALE_PER_RUN = 10_000;
/** Stored objects checked against blob records per query. */
const LOCATION_BATCH = 500;

/**
 * Deletes what abandoned uploads left: sessions untouched for a while, and
 * upload data that no session (and, on object stores, no blob) owns. Run by
 * the job scheduler on one instance at a time (app.ts); safe beside requests
 * on every instance, because a session being written is skipped and data is
 * deleted only after re-checking that nothing took it meanwhile.
 */
export class UploadPurge {
  constructor(private readonly options: UploadPurgeOptions) {}

  /**
   * Deletes upload sessions untouched for `maxAgeMs`, and upload data that no
   * session owns (left by a crash during a monolithic upload). Returns the
   * ids; with `dryRun`, the ids it would delete, deleting nothing.
   */
  async run(maxAgeMs: number, options: { dryRun?: boolean; now?: number } = {}): Promise<string[]> {
    const { storage, metadata, placement, uploads } = this.options;
    const before = (options.now ?? Date.now()) - maxAgeMs;
    const purged: string[] = [];
    for (const u of await metadata.uploads.listStale(before, STALE_PER_RUN)) {
      purged.push(u.id);
      // A session being written right now is not abandoned: it stays (and stays listed, so its data is not swept below).
      if (!options.dryRun) await uploads.discardIfIdle(u.id);
    }
    for (const id of await storage.list(UPLOADS_ROOT)) {
      if (!isUploadId(id) || purged.includes(id)) continue;
      const info = await storage.stat(uploadDataPath(id));
      if (info && info.modifiedAt.getTime() >= before) continue;
      if (await metadata.uploads.get(id)) continue;
      purged.push(id);
      if (!options.dryRun) await storage.delete(uploadDir(id));
    }
    if (placement.storedDataRoot !== null) await this.purgeStoredData(placement.storedDataRoot, before, purged, options.dryRun ?? false);
    return purged;
  }

  /**
   * Object stores: `blobdata` objects that are neither an upload session's
   * nor a blob's (a crash between storing and recording, a monolithic upload
   * cut off, a duplicate whose delete failed), untouched since `before`.
   */
  private async purgeStoredData(root: string, before: number, purged: string[], dryRun: boolean): Promise<void> {
    const { storage, metadata } = this.options;
    const ids = (await storage.list(root)).filter((id) => isUploadId(id) && !purged.includes(id));
    for (let i = 0; i < ids.length; i += LOCATION_BATCH) {
      const batch = ids.slice(i, i + LOCATION_BATCH);
      const inUse = new Set(await metadata.content.blobLocationsInUse(batch.map(storedDataPath)));
      for (const id of batch) {
        const path = storedDataPath(id);
        if (inUse.has(path)) continue;
        const info = await storage.stat(path);
        if (info && info.modifiedAt.getTime() >= before) continue;
        if (await metadata.uploads.get(id)) continue;
        // Recorded meanwhile (an upload finishing right now)? Then it is a blob.
        if ((await metadata.content.blobLocationsInUse([path])).length > 0) continue;
        purged.push(id);
        if (!dryRun) await storage.delete(path);
      }
    }
  }
}
