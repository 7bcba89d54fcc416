import { RegistryError } from '../../../errors/index.js';
import type { Lockout, LoginLimiter } from '../../../auth/index.js';
import { sendJson } from '../../respond.js';
import type { RequestContext } from '../../context.js';
import type { ApiCall } from './common.js';

const NO_STORE = { 'Cache-Control': 'no-store' };

function limiterOf(ctx: RequestContext): LoginLimiter {
  const limiter = ctx.services.lockouts;
  if (!limiter) throw new RegistryError('BERTH_ROUTE_UNKNOWN', 'login limits apply only with authentication');
  return limiter;
}

/** A lockout on the wire: times as ISO 8601. */
export function lockoutView(l: Lockout): { kind: Lockout['kind']; user: string | null; address: string | null; failures: number; until: string } {
  return { kind: l.kind, user: l.user, address: l.address, failures: l.failures, until: new Date(l.until).toISOString() };
}

/** One optional, non-empty query parameter, given at most once. */
function param(url: URL, name: string): string | undefined {
  const values = url.searchParams.getAll(name);
  if (values.length === 0) return undefined;
  if (values.length > 1 || values[0] === '') throw new RegistryError('BERTH_INVALID', `${name}: give it once, not empty`, { detail: [{ field: name, message: 'once, not empty' }] });
  return values[0];
}

/** GET /api/v1/lockouts (administrators): the current lockouts, shared by every instance. */
export async function listLockouts({ ctx }: ApiCall): Promise<void> {
  const lockouts = await limiterOf(ctx).lockouts();
  sendJson(ctx.res, 200, { lockouts: lockouts.map(lockoutView) }, NO_STORE);
}

/**
 * DELETE /api/v1/lockouts?user=&address= (administrators): clears failed
 * logins on every instance at once (see LoginLimiter.clear); no parameter
 * clears all. Answers the lockouts it ended, and records the clear in the
 * audit log.
 */
export async function clearLockouts({ ctx, caller }: ApiCall): Promise<void> {
  const limiter = limiterOf(ctx);
  for (const key of new Set(ctx.url.searchParams.keys())) {
    if (key !== 'user' && key !== 'address') throw new RegistryError('BERTH_INVALID', `unknown parameter ${key}; use user= and/or address=`, { detail: [{ field: key, message: 'unknown parameter' }] });
  }
  const user = param(ctx.url, 'user');
  const address = param(ctx.url, 'address');
  const cleared = await limiter.clear({ user, address });
  await ctx.services.audit?.record({
    time: Date.now(), actor: caller.name, action: 'lockout.clear', target: user ?? address ?? '*', remoteAddress: ctx.req.socket.remoteAddress ?? null,
    outcome: 'success', detail: { user: user ?? null, address: address ?? null, cleared: cleared.length },
  });
  sendJson(ctx.res, 200, { cleared: cleared.length, lockouts: cleared.map(lockoutView) }, NO_STORE);
}
