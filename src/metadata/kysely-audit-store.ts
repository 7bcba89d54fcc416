import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditEvent, AuditStore } from './audit-store.js';
import type { Database } from './schema.js';

/** The audit log on the metadata store's connection; exposed as `MetadataStore.audit`. */
export class KyselyAuditStore implements AuditStore {
  constructor(private readonly db: Kysely<Database>) {}

  async record(e: AuditEvent): Promise<void> {
    await this.db.insertInto('audit_events').values({
      // time first, so ids of one millisecond still sort with their time
      id: `${e.time.toString().padStart(15, '0')}-${randomUUID()}`,
      time: e.time, actor: e.actor, action: e.action, target: e.target, remote_address: e.remoteAddress, outcome: e.outcome,
      detail: e.detail === null ? null : JSON.stringify(e.detail),
    }).execute();
  }

  async prune(before: number, limit: number): Promise<number> {
    // By id, oldest first: ids start with the padded time, so a bounded batch keeps each statement short.
    const ids = (await this.db.selectFrom('audit_events').select('id').where('time', '<', before).orderBy('id').limit(limit).execute()).map((r) => r.id);
    if (ids.length === 0) return 0;
    const r = await this.db.deleteFrom('audit_events').where('id', 'in', ids).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async list(f: { actor?: string | undefined; action?: string | undefined; since?: number | undefined; limit: number }): Promise<AuditEvent[]> {
    let q = this.db.selectFrom('audit_events').selectAll();
    if (f.actor !== undefined) q = q.where('actor', '=', f.actor);
    if (f.action !== undefined) q = q.where('action', '=', f.action);
    if (f.since !== undefined) q = q.where('time', '>=', f.since);
    const rows = await q.orderBy('time', 'desc').orderBy('id', 'desc').limit(Math.min(Math.max(f.limit, 1), 1000)).execute();
    return rows.map((r) => ({
      time: Number(r.time), actor: r.actor, action: r.action, target: r.target, remoteAddress: r.remote_address,
      outcome: r.outcome as AuditEvent['outcome'], detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
    }));
  }
}
