import { type Kysely, sql } from 'kysely';
import type { Database } from './schema.js';
import type { Flavor } from './migrations.js';
import type { FsckBlob, FsckManifest, FsckStore, FsckTag } from './fsck-store.js';
import type { UploadRecord } from './upload-store.js';

const toBlob = (r: { digest: string; size: number | string; location: string | null; deleting_at: number | string | null; crc32: number | string | null }): FsckBlob => ({
  digest: r.digest, size: Number(r.size), location: r.location, markedAt: r.deleting_at === null ? null : Number(r.deleting_at), hasChecksum: r.crc32 !== null,
});

/** The integrity-check store on the metadata store's Kysely connection. Exposed as `MetadataStore.fsck`. */
export class KyselyFsckStore implements FsckStore {
  constructor(private readonly db: Kysely<Database>, private readonly flavor: Flavor) {}

  async totals(): Promise<{ blobs: number; bytes: number; manifests: number }> {
    const [blobs, manifests] = await Promise.all([
      this.db.selectFrom('blobs').select([sql<string>`count(*)`.as('n'), sql<string>`coalesce(sum(size), 0)`.as('bytes')]).executeTakeFirstOrThrow(),
      this.db.selectFrom('manifests').select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow(),
    ]);
    return { blobs: Number(blobs.n), bytes: Number(blobs.bytes), manifests: Number(manifests.n) };
  }

  async blobs({ after, limit }: { after?: string | undefined; limit: number }): Promise<FsckBlob[]> {
    let q = this.db.selectFrom('blobs').select(['digest', 'size', 'location', 'deleting_at', 'crc32']);
    if (after !== undefined) q = q.where('digest', '>', after);
    return (await q.orderBy('digest').limit(limit).execute()).map(toBlob);
  }

  async blob(digest: string): Promise<FsckBlob | null> {
    const row = await this.db.selectFrom('blobs').select(['digest', 'size', 'location', 'deleting_at', 'crc32']).where('digest', '=', digest).executeTakeFirst();
    return row ? toBlob(row) : null;
  }

  async manifests({ after, limit }: { after?: { repository: string; digest: string } | undefined; limit: number }): Promise<FsckManifest[]> {
    let q = this.db.selectFrom('manifests').select(['repository', 'digest', 'media_type', 'content', 'created_at']);
    if (after !== undefined) {
      q = q.where((eb) => eb.or([
        eb('repository', '>', after.repository),
        eb.and([eb('repository', '=', after.repository), eb('digest', '>', after.digest)]),
      ]));
    }
    const rows = await q.orderBy('repository').orderBy('digest').limit(limit).execute();
    return rows.map((r) => ({ repository: r.repository, digest: r.digest, mediaType: r.media_type, content: Buffer.from(r.content), createdAt: Number(r.created_at) }));
  }

  async danglingTags(limit: number): Promise<FsckTag[]> {
    const rows = await this.db.selectFrom('tags as t').select(['t.repository', 't.name', 't.digest'])
      .where((eb) => eb.not(eb.exists(eb.selectFrom('manifests as m').select('m.digest').whereRef('m.repository', '=', 't.repository').whereRef('m.digest', '=', 't.digest'))))
      .orderBy('t.repository').orderBy('t.name').limit(limit).execute();
    return rows.map((r) => ({ repository: r.repository, name: r.name, digest: r.digest }));
  }

  async uploads({ after, limit }: { after?: string | undefined; limit: number }): Promise<UploadRecord[]> {
    let q = this.db.selectFrom('uploads').selectAll();
    if (after !== undefined) q = q.where('id', '>', after);
    const rows = await q.orderBy('id').limit(limit).execute();
    return rows.map((r) => ({ id: r.id, repository: r.repository, size: Number(r.size), createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) }));
  }

  async markBlob(digest: string, now: number): Promise<FsckBlob | null> {
    return this.db.transaction().execute(async (trx) => {
      // Locked first, as GcStore.markBlobs does: a link or manifest push
      // holding FOR SHARE on the record either committed, or waits and then
      // sees the mark.
      if (this.flavor === 'postgres') await trx.selectFrom('blobs').select('digest').where('digest', '=', digest).forUpdate().execute();
      const row = await trx.updateTable('blobs').set({ deleting_at: now })
        .where('digest', '=', digest).where('deleting_at', 'is', null)
        .returning(['digest', 'size', 'location', 'deleting_at', 'crc32']).executeTakeFirst();
      return row ? toBlob(row) : null;
    });
  }

  async unmarkBlob(digest: string, markedAt: number): Promise<boolean> {
    const r = await this.db.updateTable('blobs').set({ deleting_at: null }).where('digest', '=', digest).where('deleting_at', '=', markedAt).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteTagIfDangling(repository: string, name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx.deleteFrom('tags').where('repository', '=', repository).where('name', '=', name)
        .where((eb) => eb.not(eb.exists(eb.selectFrom('manifests as m').select('m.digest').whereRef('m.repository', '=', 'tags.repository').whereRef('m.digest', '=', 'tags.digest'))))
        .executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) return false;
      await trx.updateTable('repositories').set((eb) => ({ tags_version: eb('tags_version', '+', 1) })).where('name', '=', repository).execute();
      return true;
    });
  }
}
