import { type Kysely, sql } from 'kysely';
import type { Database } from './schema.js';
import type {
  LifecycleRule, LifecycleRuleKind, LifecycleScopeKind, LifecycleStore, NamespaceQuota, NamespaceUsage, TaggedRecord,
} from './lifecycle-store.js';

/** The namespaces that cover a repository: `a` and `a/b` for `a/b/c`. */
function namespacesOf(repository: string): string[] {
  const parts = repository.split('/');
  return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/**
 * The key range of a namespace's repositories: every name that starts with
 * `ns/` sorts at or after `ns/` and before `ns0` ('0' follows '/'), byte by
 * byte (SQLite's BINARY, PostgreSQL's "C" collation of key columns). A range
 * uses the primary keys' indexes where LIKE would not.
 */
function rangeOf(namespace: string): [string, string] {
  return [`${namespace}/`, `${namespace}0`];
}

function toRule(r: Database['lifecycle_rules']): LifecycleRule {
  return {
    id: r.id, kind: r.kind as LifecycleRuleKind, scopeKind: r.scope_kind as LifecycleScopeKind, scopeName: r.scope_name, tagPattern: r.tag_pattern,
    keepLast: r.keep_last === null ? null : Number(r.keep_last), keepWithinMs: r.keep_within_ms === null ? null : Number(r.keep_within_ms),
    createdAt: Number(r.created_at), createdBy: r.created_by,
  };
}

function toQuota(r: Database['namespace_quotas']): NamespaceQuota {
  return { namespace: r.namespace, limitBytes: Number(r.limit_bytes), updatedAt: Number(r.updated_at), updatedBy: r.updated_by };
}

/** The lifecycle store on the metadata store's connection (`MetadataStore.lifecycle`). */
export class KyselyLifecycleStore implements LifecycleStore {
  constructor(private readonly db: Kysely<Database>) {}

  async addRule(rule: LifecycleRule): Promise<LifecycleRule> {
    await this.db.insertInto('lifecycle_rules').values({
      id: rule.id, kind: rule.kind, scope_kind: rule.scopeKind, scope_name: rule.scopeName, tag_pattern: rule.tagPattern,
      keep_last: rule.keepLast, keep_within_ms: rule.keepWithinMs, created_at: rule.createdAt, created_by: rule.createdBy,
    }).execute();
    return rule;
  }

  async getRule(id: string): Promise<LifecycleRule | null> {
    const r = await this.db.selectFrom('lifecycle_rules').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toRule(r) : null;
  }

  async deleteRule(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('lifecycle_rules').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listRules(kind?: LifecycleRuleKind): Promise<LifecycleRule[]> {
    let q = this.db.selectFrom('lifecycle_rules').selectAll();
    if (kind) q = q.where('kind', '=', kind);
    const rows = await q.orderBy('kind').orderBy('scope_kind').orderBy('scope_name').orderBy('created_at').orderBy('id').execute();
    return rows.map(toRule);
  }

  async rulesFor(repository: string, kind: LifecycleRuleKind): Promise<LifecycleRule[]> {
    const namespaces = namespacesOf(repository);
    const rows = await this.db.selectFrom('lifecycle_rules').selectAll()
      .where('kind', '=', kind)
      .where((eb) => eb.or([
        eb('scope_kind', '=', 'registry'),
        eb.and([eb('scope_kind', '=', 'repository'), eb('scope_name', '=', repository)]),
        ...(namespaces.length > 0 ? [eb.and([eb('scope_kind', '=', 'namespace'), eb('scope_name', 'in', namespaces)])] : []),
      ]))
      .orderBy('scope_kind').orderBy('scope_name').orderBy('created_at').orderBy('id')
      .execute();
    return rows.map(toRule);
  }

  async putQuota(quota: NamespaceQuota): Promise<NamespaceQuota> {
    const row = { namespace: quota.namespace, limit_bytes: quota.limitBytes, updated_at: quota.updatedAt, updated_by: quota.updatedBy };
    await this.db.insertInto('namespace_quotas').values(row)
      .onConflict((oc) => oc.column('namespace').doUpdateSet({ limit_bytes: row.limit_bytes, updated_at: row.updated_at, updated_by: row.updated_by }))
      .execute();
    return quota;
  }

  async getQuota(namespace: string): Promise<NamespaceQuota | null> {
    const r = await this.db.selectFrom('namespace_quotas').selectAll().where('namespace', '=', namespace).executeTakeFirst();
    return r ? toQuota(r) : null;
  }

  async deleteQuota(namespace: string): Promise<boolean> {
    const r = await this.db.deleteFrom('namespace_quotas').where('namespace', '=', namespace).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listQuotas(): Promise<NamespaceQuota[]> {
    return (await this.db.selectFrom('namespace_quotas').selectAll().orderBy('namespace').execute()).map(toQuota);
  }

  async quotasFor(repository: string): Promise<NamespaceQuota[]> {
    const namespaces = namespacesOf(repository);
    if (namespaces.length === 0) return [];
    const rows = await this.db.selectFrom('namespace_quotas').selectAll().where('namespace', 'in', namespaces).orderBy('namespace').execute();
    return rows.map(toQuota);
  }

  async usage(namespace: string): Promise<NamespaceUsage> {
    const [lo, hi] = rangeOf(namespace);
    // One statement: distinct blob digests linked in the range (repository_blobs' key),
    // joined to their sizes; distinct manifest digests in the range (manifests' key).
    const { rows } = await sql<{ blobs: string | number; blob_bytes: string | number | null; manifests: string | number; manifest_bytes: string | number | null }>`
      select
        (select count(*) from blobs b where b.digest in (select rb.digest from repository_blobs rb where rb.repository >= ${lo} and rb.repository < ${hi})) as blobs,
        (select sum(b.size) from blobs b where b.digest in (select rb.digest from repository_blobs rb where rb.repository >= ${lo} and rb.repository < ${hi})) as blob_bytes,
        (select count(*) from (select m.digest from manifests m where m.repository >= ${lo} and m.repository < ${hi} group by m.digest) md) as manifests,
        (select sum(ms.size) from (select max(m.size) as size from manifests m where m.repository >= ${lo} and m.repository < ${hi} group by m.digest) ms) as manifest_bytes
    `.execute(this.db);
    const r = rows[0];
    const blobBytes = Number(r?.blob_bytes ?? 0);
    const manifestBytes = Number(r?.manifest_bytes ?? 0);
    return { namespace, bytes: blobBytes + manifestBytes, blobs: Number(r?.blobs ?? 0), blobBytes, manifests: Number(r?.manifests ?? 0), manifestBytes };
  }

  async holds(namespace: string, digest: string): Promise<boolean> {
    const [lo, hi] = rangeOf(namespace);
    const { rows } = await sql<{ k: number }>`
      select 1 as k from repository_blobs where digest = ${digest} and repository >= ${lo} and repository < ${hi}
      union all select 1 from manifests where digest = ${digest} and repository >= ${lo} and repository < ${hi}
    `.execute(this.db);
    return rows.length > 0;
  }

  async tagsIn(scope: { kind: LifecycleScopeKind; name: string }, page: { after?: { repository: string; tag: string } | undefined; limit: number }): Promise<TaggedRecord[]> {
    let q = this.db.selectFrom('tags').select(['repository', 'name', 'digest', 'updated_at']);
    if (scope.kind === 'repository') q = q.where('repository', '=', scope.name);
    else if (scope.kind === 'namespace') {
      const [lo, hi] = rangeOf(scope.name);
      q = q.where('repository', '>=', lo).where('repository', '<', hi);
    }
    const after = page.after;
    if (after) q = q.where((eb) => eb.or([eb('repository', '>', after.repository), eb.and([eb('repository', '=', after.repository), eb('name', '>', after.tag)])]));
    const rows = await q.orderBy('repository').orderBy('name').limit(page.limit).execute();
    return rows.map((r) => ({ repository: r.repository, tag: r.name, digest: r.digest, updatedAt: Number(r.updated_at) }));
  }

  async tagsOf(repository: string, digest: string): Promise<string[]> {
    const rows = await this.db.selectFrom('tags').select('name').where('repository', '=', repository).where('digest', '=', digest).orderBy('name').execute();
    return rows.map((r) => r.name);
  }
}
