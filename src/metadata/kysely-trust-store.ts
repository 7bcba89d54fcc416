import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { NewTrustFile, ServerKeyRole, TrustChangeRecord, TrustFileRecord, TrustKeyRecord, TrustStore } from './trust-store.js';

type FileRow = Database['trust_files'];

function toFile(r: FileRow): TrustFileRecord {
  return {
    repository: r.repository, role: r.role, version: Number(r.version), sha256: r.sha256,
    data: Buffer.isBuffer(r.data) ? r.data : Buffer.from(r.data as Uint8Array), createdAt: Number(r.created_at),
  };
}

/** A unique-key violation, on either dialect: another publish stored that version first. */
function isDuplicate(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || (typeof e?.code === 'string' && e.code.startsWith('SQLITE_CONSTRAINT')) || /UNIQUE constraint failed/.test(e?.message ?? '');
}

/** The trust store on the metadata store's connection (`MetadataStore.trust`). */
export class KyselyTrustStore implements TrustStore {
  constructor(private readonly db: Kysely<Database>) {}

  async current(repository: string): Promise<Map<string, TrustFileRecord>> {
    const rows = await this.db.selectFrom('trust_files as f').selectAll('f')
      .where('f.repository', '=', repository)
      .where((eb) => eb('f.version', '=', eb.selectFrom('trust_files as g').select((g) => g.fn.max('g.version').as('v')).whereRef('g.repository', '=', 'f.repository').whereRef('g.role', '=', 'f.role')))
      .execute();
    return new Map(rows.map((r) => [r.role, toFile(r)]));
  }

  async latest(repository: string, role: string): Promise<TrustFileRecord | null> {
    const r = await this.db.selectFrom('trust_files').selectAll().where('repository', '=', repository).where('role', '=', role).orderBy('version', 'desc').limit(1).executeTakeFirst();
    return r ? toFile(r) : null;
  }

  async byVersion(repository: string, role: string, version: number): Promise<TrustFileRecord | null> {
    const r = await this.db.selectFrom('trust_files').selectAll().where('repository', '=', repository).where('role', '=', role).where('version', '=', version).executeTakeFirst();
    return r ? toFile(r) : null;
  }

  async byChecksum(repository: string, role: string, sha256: string): Promise<TrustFileRecord | null> {
    const r = await this.db.selectFrom('trust_files').selectAll().where('repository', '=', repository).where('role', '=', role).where('sha256', '=', sha256)
      .orderBy('version', 'desc').limit(1).executeTakeFirst();
    return r ? toFile(r) : null;
  }

  async publish(repository: string, files: readonly NewTrustFile[], change: { gun: string; version: number; sha256: string; time: number }): Promise<boolean> {
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('trust_files').values(files.map((f) => ({
          repository, role: f.role, version: f.version, sha256: f.sha256, data: f.data, created_at: change.time,
        }))).execute();
        await trx.insertInto('trust_changes').values({
          id: `${change.time.toString().padStart(15, '0')}-${randomUUID()}`, repository, gun: change.gun, version: change.version, sha256: change.sha256, category: 'update', created_at: change.time,
        }).execute();
      });
      return true;
    } catch (err) {
      if (isDuplicate(err)) return false;
      throw err;
    }
  }

  async deleteRepository(repository: string, change: { gun: string; time: number }): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('trust_files').where('repository', '=', repository).execute();
      await trx.deleteFrom('trust_keys').where('repository', '=', repository).execute();
      await trx.insertInto('trust_changes').values({
        id: `${change.time.toString().padStart(15, '0')}-${randomUUID()}`, repository, gun: change.gun, version: 0, sha256: '', category: 'deletion', created_at: change.time,
      }).execute();
    });
  }

  async keys(repository: string, role: ServerKeyRole): Promise<TrustKeyRecord[]> {
    const rows = await this.db.selectFrom('trust_keys').selectAll().where('repository', '=', repository).where('role', '=', role)
      .orderBy('created_at', 'desc').orderBy('key_id').execute();
    return rows.map((r) => ({ repository: r.repository, role: r.role as ServerKeyRole, keyId: r.key_id, publicKey: r.public_key, sealedPrivateKey: r.sealed_private_key, createdAt: Number(r.created_at) }));
  }

  async addKey(k: TrustKeyRecord): Promise<void> {
    await this.db.insertInto('trust_keys').values({
      repository: k.repository, role: k.role, key_id: k.keyId, public_key: k.publicKey, sealed_private_key: k.sealedPrivateKey, created_at: k.createdAt,
    }).onConflict((oc) => oc.doNothing()).execute();
  }

  async changes(f: { repository?: string | undefined; after?: string | undefined; limit: number }): Promise<TrustChangeRecord[]> {
    let q = this.db.selectFrom('trust_changes').selectAll();
    if (f.repository !== undefined) q = q.where('repository', '=', f.repository);
    if (f.after && f.after !== '0') q = q.where('id', '>', f.after);
    const rows = await q.orderBy('id').limit(Math.min(Math.max(f.limit, 1), 1000)).execute();
    return rows.map((r) => ({ id: r.id, repository: r.repository, gun: r.gun, version: Number(r.version), sha256: r.sha256, category: r.category as TrustChangeRecord['category'], createdAt: Number(r.created_at) }));
  }
}
