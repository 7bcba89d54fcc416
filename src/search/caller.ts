import { parseBasic, type AccessRequest, type Principal } from '../auth/index.js';
import { RegistryError } from '../errors/index.js';
import type { RequestContext } from '../http/index.js';

/**
 * Who is searching. The search routes take `login` access and check
 * credentials here, because one route serves anonymous and signed-in
 * callers alike and must accept what docker sends to `/v1/search`: after
 * `docker login` against Berth's token endpoint, a Bearer token scoped
 * `registry:catalog:search` got with the refresh token docker kept; after a
 * login that kept a password (an access token, htpasswd), HTTP Basic (its
 * v1 session sets `X-Docker-Token: true`, which makes it send them); else
 * nothing. With users from the database the caller is the user a token
 * names, whatever its scopes: visibility.ts decides what it may find.
 * - Basic credentials go to the same authenticator as the token endpoint
 *   (failed-login limits included); wrong ones are 401;
 * - a Bearer token goes to the access controller, as on the registry;
 * - none: anonymous, when Berth's users decide (visibility.ts then shows
 *   public repositories, or nothing). In registry:2's modes (htpasswd, or
 *   tokens from another issuer) the access controller decides with the
 *   catalog's scope: there is no per-repository access to filter by, so
 *   only who may list the catalog may search (`open`: no auth, everyone).
 */
export async function searchCaller(ctx: RequestContext, mode: { usersFromDatabase: boolean }): Promise<Principal> {
  const { services } = ctx;
  const authorization = ctx.req.headers.authorization;
  const auth = { authorization, remoteAddress: ctx.req.socket?.remoteAddress ?? '', baseUrl: ctx.baseUrl };
  const needs: AccessRequest[] = mode.usersFromDatabase ? [] : [{ type: 'registry', name: 'catalog', actions: ['pull'] }];
  const unauthorized = (message: string) => new RegistryError('UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': 'Basic realm="berth"' } });
  const creds = parseBasic(authorization);
  if (creds === 'invalid') throw unauthorized('malformed credentials');
  if (creds && services.authenticator) {
    const principal = await services.authenticator.login(creds.username, creds.password, auth.remoteAddress);
    if (!principal) throw unauthorized('invalid username or password');
    return principal;
  }
  if (authorization === undefined && mode.usersFromDatabase) return { kind: 'anonymous', name: null };
  return services.access.authorize(auth, needs);
}
