import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import { RegistryError } from '../errors/index.js';
import type { Flavor } from './migrations.js';
import { BlobDeletingError } from './content-store.js';
import type {
  BlobRecord, ContentStore, ManifestDeletion, ManifestPutOutcome, ManifestRecord, PutManifestInput, ReferrerRecord,
} from './content-store.js';

/** Rows per multi-row INSERT or IN list, well under both dialects' parameter limits. */
const BATCH = 200;

type ManifestRow = Database['manifests'];

async function bumpTagListVersion(trx: Kysely<Database>, repository: string): Promise<void> {
  await trx.updateTable('repositories').set((eb) => ({ tags_version: eb('tags_version', '+', 1) })).where('name', '=', repository).execute();
}

function toManifest(row: ManifestRow): ManifestRecord {
  return {
    repository: row.repository,
    digest: row.digest,
    mediaType: row.media_type,
    size: Number(row.size),
    content: Buffer.isBuffer(row.content) ? row.content : Buffer.from(row.content as Uint8Array),
    artifactType: row.artifact_type,
    subject: row.subject,
    annotations: row.annotations,
    createdAt: Number(row.created_at),
  };
}

function toBlob(row: { digest: string; size: number; location: string | null; crc32: number | string | null }): BlobRecord {
  const blob: BlobRecord = { digest: row.digest, size: Number(row.size) };
  if (row.location !== null) blob.location = row.location;
  if (row.crc32 !== null) blob.crc32 = Number(row.crc32); // bigint: a string from PostgreSQL
  return blob;
}

/**
 * The content store on the metadata store's Kysely connection; the same
 * statements for SQLite and PostgreSQL. Exposed as `MetadataStore.content`.
 */
export class KyselyContentStore implements ContentStore {
  /** `flavor`: PostgreSQL locks the rows a write depends on (FOR SHARE); SQLite runs one write transaction at a time. */
  constructor(private readonly db: Kysely<Database>, private readonly flavor: Flavor = 'sqlite') {}

  async listRepositories({ last, limit }: { last?: string | undefined; limit: number }): Promise<string[]> {
    let q = this.db.selectFrom('repositories as r').select('r.name')
      .where((eb) => eb.exists(eb.selectFrom('manifests as m').select('m.digest').whereRef('m.repository', '=', 'r.name')));
    if (last !== undefined) q = q.where('r.name', '>', last);
    const rows = await q.orderBy('r.name').limit(limit).execute();
    return rows.map((r) => r.name);
  }

  async getBlob(digest: string): Promise<BlobRecord | null> {
    const row = await this.db.selectFrom('blobs').select(['digest', 'size', 'location', 'crc32']).where('digest', '=', digest).where('deleting_at', 'is', null).executeTakeFirst();
    return row ? toBlob(row) : null;
  }

  async getLinkedBlob(repository: string, digest: string): Promise<BlobRecord | null> {
    const row = await this.db.selectFrom('repository_blobs as rb')
      .innerJoin('blobs as b', 'b.digest', 'rb.digest')
      .select(['b.digest', 'b.size', 'b.location', 'b.crc32'])
      .where('rb.repository', '=', repository).where('rb.digest', '=', digest).where('b.deleting_at', 'is', null)
      .executeTakeFirst();
    return row ? toBlob(row) : null;
  }

  async linkBlob(repository: string, blob: BlobRecord, options: { uploadId?: string } = {}): Promise<BlobRecord> {
    const now = Date.now();
    return this.db.transaction().execute(async (trx) => {
      await trx.insertInto('repositories').values({ name: repository, created_at: now }).onConflict((oc) => oc.doNothing()).execute();
      await trx.insertInto('blobs').values({ digest: blob.digest, size: blob.size, created_at: now, location: blob.location ?? null }).onConflict((oc) => oc.doNothing()).execute();
      // Locked (PostgreSQL) so a collection marking it waits for this link, or this waits and sees its mark.
      const stored = await this.lockShared(trx.selectFrom('blobs').select(['digest', 'size', 'location', 'crc32', 'deleting_at']).where('digest', '=', blob.digest)).executeTakeFirst();
      if (!stored || stored.deleting_at !== null) throw new BlobDeletingError(blob.digest);
      await trx.insertInto('repository_blobs').values({ repository, digest: blob.digest, created_at: now })
        .onConflict((oc) => oc.columns(['repository', 'digest']).doUpdateSet({ created_at: now })).execute();
      if (options.uploadId !== undefined) await trx.deleteFrom('uploads').where('id', '=', options.uploadId).execute();
      return toBlob(stored);
    });
  }

  async linkExistingBlob(repository: string, digest: string): Promise<BlobRecord | null> {
    const now = Date.now();
    return this.db.transaction().execute(async (trx) => {
      const stored = await this.lockShared(trx.selectFrom('blobs').select(['digest', 'size', 'location', 'crc32', 'deleting_at']).where('digest', '=', digest)).executeTakeFirst();
      if (!stored || stored.deleting_at !== null) return null;
      await trx.insertInto('repositories').values({ name: repository, created_at: now }).onConflict((oc) => oc.doNothing()).execute();
      await trx.insertInto('repository_blobs').values({ repository, digest, created_at: now })
        .onConflict((oc) => oc.columns(['repository', 'digest']).doUpdateSet({ created_at: now })).execute();
      return toBlob(stored);
    });
  }

  async recordBlobChecksum(digest: string, crc32: number): Promise<boolean> {
    const r = await this.db.updateTable('blobs').set({ crc32 }).where('digest', '=', digest).where('crc32', 'is', null).where('deleting_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** FOR SHARE in PostgreSQL: the rows read stay as read until the transaction ends. SQLite serializes write transactions already. */
  private lockShared<Q extends { forShare(): Q }>(query: Q): Q {
    return this.flavor === 'postgres' ? query.forShare() : query;
  }

  async blobLocationsInUse(locations: string[]): Promise<string[]> {
    const wanted = [...new Set(locations)];
    const found: string[] = [];
    for (let i = 0; i < wanted.length; i += BATCH) {
      const rows = await this.db.selectFrom('blobs').select('location').where('location', 'in', wanted.slice(i, i + BATCH)).execute();
      for (const r of rows) if (r.location !== null) found.push(r.location);
    }
    return found;
  }

  async unlinkBlob(repository: string, digest: string): Promise<boolean> {
    const r = await this.db.deleteFrom('repository_blobs').where('repository', '=', repository).where('digest', '=', digest).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async missingBlobs(repository: string, digests: string[]): Promise<string[]> {
    const wanted = [...new Set(digests)];
    const found = new Set<string>();
    for (let i = 0; i < wanted.length; i += BATCH) {
      const rows = await this.db.selectFrom('repository_blobs as rb').innerJoin('blobs as b', 'b.digest', 'rb.digest').select('rb.digest')
        .where('rb.repository', '=', repository).where('rb.digest', 'in', wanted.slice(i, i + BATCH)).where('b.deleting_at', 'is', null).execute();
      for (const r of rows) found.add(r.digest);
    }
    return wanted.filter((d) => !found.has(d));
  }

  async missingManifests(repository: string, digests: string[]): Promise<string[]> {
    return this.missing('manifests', repository, digests);
  }

  private async missing(table: 'manifests', repository: string, digests: string[]): Promise<string[]> {
    const wanted = [...new Set(digests)];
    const found = new Set<string>();
    for (let i = 0; i < wanted.length; i += BATCH) {
      const rows = await this.db.selectFrom(table).select('digest')
        .where('repository', '=', repository).where('digest', 'in', wanted.slice(i, i + BATCH)).execute();
      for (const r of rows) found.add(r.digest);
    }
    return wanted.filter((d) => !found.has(d));
  }

  async getManifest(repository: string, digest: string): Promise<ManifestRecord | null> {
    const row = await this.db.selectFrom('manifests').selectAll().where('repository', '=', repository).where('digest', '=', digest).executeTakeFirst();
    return row ? toManifest(row) : null;
  }

  async resolveTag(repository: string, tag: string): Promise<ManifestRecord | null> {
    const row = await this.db.selectFrom('tags as t')
      .innerJoin('manifests as m', (j) => j.onRef('m.repository', '=', 't.repository').onRef('m.digest', '=', 't.digest'))
      .selectAll('m')
      .where('t.repository', '=', repository).where('t.name', '=', tag)
      .executeTakeFirst();
    return row ? toManifest(row) : null;
  }

  async putManifest({ manifest, references, tag, tags, requiredBlobs, requiredManifests }: PutManifestInput): Promise<ManifestPutOutcome> {
    const now = manifest.createdAt ?? Date.now();
    const repository = manifest.repository;
    return this.db.transaction().execute(async (trx) => {
      await this.assertRequired(trx, repository, requiredBlobs ?? [], requiredManifests ?? []);
      await trx.insertInto('repositories').values({ name: repository, created_at: now }).onConflict((oc) => oc.doNothing()).execute();
      const hadManifests = await trx.selectFrom('manifests').select('digest').where('repository', '=', repository).limit(1).executeTakeFirst();
      const row = {
        repository,
        digest: manifest.digest,
        media_type: manifest.mediaType,
        size: manifest.size,
        content: manifest.content,
        artifact_type: manifest.artifactType,
        subject: manifest.subject,
        annotations: manifest.annotations,
        created_at: now,
      };
      let inserted = await trx.insertInto('manifests').values(row).onConflict((oc) => oc.columns(['repository', 'digest']).doNothing()).executeTakeFirst();
      if (this.flavor === 'postgres' && Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) {
        // Already stored: hold it (FOR SHARE) so garbage collection cannot delete it under this write; if a
        // collection deleted it while this waited, it is stored again (the content is here).
        const held = await trx.selectFrom('manifests').select('digest').where('repository', '=', repository).where('digest', '=', manifest.digest).forShare().executeTakeFirst();
        if (!held) inserted = await trx.insertInto('manifests').values(row).executeTakeFirst();
      }
      const rows = [...new Map(references.map((r) => [r.digest, r])).values()]
        .map((r) => ({ repository, manifest_digest: manifest.digest, child_digest: r.digest, kind: r.kind }));
      for (let i = 0; i < rows.length; i += BATCH) {
        await trx.insertInto('manifest_references').values(rows.slice(i, i + BATCH)).onConflict((oc) => oc.doNothing()).execute();
      }
      const previousTagDigests: Record<string, string | null> = {};
      const names = [...new Set([...(tag !== undefined ? [tag] : []), ...(tags ?? [])])];
      for (const name of names) {
        const previous = await trx.selectFrom('tags').select('digest').where('repository', '=', repository).where('name', '=', name).executeTakeFirst();
        previousTagDigests[name] = previous?.digest ?? null;
        await trx.insertInto('tags').values({ repository, name, digest: manifest.digest, updated_at: now })
          .onConflict((oc) => oc.columns(['repository', 'name']).doUpdateSet({ digest: manifest.digest, updated_at: now }))
          .execute();
      }
      if (names.length > 0) await bumpTagListVersion(trx, repository);
      const first = names[0];
      const previousTagDigest = first !== undefined ? previousTagDigests[first] ?? null : null;
      return { created: Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0, repositoryCreated: !hadManifests, previousTagDigest, ...(tags !== undefined ? { previousTagDigests } : {}) };
    });
  }

  /**
   * What a manifest needs is still there, read (and in PostgreSQL locked)
   * inside its transaction: garbage collection marks a blob or deletes a
   * manifest under a row lock, so either it sees this manifest's references
   * or this sees its mark.
   */
  private async assertRequired(trx: Kysely<Database>, repository: string, blobs: readonly string[], manifests: readonly string[]): Promise<void> {
    const wantedBlobs = [...new Set(blobs)];
    for (let i = 0; i < wantedBlobs.length; i += BATCH) {
      const batch = wantedBlobs.slice(i, i + BATCH);
      const rows = await this.lockShared(trx.selectFrom('blobs').select(['digest', 'deleting_at']).where('digest', 'in', batch)).execute();
      const present = new Set(rows.filter((r) => r.deleting_at === null).map((r) => r.digest));
      const missing = batch.filter((d) => !present.has(d));
      if (missing.length > 0) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', 'the manifest references blobs that are not in the repository', { detail: { digests: missing.slice(0, 20) } });
    }
    const wantedManifests = [...new Set(manifests)];
    for (let i = 0; i < wantedManifests.length; i += BATCH) {
      const batch = wantedManifests.slice(i, i + BATCH);
      const rows = await this.lockShared(trx.selectFrom('manifests').select('digest').where('repository', '=', repository).where('digest', 'in', batch)).execute();
      const present = new Set(rows.map((r) => r.digest));
      const missing = batch.filter((d) => !present.has(d));
      if (missing.length > 0) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', 'the index references manifests that are not in the repository', { detail: { digests: missing.slice(0, 20) } });
    }
  }

  async deleteManifest(repository: string, digest: string): Promise<ManifestDeletion | null> {
    return this.db.transaction().execute(async (trx) => {
      // Explicit deletes rather than relying on ON DELETE CASCADE alone, so the
      // behaviour does not depend on a connection setting.
      const untagged = await trx.deleteFrom('tags').where('repository', '=', repository).where('digest', '=', digest).returning('name').execute();
      if (untagged.length > 0) await bumpTagListVersion(trx, repository);
      await trx.deleteFrom('manifest_references').where('repository', '=', repository).where('manifest_digest', '=', digest).execute();
      const r = await trx.deleteFrom('manifests').where('repository', '=', repository).where('digest', '=', digest).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) return null;
      const left = await trx.selectFrom('manifests').select('digest').where('repository', '=', repository).limit(1).executeTakeFirst();
      return { tags: untagged.map((t) => t.name).sort(), repositoryEmptied: !left };
    });
  }

  async deleteTag(repository: string, tag: string): Promise<string | null> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx.deleteFrom('tags').where('repository', '=', repository).where('name', '=', tag).returning('digest').executeTakeFirst();
      if (r) await bumpTagListVersion(trx, repository);
      return r?.digest ?? null;
    });
  }

  async tagListVersion(repository: string): Promise<number | null> {
    const row = await this.db.selectFrom('repositories').select('tags_version').where('name', '=', repository).executeTakeFirst();
    return row ? Number(row.tags_version) : null;
  }

  async listTags(repository: string, { last, limit }: { last?: string | undefined; limit?: number | undefined }): Promise<string[]> {
    let q = this.db.selectFrom('tags').select('name').where('repository', '=', repository);
    if (last !== undefined) q = q.where('name', '>', last);
    q = q.orderBy('name');
    if (limit !== undefined) q = q.limit(limit);
    const rows = await q.execute();
    return rows.map((r) => r.name);
  }

  async listReferrers(repository: string, subject: string, artifactType?: string): Promise<ReferrerRecord[]> {
    let q = this.db.selectFrom('manifests')
      .select(['digest', 'media_type', 'size', 'artifact_type', 'annotations'])
      .where('repository', '=', repository).where('subject', '=', subject);
    if (artifactType !== undefined) q = q.where('artifact_type', '=', artifactType);
    const rows = await q.orderBy('digest').execute();
    return rows.map((r) => ({ digest: r.digest, mediaType: r.media_type, size: Number(r.size), artifactType: r.artifact_type, annotations: r.annotations }));
  }

  async parentManifests(repository: string, digest: string, limit: number): Promise<string[]> {
    const rows = await this.db.selectFrom('manifest_references').select('manifest_digest')
      .where('child_digest', '=', digest).where('repository', '=', repository).where('kind', '=', 'manifest')
      .orderBy('manifest_digest').limit(limit).execute();
    return rows.map((r) => r.manifest_digest);
  }
}
