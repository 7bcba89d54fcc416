import { parseBasic, type Principal } from '../../../auth/index.js';
import { RegistryError } from '../../../errors/index.js';
import type { IdentityService } from '../../../identity/index.js';
import type { UserRecord } from '../../../metadata/index.js';
import { readBoundedBody } from '../../body.js';
import type { Handler, RequestContext } from '../../context.js';

/** Largest JSON body of a management request. */
const MAX_JSON_BYTES = 64 * 1024;

/** What an API handler gets besides the request: the caller and the identity services. */
export interface ApiCall {
  ctx: RequestContext;
  identity: IdentityService;
  caller: UserRecord;
  /** A path parameter (user, org, team, id). */
  param(name: string): string;
}

export type ApiHandler = (call: ApiCall) => Promise<void>;

function identityOf(ctx: RequestContext): IdentityService {
  const identity = ctx.services.identity;
  if (!identity) throw new RegistryError('BERTH_NOT_FOUND', 'the management API needs users from Berth\'s database: configure auth.token without auth.htpasswd and rootcertbundle');
  return identity;
}

/**
 * Who is calling: Basic credentials (a password; an access token is refused
 * here) through the same authenticator as the token endpoint, or a Bearer
 * token through the same AccessController as the registry routes.
 */
async function authenticate(ctx: RequestContext, identity: IdentityService): Promise<UserRecord> {
  const authorization = ctx.req.headers.authorization;
  const remoteAddress = ctx.req.socket.remoteAddress ?? '';
  const unauthorized = (message?: string) => new RegistryError('UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': 'Basic realm="berth"' } });
  let principal: Principal | null;
  const creds = parseBasic(authorization);
  if (creds === 'invalid') throw unauthorized('malformed credentials');
  if (creds && ctx.services.authenticator) {
    principal = await ctx.services.authenticator.login(creds.username, creds.password, remoteAddress);
    if (!principal) throw unauthorized('invalid username or password');
  } else {
    principal = await ctx.services.access.authorize({ authorization, remoteAddress, baseUrl: ctx.baseUrl }, []);
  }
  if (principal.kind === 'anonymous' || principal.name === null) throw unauthorized();
  // A leaked access token must not be able to change users, grants or mint more tokens.
  if (principal.kind === 'token') throw new RegistryError('DENIED', 'access tokens cannot use the management API; log in with a password');
  const user = await identity.getUserRecord(principal.name);
  if (!user || user.disabled) throw unauthorized();
  return user;
}

/**
 * Wraps an API handler: authentication, then (with `admin`) the
 * system-administrator check, or (with `org`) the check that the caller may
 * manage the organization in the path (see IdentityService.canManageOrganization).
 */
export function api(handler: ApiHandler, options: { admin?: boolean; org?: boolean } = {}): Handler {
  return async (ctx) => {
    const services = identityOf(ctx);
    const caller = await authenticate(ctx, services);
    if (options.admin && !caller.isAdmin) throw new RegistryError('DENIED', 'only administrators may do this');
    const params = ctx.match.params ?? {};
    if (options.org && !(await services.canManageOrganization(caller, params.org ?? ''))) {
      throw new RegistryError('DENIED', 'only administrators and the organization\'s admins (admin role on its namespace) may do this');
    }
    await handler({
      ctx, caller,
      // Changes are recorded in the audit log with the caller as their author.
      identity: services.as({ name: caller.name, remoteAddress: ctx.req.socket.remoteAddress ?? null }),
      param: (name) => {
        const v = params[name];
        if (v === undefined) throw new Error(`route has no parameter ${name}`);
        return v;
      },
    });
  };
}

/** Reads a bounded JSON body (Content-Type application/json). Validation is the services' job. */
export async function readJson(ctx: RequestContext): Promise<unknown> {
  const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') throw new RegistryError('BERTH_INVALID', 'the body must be application/json', { detail: [{ field: '(body)', message: 'Content-Type must be application/json' }] });
  const body = await readBoundedBody(ctx.req, MAX_JSON_BYTES, () => new RegistryError('BERTH_TOO_LARGE', `JSON bodies are limited to ${MAX_JSON_BYTES} bytes`));
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new RegistryError('BERTH_INVALID', 'the body is not valid JSON', { detail: [{ field: '(body)', message: 'not valid JSON' }] });
  }
}

/** An object body, or BERTH_INVALID. */
export async function readObject(ctx: RequestContext): Promise<Record<string, unknown>> {
  const v = await readJson(ctx);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RegistryError('BERTH_INVALID', 'the body must be a JSON object', { detail: [{ field: '(body)', message: 'expected an object' }] });
  return v as Record<string, unknown>;
}
