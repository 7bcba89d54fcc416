import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { LeaseStore } from './lease-store.js';
import type { StoreConnection } from './kysely-store.js';

/**
 * Leases on the metadata store's Kysely connection. Exposed as
 * `MetadataStore.leases`. Taking and giving back a lease are ephemeral
 * writes (see StoreConnection.ephemeral): after a power failure every holder
 * is gone, so a lost lease row changes nothing; an upload's chunk takes and
 * frees one, and each durable commit would cost a disk wait.
 */
export class KyselyLeaseStore implements LeaseStore {
  constructor(private readonly db: Kysely<Database>, private readonly ephemeral: StoreConnection['ephemeral'] = (fn) => fn(db)) {}

  async acquire(name: string, owner: string, expiresAt: number, now: number): Promise<boolean> {
    // One statement on both dialects: insert, or take over a row that is
    // expired or already ours. The row lock of the upsert serialises racers.
    const r = await this.ephemeral((db) => db.insertInto('leases').values({ name, owner, expires_at: expiresAt })
      .onConflict((oc) => oc.column('name').doUpdateSet({ owner, expires_at: expiresAt })
        .where((eb) => eb.or([eb('leases.expires_at', '<=', now), eb('leases.owner', '=', owner)])))
      .executeTakeFirst());
    return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async release(name: string, owner: string): Promise<void> {
    await this.ephemeral((db) => db.deleteFrom('leases').where('name', '=', name).where('owner', '=', owner).execute());
  }

  async prune(before: number): Promise<number> {
    const r = await this.db.deleteFrom('leases').where('expires_at', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
