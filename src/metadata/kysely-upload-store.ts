import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { UploadRecord, UploadStore } from './upload-store.js';
import type { StoreConnection } from './kysely-store.js';

function toUpload(row: Database['uploads']): UploadRecord {
  return { id: row.id, repository: row.repository, size: Number(row.size), createdAt: Number(row.created_at), updatedAt: Number(row.updated_at) };
}

/**
 * Upload sessions on the metadata store's Kysely connection. Exposed as
 * `MetadataStore.uploads`. Starting a session and recording a chunk are
 * ephemeral writes (StoreConnection.ephemeral): a power failure may take
 * back the last of them, never a finished blob. The chunk's bytes were
 * synced before, so the session's data then runs ahead of its record, and
 * Uploads ends the session (BLOB_UPLOAD_INVALID) at its next request; the
 * client starts that blob again. Without this, every chunk of every upload
 * waited for a disk flush on the event loop.
 */
export class KyselyUploadStore implements UploadStore {
  constructor(private readonly db: Kysely<Database>, private readonly ephemeral: StoreConnection['ephemeral'] = (fn) => fn(db)) {}

  async create(u: UploadRecord): Promise<void> {
    await this.ephemeral((db) => db.insertInto('uploads').values({ id: u.id, repository: u.repository, size: u.size, created_at: u.createdAt, updated_at: u.updatedAt }).execute());
  }

  async get(id: string): Promise<UploadRecord | null> {
    const row = await this.db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toUpload(row) : null;
  }

  async advance(id: string, expectedSize: number, newSize: number, updatedAt: number): Promise<boolean> {
    const r = await this.ephemeral((db) => db.updateTable('uploads').set({ size: newSize, updated_at: updatedAt })
      .where('id', '=', id).where('size', '=', expectedSize).executeTakeFirst());
    return Number(r.numUpdatedRows) > 0;
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('uploads').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listStale(before: number, limit: number): Promise<UploadRecord[]> {
    const rows = await this.db.selectFrom('uploads').selectAll().where('updated_at', '<', before).orderBy('updated_at').limit(limit).execute();
    return rows.map(toUpload);
  }
}
