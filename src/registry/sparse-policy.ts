/**
 * Which repositories accept sparse manifests: an index (or manifest list)
 * whose child manifests are not in the repository, or an image manifest
 * some of whose layers are not. A mirror that keeps only some platforms of
 * an image pushes such indexes. Off by default: a plain push must bring
 * everything it references, so a typo in a digest is caught at push time.
 *
 * The config blob of an image manifest is always required: without it the
 * image cannot be run or even described.
 */
export interface SparseOptions {
  /** Repositories that accept sparse manifests, by exact name. */
  repositories: readonly string[];
  /** Namespaces whose repositories, at any depth, accept them (`team` covers `team/app` and `team/x/app`). */
  namespaces: readonly string[];
}

export class SparsePolicy {
  private readonly repositories: ReadonlySet<string>;
  private readonly namespaces: readonly string[];

  constructor(options: SparseOptions = { repositories: [], namespaces: [] }) {
    this.repositories = new Set(options.repositories);
    this.namespaces = options.namespaces.map((n) => `${n}/`);
  }

  /** Whether `repository` (a canonical, valid name) accepts manifests with absent children and layers. */
  allows(repository: string): boolean {
    return this.repositories.has(repository) || this.namespaces.some((n) => repository.startsWith(n));
  }
}
