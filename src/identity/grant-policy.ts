import type { AccessPolicy, AccessRequest, Action, Principal } from '../auth/index.js';
import type { IdentityStore, ResourceKind, Role } from '../metadata/index.js';

const ROLE_ACTIONS: Record<Role, readonly Action[]> = {
  read: ['pull'],
  write: ['pull', 'push'],
  admin: ['pull', 'push', 'delete'],
};
const ALL: readonly Action[] = ROLE_ACTIONS.admin;

/** `a/b/c` → the namespaces `a` and `a/b`, longest first. */
function namespacesOf(repository: string): string[] {
  const parts = repository.split('/');
  const out: string[] = [];
  for (let i = parts.length - 1; i >= 1; i--) out.push(parts.slice(0, i).join('/'));
  return out;
}

export interface GrantPolicyOptions {
  store: IdentityStore;
  /** auth.anonymous: clients that do not log in may pull public repositories. */
  anonymous: boolean;
}

/**
 * Access from Berth's database (DTR/UCP style):
 * - system administrators may do everything, including the catalog
 *   (`registry:catalog:*`, which nobody else gets);
 * - a user is admin of its own namespace `<user>/…`;
 * - grants give a role on a repository or on a namespace (a path prefix:
 *   `acme` covers `acme/app` and `acme/ci/tool`), to a user or to a team
 *   (`org/team`, through membership); read → pull, write → pull+push,
 *   admin → pull+push+delete. Roles only add up: the strongest matching
 *   grant wins;
 * - a repository is public when its own visibility flag says so, else when
 *   the longest namespace prefix with a flag says so (a private flag on
 *   `acme/secret` overrides a public `acme`). Everyone who logged in may pull
 *   public repositories; anonymous clients too when auth.anonymous is on;
 * - disabled or deleted users get nothing;
 * - an access token's principal gets at most its scopes.
 */
export class GrantPolicy implements AccessPolicy {
  constructor(private readonly options: GrantPolicyOptions) {}

  async grant(principal: Principal, request: AccessRequest): Promise<Action[]> {
    const allowed = await this.allowed(principal, request);
    return request.actions.filter((a) => allowed.has(a));
  }

  private async allowed(principal: Principal, request: AccessRequest): Promise<Set<Action>> {
    const { store } = this.options;
    const user = principal.name !== null && principal.kind !== 'anonymous' ? await store.getUser(principal.name) : null;
    if (principal.kind !== 'anonymous' && (!user || user.disabled)) return new Set();
    if (request.type !== 'repository') {
      // Only the catalog is a registry-wide resource; tokens never list it.
      return new Set(user?.isAdmin && principal.kind === 'user' && request.name === 'catalog' ? ALL : []);
    }
    const repo = request.name;
    const namespaces = namespacesOf(repo);
    const actions = new Set<Action>();
    if (!user) {
      if (this.options.anonymous && (await this.isPublic(repo, namespaces))) actions.add('pull');
      return actions;
    }
    if (user.isAdmin || repo.split('/')[0] === user.name) {
      for (const a of ALL) actions.add(a);
    } else {
      const subjects = [{ kind: 'user' as const, name: user.name }, ...(await store.teamsOfUser(user.name)).map((t) => ({ kind: 'team' as const, name: t }))];
      const resources: { kind: ResourceKind; name: string }[] = [{ kind: 'repository', name: repo }, ...namespaces.map((n) => ({ kind: 'namespace' as const, name: n }))];
      for (const g of await store.findGrants(subjects, resources)) for (const a of ROLE_ACTIONS[g.role]) actions.add(a);
      if (!actions.has('pull') && (await this.isPublic(repo, namespaces))) actions.add('pull');
    }
    if (principal.scopes) {
      const scoped = new Set<Action>();
      for (const s of principal.scopes) {
        const covers = s.type === 'repository' ? s.name === repo : repo.startsWith(`${s.name}/`);
        if (covers) for (const a of s.actions) scoped.add(a);
      }
      for (const a of [...actions]) if (!scoped.has(a)) actions.delete(a);
    }
    return actions;
  }

  private async isPublic(repo: string, namespaces: string[]): Promise<boolean> {
    const flags = await this.options.store.findVisibility([{ kind: 'repository', name: repo }, ...namespaces.map((n) => ({ kind: 'namespace' as const, name: n }))]);
    const own = flags.find((f) => f.kind === 'repository');
    if (own) return own.isPublic;
    for (const n of namespaces) {
      const f = flags.find((x) => x.kind === 'namespace' && x.resource === n);
      if (f) return f.isPublic;
    }
    return false;
  }
}
