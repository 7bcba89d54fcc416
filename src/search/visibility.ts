import type { Principal, PrincipalScope } from '../auth/index.js';
import type { IdentityStore, SearchResource, SearchVisibility } from '../metadata/index.js';

export interface VisibilityOptions {
  /**
   * Users from Berth's database: who may pull what follows GrantPolicy
   * (identity/grant-policy.ts), and the search store applies the same rules
   * in SQL. Null otherwise: registry:2's modes have no per-repository
   * access, so a caller that got in sees everything (searchCaller in
   * search/caller.ts decides who gets in).
   */
  identity: IdentityStore | null;
  /** auth.anonymous: clients that do not log in may pull (and so find) public repositories. */
  anonymous: boolean;
}

/** An access token's pull scopes, as the search store's `within`. */
function pullScopes(scopes: readonly PrincipalScope[]): SearchResource[] {
  return scopes.filter((s) => s.actions.includes('pull')).map((s) => ({ kind: s.type, name: s.name }));
}

/**
 * Which repositories `principal` may pull, as the search store filters
 * them. It follows GrantPolicy rule by rule, so that search never shows a
 * repository a pull would refuse, nor hides one it would allow (the HTTP
 * test compares both on the same grants):
 * - anonymous: public repositories when auth.anonymous, else nothing;
 * - a disabled or deleted user: nothing;
 * - an administrator: everything; any other user: its own namespace, its
 *   grants and its teams' grants (every role pulls), and public repositories;
 * - an access token: at most its pull scopes. A bearer token issued to an
 *   access-token login carries no scopes, so they are read from the token
 *   its session names; a token no longer there sees nothing.
 */
export async function visibilityFor(principal: Principal, options: VisibilityOptions): Promise<SearchVisibility> {
  const { identity } = options;
  // Without Berth's users, searchCaller let in only whom the registry lets pull everything.
  if (!identity) return { kind: 'all' };
  if (principal.kind === 'anonymous' || principal.name === null) {
    return options.anonymous ? { kind: 'filtered', public: true, ownNamespace: null, subjects: [] } : { kind: 'none' };
  }
  const user = await identity.getUser(principal.name);
  if (!user || user.disabled) return { kind: 'none' };
  let within: SearchResource[] | undefined;
  if (principal.kind === 'token') {
    if (principal.scopes) {
      within = pullScopes(principal.scopes);
    } else {
      const id = principal.session?.startsWith('t:') ? principal.session.slice(2) : null;
      const token = id ? await identity.getAccessToken(id) : null;
      if (!token || token.user !== user.name || token.revokedAt !== null || (token.expiresAt !== null && token.expiresAt <= Date.now())) return { kind: 'none' };
      within = pullScopes(token.scopes);
    }
  }
  if (user.isAdmin) return { kind: 'all', within };
  const teams = await identity.teamsOfUser(user.name);
  return {
    kind: 'filtered', public: true, ownNamespace: user.name,
    subjects: [{ kind: 'user', name: user.name }, ...teams.map((t) => ({ kind: 'team' as const, name: t }))],
    within,
  };
}
