import type { RouteGroup } from '../route-table.js';
import { RoutePath } from '../routes.js';
import { token } from '../handlers/token.js';

/** Berth's Docker token endpoint: it checks the credentials it is sent, so its access kind is `login`. */
export const tokenRoutes: RouteGroup = {
  name: 'token',
  description: 'The Docker token endpoint (GET with Basic credentials; the OAuth2 POST form of docker login).',
  routes: [
    { name: 'token.get', method: 'GET', path: RoutePath.token, access: { kind: 'login' }, handler: token, doc: { summary: 'a bearer token for the requested scopes', query: [{ name: 'service', description: 'the service (audience)' }, { name: 'scope', description: 'repeatable: repository:NAME:ACTIONS' }, { name: 'offline_token', description: 'true: also a refresh token' }] } },
    { name: 'token.post', method: 'POST', path: RoutePath.token, access: { kind: 'login' }, handler: token, doc: { summary: 'OAuth2 token request (grant_type password or refresh_token), form-encoded' } },
  ],
};
