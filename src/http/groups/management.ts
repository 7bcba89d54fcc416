import { z } from 'zod';
import { bundleSchema, createTokenSchema, createUserSchema, grantSchema, nameSchema, updateUserSchema, visibilitySchema } from '../../identity/index.js';
import type { Access, Method, Route, RouteDoc, RouteGroup } from '../route-table.js';
import { api, type ApiHandler } from '../handlers/api/common.js';
import { listAudit } from '../handlers/api/audit.js';
import { clearLockouts, listLockouts } from '../handlers/api/lockouts.js';
import { createGrant, deleteGrant, listGrants, listVisibility, putVisibility } from '../handlers/api/grants.js';
import { openApi } from '../handlers/api/openapi.js';
import { addMember, createOrg, createTeam, deleteOrg, deleteTeam, getOrg, getTeam, listMembers, listOrgs, listTeams, removeMember } from '../handlers/api/orgs.js';
import { createToken, listTokens, revokeToken } from '../handlers/api/tokens.js';
import { createBundle } from '../handlers/api/bundle.js';
import { createUser, deleteUser, getUser, listUsers, me, updateUser } from '../handlers/api/users.js';

const PREFIX = '/api/v1';
const nameBody = z.object({ name: nameSchema });

function route(name: string, method: Method, path: string, access: Access['kind'], handler: ApiHandler, doc: RouteDoc): Route {
  return { name: `api.${name}`, method, path: `${PREFIX}${path}`, access: { kind: access } as Access, handler: api(handler), doc };
}

const q = (name: string, description?: string, required = false) => ({ name, ...(description ? { description } : {}), ...(required ? { required } : {}) });

/**
 * The management API (JSON under /api/v1): users, organizations, teams,
 * grants, visibility, access tokens, client bundles, the audit log and
 * login lockouts.
 * Administrators only, except what a user may do for itself (`user`) and
 * what an organization's admins may do for it (`org-admin`); handlers
 * still check the finer rules (a user may see only itself, …).
 */
export const managementRoutes: RouteGroup = {
  name: 'management',
  description: 'Users, organizations, teams, grants, visibility, access tokens, client bundles, the audit log and login lockouts. Errors: {"errors":[{"code","message","detail"}]} from Berth\'s catalogue.',
  routes: [
    { name: 'api.openapi', method: 'GET', path: `${PREFIX}/openapi.json`, access: { kind: 'public' }, handler: openApi, doc: { summary: 'this document' } },
    route('me.get', 'GET', '/me', 'user', me, { summary: 'the caller, with its teams' }),
    route('users.list', 'GET', '/users', 'admin', listUsers, { summary: 'list users' }),
    route('users.create', 'POST', '/users', 'admin', createUser, { summary: 'create a user', body: createUserSchema, status: 201 }),
    route('user.get', 'GET', '/users/{user}', 'user', getUser, { summary: 'one user (administrators: anyone; a user: itself)' }),
    route('user.update', 'PATCH', '/users/{user}', 'user', updateUser, { summary: 'change password, admin or disabled (a user: only its own password)', body: updateUserSchema }),
    route('user.delete', 'DELETE', '/users/{user}', 'admin', deleteUser, { summary: 'delete a user, its memberships, grants and tokens', status: 204 }),
    route('orgs.list', 'GET', '/orgs', 'admin', listOrgs, { summary: 'list organizations' }),
    route('orgs.create', 'POST', '/orgs', 'admin', createOrg, { summary: 'create an organization', body: nameBody, status: 201 }),
    route('org.get', 'GET', '/orgs/{org}', 'org-admin', getOrg, { summary: 'an organization and its teams' }),
    route('org.delete', 'DELETE', '/orgs/{org}', 'admin', deleteOrg, { summary: 'delete an organization and its teams', status: 204 }),
    route('teams.list', 'GET', '/orgs/{org}/teams', 'org-admin', listTeams, { summary: 'list teams' }),
    route('teams.create', 'POST', '/orgs/{org}/teams', 'org-admin', createTeam, { summary: 'create a team', body: nameBody, status: 201 }),
    route('team.get', 'GET', '/orgs/{org}/teams/{team}', 'org-admin', getTeam, { summary: 'a team and its members' }),
    route('team.delete', 'DELETE', '/orgs/{org}/teams/{team}', 'org-admin', deleteTeam, { summary: 'delete a team', status: 204 }),
    route('members.list', 'GET', '/orgs/{org}/teams/{team}/members', 'org-admin', listMembers, { summary: 'list members' }),
    route('member.add', 'PUT', '/orgs/{org}/teams/{team}/members/{user}', 'org-admin', addMember, { summary: 'add a member', status: 204 }),
    route('member.remove', 'DELETE', '/orgs/{org}/teams/{team}/members/{user}', 'org-admin', removeMember, { summary: 'remove a member', status: 204 }),
    route('grants.list', 'GET', '/grants', 'admin', listGrants, { summary: 'list grants, optionally of one subject', query: [q('subjectKind'), q('subject')] }),
    route('grants.put', 'POST', '/grants', 'admin', createGrant, { summary: 'grant a role (or change it)', body: grantSchema }),
    route('grants.delete', 'DELETE', '/grants', 'admin', deleteGrant, { summary: 'remove a grant', status: 204, query: ['subjectKind', 'subject', 'resourceKind', 'resource'].map((n) => q(n, undefined, true)) }),
    route('visibility.list', 'GET', '/visibility', 'admin', listVisibility, { summary: 'list visibility flags' }),
    route('visibility.put', 'PUT', '/visibility', 'admin', putVisibility, { summary: 'make a repository or namespace public or private', body: visibilitySchema }),
    route('tokens.list', 'GET', '/tokens', 'user', listTokens, { summary: 'list the caller\'s access tokens (administrators: ?user=)', query: [q('user', 'administrators: another user\'s tokens')] }),
    route('tokens.create', 'POST', '/tokens', 'user', createToken, { summary: 'create an access token; the response holds the secret, shown only this once', body: createTokenSchema, status: 201 }),
    route('token.revoke', 'DELETE', '/tokens/{id}', 'user', revokeToken, { summary: 'revoke an access token', status: 204 }),
    route('bundle.create', 'POST', '/bundle', 'user', createBundle, { summary: 'a client bundle (CA, access token, auth file, env.sh) as a .tar.gz', body: bundleSchema, binary: true }),
    route('audit.list', 'GET', '/audit', 'admin', listAudit, {
      summary: 'audit events, newest first: logins, pushes, pulls, deletes, refusals and identity changes',
      query: [q('actor'), q('action', 'e.g. login, manifest.push, manifest.pull, blob.pull, manifest.delete, user.create, grant.put, token.create'), q('since', 'ISO 8601 time or epoch milliseconds'), q('limit', '1 to 1000, default 100')],
    }),
    route('lockouts.list', 'GET', '/lockouts', 'admin', listLockouts, { summary: 'current login lockouts across all instances: kind (user-address, address, user), user, address, failures, until' }),
    route('lockouts.clear', 'DELETE', '/lockouts', 'admin', clearLockouts, {
      summary: 'clear failed logins at once on every instance: of a user, of an address, of a user at an address (both), or all (neither); answers the count of lockouts cleared',
      query: [q('user', 'a user name: its failures from every address'), q('address', 'a client address: its failures for every user')],
    }),
  ],
};
