/**
 * Trust policies (the pull-time signature policy): which keys or Docker
 * Content Trust signers must have signed what a client pulls, per scope
 * (the whole registry, a namespace, or one repository), and the revision
 * counter that lets every instance validate its cached copy of them.
 *
 * Contract:
 * - at most one policy per scope (`kind`, `name`); `put` creates or
 *   replaces it, `delete` removes it;
 * - every `put` and `delete` bumps the revision of the policy set, in the
 *   same transaction, and a policy records the revision that wrote it. A
 *   revision is never reused (a policy deleted and written again gets a new
 *   one), so (scope, revision) names one version of one policy forever;
 * - the store validates nothing: keys, names and modes are checked by the
 *   policy service before they get here;
 * - `pullFacts` is the one read a pull under a policy makes: one statement,
 *   so that verifying stays cheap. It reads the content and trust tables
 *   and never writes them.
 */
export interface PolicyStore {
  /** Every policy, ordered by kind then name, with the revision of the set they form. */
  list(): Promise<{ revision: number; policies: PolicyRecord[] }>;
  get(kind: PolicyScopeKind, name: string): Promise<PolicyRecord | null>;
  /** Creates or replaces the policy of a scope; returns it with the revision this write got. */
  put(policy: NewPolicy): Promise<PolicyRecord>;
  /** False (and no revision bump) when the scope had no policy. */
  delete(kind: PolicyScopeKind, name: string): Promise<boolean>;
  /** The revision of the policy set: 0 until the first write, then bumped by every put and delete. */
  revision(): Promise<number>;
  /**
   * What a verdict about `digest` in `repository` depends on, besides the
   * policy, read in one statement: the policy set's revision; the digests
   * of the manifests whose subject is `digest` (referrers, signatures among
   * them) and of the one tagged `sigTag` (cosign's `sha256-<hex>.sig`);
   * and the sha256 of the repository's current Docker Content Trust
   * timestamp (null without trust data), which changes with every publish.
   */
  pullFacts(repository: string, digest: string, sigTag: string): Promise<PullFacts>;
}

export type PolicyScopeKind = 'registry' | 'namespace' | 'repository';

export interface PolicyKey {
  name: string;
  kind: 'cosign' | 'notation';
  pem: string;
}

export interface PolicyRecord {
  kind: PolicyScopeKind;
  /** '' for the registry scope; the namespace or repository name otherwise. */
  name: string;
  mode: 'enforce' | 'audit';
  keys: PolicyKey[];
  dctSigners: string[];
  /** The revision of the policy set this version was written at. */
  revision: number;
  updatedAt: number;
  /** Who wrote it (a user, or `cli:<os user>`), or null. */
  updatedBy: string | null;
}

export type NewPolicy = Omit<PolicyRecord, 'revision'>;

export interface PullFacts {
  revision: number;
  /** Digests of the referrers of the digest, sorted. */
  referrers: string[];
  /** What the `.sig` tag points at, or null. */
  sigTag: string | null;
  /** sha256 of the newest DCT timestamp metadata, or null. */
  dct: string | null;
}
