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
 * extension could be created (migrations 0012 and 0014), and a scan
 * otherwise (`missingIndexFix`). On SQLite a text many names share is
 * answered by a bounded walk in name order first (`walk`).
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

  async missingIndexFix(): Promise<string | null> {
    if (this.flavor === 'sqlite') return null;
    const r = await sql<{ n: string }>`select count(*) as n from pg_indexes
      where schemaname = current_schema() and tablename = 'search_repositories' and indexname in (${sql.join(TRIGRAM_INDEXES.map((i) => i.name))})`.execute(this.db);
    if (Number(r.rows[0]?.n ?? 0) === TRIGRAM_INDEXES.length) return null;
    return [
      'a superuser runs, in this database: CREATE EXTENSION IF NOT EXISTS pg_trgm;',
      ...TRIGRAM_INDEXES.map((i) => `CREATE INDEX IF NOT EXISTS ${i.name} ON search_repositories USING gin (${i.column} gin_trgm_ops) WITH (fastupdate = off);`),
      '(Debian: the postgresql-15 package ships the extension; see docs/storage.md)',
    ].join(' ');
  }

  async search(query: SearchQuery): Promise<{ results: SearchHit[]; next: string | null }> {
    const { text, visibility, limit, after } = query;
    const conditions: RawBuilder<unknown>[] = [HAS_MANIFEST, visible(visibility)];
    if (after !== undefined) conditions.push(sql`s.name > ${after}`);
    const pattern = containsPattern(text);
    const like = this.flavor === 'postgres' ? sql`ilike` : sql`like`;
    const likeText = sql`(s.name ${like} ${pattern} escape '\\' or s.description ${like} ${pattern} escape '\\')`;
    if (text !== '' && [...text].length >= 3) {
      // An index can answer (FTS5, pg_trgm): a walk in name order first, for a text many names share.
      const walked = await this.walk(query, likeText);
      if (walked) return walked;
      if (this.flavor === 'postgres' && !(await this.denseInWalk(query, likeText))) {
        // The matches first, from the trigram index, then their order: with `order by name limit`
        // PostgreSQL's planner (and any generic plan of the prepared statement) walks the whole key
        // index instead when it expects many matches, reading every row for a name few have. It
        // expects 1% of the rows to match any text, so the manifest check is a lateral lookup per
        // match: as a semi-join it became a hash of every manifest.
        const rows = await sql<SearchHit>`with matched as materialized (
            select s.name, s.description from search_repositories s
            where ${likeText}${after === undefined ? sql`` : sql` and s.name > ${after}`})
          select s.name, s.description from matched s
          cross join lateral (select 1 from manifests m where m.repository = s.name limit 1) as has_manifest
          where ${visible(visibility)}
          order by s.name limit ${limit + 1}`.execute(this.db);
        return page(rows.rows, limit);
      }
      conditions.push(this.flavor === 'sqlite' ? sql`s.id in (select rowid from search_fts where search_fts match ${ftsPhrase(text)})` : likeText);
    } else if (text !== '') {
      conditions.push(likeText); // under 3 characters: no trigram to look up; a scan in name order
    }
    const rows = await sql<SearchHit>`select s.name, s.description from search_repositories s
      where ${sql.join(conditions, sql` and `)}
      order by s.name limit ${limit + 1}`.execute(this.db);
    return page(rows.rows, limit);
  }

  /**
   * PostgreSQL, after a walk that found too few answers: whether the text
   * itself was common in the walk's window (the caller may pull few of its
   * matches). Then the index would yield a great many rows, and the walk on
   * in name order, until the page is full, is the cheaper way.
   */
  private async denseInWalk({ limit, after }: SearchQuery, likeText: RawBuilder<unknown>): Promise<boolean> {
    const r = await sql<{ n: string }>`select count(*) as n from (
        select name, description from search_repositories
        where ${after === undefined ? sql`1 = 1` : sql`name > ${after}`}
        order by name limit ${walkRows(limit)}) s
      where ${likeText}`.execute(this.db);
    return Number(r.rows[0]?.n ?? 0) > limit;
  }

  /**
   * A text of 3 characters or more: the page from a walk of the next
   * `walkRows(limit)` names in name order (the name's index), each checked
   * against the text, or null when that window holds fewer than limit + 1
   * answers.
   *
   * Why: the text indexes yield every match (SQLite's FTS5 table every
   * matching rowid, PostgreSQL's trigram index every matching row), so for a
   * word many names share (`app` in 100,000 names) a query through them
   * reads and sorts all of them to keep 26 (470 ms at 100,000 on SQLite).
   * When answers are dense, they are near the start of the name order, and
   * a page costs what a page costs; when they are sparse, the walk gives up
   * after a bounded number of rows and the index, cheap for few matches,
   * answers instead.
   *
   * The answer is the index query's exactly: the window is a prefix of the
   * names after `after`, so its first limit + 1 answers are the first
   * overall; and a row matches here exactly when it matches there. On
   * PostgreSQL it is the same ILIKE. On SQLite, LIKE is the FTS5 trigram
   * match (case-folded substring) for ASCII; a row with a character beyond
   * ASCII is asked of FTS5 itself (its case folding is Unicode's: U+212A
   * KELVIN SIGN matches `k`), and a text beyond ASCII is not walked.
   */
  private async walk({ text, visibility, limit, after }: SearchQuery, likeText: RawBuilder<unknown>): Promise<{ results: SearchHit[]; next: string | null } | null> {
    let matches = likeText;
    if (this.flavor === 'sqlite') {
      if (!/^[\x01-\x7f]*$/.test(text)) return null;
      matches = sql`(${likeText} or ((s.name || s.description) glob ${BEYOND_ASCII}
        and exists (select 1 from search_fts f where search_fts match ${ftsPhrase(text)} and f.rowid = s.id)))`;
    }
    const rows = await sql<SearchHit>`select s.name, s.description from (
        select ${this.flavor === 'sqlite' ? sql`id, ` : sql``}name, description from search_repositories
        where ${after === undefined ? sql`1 = 1` : sql`name > ${after}`}
        order by name limit ${walkRows(limit)}) s
      where ${matches} and ${HAS_MANIFEST} and ${visible(visibility)}
      order by s.name limit ${limit + 1}`.execute(this.db);
    return rows.rows.length > limit ? page(rows.rows, limit) : null;
  }
}

/** PostgreSQL's trigram indexes (migration 0014), as the fix for their absence names them. */
const TRIGRAM_INDEXES = [
  { name: 'search_repositories_name_trgm', column: 'name' },
  { name: 'search_repositories_description_trgm', column: 'description' },
] as const;

/**
 * How many names a search walks in name order (see `walk`) before it asks
 * the index instead: 20 per answer it needs (so a text in 1 name of 20 or
 * more is answered by the walk), at most 2,000 (a page of 1,000 needs 1 in
 * 2). A walk that gives up costs about 0.6 µs a row on SQLite (0.3 ms for a
 * page of 25 on a 2-core machine), against 67 ms for the FTS5 query of a
 * text in all of 100,000 names.
 */
function walkRows(limit: number): number {
  return Math.min(20 * (limit + 1), 2000);
}

/** A GLOB pattern for "holds a character beyond ASCII". */
const BEYOND_ASCII = '*[^\u0001-\u007f]*';

/** An FTS5 query for the phrase `text`: with the trigram tokenizer, rows whose column contains it (case-folded). */
function ftsPhrase(text: string): string {
  return `"${text.replace(/"/g, '""')}"`;
}

/** The first `limit` of `rows` (which holds up to limit + 1), and the cursor when there were more. */
function page(rows: SearchHit[], limit: number): { results: SearchHit[]; next: string | null } {
  const results = rows.slice(0, limit);
  return { results, next: rows.length > limit ? (results.at(-1)?.name ?? null) : null };
}
