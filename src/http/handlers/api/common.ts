import { RegistryError } from '../../../errors/index.js';
import type { IdentityService } from '../../../identity/index.js';
import type { UserRecord } from '../../../metadata/index.js';
import { readJsonBody } from '../../body.js';
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

/**
 * Adapts an API handler to a route handler. The route's access kind
 * (`user`, `admin`, `org-admin`) was enforced before it runs, so the caller
 * is known; handlers check only their finer rules (a user sees only itself).
 */
export function api(handler: ApiHandler): Handler {
  return async (ctx) => {
    const services = ctx.services.identity;
    const caller = ctx.caller;
    if (!services || !caller) throw new Error(`route ${ctx.match.route} reached an API handler without a signed-in caller`);
    const params = ctx.match.params;
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
  return readJsonBody(ctx.req, MAX_JSON_BYTES, 'JSON');
}

/** An object body, or BERTH_INVALID. */
export async function readObject(ctx: RequestContext): Promise<Record<string, unknown>> {
  const v = await readJson(ctx);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RegistryError('BERTH_INVALID', 'the body must be a JSON object', { detail: [{ field: '(body)', message: 'expected an object' }] });
  return v as Record<string, unknown>;
}
