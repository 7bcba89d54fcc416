import type { ParsedDigest } from './names.js';

/**
 * Where the registry keeps bytes in the storage driver. Metadata (which
 * repository may read which blob, manifests, tags) lives in the metadata
 * store; storage holds only content-addressed blobs and upload data.
 *
 *   <root>/
 *   ├── blobs/
 *   │   └── sha256/
 *   │       └── 4f/
 *   │           └── 4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945   the bytes, verified
 *   ├── uploads/
 *   │   └── 0b6c1f2e-…/                  one folder per upload session
 *   │       └── data                     bytes received so far (appended chunk by chunk)
 *   └── blobdata/
 *       └── 0b6c1f2e-…                   object stores: an upload's bytes, which become the blob itself
 *
 * On a filesystem, a blob path is written only by a rename of fully verified
 * upload data, so a reader never sees a partial or unverified blob.
 *
 * An object store has no rename: moving a blob to its content address would
 * write every byte again. There an upload writes to `blobdata/<upload id>`,
 * and once its digest is verified that object *is* the blob: the metadata
 * store records its location with the blob, in the same transaction that
 * ends the upload session. Nothing reads a `blobdata` object that no blob
 * record names, so unverified bytes are never served either.
 */
export function blobPath(d: ParsedDigest): string {
  return `/blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}`;
}

export const UPLOADS_ROOT = '/uploads';

export function uploadDir(id: string): string {
  return `${UPLOADS_ROOT}/${id}`;
}

export function uploadDataPath(id: string): string {
  return `${UPLOADS_ROOT}/${id}/data`;
}

export const STORED_ROOT = '/blobdata';

/** Where an object store keeps an upload's bytes, and then the blob they became. */
export function storedDataPath(id: string): string {
  return `${STORED_ROOT}/${id}`;
}

/** Upload ids are UUIDs; anything else is refused before it can reach a path. */
export function isUploadId(id: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id);
}
