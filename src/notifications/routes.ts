import { redactUrl, type NotificationEndpointConfig } from '../config/index.js';
import { RegistryError } from '../errors/index.js';
import type { DeliveryRecord, NotificationStore } from '../metadata/index.js';
import { sendJson, type RequestContext, type RouteGroup } from '../http/index.js';

const BASE = '/api/v1/notifications';
const STATUSES = ['pending', 'retrying', 'delivered'] as const;

function invalid(field: string, message: string): RegistryError {
  return new RegistryError('BERTH_INVALID', `${field}: ${message}`, { detail: [{ field, message }] });
}

function single(ctx: RequestContext, name: string): string | undefined {
  const values = ctx.url.searchParams.getAll(name);
  if (values.length > 1) throw invalid(name, 'give it once');
  return values[0];
}

function limit(ctx: RequestContext): number {
  const raw = single(ctx, 'n');
  if (raw === undefined) return 100;
  const n = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= 1000)) throw invalid('n', 'expected a number from 1 to 1000');
  return n;
}

const iso = (ms: number | null): string | null => (ms === null || ms === 0 ? null : new Date(ms).toISOString());

function delivery(r: DeliveryRecord): Record<string, unknown> {
  return {
    id: r.id, eventId: r.eventId, endpoint: r.endpoint, action: r.action, repository: r.repository, digest: r.digest, tag: r.tag,
    status: r.status === 'delivered' ? 'delivered' : r.lastError !== null ? 'retrying' : 'pending',
    attempts: r.attempts, createdAt: iso(r.createdAt), lastAttemptAt: iso(r.lastAttemptAt), deliveredAt: iso(r.deliveredAt), lastError: r.lastError,
  };
}

export interface NotificationRoutesOptions {
  store: NotificationStore;
  /** Every configured endpoint, disabled ones too. */
  endpoints: readonly NotificationEndpointConfig[];
}

/**
 * Webhook delivery state under /api/v1/notifications, for administrators:
 * each endpoint's health and backlog, and the deliveries themselves. URLs
 * are shown without a password; header values never.
 */
export function notificationRoutes(options: NotificationRoutesOptions): RouteGroup {
  const { store, endpoints } = options;
  const names = new Set(endpoints.map((e) => e.name));
  return {
    name: 'notifications',
    description: 'Webhook notifications (registry:2\'s notifications.endpoints): endpoint health and each delivery from the outbox.',
    routes: [
      {
        name: 'api.notifications.endpoints', method: 'GET', path: `${BASE}/endpoints`, access: { kind: 'admin' },
        doc: { summary: 'the configured webhook endpoints: status (ok, failing, disabled), pending and delivered deliveries, consecutive failures, last error, next try' },
        handler: async (ctx) => {
          const states = await store.endpointStates(endpoints.map((e) => e.name));
          const now = Date.now();
          sendJson(ctx.res, 200, {
            endpoints: endpoints.map((e, i) => {
              const s = states[i];
              const failures = s?.consecutiveFailures ?? 0;
              return {
                name: e.name, url: redactUrl(e.url), format: e.format, disabled: e.disabled,
                status: e.disabled ? 'disabled' : failures >= e.threshold ? 'failing' : 'ok',
                pending: s?.pending ?? 0, delivered: s?.delivered ?? 0, failures, threshold: e.threshold,
                lastError: s?.lastError ?? null, lastFailureAt: iso(s?.lastFailureAt ?? null), lastSuccessAt: iso(s?.lastSuccessAt ?? null),
                retryAt: s && s.retryAt > now ? iso(s.retryAt) : null,
              };
            }),
          });
        },
      },
      {
        name: 'api.notifications.deliveries', method: 'GET', path: `${BASE}/deliveries`, access: { kind: 'admin' },
        doc: {
          summary: 'webhook deliveries from the outbox, newest first',
          query: [
            { name: 'endpoint', description: 'only this endpoint\'s', schema: { type: 'string' } },
            { name: 'status', description: 'pending (not yet delivered), retrying (pending after a failed try) or delivered', schema: { type: 'string', enum: [...STATUSES] } },
            { name: 'n', description: 'how many (1-1000, default 100)', schema: { type: 'integer' } },
          ],
        },
        handler: async (ctx) => {
          const endpoint = single(ctx, 'endpoint');
          if (endpoint !== undefined && !names.has(endpoint)) {
            throw new RegistryError('BERTH_NOT_FOUND', `endpoint ${JSON.stringify(endpoint)} is not in notifications.endpoints`);
          }
          const status = single(ctx, 'status');
          if (status !== undefined && !(STATUSES as readonly string[]).includes(status)) throw invalid('status', `expected one of ${STATUSES.join(', ')}`);
          const rows = await store.list({ endpoint, status: status as (typeof STATUSES)[number] | undefined, limit: limit(ctx) });
          sendJson(ctx.res, 200, { deliveries: rows.map(delivery) });
        },
      },
    ],
  };
}
