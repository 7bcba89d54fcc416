/**
 * The search index of repositories (docker search, and the management
 * API's search): one row per repository that has a manifest, with the
 * description its admins gave it, indexed for substring search by name and
 * description (SQLite: an FTS5 table with the trigram tokenizer;
 * PostgreSQL: pg_trgm GIN indexes, else a scan).
 *
 * The index follows the content store: `add` and `remove` re-read whether
 * the repository has manifests, so they may run late, twice or out of order
 * (from an event listener) and still leave the truth; `reconcile` repairs
 * whatever events were lost. `search` only answers repositories that have
 * manifests now, so a stale row is never shown.
 */
export interface SearchStore {
  /**
   * Indexes the repository if it has a manifest (with an empty
   * description); nothing when it has none or is indexed already.
   */
  add(repository: string): Promise<void>;
  /** Drops the repository (and its description) from the index if it has no manifest left; nothing otherwise. */
  remove(repository: string): Promise<void>;
  /**
   * Sets a repository's description (at most 1000 characters, checked by
   * the caller). Returns false, changing nothing, when the repository has
   * no manifest.
   */
  setDescription(repository: string, description: string): Promise<boolean>;
  /** The repository's indexed entry, or null when it has no manifest or is not indexed. */
  get(repository: string): Promise<SearchHit | null>;
  /**
   * Makes the index the set of repositories with a manifest: adds those
   * missing, drops those without manifests. In SQL, without loading names.
   */
  reconcile(): Promise<{ added: number; removed: number }>;
  /**
   * Null when substring search is indexed (always on SQLite). On PostgreSQL
   * without the trigram indexes (the pg_trgm extension could not be
   * created: migrations 0012 and 0014 go on without it), every search reads
   * every row: then what to run to fix it, for the warning at start.
   */
  missingIndexFix(): Promise<string | null>;
  /**
   * The repositories the caller may pull whose name or description contains
   * `text` (case-insensitive for ASCII; an empty text matches all), sorted by
   * name (byte order), `limit` of them after the name `after`. `next` is the
   * last name returned when more may follow, else null.
   */
  search(query: SearchQuery): Promise<{ results: SearchHit[]; next: string | null }>;
}

export interface SearchHit {
  name: string;
  description: string;
}

export interface SearchQuery {
  text: string;
  visibility: SearchVisibility;
  limit: number;
  after?: string | undefined;
}

/** A repository or a namespace (a path prefix: `acme` covers `acme/app` and `acme/ci/tool`). */
export interface SearchResource {
  kind: 'repository' | 'namespace';
  name: string;
}

/**
 * Which repositories a caller may pull, as the SQL filter applies it (it
 * mirrors GrantPolicy, identity/grant-policy.ts; search/visibility.ts builds
 * it from a principal):
 * - `all`: every repository (administrators, registries without per-repository access);
 * - `none`: nothing;
 * - `filtered`: the repositories under `ownNamespace`, those a grant to one
 *   of `subjects` covers (any role pulls), and, when `public`, the public
 *   ones (their own visibility flag, else the longest namespace flag).
 *
 * With `within` (an access token's pull scopes), `all` and `filtered` keep
 * only the repositories it covers: a scope limits, never adds.
 */
export type SearchVisibility =
  | { kind: 'all'; within?: readonly SearchResource[] | undefined }
  | { kind: 'none' }
  | {
      kind: 'filtered';
      public: boolean;
      ownNamespace: string | null;
      subjects: readonly { kind: 'user' | 'team'; name: string }[];
      within?: readonly SearchResource[] | undefined;
    };
