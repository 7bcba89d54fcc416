import { createHash, timingSafeEqual } from 'node:crypto';
import { RegistryError } from '../errors/index.js';
import type { RequestContext, RouteGroup } from '../http/index.js';
import type { BerthMetrics } from './metrics.js';

/** Who may read the metrics: anyone (the debug listener), a bearer secret, or a signed-in administrator. */
export type MetricsAccess = { kind: 'public' } | { kind: 'token'; token: string } | { kind: 'admin' };

/** SHA-256 of a secret: equal lengths for timingSafeEqual, whatever is sent. */
const digestOf = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * The route group serving the metrics at `path`. With a token, the route's
 * access kind is `login`: checking the bearer secret is what the route is
 * for, done here in constant time; with `admin`, the server's one access
 * check signs the administrator in.
 */
export function metricsRoutes(metrics: BerthMetrics, options: { path: string; access: MetricsAccess }): RouteGroup {
  const { access } = options;
  const expected = access.kind === 'token' ? digestOf(access.token) : null;
  const handler = async (ctx: RequestContext): Promise<void> => {
    if (expected) {
      const m = /^Bearer ([^\s]+)$/i.exec(ctx.req.headers.authorization ?? '');
      if (!m || !timingSafeEqual(digestOf(m[1] ?? ''), expected)) {
        throw new RegistryError('UNAUTHORIZED', m ? 'invalid metrics token' : 'a bearer token (metrics.token) is required', { headers: { 'WWW-Authenticate': 'Bearer realm="berth-metrics"' } });
      }
    }
    const { contentType, body } = await metrics.scrape();
    ctx.res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body);
  };
  const kind = access.kind === 'token' ? 'login' : access.kind;
  return {
    name: 'metrics',
    description: 'Prometheus metrics (text exposition format).',
    routes: [
      { name: 'metrics.get', method: 'GET', path: options.path, access: { kind }, handler, doc: { summary: 'Prometheus metrics', binary: true } },
    ],
  };
}
