import { sendJson } from '../respond.js';
import type { RequestContext } from '../context.js';
import type { RouteGroup } from '../route-table.js';
import { RoutePath } from '../routes.js';

async function health(ctx: RequestContext): Promise<void> {
  const h = await ctx.services.health();
  sendJson(ctx.res, h.ok ? 200 : 503, { status: h.ok ? 'ok' : 'unavailable', checks: h.checks }, { 'Cache-Control': 'no-store' }, ctx.req.method === 'HEAD');
}

/** Readiness: 200 only when every backing service answers (a load balancer's signal to send traffic). */
async function ready(ctx: RequestContext): Promise<void> {
  const h = await ctx.services.ready();
  sendJson(ctx.res, h.ok ? 200 : 503, { status: h.ok ? 'ok' : 'unavailable', checks: h.checks }, { 'Cache-Control': 'no-store' }, ctx.req.method === 'HEAD');
}

/** Liveness and readiness probes, for load balancers, Compose and Kubernetes. */
export const healthRoutes: RouteGroup = {
  name: 'health',
  description: 'Liveness and readiness probes.',
  routes: [
    { name: 'health.get', method: 'GET', path: RoutePath.health, access: { kind: 'public' }, handler: health, doc: { summary: 'liveness: the process and its database answer' } },
    { name: 'health.head', method: 'HEAD', path: RoutePath.health, access: { kind: 'public' }, handler: health, doc: { summary: 'liveness' } },
    { name: 'ready.get', method: 'GET', path: RoutePath.ready, access: { kind: 'public' }, handler: ready, doc: { summary: 'readiness: database and storage answer' } },
    { name: 'ready.head', method: 'HEAD', path: RoutePath.ready, access: { kind: 'public' }, handler: ready, doc: { summary: 'readiness' } },
  ],
};
