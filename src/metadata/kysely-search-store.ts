import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Database } from './schema.js';
import type { Flavor } from './migrations.js';
import type { SearchHit, SearchQuery, SearchResource, SearchStore, SearchVisibility } from './search-store.js';

/** `s.name` has a manifest: the index never answers a repository that is gone. */
const HAS_MANIFEST = sql`exists (select 1 from manifests m where m.repository = s.name)`;

/**
 * The repositories under a namespace, as a range on the name: names are
 * ASCII and compare byte by byte in both dialects, and `0` follows `/`, so
 * `ns/` ≤ name < `ns0` is exactly "starts with ns/", and uses the key's index.
 */
function under(namespace: string): RawBuilder<unknown> {
  return sql`(s.name >= ${`${namespace}/`} and s.name < ${`${namespace}0`})`;
}

/** A grant's or flag's namespace `col` covers `s.name` (the namespace is a column, so no range). */
function coveredBy(col: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`substr(s.name, 1, length(${col}) + 1) = ${col} || '/'`;
}

/** Public: the repository's own flag, else the flag of its longest flagged namespace, else private (GrantPolicy.isPublic). */
const IS_PUBLIC = sql`coalesce(
  (select v.public from visibility v where v.resource_kind = 'repository' and v.resource = s.name),
  (select v.public from visibility v where v.resource_kind = 'namespace' and ${coveredBy(sql.ref('v.resource'))} order by length(v.resource) desc limit 1),
  0) = 1`;

function within(resources: readonly SearchResource[]): RawBuilder<unknown> {
  if (resources.length === 0) return sql`1 = 0`;
  return sql`(${sql.join(resources.map((r) => (r.kind === 'repository' ? sql`s.name = ${r.name}` : under(r.name))), sql` or `)})`;
}

/** The SQL form of a SearchVisibility (search-store.ts); mirrors GrantPolicy. */
function visible(v: SearchVisibility): RawBuilder<unknown> {
  if (v.kind === 'all') return v.within ? within(v.within) : sql`1 = 1`;
  if (v.kind === 'none') return sql`1 = 0`;
  const any: RawBuilder<unknown>[] = [];
  if (v.ownNamespace !== null) any.push(under(v.ownNamespace));
  const users = v.subjects.filter((s) => s.kind === 'user').map((s) => s.name);
  const teams = v.subjects.filter((s) => s.kind === 'team').map((s) => s.name);
  const who: RawBuilder<unknown>[] = [];
  if (users.length > 0) who.push(sql`(g.subject_kind = 'user' and g.subject in (${sql.join(users)}))`);
  if (teams.length > 0) who.push(sql`(g.subject_kind = 'team' and g.subject in (${sql.join(teams)}))`);
  if (who.length > 0) {
    any.push(sql`exists (select 1 from grants g where (${sql.join(who, sql` or `)})
      and ((g.resource_kind = 'repository' and g.resource = s.name) or (g.resource_kind = 'namespace' and ${coveredBy(sql.ref('g.resource'))})))`);
  }
  if (v.public) any.push(IS_PUBLIC);
  if (any.length === 0) return sql`1 = 0`;
  const readable = sql`(${sql.join(any, sql` or `)})`;
  return v.within ? sql`(${readable} and ${within(v.within)})` : readable;
}

/** A LIKE pattern for "contains `text`", with `\` as the escape character. */
function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * The search store on the metadata store's Kysely connection. Exposed as
 * `MetadataStore.search`. Both dialects run the same statements but the
 * text match: SQLite asks its FTS5 trigram table (`search_fts`, kept by
 * triggers on `search_repositories`) for texts of 3 characters or more, and
 * scans with LIKE for shorter ones (the trigram index cannot answer them);
 * PostgreSQL uses ILIKE, which its pg_trgm GIN indexes answer when the
 * extension could be created (migration 0012), and a scan otherwise.
 */
export class KyselySearchStore implements SearchStore {
  constructor(private readonly db: Kysely<Database>, private readonly flavor: Flavor) {}

  async add(repository: string): Promise<void> {
    await sql`insert into search_repositories (name, description, updated_at)
      select r.name, '', ${Date.now()} from repositories r
      where r.name = ${repository} and exists (select 1 from manifests m where m.repository = r.name)
      on conflict (name) do nothing`.execute(this.db);
  }

  async remove(repository: string): Promise<void> {
    await sql`delete from search_repositories
      where name = ${repository} and not exists (select 1 from manifests m where m.repository = ${repository})`.execute(this.db);
  }

  async setDescription(repository: string, description: string): Promise<boolean> {
    const r = await sql`insert into search_repositories (name, description, updated_at)
      select r.name, ${description}, ${Date.now()} from repositories r
      where r.name = ${repository} and exists (select 1 from manifests m where m.repository = r.name)
      on conflict (name) do update set description = excluded.description, updated_at = excluded.updated_at`.execute(this.db);
    return Number(r.numAffectedRows ?? 0n) > 0;
  }

  async get(repository: string): Promise<SearchHit | null> {
    const r = await sql<SearchHit>`select s.name, s.description from search_repositories s where s.name = ${repository} and ${HAS_MANIFEST}`.execute(this.db);
    return r.rows[0] ?? null;
  }

  async reconcile(): Promise<{ added: number; removed: number }> {
    const now = Date.now();
    const added = await sql`insert into search_repositories (name, description, updated_at)
      select r.name, '', ${now} from repositories r
      where exists (select 1 from manifests m where m.repository = r.name)
        and not exists (select 1 from search_repositories s where s.name = r.name)
      on conflict (name) do nothing`.execute(this.db);
    const removed = await sql`delete from search_repositories
      where not exists (select 1 from manifests m where m.repository = search_repositories.name)`.execute(this.db);
    return { added: Number(added.numAffectedRows ?? 0n), removed: Number(removed.numAffectedRows ?? 0n) };
  }

  async search({ text, visibility, limit, after }: SearchQuery): Promise<{ results: SearchHit[]; next: string | null }> {
    const conditions: RawBuilder<unknown>[] = [HAS_MANIFEST, visible(visibility)];
    if (after !== undefined) conditions.push(sql`s.name > ${after}`);
    if (text !== '') {
      if (this.flavor === 'sqlite' && [...text].length >= 3) {
        // A trigram phrase matches where the column contains the text (case-folded).
        conditions.push(sql`s.id in (select rowid from search_fts where search_fts match ${`"${text.replace(/"/g, '""')}"`})`);
      } else {
        const like = this.flavor === 'postgres' ? sql`ilike` : sql`like`;
        const pattern = containsPattern(text);
        conditions.push(sql`(s.name ${like} ${pattern} escape '\\' or s.description ${like} ${pattern} escape '\\')`);
      }
    }
    const rows = await sql<SearchHit>`select s.name, s.description from search_repositories s
      where ${sql.join(conditions, sql` and `)}
      order by s.name limit ${limit + 1}`.execute(this.db);
    const results = rows.rows.slice(0, limit);
    return { results, next: rows.rows.length > limit ? (results.at(-1)?.name ?? null) : null };
  }
}
