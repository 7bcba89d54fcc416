/**
 * The identity store contract: users, organizations, teams, memberships,
 * grants, repository/namespace visibility and personal access tokens. One of
 * the stores of the metadata database (store.ts), beside the content store;
 * all live in the same database and migrate together.
 *
 * One implementation (kysely-identity-store.ts) for SQLite and PostgreSQL,
 * checked by one contract suite (identity-suite.ts).
 *
 * Rules every implementation keeps:
 * - the store validates nothing: names, roles and hashes are checked by the
 *   identity services before they get here;
 * - `create*` methods return false (and change nothing) when the key exists;
 *   `delete*`/`remove*` return false when nothing was there;
 * - deleting a user removes its memberships, the grants made to it and its
 *   access tokens; deleting an organization removes its teams, their
 *   memberships and the grants made to them; deleting a team likewise;
 * - secrets are stored only as hashes (bcrypt for passwords, SHA-256 for
 *   access-token secrets, which are 32 random bytes).
 */
export interface IdentityStore {
  createUser(user: UserRecord): Promise<boolean>;
  getUser(name: string): Promise<UserRecord | null>;
  /** Every user, sorted by name. */
  listUsers(): Promise<UserRecord[]>;
  countUsers(): Promise<number>;
  /** Changes the given fields; false when the user does not exist. */
  updateUser(name: string, patch: { passwordHash?: string; isAdmin?: boolean; disabled?: boolean }): Promise<boolean>;
  deleteUser(name: string): Promise<boolean>;

  createOrganization(name: string, createdAt: number): Promise<boolean>;
  organizationExists(name: string): Promise<boolean>;
  listOrganizations(): Promise<string[]>;
  deleteOrganization(name: string): Promise<boolean>;

  createTeam(org: string, team: string, createdAt: number): Promise<boolean>;
  teamExists(org: string, team: string): Promise<boolean>;
  listTeams(org: string): Promise<string[]>;
  deleteTeam(org: string, team: string): Promise<boolean>;

  /** The team and the user must exist. */
  addTeamMember(org: string, team: string, user: string): Promise<boolean>;
  removeTeamMember(org: string, team: string, user: string): Promise<boolean>;
  listTeamMembers(org: string, team: string): Promise<string[]>;
  /** Teams the user belongs to, as `org/team`, sorted. */
  teamsOfUser(user: string): Promise<string[]>;

  /** Creates the grant or changes its role. */
  putGrant(grant: GrantRecord): Promise<void>;
  deleteGrant(key: Omit<GrantRecord, 'role'>): Promise<boolean>;
  /** Grants, optionally only those to one subject, sorted by subject then resource. */
  listGrants(filter?: { subjectKind: SubjectKind; subject: string }): Promise<GrantRecord[]>;
  /** Grants to any of the subjects on any of the resources (the lookup of an access decision). */
  findGrants(subjects: { kind: SubjectKind; name: string }[], resources: { kind: ResourceKind; name: string }[]): Promise<GrantRecord[]>;

  setVisibility(kind: ResourceKind, resource: string, isPublic: boolean): Promise<void>;
  /** Explicit visibility flags set on any of the resources (none set: private). */
  findVisibility(resources: { kind: ResourceKind; name: string }[]): Promise<VisibilityRecord[]>;
  listVisibility(): Promise<VisibilityRecord[]>;

  createAccessToken(token: AccessTokenRecord): Promise<boolean>;
  getAccessToken(id: string): Promise<AccessTokenRecord | null>;
  /** A user's tokens, newest first. */
  listAccessTokens(user: string): Promise<AccessTokenRecord[]>;
  /** Sets revoked_at once; false when absent or already revoked. */
  revokeAccessToken(id: string, at: number): Promise<boolean>;
  touchAccessToken(id: string, at: number): Promise<void>;
}

export type SubjectKind = 'user' | 'team';
export type ResourceKind = 'repository' | 'namespace';
export type Role = 'read' | 'write' | 'admin';

export interface UserRecord {
  name: string;
  passwordHash: string;
  isAdmin: boolean;
  disabled: boolean;
  createdAt: number;
}

export interface GrantRecord {
  subjectKind: SubjectKind;
  /** A user name, or `org/team`. */
  subject: string;
  resourceKind: ResourceKind;
  /** A repository name, or a namespace prefix (`acme`, `acme/ci`). */
  resource: string;
  role: Role;
}

export interface VisibilityRecord {
  kind: ResourceKind;
  resource: string;
  isPublic: boolean;
}

/** What an access token may do: pull/push/delete on one repository or every repository under a namespace. */
export interface TokenScope {
  type: ResourceKind;
  name: string;
  actions: ('pull' | 'push' | 'delete')[];
}

export interface AccessTokenRecord {
  id: string;
  name: string;
  user: string;
  /** Hex SHA-256 of the secret. */
  secretHash: string;
  scopes: TokenScope[];
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
  createdAt: number;
}
