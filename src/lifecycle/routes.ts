import { RegistryError } from '../errors/index.js';
import { readJsonBody, sendEmpty, sendJson, type RequestContext, type RouteGroup } from '../http/index.js';
import type { Retention } from './retention.js';
import { quotaInputSchema, ruleInputSchema, type LifecycleRules, type RuleActor } from './rules.js';

const MAX_BODY_BYTES = 64 * 1024;
const BASE = '/api/v1/lifecycle';

function param(ctx: RequestContext, name: string): string {
  const raw = ctx.match.params[name] ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function actorOf(ctx: RequestContext): RuleActor {
  return { name: ctx.caller?.name ?? null, remoteAddress: ctx.req.socket.remoteAddress ?? null };
}

async function readBody(ctx: RequestContext): Promise<unknown> {
  return readJsonBody(ctx.req, MAX_BODY_BYTES, 'lifecycle');
}

/**
 * The lifecycle routes under /api/v1/lifecycle (administrators): immutable
 * and retention rules, namespace quotas with their usage, and retention's
 * plan (a dry run) and run.
 */
export function lifecycleRoutes(rules: LifecycleRules, retention: Retention): RouteGroup {
  return {
    name: 'lifecycle',
    description: 'Lifecycle: immutable tags and retention rules (per registry, namespace or repository, by tag pattern), storage quotas per namespace with their usage, and retention runs.',
    routes: [
      {
        name: 'api.lifecycle.rules.list', method: 'GET', path: `${BASE}/rules`, access: { kind: 'admin' },
        doc: { summary: 'every immutable and retention rule', query: [{ name: 'kind', description: 'immutable or retention: only rules of this kind' }] },
        handler: async (ctx) => sendJson(ctx.res, 200, { rules: await rules.list(ctx.url.searchParams.get('kind') ?? undefined) }),
      },
      {
        name: 'api.lifecycle.rules.add', method: 'POST', path: `${BASE}/rules`, access: { kind: 'admin' },
        doc: { summary: 'add an immutable or retention rule; the answer carries its id', body: ruleInputSchema, status: 201 },
        handler: async (ctx) => sendJson(ctx.res, 201, await rules.add(await readBody(ctx), actorOf(ctx))),
      },
      {
        name: 'api.lifecycle.rule.get', method: 'GET', path: `${BASE}/rules/{id}`, access: { kind: 'admin' },
        doc: { summary: 'one rule' },
        handler: async (ctx) => sendJson(ctx.res, 200, await rules.get(param(ctx, 'id'))),
      },
      {
        name: 'api.lifecycle.rule.delete', method: 'DELETE', path: `${BASE}/rules/{id}`, access: { kind: 'admin' },
        doc: { summary: 'delete a rule', status: 204 },
        handler: async (ctx) => {
          await rules.delete(param(ctx, 'id'), actorOf(ctx));
          sendEmpty(ctx.res, 204);
        },
      },
      {
        name: 'api.lifecycle.quotas.list', method: 'GET', path: `${BASE}/quotas`, access: { kind: 'admin' },
        doc: { summary: 'every namespace quota with the namespace\'s usage' },
        handler: async (ctx) => sendJson(ctx.res, 200, { quotas: await rules.quotas() }),
      },
      {
        name: 'api.lifecycle.quota.get', method: 'GET', path: `${BASE}/quotas/{namespace+}`, access: { kind: 'admin' },
        doc: { summary: 'a namespace\'s quota and usage' },
        handler: async (ctx) => sendJson(ctx.res, 200, await rules.quota(param(ctx, 'namespace'))),
      },
      {
        name: 'api.lifecycle.quota.put', method: 'PUT', path: `${BASE}/quotas/{namespace+}`, access: { kind: 'admin' },
        doc: { summary: 'set or replace a namespace\'s quota (it holds at once, also for pushes under way)', body: quotaInputSchema },
        handler: async (ctx) => sendJson(ctx.res, 200, await rules.setQuota(param(ctx, 'namespace'), await readBody(ctx), actorOf(ctx))),
      },
      {
        name: 'api.lifecycle.quota.delete', method: 'DELETE', path: `${BASE}/quotas/{namespace+}`, access: { kind: 'admin' },
        doc: { summary: 'remove a namespace\'s quota', status: 204 },
        handler: async (ctx) => {
          await rules.deleteQuota(param(ctx, 'namespace'), actorOf(ctx));
          sendEmpty(ctx.res, 204);
        },
      },
      {
        name: 'api.lifecycle.usage', method: 'GET', path: `${BASE}/usage/{namespace+}`, access: { kind: 'admin' },
        doc: { summary: 'what a namespace stores (distinct blobs and manifests, each counted once) and its quota, if any' },
        handler: async (ctx) => sendJson(ctx.res, 200, await rules.usage(param(ctx, 'namespace'))),
      },
      {
        name: 'api.lifecycle.retention.plan', method: 'GET', path: `${BASE}/retention/plan`, access: { kind: 'admin' },
        doc: { summary: 'a dry run of retention: the tags a run would remove now, and why; nothing is changed' },
        handler: async (ctx) => sendJson(ctx.res, 200, await retention.run({ dryRun: true, actor: actorOf(ctx) })),
      },
      {
        name: 'api.lifecycle.retention.run', method: 'POST', path: `${BASE}/retention/run`, access: { kind: 'admin' },
        doc: { summary: 'run retention now (as the scheduled job does): removes the tags no rule keeps, and reports them' },
        handler: async (ctx) => sendJson(ctx.res, 200, await retention.run({ dryRun: false, actor: actorOf(ctx) })),
      },
    ],
  };
}
