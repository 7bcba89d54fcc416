/**
 * Lifecycle rules: immutable tags and retention rules per scope (the whole
 * registry, a namespace, or one repository) with a tag pattern, and storage
 * quotas per namespace; plus the reads that enforcing them needs (a
 * namespace's usage, the tags of a scope with their push times).
 *
 * Contract:
 * - a rule has an id given by the caller and is never changed, only added
 *   and deleted; `add` with an id that exists is a conflict (the database's
 *   unique key refuses it);
 * - at most one quota per namespace; `putQuota` creates or replaces it;
 * - a namespace `acme` covers every repository whose name starts with
 *   `acme/` (not a repository named `acme`), at any depth;
 * - `usage` counts every blob linked to a repository of the namespace once,
 *   however many of its repositories link it, and every manifest digest
 *   once: bytes a namespace would free if all its repositories went;
 * - the store validates nothing: scopes, patterns and numbers are checked
 *   by the lifecycle service before they get here.
 */
export interface LifecycleStore {
  addRule(rule: LifecycleRule): Promise<LifecycleRule>;
  getRule(id: string): Promise<LifecycleRule | null>;
  /** False when there was no such rule. */
  deleteRule(id: string): Promise<boolean>;
  /** Every rule (of one kind), ordered by kind, scope, then creation. */
  listRules(kind?: LifecycleRuleKind): Promise<LifecycleRule[]>;
  /** The rules of a kind whose scope covers `repository`: the registry's, its namespaces', its own. One statement. */
  rulesFor(repository: string, kind: LifecycleRuleKind): Promise<LifecycleRule[]>;

  putQuota(quota: NamespaceQuota): Promise<NamespaceQuota>;
  getQuota(namespace: string): Promise<NamespaceQuota | null>;
  deleteQuota(namespace: string): Promise<boolean>;
  listQuotas(): Promise<NamespaceQuota[]>;
  /** The quotas of every namespace that covers `repository` (`a` and `a/b` for `a/b/c`). One statement. */
  quotasFor(repository: string): Promise<NamespaceQuota[]>;

  /** What a namespace holds: distinct blobs and manifests of its repositories, each counted once. */
  usage(namespace: string): Promise<NamespaceUsage>;
  /** Whether a repository of the namespace already links blob `digest` or holds manifest `digest` (so storing it again costs nothing). */
  holds(namespace: string, digest: string): Promise<boolean>;
  /** Tags of the repositories a scope covers, ordered by repository then tag, after `after`, at most `limit`. */
  tagsIn(scope: { kind: LifecycleScopeKind; name: string }, page: { after?: { repository: string; tag: string } | undefined; limit: number }): Promise<TaggedRecord[]>;
  /** Tags of `repository` pointing at `digest`, sorted. */
  tagsOf(repository: string, digest: string): Promise<string[]>;
}

export type LifecycleRuleKind = 'immutable' | 'retention';
export type LifecycleScopeKind = 'registry' | 'namespace' | 'repository';

export interface LifecycleRule {
  id: string;
  kind: LifecycleRuleKind;
  scopeKind: LifecycleScopeKind;
  /** '' for the registry scope. */
  scopeName: string;
  /** A glob over tag names (`*`, `v*`, `release-?`). */
  tagPattern: string;
  /** Retention: keep the newest N tags the pattern matches (by push time); null for none. */
  keepLast: number | null;
  /** Retention: keep tags pushed less than this many ms ago; null for none. */
  keepWithinMs: number | null;
  createdAt: number;
  createdBy: string | null;
}

export interface NamespaceQuota {
  namespace: string;
  limitBytes: number;
  updatedAt: number;
  updatedBy: string | null;
}

export interface NamespaceUsage {
  namespace: string;
  /** Bytes of distinct blobs plus bytes of distinct manifests. */
  bytes: number;
  blobs: number;
  blobBytes: number;
  manifests: number;
  manifestBytes: number;
}

export interface TaggedRecord {
  repository: string;
  tag: string;
  digest: string;
  /** When the tag was last pushed (moved), epoch ms. */
  updatedAt: number;
}
