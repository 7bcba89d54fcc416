import { parseBasic, type AccessRequest, type AuthRequest, type Principal } from '../auth/index.js';
import { RegistryError } from '../errors/index.js';
import type { UserRecord } from '../metadata/index.js';
import type { HttpServices } from './context.js';
import type { Access, RouteParams } from './route-table.js';

/** Who a request is, once its route's access is checked. */
export interface Authorized {
  principal: Principal;
  /** For `user`, `admin` and `org-admin` routes: the signed-in user from Berth's database. */
  caller: UserRecord | null;
}

const ANONYMOUS: Authorized = Object.freeze({ principal: Object.freeze({ kind: 'anonymous', name: null }) as Principal, caller: null });

/**
 * Enforces a route's access kind (route-table.ts) before its handler runs:
 * the one place that decides whether a request may reach a handler.
 * `repository` is the canonical repository name the route acts on (the
 * server derived it from the path once; the handler gets the same value).
 */
export async function authorizeRoute(access: Access, repository: string | undefined, params: RouteParams, url: URL, auth: AuthRequest, services: HttpServices): Promise<Authorized> {
  switch (access.kind) {
    case 'public':
    case 'login':
      return ANONYMOUS;
    case 'registry':
      return { principal: await services.access.authorize(auth, []), caller: null };
    case 'catalog':
      return { principal: await services.access.authorize(auth, [{ type: 'registry', name: 'catalog', actions: ['pull'] }]), caller: null };
    case 'repository': {
      const name = repository;
      if (name === undefined) throw new Error(`a repository route needs {${access.param ?? 'name'}} in its path`);
      const needs: AccessRequest[] = [{ type: 'repository', name, actions: [...access.actions] }, ...(access.also?.(params, url) ?? [])];
      return { principal: await services.access.authorize(auth, needs), caller: null };
    }
    case 'user':
    case 'admin':
    case 'org-admin': {
      const caller = await signedInUser(auth, services);
      if (access.kind === 'admin' && !caller.isAdmin) throw new RegistryError('DENIED', 'only administrators may do this');
      if (access.kind === 'org-admin') {
        const identity = services.identity;
        if (!identity || !(await identity.canManageOrganization(caller, params.org ?? ''))) {
          throw new RegistryError('DENIED', 'only administrators and the organization\'s admins (admin role on its namespace) may do this');
        }
      }
      return { principal: { kind: 'user', name: caller.name }, caller };
    }
  }
}

/**
 * The signed-in user of a management request: Basic credentials (a
 * password; an access token is refused) through the same authenticator as
 * the token endpoint, or a Bearer token through the same AccessController
 * as the registry routes.
 */
async function signedInUser(auth: AuthRequest, services: HttpServices): Promise<UserRecord> {
  const identity = services.identity;
  if (!identity) throw new RegistryError('BERTH_ROUTE_UNKNOWN', 'the management API needs users from Berth\'s database: configure auth.token without auth.htpasswd and rootcertbundle');
  const unauthorized = (message?: string) => new RegistryError('UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': 'Basic realm="berth"' } });
  let principal: Principal | null;
  const creds = parseBasic(auth.authorization);
  if (creds === 'invalid') throw unauthorized('malformed credentials');
  if (creds && services.authenticator) {
    principal = await services.authenticator.login(creds.username, creds.password, auth.remoteAddress);
    if (!principal) throw unauthorized('invalid username or password');
  } else {
    principal = await services.access.authorize(auth, []);
  }
  if (principal.kind === 'anonymous' || principal.name === null) throw unauthorized();
  // A leaked access token must not be able to change users, grants or mint more tokens.
  if (principal.kind === 'token') throw new RegistryError('DENIED', 'access tokens cannot use the management API; log in with a password');
  const user = await identity.getUserRecord(principal.name);
  if (!user || user.disabled) throw unauthorized();
  return user;
}
