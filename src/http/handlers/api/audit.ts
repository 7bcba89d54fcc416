import { RegistryError } from '../../../errors/index.js';
import { sendJson } from '../../respond.js';
import type { ApiCall } from './common.js';

const MAX_LIMIT = 1000;

/** `since`: an ISO 8601 time or epoch milliseconds. */
function parseSince(v: string | null): number | undefined {
  if (v === null) return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n)) throw new RegistryError('BERTH_INVALID', 'since: an ISO 8601 time or epoch milliseconds', { detail: [{ field: 'since', message: 'an ISO 8601 time or epoch milliseconds' }] });
  return n;
}

/** GET /api/v1/audit?actor=&action=&since=&limit= (administrators), newest first. */
export async function listAudit({ ctx }: ApiCall): Promise<void> {
  const audit = ctx.services.audit;
  if (!audit) throw new RegistryError('BERTH_ROUTE_UNKNOWN', 'the audit log is kept only with users from Berth\'s database');
  const q = ctx.url.searchParams;
  const limitText = q.get('limit') ?? '100';
  const limit = Number(limitText);
  if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_LIMIT) throw new RegistryError('BERTH_INVALID', `limit: 1 to ${MAX_LIMIT}`, { detail: [{ field: 'limit', message: `1 to ${MAX_LIMIT}` }] });
  const events = await audit.list({ actor: q.get('actor') ?? undefined, action: q.get('action') ?? undefined, since: parseSince(q.get('since')), limit });
  sendJson(ctx.res, 200, { events: events.map((e) => ({ ...e, time: new Date(e.time).toISOString() })) }, { 'Cache-Control': 'no-store' });
}
