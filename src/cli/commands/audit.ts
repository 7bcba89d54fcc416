import { ExitError } from '../exit-error.js';
import { output, withStore, type IdentityFlags } from './identity-context.js';

/** `berth audit list [--actor NAME] [--action ACTION] [--since TIME] [--limit N]`, newest first. */
export async function auditList(flags: IdentityFlags & { actor?: string; action?: string; since?: string; limit: string }): Promise<void> {
  const limit = Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ExitError('--limit must be 1 to 1000', 2);
  let since: number | undefined;
  if (flags.since !== undefined) {
    since = /^\d+$/.test(flags.since) ? Number(flags.since) : Date.parse(flags.since);
    if (!Number.isFinite(since)) throw new ExitError('--since must be an ISO 8601 time (2026-01-31T12:00:00Z) or epoch milliseconds', 2);
  }
  const events = await withStore(flags, (store) => store.audit.list({ actor: flags.actor, action: flags.action, since, limit }));
  const shown = events.map((e) => ({ ...e, time: new Date(e.time).toISOString() }));
  output(flags, shown, shown.map((e) => [e.time, e.actor ?? '-', e.action, e.target ?? '-', e.outcome, e.remoteAddress ?? '-'].join('\t')).join('\n'));
}
