import { RegistryError } from '../errors/index.js';
import { readJsonBody, sendEmpty, sendJson, type RequestContext, type RouteGroup } from '../http/index.js';
import type { PolicyEnforcer } from './enforcer.js';
import { policyInputSchema, type PolicyActor, type TrustPolicies } from './policies.js';

/** Largest policy body: 64 keys of a few KiB each. */
const MAX_BODY_BYTES = 1024 * 1024;
const POLICIES = '/api/v1/trust/policies';

function scopeOf(ctx: RequestContext): string {
  const raw = ctx.match.params.scope ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function actorOf(ctx: RequestContext): PolicyActor {
  return { name: ctx.caller?.name ?? null, remoteAddress: ctx.req.socket.remoteAddress ?? null };
}

async function readBody(ctx: RequestContext): Promise<unknown> {
  return readJsonBody(ctx.req, MAX_BODY_BYTES, 'policy');
}

/**
 * The trust policy's routes under /api/v1: policies (administrators), and
 * each tag's trust state (whoever may pull the repository). A scope in a
 * path is `registry`, `namespace:NAME` or `repository:NAME`.
 */
export function policyRoutes(policies: TrustPolicies, enforcer: PolicyEnforcer): RouteGroup {
  return {
    name: 'trust-policy',
    description: 'Trust policies: which keys (cosign, notation) or Docker Content Trust signers must have signed what is pulled, per registry, namespace or repository; and each tag\'s trust state.',
    routes: [
      {
        name: 'api.trust.policies.list', method: 'GET', path: POLICIES, access: { kind: 'admin' },
        doc: { summary: 'every trust policy, with the revision of the set' },
        handler: async (ctx) => sendJson(ctx.res, 200, await policies.list()),
      },
      {
        name: 'api.trust.policy.get', method: 'GET', path: `${POLICIES}/{scope+}`, access: { kind: 'admin' },
        doc: { summary: 'the policy of a scope: registry, namespace:NAME or repository:NAME' },
        handler: async (ctx) => sendJson(ctx.res, 200, await policies.get(scopeOf(ctx))),
      },
      {
        name: 'api.trust.policy.put', method: 'PUT', path: `${POLICIES}/{scope+}`, access: { kind: 'admin' },
        doc: { summary: 'create or replace the policy of a scope (keys are checked: a PEM that cannot be read is refused)', body: policyInputSchema },
        handler: async (ctx) => sendJson(ctx.res, 200, await policies.put(scopeOf(ctx), await readBody(ctx), actorOf(ctx))),
      },
      {
        name: 'api.trust.policy.delete', method: 'DELETE', path: `${POLICIES}/{scope+}`, access: { kind: 'admin' },
        doc: { summary: 'delete the policy of a scope', status: 204 },
        handler: async (ctx) => {
          await policies.delete(scopeOf(ctx), actorOf(ctx));
          sendEmpty(ctx.res, 204);
        },
      },
      {
        name: 'api.repository.trust', method: 'GET', path: '/api/v1/repositories/{name}/trust', access: { kind: 'repository', actions: ['pull'] },
        doc: { summary: 'each tag\'s trust state under the policy that applies: verified (by which keys and DCT signers), unsigned or invalid' },
        handler: async (ctx) => {
          const repository = ctx.match.name;
          if (repository === undefined) throw new Error('api.repository.trust without {name}');
          sendJson(ctx.res, 200, await enforcer.trustState(repository));
        },
      },
    ],
  };
}
