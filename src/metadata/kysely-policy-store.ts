import { type Kysely, sql } from 'kysely';
import type { Database } from './schema.js';
import type { NewPolicy, PolicyKey, PolicyRecord, PolicyScopeKind, PolicyStore, PullFacts } from './policy-store.js';

function toPolicy(r: Database['trust_policies']): PolicyRecord {
  return {
    kind: r.kind as PolicyScopeKind, name: r.name, mode: r.mode as PolicyRecord['mode'],
    keys: JSON.parse(r.keys) as PolicyKey[], dctSigners: JSON.parse(r.dct_signers) as string[],
    revision: Number(r.revision), updatedAt: Number(r.updated_at), updatedBy: r.updated_by,
  };
}

/** The policy store on the metadata store's connection (`MetadataStore.policies`). */
export class KyselyPolicyStore implements PolicyStore {
  constructor(private readonly db: Kysely<Database>) {}

  async list(): Promise<{ revision: number; policies: PolicyRecord[] }> {
    // One transaction, so the revision is the one of exactly these policies.
    return this.db.transaction().execute(async (trx) => {
      const rev = await trx.selectFrom('trust_policy_revision').select('revision').where('id', '=', 1).executeTakeFirst();
      const rows = await trx.selectFrom('trust_policies').selectAll().orderBy('kind').orderBy('name').execute();
      return { revision: Number(rev?.revision ?? 0), policies: rows.map(toPolicy) };
    });
  }

  async get(kind: PolicyScopeKind, name: string): Promise<PolicyRecord | null> {
    const r = await this.db.selectFrom('trust_policies').selectAll().where('kind', '=', kind).where('name', '=', name).executeTakeFirst();
    return r ? toPolicy(r) : null;
  }

  async put(policy: NewPolicy): Promise<PolicyRecord> {
    return this.db.transaction().execute(async (trx) => {
      // The update takes the row's lock: concurrent writers get distinct revisions, in commit order.
      const { revision } = await trx.updateTable('trust_policy_revision').set((eb) => ({ revision: eb('revision', '+', 1) })).where('id', '=', 1).returning('revision').executeTakeFirstOrThrow();
      const row = {
        kind: policy.kind, name: policy.name, mode: policy.mode, keys: JSON.stringify(policy.keys), dct_signers: JSON.stringify(policy.dctSigners),
        revision: Number(revision), updated_at: policy.updatedAt, updated_by: policy.updatedBy,
      };
      await trx.insertInto('trust_policies').values(row)
        .onConflict((oc) => oc.columns(['kind', 'name']).doUpdateSet({ mode: row.mode, keys: row.keys, dct_signers: row.dct_signers, revision: row.revision, updated_at: row.updated_at, updated_by: row.updated_by }))
        .execute();
      return toPolicy(row);
    });
  }

  async delete(kind: PolicyScopeKind, name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx.deleteFrom('trust_policies').where('kind', '=', kind).where('name', '=', name).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) return false;
      await trx.updateTable('trust_policy_revision').set((eb) => ({ revision: eb('revision', '+', 1) })).where('id', '=', 1).execute();
      return true;
    });
  }

  async revision(): Promise<number> {
    const r = await this.db.selectFrom('trust_policy_revision').select('revision').where('id', '=', 1).executeTakeFirst();
    return Number(r?.revision ?? 0);
  }

  async pullFacts(repository: string, digest: string, sigTag: string): Promise<PullFacts> {
    // One statement (one round trip, one cached prepared statement), each part on an index:
    // trust_policy_revision's key, manifests (repository, subject), tags' key, trust_files' key.
    const { rows } = await sql<{ k: string; v: string }>`
      select 'p' as k, cast(revision as text) as v from trust_policy_revision where id = 1
      union all select 'r', digest from manifests where repository = ${repository} and subject = ${digest}
      union all select 't', digest from tags where repository = ${repository} and name = ${sigTag}
      union all select 'd', v from (select sha256 as v from trust_files where repository = ${repository} and role = 'timestamp' order by version desc limit 1) as ts
    `.execute(this.db);
    const facts: PullFacts = { revision: 0, referrers: [], sigTag: null, dct: null };
    for (const { k, v } of rows) {
      if (k === 'p') facts.revision = Number(v);
      else if (k === 'r') facts.referrers.push(v);
      else if (k === 't') facts.sigTag = v;
      else if (k === 'd') facts.dct = v;
    }
    facts.referrers.sort();
    return facts;
  }
}
