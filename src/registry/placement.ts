import { RegistryError } from '../errors/index.js';
import { BlobDeletingError, type BlobRecord, type MetadataStores } from '../metadata/index.js';
import type { StorageDriver } from '../storage/index.js';
import { blobPath, STORED_ROOT, storedDataPath, uploadDataPath, uploadDir } from './layout.js';
import { parseDigest, type ParsedDigest } from './names.js';

/**
 * Where an upload's bytes are written and how verified bytes become a blob
 * (see the storage layout in layout.ts). Chosen once per registry from the
 * storage driver (`placementFor`); nothing else in the core asks which kind
 * of storage it has.
 */
export interface BlobPlacement {
  /** Where the bytes of upload `id` (a session, or a monolithic upload) are written. */
  dataPath(id: string): string;
  /**
   * Turns the verified bytes of upload `id` into the blob `d` of `size`
   * bytes, linked into `repo`. Recording the blob, its link and the end of
   * the session `session` (when given) is one metadata transaction. When the
   * blob was already stored, that record stays in force and is returned.
   * `finished`: the last append was final, so the object is whole already.
   */
  commit(id: string, d: ParsedDigest, size: number, repo: string, options: { session: string | null; finished: boolean }): Promise<BlobRecord>;
  /** Deletes what upload `id` wrote (an abandoned, refused or failed upload). */
  discard(id: string): Promise<void>;
  /** Where a blob's bytes are, as a storage path. */
  location(blob: BlobRecord): string;
  /**
   * The folder holding blobs' bytes under upload ids (`blobdata`), which
   * upload purging sweeps for objects neither a session nor a blob owns;
   * null when every blob is at its content address.
   */
  readonly storedDataRoot: string | null;
}

/**
 * A blob's recorded location, else its content address (blobs on a
 * filesystem, and those stored before locations were recorded).
 */
function recordedLocation(blob: BlobRecord): string {
  return blob.location ?? blobPath(parseDigest(blob.digest));
}

export interface PlacementOptions {
  /** The driver as the core uses it (errors mapped). */
  storage: StorageDriver;
  /** Its content store is read per call (it belongs to the open database handle). */
  metadata: Pick<MetadataStores, 'content' | 'gc'>;
}

/** How long a commit waits for garbage collection to finish deleting an older record of the same digest. */
const COLLECTION_WAIT_MS = 60_000;

/**
 * Records verified bytes as a blob (`link`), when garbage collection may be
 * deleting an older record of the same digest right now (gc/collector.ts:
 * mark, delete bytes, drop the record). linkBlob refuses a marked record;
 * then this waits until the record is dropped, which comes after its bytes
 * were deleted, checks that this upload's bytes are still there
 * (`stillThere`: on a filesystem they sit at the same content address the
 * collection deleted, and may have gone with it), and records them anew.
 * Bytes that went are reported to the client, which uploads again: a blob
 * record without bytes is never written.
 */
async function linkPastCollection(options: PlacementOptions, digest: string, link: () => Promise<BlobRecord>, stillThere: () => Promise<boolean>): Promise<BlobRecord> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await link();
    } catch (err) {
      if (!(err instanceof BlobDeletingError) || attempt >= 3) throw err;
    }
    const deadline = Date.now() + COLLECTION_WAIT_MS;
    for (let delay = 10; await options.metadata.gc.isMarked(digest); delay = Math.min(delay * 2, 250)) {
      if (Date.now() > deadline) throw new RegistryError('BERTH_UNAVAILABLE', 'garbage collection is deleting an older copy of this blob; retry the upload later');
      await new Promise((r) => setTimeout(r, delay));
    }
    if (!(await stillThere())) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', 'garbage collection deleted an older copy of this blob, and the upload\'s bytes with it (they shared its storage path); upload the blob again', { detail: { digest } });
    }
  }
}

/**
 * Filesystems: an upload writes into its own folder, and the verified bytes
 * are renamed to the blob's content address (a rename is cheap and atomic,
 * so a reader never sees a partial blob).
 */
export class RenamePlacement implements BlobPlacement {
  readonly storedDataRoot = null;

  constructor(private readonly options: PlacementOptions) {}

  dataPath(id: string): string {
    return uploadDataPath(id);
  }

  async commit(id: string, d: ParsedDigest, size: number, repo: string, options: { session: string | null }): Promise<BlobRecord> {
    const { storage, metadata } = this.options;
    await storage.move(this.dataPath(id), blobPath(d));
    const blob = await linkPastCollection(this.options, d.digest,
      () => metadata.content.linkBlob(repo, { digest: d.digest, size }, options.session ? { uploadId: options.session } : {}),
      async () => (await storage.stat(blobPath(d)))?.size === size);
    await storage.delete(uploadDir(id)); // the folder the bytes were renamed out of
    return blob;
  }

  async discard(id: string): Promise<void> {
    await this.options.storage.delete(uploadDir(id));
  }

  location(blob: BlobRecord): string {
    return recordedLocation(blob);
  }
}

/**
 * Object stores: a move would copy every byte, so an upload writes to
 * `blobdata/<id>` and, once verified, that object is the blob; the metadata
 * store records it as the blob's location (no copy).
 */
export class InPlacePlacement implements BlobPlacement {
  readonly storedDataRoot = STORED_ROOT;

  constructor(private readonly options: PlacementOptions) {}

  dataPath(id: string): string {
    return storedDataPath(id);
  }

  async commit(id: string, d: ParsedDigest, size: number, repo: string, options: { session: string | null; finished: boolean }): Promise<BlobRecord> {
    const { storage, metadata } = this.options;
    const from = this.dataPath(id);
    const stored = options.finished ? size : await storage.finish(from);
    if (stored !== size) throw new Error(`upload at ${from}: storage holds ${stored} bytes, expected ${size}`);
    // Its own path: a collection of an older record of this digest deletes that record's object, never this one.
    const blob = await linkPastCollection(this.options, d.digest,
      () => metadata.content.linkBlob(repo, { digest: d.digest, size, location: from }, options.session ? { uploadId: options.session } : {}),
      async () => true);
    if (blob.location !== from) await storage.delete(from).catch(() => undefined); // a duplicate: upload purging retries
    return blob;
  }

  async discard(id: string): Promise<void> {
    await this.options.storage.delete(this.dataPath(id));
  }

  location(blob: BlobRecord): string {
    return recordedLocation(blob);
  }
}

/** The placement for a driver: in place where a move would copy the bytes, else by rename. */
export function placementFor(options: PlacementOptions): BlobPlacement {
  return options.storage.copiesOnMove ? new InPlacePlacement(options) : new RenamePlacement(options);
}
