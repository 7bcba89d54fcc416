import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import type { Database } from './schema.js';
import type { LoginAttemptStore, LoginFailureKey, LoginFailureKind, LoginFailureLimits, LoginFailureWindow } from './login-attempt-store.js';

type Row = Database['login_failures'];
type Eb = ExpressionBuilder<Database, 'login_failures'>;

// A missing user or address is stored as '' (key columns are NOT NULL, so
// the primary key and ON CONFLICT see one row per key).
const toRow = (k: LoginFailureKey) => ({ kind: k.kind, user_name: k.user ?? '', address: k.address ?? '' });
const fromRow = (r: Pick<Row, 'kind' | 'user_name' | 'address' | 'failures' | 'reset_at'>): LoginFailureWindow => ({
  kind: r.kind as LoginFailureKind,
  user: r.kind === 'address' ? null : r.user_name,
  address: r.kind === 'user' ? null : r.address,
  // PostgreSQL returns bigint columns as strings.
  failures: Number(r.failures),
  resetAt: Number(r.reset_at),
});
const id = (r: { kind: string; user_name: string; address: string }) => `${r.kind}\n${r.user_name}\n${r.address}`;
const order = (a: LoginFailureWindow, b: LoginFailureWindow) => {
  const x = id(toRow(a));
  const y = id(toRow(b));
  return x < y ? -1 : x > y ? 1 : 0;
};
const columns = ['kind', 'user_name', 'address', 'failures', 'reset_at'] as const;

/** One key's row. */
function matches(eb: Eb, k: { kind: string; user_name: string; address: string }) {
  return eb.and([eb('kind', '=', k.kind), eb('user_name', '=', k.user_name), eb('address', '=', k.address)]);
}

/** Failed-login windows on the metadata store's connection; exposed as `MetadataStore.loginAttempts`. */
export class KyselyLoginAttemptStore implements LoginAttemptStore {
  constructor(private readonly db: Kysely<Database>) {}

  async recordFailure(keys: readonly LoginFailureKey[], now: number, windowMs: number): Promise<LoginFailureWindow[]> {
    // Sorted and without duplicates: PostgreSQL refuses a key twice in one
    // upsert, and racing statements that lock their rows in one order
    // cannot deadlock.
    const rows = [...new Map(keys.map((k) => [id(toRow(k)), toRow(k)])).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
    if (rows.length === 0) return [];
    const resetAt = now + windowMs;
    // One statement on both dialects: insert, or count on in the current
    // window, or start a new one when it ended. The right-hand sides read
    // the row as it was, so both columns see the same old reset_at.
    const ended = sql<boolean>`login_failures.reset_at <= ${now}`;
    const out = await this.db.insertInto('login_failures')
      .values(rows.map((r) => ({ ...r, failures: 1, reset_at: resetAt })))
      .onConflict((oc) => oc.columns(['kind', 'user_name', 'address']).doUpdateSet({
        failures: sql<number>`case when ${ended} then 1 else login_failures.failures + 1 end`,
        reset_at: sql<number>`case when ${ended} then excluded.reset_at else login_failures.reset_at end`,
      }))
      .returning(columns)
      .execute();
    return out.map(fromRow).sort(order);
  }

  async read(keys: readonly LoginFailureKey[], now: number): Promise<LoginFailureWindow[]> {
    if (keys.length === 0) return [];
    const rows = await this.db.selectFrom('login_failures').select(columns)
      .where((eb) => eb.or(keys.map((k) => matches(eb, toRow(k)))))
      .where('reset_at', '>', now)
      .execute();
    return rows.map(fromRow).sort(order);
  }

  async forget(key: LoginFailureKey): Promise<void> {
    await this.db.deleteFrom('login_failures').where((eb) => matches(eb, toRow(key))).execute();
  }

  async lockouts(now: number, limits: LoginFailureLimits, max: number): Promise<LoginFailureWindow[]> {
    const rows = await this.db.selectFrom('login_failures').select(columns)
      .where('reset_at', '>', now)
      .where((eb) => eb.or([
        eb.and([eb('kind', '=', 'user-address'), eb('failures', '>=', limits.perUserAddress)]),
        eb.and([eb('kind', '=', 'address'), eb('failures', '>=', limits.perAddress)]),
        eb.and([eb('kind', '=', 'user'), eb('failures', '>=', limits.perUser)]),
      ]))
      .orderBy('kind').orderBy('user_name').orderBy('address')
      .limit(Math.max(0, Math.floor(max)))
      .execute();
    return rows.map(fromRow);
  }

  async clear(filter: { user?: string | undefined; address?: string | undefined }): Promise<LoginFailureWindow[]> {
    const { user, address } = filter;
    let q = this.db.deleteFrom('login_failures');
    if (user !== undefined && address !== undefined) {
      q = q.where((eb) => eb.or([
        matches(eb, { kind: 'user-address', user_name: user, address }),
        matches(eb, { kind: 'user', user_name: user, address: '' }),
        matches(eb, { kind: 'address', user_name: '', address }),
      ]));
    } else if (user !== undefined) {
      q = q.where('kind', 'in', ['user-address', 'user']).where('user_name', '=', user);
    } else if (address !== undefined) {
      q = q.where('kind', 'in', ['user-address', 'address']).where('address', '=', address);
    }
    const rows = await q.returning(columns).execute();
    return rows.map(fromRow).sort(order);
  }

  async prune(before: number): Promise<number> {
    const r = await this.db.deleteFrom('login_failures').where('reset_at', '<=', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
