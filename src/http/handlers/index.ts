import type { AccessRequest } from '../../auth/index.js';
import type { Handler, RequestContext } from '../context.js';
import { RouteName, type RouteMatch } from '../routes.js';
import { sendJson } from '../respond.js';
import { deleteBlob, getBlob } from './blobs.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import { catalog, listTags, referrers } from './listings.js';
import { token } from './token.js';
import { api } from './api/common.js';
import { listAudit } from './api/audit.js';
import { createGrant, deleteGrant, listGrants, listVisibility, putVisibility } from './api/grants.js';
import { openApi } from './api/openapi.js';
import { addMember, createOrg, createTeam, deleteOrg, deleteTeam, getOrg, getTeam, listMembers, listOrgs, listTeams, removeMember } from './api/orgs.js';
import { createToken, listTokens, revokeToken } from './api/tokens.js';
import { createBundle } from './api/bundle.js';
import { createUser, deleteUser, getUser, listUsers, me, updateUser } from './api/users.js';
import { cancelUpload, completeUpload, patchUpload, startUpload, uploadStatus } from './uploads.js';

type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface Operation {
  handler: Handler;
  /** The access the operation needs; checked before the handler runs. Null: public (health). */
  access: (match: RouteMatch, url: URL) => AccessRequest[] | null;
}

const pull = (m: RouteMatch): AccessRequest[] => [{ type: 'repository', name: m.name as string, actions: ['pull'] }];
const push = (m: RouteMatch): AccessRequest[] => [{ type: 'repository', name: m.name as string, actions: ['pull', 'push'] }];
const del = (m: RouteMatch): AccessRequest[] => [{ type: 'repository', name: m.name as string, actions: ['delete'] }];

async function base(ctx: RequestContext): Promise<void> {
  sendJson(ctx.res, 200, {}, {}, ctx.req.method === 'HEAD');
}

async function health(ctx: RequestContext): Promise<void> {
  const h = await ctx.services.health();
  sendJson(ctx.res, h.ok ? 200 : 503, { status: h.ok ? 'ok' : 'unavailable', checks: h.checks }, { 'Cache-Control': 'no-store' }, ctx.req.method === 'HEAD');
}

/** Readiness: 200 only when every backing service answers (a load balancer's signal to send traffic). */
async function ready(ctx: RequestContext): Promise<void> {
  const h = await ctx.services.ready();
  sendJson(ctx.res, h.ok ? 200 : 503, { status: h.ok ? 'ok' : 'unavailable', checks: h.checks }, { 'Cache-Control': 'no-store' }, ctx.req.method === 'HEAD');
}

/** Management API routes authenticate in the handler (api/common.ts): Basic or Bearer, then the admin check. */
const self = (h: Parameters<typeof api>[0]): Operation => ({ handler: api(h), access: () => null });
const admin = (h: Parameters<typeof api>[0]): Operation => ({ handler: api(h, { admin: true }), access: () => null });
const orgAdmin = (h: Parameters<typeof api>[0]): Operation => ({ handler: api(h, { org: true }), access: () => null });

/** Which operation answers each method of each route, and the access it needs. */
export const operations: Record<RouteName, Partial<Record<Method, Operation>>> = {
  [RouteName.Health]: {
    GET: { handler: health, access: () => null },
    HEAD: { handler: health, access: () => null },
  },
  [RouteName.Ready]: {
    GET: { handler: ready, access: () => null },
    HEAD: { handler: ready, access: () => null },
  },
  // The token endpoint authenticates callers itself.
  [RouteName.Token]: {
    GET: { handler: token, access: () => null },
    POST: { handler: token, access: () => null },
  },
  // The base route only authenticates: a 401 here is how clients discover auth.
  [RouteName.Base]: {
    GET: { handler: base, access: () => [] },
    HEAD: { handler: base, access: () => [] },
  },
  [RouteName.Catalog]: {
    GET: { handler: catalog, access: () => [{ type: 'registry', name: 'catalog', actions: ['pull'] }] },
  },
  [RouteName.Tags]: {
    GET: { handler: listTags, access: pull },
  },
  [RouteName.Manifest]: {
    GET: { handler: getManifest, access: pull },
    HEAD: { handler: getManifest, access: pull },
    PUT: { handler: putManifest, access: push },
    DELETE: { handler: deleteManifest, access: del },
  },
  [RouteName.Blob]: {
    GET: { handler: getBlob, access: pull },
    HEAD: { handler: getBlob, access: pull },
    DELETE: { handler: deleteBlob, access: del },
  },
  [RouteName.UploadStart]: {
    POST: {
      handler: startUpload,
      access: (m, url) => {
        const from = url.searchParams.get('from');
        const needs = push(m);
        // Mounting reads the source repository: the caller must be allowed to pull it.
        if (url.searchParams.has('mount') && from) needs.push({ type: 'repository', name: from, actions: ['pull'] });
        return needs;
      },
    },
  },
  [RouteName.Upload]: {
    GET: { handler: uploadStatus, access: push },
    PATCH: { handler: patchUpload, access: push },
    PUT: { handler: completeUpload, access: push },
    DELETE: { handler: cancelUpload, access: push },
  },
  [RouteName.Referrers]: {
    GET: { handler: referrers, access: pull },
  },
  [RouteName.ApiOpenApi]: { GET: { handler: openApi, access: () => null } },
  [RouteName.ApiMe]: { GET: self(me) },
  [RouteName.ApiUsers]: { GET: admin(listUsers), POST: admin(createUser) },
  [RouteName.ApiUser]: { GET: self(getUser), PATCH: self(updateUser), DELETE: admin(deleteUser) },
  [RouteName.ApiOrgs]: { GET: admin(listOrgs), POST: admin(createOrg) },
  [RouteName.ApiOrg]: { GET: orgAdmin(getOrg), DELETE: admin(deleteOrg) },
  [RouteName.ApiTeams]: { GET: orgAdmin(listTeams), POST: orgAdmin(createTeam) },
  [RouteName.ApiTeam]: { GET: orgAdmin(getTeam), DELETE: orgAdmin(deleteTeam) },
  [RouteName.ApiMembers]: { GET: orgAdmin(listMembers) },
  [RouteName.ApiMember]: { PUT: orgAdmin(addMember), DELETE: orgAdmin(removeMember) },
  [RouteName.ApiGrants]: { GET: admin(listGrants), POST: admin(createGrant), DELETE: admin(deleteGrant) },
  [RouteName.ApiVisibility]: { GET: admin(listVisibility), PUT: admin(putVisibility) },
  [RouteName.ApiTokens]: { GET: self(listTokens), POST: self(createToken) },
  [RouteName.ApiBundle]: { POST: self(createBundle) },
  [RouteName.ApiToken]: { DELETE: self(revokeToken) },
  [RouteName.ApiAudit]: { GET: admin(listAudit) },
};
