import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from './schema.js';
import type { Flavor } from './migrations.js';
import type { DeliveryFilter, DeliveryRecord, EndpointState, NotificationStore, OutboxEntry } from './notification-store.js';

type Row = Selectable<Database['notification_outbox']>;

const num = (v: number | string | bigint | null): number | null => (v === null ? null : Number(v));

function record(r: Row): DeliveryRecord {
  return {
    id: r.id, eventId: r.event_id, endpoint: r.endpoint, action: r.action, repository: r.repository, digest: r.digest, tag: r.tag,
    payload: r.payload, createdAt: Number(r.created_at), status: r.status === 'delivered' ? 'delivered' : 'pending', attempts: Number(r.attempts),
    lastAttemptAt: num(r.last_attempt_at), lastError: r.last_error, deliveredAt: num(r.delivered_at), leaseOwner: r.lease_owner, leaseUntil: num(r.lease_until),
  };
}

/** Rows per INSERT statement: far below both dialects' bound-parameter limits (10 columns each). */
const INSERT_CHUNK = 500;

/** The notification outbox on the metadata store's Kysely connection. Exposed as `MetadataStore.notifications`. */
export class KyselyNotificationStore implements NotificationStore {
  constructor(private readonly db: Kysely<Database>, private readonly flavor: Flavor) {}

  async enqueue(entries: readonly OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const rows = entries.map((e) => ({
      id: e.id, event_id: e.eventId, endpoint: e.endpoint, action: e.action, repository: e.repository, digest: e.digest, tag: e.tag,
      payload: e.payload, status: 'pending', created_at: e.createdAt,
      last_attempt_at: null, last_error: null, delivered_at: null, lease_owner: null, lease_until: null,
    }));
    if (rows.length <= INSERT_CHUNK) {
      await this.db.insertInto('notification_outbox').values(rows).execute();
      return;
    }
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) await trx.insertInto('notification_outbox').values(rows.slice(i, i + INSERT_CHUNK)).execute();
    });
  }

  async claim(endpoint: string, owner: string, now: number, leaseUntil: number): Promise<DeliveryRecord | null> {
    const free = (table: 'notification_outbox') => sql<boolean>`(${sql.ref(`${table}.lease_until`)} is null or ${sql.ref(`${table}.lease_until`)} <= ${now})`;
    let oldest = this.db.selectFrom('notification_outbox').select('id')
      .where('endpoint', '=', endpoint).where('status', '=', 'pending').where(free('notification_outbox'))
      // Nothing while the endpoint is backing off (retry_at is shared by every instance).
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('notification_endpoints').select('name')
        .where('notification_endpoints.name', '=', endpoint).where('notification_endpoints.retry_at', '>', now))))
      .orderBy('created_at').orderBy('id').limit(1);
    // PostgreSQL: a row another claimer has locked is skipped, not waited for; the
    // outer conditions are checked again, so a row taken meanwhile is never taken twice.
    if (this.flavor === 'postgres') oldest = oldest.forUpdate().skipLocked();
    const row = await this.db.updateTable('notification_outbox')
      .set({ lease_owner: owner, lease_until: leaseUntil, last_attempt_at: now, attempts: sql<number>`attempts + 1` })
      .where('id', '=', oldest)
      .where('status', '=', 'pending').where(free('notification_outbox'))
      .returningAll()
      .executeTakeFirst();
    return row ? record(row) : null;
  }

  async delivered(id: string, endpoint: string, now: number): Promise<void> {
    await this.db.updateTable('notification_outbox')
      .set({ status: 'delivered', delivered_at: now, last_error: null, lease_owner: null, lease_until: null })
      .where('id', '=', id).where('status', '=', 'pending')
      .execute();
    await this.db.insertInto('notification_endpoints')
      .values({ name: endpoint, consecutive_failures: 0, retry_at: 0, last_error: null, last_failure_at: null, last_success_at: now })
      .onConflict((oc) => oc.column('name').doUpdateSet({ consecutive_failures: 0, retry_at: 0, last_success_at: now }))
      .execute();
  }

  async failed(id: string, endpoint: string, owner: string, now: number, error: string): Promise<number> {
    await this.db.updateTable('notification_outbox')
      .set({ last_error: error, lease_owner: null, lease_until: null })
      .where('id', '=', id).where('status', '=', 'pending').where('lease_owner', '=', owner)
      .execute();
    const r = await this.db.insertInto('notification_endpoints')
      .values({ name: endpoint, consecutive_failures: 1, retry_at: 0, last_error: error, last_failure_at: now, last_success_at: null })
      .onConflict((oc) => oc.column('name').doUpdateSet({
        consecutive_failures: sql<number>`notification_endpoints.consecutive_failures + 1`, last_error: error, last_failure_at: now,
      }))
      .returning('consecutive_failures')
      .executeTakeFirstOrThrow();
    return Number(r.consecutive_failures);
  }

  async defer(endpoint: string, until: number): Promise<void> {
    await this.db.insertInto('notification_endpoints')
      .values({ name: endpoint, consecutive_failures: 0, retry_at: until, last_error: null, last_failure_at: null, last_success_at: null })
      .onConflict((oc) => oc.column('name').doUpdateSet({ retry_at: until }))
      .execute();
  }

  async release(id: string, owner: string): Promise<void> {
    await this.db.updateTable('notification_outbox')
      .set({ lease_owner: null, lease_until: null, attempts: sql<number>`case when attempts > 0 then attempts - 1 else 0 end` })
      .where('id', '=', id).where('status', '=', 'pending').where('lease_owner', '=', owner)
      .execute();
  }

  async endpointStates(names: readonly string[]): Promise<EndpointState[]> {
    if (names.length === 0) return [];
    const [rows, counts] = await Promise.all([
      this.db.selectFrom('notification_endpoints').selectAll().where('name', 'in', [...names]).execute(),
      this.db.selectFrom('notification_outbox').select(['endpoint', 'status', (eb) => eb.fn.countAll<number | string>().as('n')])
        .where('endpoint', 'in', [...names]).groupBy(['endpoint', 'status']).execute(),
    ]);
    return names.map((name) => {
      const r = rows.find((x) => x.name === name);
      const count = (status: string) => Number(counts.find((c) => c.endpoint === name && c.status === status)?.n ?? 0);
      return {
        name,
        consecutiveFailures: r ? Number(r.consecutive_failures) : 0,
        retryAt: r ? Number(r.retry_at) : 0,
        lastError: r?.last_error ?? null,
        lastFailureAt: r ? num(r.last_failure_at) : null,
        lastSuccessAt: r ? num(r.last_success_at) : null,
        pending: count('pending'),
        delivered: count('delivered'),
      };
    });
  }

  async list(filter: DeliveryFilter): Promise<DeliveryRecord[]> {
    let q = this.db.selectFrom('notification_outbox').selectAll();
    if (filter.endpoint !== undefined) q = q.where('endpoint', '=', filter.endpoint);
    if (filter.status === 'delivered') q = q.where('status', '=', 'delivered');
    else if (filter.status === 'pending') q = q.where('status', '=', 'pending');
    else if (filter.status === 'retrying') q = q.where('status', '=', 'pending').where('last_error', 'is not', null);
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
    return rows.map(record);
  }

  async prune(before: number, limit: number): Promise<number> {
    const old = this.db.selectFrom('notification_outbox').select('id').where('status', '=', 'delivered').where('delivered_at', '<', before).limit(limit);
    const r = await this.db.deleteFrom('notification_outbox').where('id', 'in', old).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
