import type { Kysely } from 'kysely';
import type { Flavor } from './migrations.js';
import type { Database } from './schema.js';
import type {
  AccessTokenRecord, GrantRecord, IdentityStore, ResourceKind, Role, SubjectKind, TokenScope, UserRecord, VisibilityRecord,
} from './identity-store.js';

function toUser(row: Database['users']): UserRecord {
  return { name: row.name, passwordHash: row.password_hash, isAdmin: Number(row.is_admin) === 1, disabled: Number(row.disabled) === 1, createdAt: Number(row.created_at) };
}

function toGrant(row: Database['grants']): GrantRecord {
  return { subjectKind: row.subject_kind as SubjectKind, subject: row.subject, resourceKind: row.resource_kind as ResourceKind, resource: row.resource, role: row.role as Role };
}

const num = (v: number | null) => (v === null ? null : Number(v));

function toToken(row: Database['access_tokens']): AccessTokenRecord {
  return {
    id: row.id, name: row.name, user: row.user, secretHash: row.secret_hash, scopes: JSON.parse(row.scopes) as TokenScope[],
    expiresAt: num(row.expires_at), revokedAt: num(row.revoked_at), lastUsedAt: num(row.last_used_at), createdAt: Number(row.created_at),
  };
}

/**
 * The identity store on the metadata store's Kysely connection; the same
 * statements for SQLite and PostgreSQL. Exposed as `MetadataStore.identity`.
 */
export class KyselyIdentityStore implements IdentityStore {
  constructor(private readonly db: Kysely<Database>, readonly flavor: Flavor) {}

  async createUser(user: UserRecord): Promise<boolean> {
    const r = await this.db.insertInto('users').values({
      name: user.name, password_hash: user.passwordHash, is_admin: user.isAdmin ? 1 : 0, disabled: user.disabled ? 1 : 0, created_at: user.createdAt,
    }).onConflict((oc) => oc.doNothing()).executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async getUser(name: string): Promise<UserRecord | null> {
    const row = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? toUser(row) : null;
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('name').execute()).map(toUser);
  }

  async countUsers(): Promise<number> {
    const row = await this.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async updateUser(name: string, patch: { passwordHash?: string; isAdmin?: boolean; disabled?: boolean }): Promise<boolean> {
    const set: Partial<Database['users']> = {};
    if (patch.passwordHash !== undefined) set.password_hash = patch.passwordHash;
    if (patch.isAdmin !== undefined) set.is_admin = patch.isAdmin ? 1 : 0;
    if (patch.disabled !== undefined) set.disabled = patch.disabled ? 1 : 0;
    if (Object.keys(set).length === 0) return (await this.getUser(name)) !== null;
    const r = await this.db.updateTable('users').set(set).where('name', '=', name).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteUser(name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('grants').where('subject_kind', '=', 'user').where('subject', '=', name).execute();
      await trx.deleteFrom('team_members').where('user', '=', name).execute();
      await trx.deleteFrom('access_tokens').where('user', '=', name).execute();
      const r = await trx.deleteFrom('users').where('name', '=', name).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async createOrganization(name: string, createdAt: number): Promise<boolean> {
    const r = await this.db.insertInto('organizations').values({ name, created_at: createdAt }).onConflict((oc) => oc.doNothing()).executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async organizationExists(name: string): Promise<boolean> {
    return (await this.db.selectFrom('organizations').select('name').where('name', '=', name).executeTakeFirst()) !== undefined;
  }

  async listOrganizations(): Promise<string[]> {
    return (await this.db.selectFrom('organizations').select('name').orderBy('name').execute()).map((r) => r.name);
  }

  async deleteOrganization(name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const teams = await trx.selectFrom('teams').select('name').where('org', '=', name).execute();
      const subjects = teams.map((t) => `${name}/${t.name}`);
      if (subjects.length > 0) await trx.deleteFrom('grants').where('subject_kind', '=', 'team').where('subject', 'in', subjects).execute();
      await trx.deleteFrom('team_members').where('org', '=', name).execute();
      await trx.deleteFrom('teams').where('org', '=', name).execute();
      const r = await trx.deleteFrom('organizations').where('name', '=', name).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async createTeam(org: string, team: string, createdAt: number): Promise<boolean> {
    const r = await this.db.insertInto('teams').values({ org, name: team, created_at: createdAt }).onConflict((oc) => oc.doNothing()).executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async teamExists(org: string, team: string): Promise<boolean> {
    return (await this.db.selectFrom('teams').select('name').where('org', '=', org).where('name', '=', team).executeTakeFirst()) !== undefined;
  }

  async listTeams(org: string): Promise<string[]> {
    return (await this.db.selectFrom('teams').select('name').where('org', '=', org).orderBy('name').execute()).map((r) => r.name);
  }

  async deleteTeam(org: string, team: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('grants').where('subject_kind', '=', 'team').where('subject', '=', `${org}/${team}`).execute();
      await trx.deleteFrom('team_members').where('org', '=', org).where('team', '=', team).execute();
      const r = await trx.deleteFrom('teams').where('org', '=', org).where('name', '=', team).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async addTeamMember(org: string, team: string, user: string): Promise<boolean> {
    const r = await this.db.insertInto('team_members').values({ org, team, user }).onConflict((oc) => oc.doNothing()).executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async removeTeamMember(org: string, team: string, user: string): Promise<boolean> {
    const r = await this.db.deleteFrom('team_members').where('org', '=', org).where('team', '=', team).where('user', '=', user).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listTeamMembers(org: string, team: string): Promise<string[]> {
    return (await this.db.selectFrom('team_members').select('user').where('org', '=', org).where('team', '=', team).orderBy('user').execute()).map((r) => r.user);
  }

  async teamsOfUser(user: string): Promise<string[]> {
    const rows = await this.db.selectFrom('team_members').select(['org', 'team']).where('user', '=', user).orderBy('org').orderBy('team').execute();
    return rows.map((r) => `${r.org}/${r.team}`);
  }

  async putGrant(g: GrantRecord): Promise<void> {
    await this.db.insertInto('grants')
      .values({ subject_kind: g.subjectKind, subject: g.subject, resource_kind: g.resourceKind, resource: g.resource, role: g.role })
      .onConflict((oc) => oc.columns(['subject_kind', 'subject', 'resource_kind', 'resource']).doUpdateSet({ role: g.role }))
      .execute();
  }

  async deleteGrant(k: Omit<GrantRecord, 'role'>): Promise<boolean> {
    const r = await this.db.deleteFrom('grants')
      .where('subject_kind', '=', k.subjectKind).where('subject', '=', k.subject)
      .where('resource_kind', '=', k.resourceKind).where('resource', '=', k.resource)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listGrants(filter?: { subjectKind: SubjectKind; subject: string }): Promise<GrantRecord[]> {
    let q = this.db.selectFrom('grants').selectAll();
    if (filter) q = q.where('subject_kind', '=', filter.subjectKind).where('subject', '=', filter.subject);
    const rows = await q.orderBy('subject_kind').orderBy('subject').orderBy('resource_kind').orderBy('resource').execute();
    return rows.map(toGrant);
  }

  async findGrants(subjects: { kind: SubjectKind; name: string }[], resources: { kind: ResourceKind; name: string }[]): Promise<GrantRecord[]> {
    if (subjects.length === 0 || resources.length === 0) return [];
    const rows = await this.db.selectFrom('grants').selectAll()
      .where((eb) => eb.or(subjects.map((s) => eb.and([eb('subject_kind', '=', s.kind), eb('subject', '=', s.name)]))))
      .where((eb) => eb.or(resources.map((r) => eb.and([eb('resource_kind', '=', r.kind), eb('resource', '=', r.name)]))))
      .execute();
    return rows.map(toGrant);
  }

  async setVisibility(kind: ResourceKind, resource: string, isPublic: boolean): Promise<void> {
    await this.db.insertInto('visibility').values({ resource_kind: kind, resource, public: isPublic ? 1 : 0 })
      .onConflict((oc) => oc.columns(['resource_kind', 'resource']).doUpdateSet({ public: isPublic ? 1 : 0 }))
      .execute();
  }

  async findVisibility(resources: { kind: ResourceKind; name: string }[]): Promise<VisibilityRecord[]> {
    if (resources.length === 0) return [];
    const rows = await this.db.selectFrom('visibility').selectAll()
      .where((eb) => eb.or(resources.map((r) => eb.and([eb('resource_kind', '=', r.kind), eb('resource', '=', r.name)]))))
      .execute();
    return rows.map((r) => ({ kind: r.resource_kind as ResourceKind, resource: r.resource, isPublic: Number(r.public) === 1 }));
  }

  async listVisibility(): Promise<VisibilityRecord[]> {
    const rows = await this.db.selectFrom('visibility').selectAll().orderBy('resource_kind').orderBy('resource').execute();
    return rows.map((r) => ({ kind: r.resource_kind as ResourceKind, resource: r.resource, isPublic: Number(r.public) === 1 }));
  }

  async createAccessToken(t: AccessTokenRecord): Promise<boolean> {
    const r = await this.db.insertInto('access_tokens').values({
      id: t.id, name: t.name, user: t.user, secret_hash: t.secretHash, scopes: JSON.stringify(t.scopes),
      expires_at: t.expiresAt, revoked_at: t.revokedAt, last_used_at: t.lastUsedAt, created_at: t.createdAt,
    }).onConflict((oc) => oc.doNothing()).executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async getAccessToken(id: string): Promise<AccessTokenRecord | null> {
    const row = await this.db.selectFrom('access_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toToken(row) : null;
  }

  async listAccessTokens(user: string): Promise<AccessTokenRecord[]> {
    const rows = await this.db.selectFrom('access_tokens').selectAll().where('user', '=', user).orderBy('created_at', 'desc').orderBy('id').execute();
    return rows.map(toToken);
  }

  async revokeAccessToken(id: string, at: number): Promise<boolean> {
    const r = await this.db.updateTable('access_tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async touchAccessToken(id: string, at: number): Promise<void> {
    await this.db.updateTable('access_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }
}
