import type { AccessRequest, Action, Principal } from './access.js';

/**
 * Decides which of the requested actions a principal gets on a resource.
 * The controllers and the token service ask it; nothing else decides access.
 *
 * Today: registry:2's htpasswd semantics (any authenticated user may do
 * anything, anonymous nothing). Organizations, teams and grants replace this
 * implementation behind the same interface.
 */
export interface AccessPolicy {
  grant(principal: Principal, request: AccessRequest): Promise<Action[]>;
}

export const authenticatedFullAccess: AccessPolicy = {
  async grant(principal, request) {
    return principal.kind === 'anonymous' ? [] : [...request.actions];
  },
};

/**
 * The repository a scope name designates. Notary clients name repositories
 * with the registry host (`localhost:5000/app`); the registry itself uses
 * `app`. Docker's rule decides what is a host: a first component with `.` or
 * `:`, or `localhost`.
 */
export function repositoryOfScopeName(name: string): string {
  const slash = name.indexOf('/');
  if (slash < 0) return name;
  const first = name.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? name.slice(slash + 1) : name;
}
