import { RegistryError } from '../../errors/index.js';
import type { TokenRequest } from '../../auth/index.js';
import type { RequestContext } from '../context.js';
import { readBoundedBody } from '../body.js';
import { sendJson } from '../respond.js';

const MAX_FORM_BYTES = 16 * 1024;

/**
 * Berth's token endpoint: GET (Basic credentials, `scope` repeated) and the
 * OAuth2 POST form that `docker login` sends. Public: the token service
 * authenticates the caller itself.
 */
export async function token(ctx: RequestContext): Promise<void> {
  const tokens = ctx.services.tokens;
  if (!tokens) throw new RegistryError('BERTH_ROUTE_UNKNOWN', 'this registry does not issue tokens (auth.token with auth.htpasswd or users from the database)');
  const base = {
    authorization: ctx.req.headers.authorization,
    remoteAddress: ctx.req.socket?.remoteAddress ?? '',
    requestHosts: [ctx.req.headers.host, new URL(ctx.baseUrl).host],
  };
  let request: TokenRequest;
  if (ctx.req.method === 'POST') {
    const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      throw new RegistryError('BERTH_TOKEN_REQUEST_INVALID', 'the body must be application/x-www-form-urlencoded');
    }
    const body = await readBoundedBody(ctx.req, MAX_FORM_BYTES, () => new RegistryError('BERTH_TOO_LARGE'));
    const form = new URLSearchParams(body.toString('utf8'));
    request = {
      ...base,
      service: form.get('service'),
      scopes: form.getAll('scope'),
      offline: form.get('access_type') === 'offline',
      grantType: form.get('grant_type') ?? '',
      username: form.get('username'),
      password: form.get('password'),
      refreshToken: form.get('refresh_token'),
    };
  } else {
    const q = ctx.url.searchParams;
    request = { ...base, service: q.get('service'), scopes: q.getAll('scope'), offline: q.get('offline_token') === 'true' };
  }
  const res = await tokens.handle(request);
  sendJson(ctx.res, 200, res, { 'Cache-Control': 'no-store', Pragma: 'no-cache' });
}
