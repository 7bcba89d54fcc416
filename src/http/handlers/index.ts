import type { AccessRequest } from '../../auth/index.js';
import type { Handler, RequestContext } from '../context.js';
import { RouteName, type RouteMatch } from '../routes.js';
import { sendJson } from '../respond.js';
import { deleteBlob, getBlob } from './blobs.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import { catalog, listTags, referrers } from './listings.js';
import { token } from './token.js';
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
};
