import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { RegistryError } from '../errors/index.js';
import type {
  AccessTokenRecord, AuditStore, GrantRecord, IdentityStore, SubjectKind, TokenScope, UserRecord, VisibilityRecord,
} from '../metadata/index.js';
import {
  createTokenSchema, createUserSchema, grantKeySchema, grantSchema, nameSchema, parseInput, passwordSchema, updateUserSchema, visibilitySchema,
} from './schemas.js';

/** A user as shown to clients: never the password hash. */
export interface UserView {
  name: string;
  admin: boolean;
  disabled: boolean;
  createdAt: string;
}

/** An access token as listed: never the secret or its hash. */
export interface AccessTokenView {
  id: string;
  name: string;
  user: string;
  scopes: TokenScope[];
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  createdAt: string;
}

export interface IdentityServiceOptions {
  store: IdentityStore;
  /** bcrypt cost of new password hashes (default 10). */
  bcryptCost?: number;
  now?: () => number;
  /** Where identity changes are recorded; none: not recorded. */
  audit?: AuditStore | undefined;
  /** Who makes the changes (see `as`). */
  actor?: Actor | undefined;
  /** Told when a user's sessions end (shared by every `as` view; see onSessionsEnded). */
  sessionListeners?: Set<(user: string) => void>;
}

/** Who acts, for the audit log. */
export interface Actor {
  name: string | null;
  remoteAddress: string | null;
}

const TOKEN_PREFIX = 'berth_';
const TOKEN_RE = /^berth_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function userView(u: UserRecord): UserView {
  return { name: u.name, admin: u.isAdmin, disabled: u.disabled, createdAt: new Date(u.createdAt).toISOString() };
}

function tokenView(t: AccessTokenRecord): AccessTokenView {
  return {
    id: t.id, name: t.name, user: t.user, scopes: t.scopes,
    expiresAt: iso(t.expiresAt), revokedAt: iso(t.revokedAt), lastUsedAt: iso(t.lastUsedAt), createdAt: new Date(t.createdAt).toISOString(),
  };
}

const sha256hex = (s: string) => createHash('sha256').update(s).digest('hex');

/** A field of an input not validated yet, for the audit record of an attempt that may fail validation. */
function field(input: unknown, key: string): unknown {
  return typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[key] : undefined;
}

/** Whether a password looks like an access token, so the authenticator tries the token path. */
export function isAccessTokenSecret(password: string): boolean {
  return password.startsWith(TOKEN_PREFIX);
}

/**
 * Users, organizations, teams, memberships, grants, visibility and access
 * tokens: the one implementation behind the management API, the CLI and the
 * authenticator. Validates every input (BERTH_INVALID): methods that take
 * a request body take it as `unknown` and parse it with its schema from
 * schemas.ts, so callers (HTTP handlers, CLI) pass what they have, uncast.
 * Reports missing
 * things as BERTH_NOT_FOUND and duplicates as BERTH_CONFLICT. Passwords and
 * token secrets are hashed here and never returned, logged or stored in the clear.
 */
export class IdentityService {
  private readonly store: IdentityStore;
  private readonly options: IdentityServiceOptions;
  private readonly cost: number;
  private readonly now: () => number;
  /** Compared against when the user does not exist, so timing does not reveal which names exist. */
  private dummyHash: string | undefined;

  constructor(options: IdentityServiceOptions) {
    this.options = { ...options, sessionListeners: options.sessionListeners ?? new Set() };
    this.store = options.store;
    this.cost = options.bcryptCost ?? 10;
    this.now = options.now ?? Date.now;
  }

  /**
   * Calls `fn` with a user's name whenever that user's login sessions end
   * on this instance: a password change, disabling, deletion, or one of its
   * access tokens revoked. Token caches use it to forget the user at once.
   */
  onSessionsEnded(fn: (user: string) => void): void {
    this.options.sessionListeners?.add(fn);
  }

  private sessionsEnded(user: string): void {
    for (const fn of this.options.sessionListeners ?? []) fn(user);
  }

  /** The same services, recording `actor` as the author of every change. */
  as(actor: Actor): IdentityService {
    return new IdentityService({ ...this.options, actor });
  }

  /** Runs a change and records it (success, or failure with the error code) in the audit log. */
  private async audited<T>(action: string, target: string, detail: Record<string, unknown> | null, fn: () => Promise<T>): Promise<T> {
    const audit = this.options.audit;
    const record = (outcome: 'success' | 'failure', extra: Record<string, unknown> | null) => audit?.record({
      time: this.now(), actor: this.options.actor?.name ?? null, action, target, remoteAddress: this.options.actor?.remoteAddress ?? null, outcome, detail: extra,
    });
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      if (err instanceof RegistryError) await record('failure', { ...detail, code: err.code })?.catch(() => {});
      throw err;
    }
    await record('success', detail);
    return result;
  }

  // Users

  /** `input`: createUserSchema. */
  createUser(input: unknown): Promise<UserView> {
    return this.audited('user.create', String(field(input, 'name')), { admin: field(input, 'admin') ?? false }, () => this.doCreateUser(input));
  }

  private async doCreateUser(input: unknown): Promise<UserView> {
    const { name, password, admin } = parseInput(createUserSchema, input);
    if (await this.store.organizationExists(name)) throw new RegistryError('BERTH_CONFLICT', `an organization is named ${name}; users and organizations share one namespace`);
    const record: UserRecord = { name, passwordHash: await bcrypt.hash(password, this.cost), isAdmin: admin ?? false, disabled: false, createdAt: this.now() };
    if (!(await this.store.createUser(record))) throw new RegistryError('BERTH_CONFLICT', `user ${name} already exists`);
    return userView(record);
  }

  async getUser(name: string): Promise<UserView> {
    return userView(await this.requireUser(name));
  }

  async listUsers(): Promise<UserView[]> {
    return (await this.store.listUsers()).map(userView);
  }

  /** `input`: updateUserSchema. */
  updateUser(name: string, input: unknown): Promise<UserView> {
    const admin = field(input, 'admin');
    const disabled = field(input, 'disabled');
    return this.audited('user.update', name, { fields: Object.keys(input ?? {}).sort(), ...(admin !== undefined ? { admin } : {}), ...(disabled !== undefined ? { disabled } : {}) }, () => this.doUpdateUser(name, input));
  }

  private async doUpdateUser(name: string, input: unknown): Promise<UserView> {
    const patch = parseInput(updateUserSchema, input);
    await this.requireUser(name);
    await this.store.updateUser(name, {
      ...(patch.password !== undefined ? { passwordHash: await bcrypt.hash(patch.password, this.cost) } : {}),
      ...(patch.admin !== undefined ? { isAdmin: patch.admin } : {}),
      ...(patch.disabled !== undefined ? { disabled: patch.disabled } : {}),
    });
    if (patch.password !== undefined || patch.disabled === true) this.sessionsEnded(name);
    return this.getUser(name);
  }

  async setPassword(name: string, password: string): Promise<void> {
    parseInput(passwordSchema, password);
    await this.updateUser(name, { password });
  }

  deleteUser(name: string): Promise<void> {
    return this.audited('user.delete', name, null, () => this.doDeleteUser(name));
  }

  private async doDeleteUser(name: string): Promise<void> {
    if (!(await this.store.deleteUser(name))) throw this.notFound('user', name);
    this.sessionsEnded(name);
  }

  /** The user if the password is right and the user is enabled; null otherwise (same time either way). */
  async verifyPassword(name: string, password: string): Promise<UserRecord | null> {
    const user = await this.store.getUser(name);
    this.dummyHash ??= await bcrypt.hash(randomBytes(16).toString('hex'), this.cost);
    const ok = await bcrypt.compare(password, user?.passwordHash ?? this.dummyHash);
    return ok && user && !user.disabled ? user : null;
  }

  /** Whether the user exists and is enabled. */
  async isActiveUser(name: string): Promise<boolean> {
    const user = await this.store.getUser(name);
    return user !== null && !user.disabled;
  }

  async getUserRecord(name: string): Promise<UserRecord | null> {
    return this.store.getUser(name);
  }

  /** Whether access token `id` of `user` may still be used: not revoked, not expired. */
  async isLiveToken(user: string, id: string): Promise<boolean> {
    const t = await this.store.getAccessToken(id);
    return t !== null && t.user === user && t.revokedAt === null && (t.expiresAt === null || t.expiresAt > this.now());
  }

  // Organizations and teams

  /** `input`: nameSchema. */
  createOrganization(input: unknown): Promise<{ name: string }> {
    return this.audited('org.create', String(input), null, () => this.doCreateOrganization(input));
  }

  private async doCreateOrganization(input: unknown): Promise<{ name: string }> {
    const name = parseInput(nameSchema, input);
    if (await this.store.getUser(name)) throw new RegistryError('BERTH_CONFLICT', `a user is named ${name}; users and organizations share one namespace`);
    if (!(await this.store.createOrganization(name, this.now()))) throw new RegistryError('BERTH_CONFLICT', `organization ${name} already exists`);
    return { name };
  }

  listOrganizations(): Promise<string[]> {
    return this.store.listOrganizations();
  }

  deleteOrganization(name: string): Promise<void> {
    return this.audited('org.delete', name, null, () => this.doDeleteOrganization(name));
  }

  private async doDeleteOrganization(name: string): Promise<void> {
    if (!(await this.store.deleteOrganization(name))) throw this.notFound('organization', name);
  }

  /** `input`: nameSchema, the team's name in `org`. */
  createTeam(org: string, input: unknown): Promise<{ org: string; name: string }> {
    return this.audited('team.create', `${org}/${String(input)}`, null, () => this.doCreateTeam(org, input));
  }

  private async doCreateTeam(org: string, input: unknown): Promise<{ org: string; name: string }> {
    const team = parseInput(nameSchema, input);
    await this.requireOrganization(org);
    if (!(await this.store.createTeam(org, team, this.now()))) throw new RegistryError('BERTH_CONFLICT', `team ${org}/${team} already exists`);
    return { org, name: team };
  }

  async listTeams(org: string): Promise<string[]> {
    await this.requireOrganization(org);
    return this.store.listTeams(org);
  }

  deleteTeam(org: string, team: string): Promise<void> {
    return this.audited('team.delete', `${org}/${team}`, null, () => this.doDeleteTeam(org, team));
  }

  private async doDeleteTeam(org: string, team: string): Promise<void> {
    if (!(await this.store.deleteTeam(org, team))) throw this.notFound('team', `${org}/${team}`);
  }

  addMember(org: string, team: string, user: string): Promise<void> {
    return this.audited('team.member.add', `${org}/${team}`, { user }, () => this.doAddMember(org, team, user));
  }

  private async doAddMember(org: string, team: string, user: string): Promise<void> {
    await this.requireTeam(org, team);
    await this.requireUser(user);
    await this.store.addTeamMember(org, team, user); // already a member: nothing to do
  }

  removeMember(org: string, team: string, user: string): Promise<void> {
    return this.audited('team.member.remove', `${org}/${team}`, { user }, () => this.doRemoveMember(org, team, user));
  }

  private async doRemoveMember(org: string, team: string, user: string): Promise<void> {
    if (!(await this.store.removeTeamMember(org, team, user))) throw this.notFound('member', `${user} of ${org}/${team}`);
  }

  async listMembers(org: string, team: string): Promise<string[]> {
    await this.requireTeam(org, team);
    return this.store.listTeamMembers(org, team);
  }

  /**
   * Whether `user` may manage the teams and members of `org`: system
   * administrators, and users with the admin role on the namespace `org`
   * (directly or through a team).
   */
  async canManageOrganization(user: UserRecord, org: string): Promise<boolean> {
    if (user.isAdmin) return true;
    if (user.disabled) return false;
    const subjects = [{ kind: 'user' as const, name: user.name }, ...(await this.store.teamsOfUser(user.name)).map((t) => ({ kind: 'team' as const, name: t }))];
    const grants = await this.store.findGrants(subjects, [{ kind: 'namespace', name: org }]);
    return grants.some((g) => g.role === 'admin');
  }

  teamsOfUser(user: string): Promise<string[]> {
    return this.store.teamsOfUser(user);
  }

  // Grants and visibility

  /** `input`: grantSchema. */
  grant(input: unknown): Promise<GrantRecord> {
    return this.audited('grant.put', `${String(field(input, 'subjectKind'))}:${String(field(input, 'subject'))}`, { resourceKind: field(input, 'resourceKind'), resource: field(input, 'resource'), role: field(input, 'role') }, () => this.doGrant(input));
  }

  private async doGrant(input: unknown): Promise<GrantRecord> {
    const g = parseInput(grantSchema, input);
    await this.requireSubject(g.subjectKind, g.subject);
    await this.store.putGrant(g);
    return g;
  }

  /** `input`: grantKeySchema. */
  revokeGrant(input: unknown): Promise<void> {
    return this.audited('grant.delete', `${String(field(input, 'subjectKind'))}:${String(field(input, 'subject'))}`, { resourceKind: field(input, 'resourceKind'), resource: field(input, 'resource') }, () => this.doRevokeGrant(input));
  }

  private async doRevokeGrant(input: unknown): Promise<void> {
    const k = parseInput(grantKeySchema, input);
    if (!(await this.store.deleteGrant(k))) throw this.notFound('grant', `${k.subjectKind}:${k.subject} on ${k.resourceKind}:${k.resource}`);
  }

  listGrants(filter?: { subjectKind: SubjectKind; subject: string }): Promise<GrantRecord[]> {
    return this.store.listGrants(filter);
  }

  /** `input`: visibilitySchema. */
  setVisibility(input: unknown): Promise<VisibilityRecord> {
    return this.audited('visibility.set', `${String(field(input, 'resourceKind'))}:${String(field(input, 'resource'))}`, { public: field(input, 'public') }, () => this.doSetVisibility(input));
  }

  private async doSetVisibility(input: unknown): Promise<VisibilityRecord> {
    const v = parseInput(visibilitySchema, input);
    await this.store.setVisibility(v.resourceKind, v.resource, v.public);
    return { kind: v.resourceKind, resource: v.resource, isPublic: v.public };
  }

  listVisibility(): Promise<VisibilityRecord[]> {
    return this.store.listVisibility();
  }

  // Access tokens

  /**
   * Creates a token for `user`. The secret (`berth_<id>_<secret>`) is in the
   * result this once and never again: only its SHA-256 is stored.
   * `input`: createTokenSchema.
   */
  createToken(user: string, input: unknown): Promise<{ token: AccessTokenView; secret: string }> {
    // The detail names the token, never its secret.
    return this.audited('token.create', user, { name: field(input, 'name'), scopes: field(input, 'scopes'), expiresInDays: field(input, 'expiresInDays') }, () => this.doCreateToken(user, input));
  }

  private async doCreateToken(user: string, input: unknown): Promise<{ token: AccessTokenView; secret: string }> {
    const t = parseInput(createTokenSchema, input);
    await this.requireUser(user);
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const now = this.now();
    const record: AccessTokenRecord = {
      id, name: t.name, user, secretHash: sha256hex(secret), scopes: t.scopes,
      expiresAt: t.expiresInDays === undefined ? null : now + t.expiresInDays * 86_400_000, revokedAt: null, lastUsedAt: null, createdAt: now,
    };
    if (!(await this.store.createAccessToken(record))) throw new RegistryError('BERTH_CONFLICT', 'token id collision; try again');
    return { token: tokenView(record), secret: `${TOKEN_PREFIX}${id}_${secret}` };
  }

  async listTokens(user: string): Promise<AccessTokenView[]> {
    await this.requireUser(user);
    return (await this.store.listAccessTokens(user)).map(tokenView);
  }

  /** Revokes one of `user`'s tokens (another user's token reads as not found). */
  revokeToken(user: string, id: string): Promise<void> {
    return this.audited('token.revoke', user, { id }, () => this.doRevokeToken(user, id));
  }

  private async doRevokeToken(user: string, id: string): Promise<void> {
    const t = await this.store.getAccessToken(id);
    if (!t || t.user !== user) throw this.notFound('token', id);
    if (!(await this.store.revokeAccessToken(id, this.now()))) throw new RegistryError('BERTH_CONFLICT', `token ${id} is already revoked`);
    this.sessionsEnded(user);
  }

  /**
   * The token a presented `berth_<id>_<secret>` stands for, if it belongs to
   * `user`, is neither revoked nor expired, and its user is enabled; records
   * its use. Null otherwise.
   */
  async verifyToken(user: string, presented: string): Promise<AccessTokenRecord | null> {
    const m = TOKEN_RE.exec(presented);
    if (!m) return null;
    const t = await this.store.getAccessToken(m[1] as string);
    if (!t || t.user !== user) return null;
    const given = Buffer.from(sha256hex(m[2] as string), 'hex');
    const stored = Buffer.from(t.secretHash, 'hex');
    if (given.length !== stored.length || !timingSafeEqual(given, stored)) return null;
    const now = this.now();
    if (t.revokedAt !== null || (t.expiresAt !== null && t.expiresAt <= now)) return null;
    if (!(await this.isActiveUser(user))) return null;
    await this.store.touchAccessToken(t.id, now);
    return t;
  }

  // Start-up

  /**
   * With no user at all, creates `admin` with `password`, or with a random
   * password that is returned so the caller can show it once.
   */
  async ensureAdmin(password: string | undefined): Promise<{ created: boolean; generatedPassword?: string }> {
    if ((await this.store.countUsers()) > 0) return { created: false };
    const generated = password === undefined ? randomBytes(18).toString('base64url') : undefined;
    try {
      await this.createUser({ name: 'admin', password: password ?? (generated as string), admin: true });
    } catch (err) {
      // Another instance sharing the database created it first.
      if (err instanceof RegistryError && err.code === 'BERTH_CONFLICT') return { created: false };
      throw err;
    }
    return generated === undefined ? { created: true } : { created: true, generatedPassword: generated };
  }

  // Helpers

  private notFound(what: string, name: string): RegistryError {
    return new RegistryError('BERTH_NOT_FOUND', `${what} ${name} not found`, { detail: { [what]: name } });
  }

  private async requireUser(name: string): Promise<UserRecord> {
    const u = await this.store.getUser(name);
    if (!u) throw this.notFound('user', name);
    return u;
  }

  private async requireOrganization(name: string): Promise<void> {
    if (!(await this.store.organizationExists(name))) throw this.notFound('organization', name);
  }

  private async requireTeam(org: string, team: string): Promise<void> {
    if (!(await this.store.teamExists(org, team))) throw this.notFound('team', `${org}/${team}`);
  }

  private async requireSubject(kind: SubjectKind, subject: string): Promise<void> {
    if (kind === 'user') {
      await this.requireUser(subject);
      return;
    }
    const [org, team, ...rest] = subject.split('/');
    if (!org || !team || rest.length > 0) throw new RegistryError('BERTH_INVALID', 'subject: a team is named org/team', { detail: [{ field: 'subject', message: 'a team is named org/team' }] });
    await this.requireTeam(org, team);
  }
}
