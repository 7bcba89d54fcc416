import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { UploadRecord, UploadStore } from './upload-store.js';

function toUpload(row: Database['uploads']): UploadRecord {
  return { id: row.id, repository: row.repository, size: Number(row.size), createdAt: Number(row.created_at), updatedAt: Number(row.updated_at) };
}

/** Upload sessions on the metadata store's Kysely connection. Exposed as `MetadataStore.uploads`. */
export class KyselyUploadStore implements UploadStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(u: UploadRecord): Promise<void> {
    await this.db.insertInto('uploads').values({ id: u.id, repository: u.repository, size: u.size, created_at: u.createdAt, updated_at: u.updatedAt }).execute();
  }

  async get(id: string): Promise<UploadRecord | null> {
    const row = await this.db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toUpload(row) : null;
  }

  async advance(id: string, expectedSize: number, newSize: number, updatedAt: number): Promise<boolean> {
    const r = await this.db.updateTable('uploads').set({ size: newSize, updated_at: updatedAt })
      .where('id', '=', id).where('size', '=', expectedSize).executeTakeFirst();
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
