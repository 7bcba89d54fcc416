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
