import type { AccessRequest } from '../../auth/index.js';
import { sendJson } from '../respond.js';
import type { RequestContext } from '../context.js';
import type { RouteGroup } from '../route-table.js';
import { RoutePath } from '../routes.js';
import { deleteBlob, getBlob } from '../handlers/blobs.js';
import { deleteManifest, getManifest, putManifest } from '../handlers/manifests.js';
import { catalog, listTags, referrers } from '../handlers/listings.js';
import { cancelUpload, completeUpload, patchUpload, startUpload, uploadStatus } from '../handlers/uploads.js';

const pull = { kind: 'repository', actions: ['pull'] } as const;
const push = { kind: 'repository', actions: ['pull', 'push'] } as const;
const del = { kind: 'repository', actions: ['delete'] } as const;

async function base(ctx: RequestContext): Promise<void> {
  sendJson(ctx.res, 200, {}, {}, ctx.req.method === 'HEAD');
}

/** Mounting reads the source repository: the caller must be allowed to pull it too. */
function mountSource(_params: unknown, url: URL): AccessRequest[] {
  const from = url.searchParams.get('from');
  return url.searchParams.has('mount') && from ? [{ type: 'repository', name: from, actions: ['pull'] }] : [];
}

const query = (name: string, description: string) => ({ name, description });

/** The OCI Distribution API (and Docker Registry HTTP API V2) under /v2. */
export const registryRoutes: RouteGroup = {
  name: 'registry',
  description: 'The OCI Distribution API v1.1 (Docker Registry HTTP API V2): what docker, podman, skopeo and containerd speak.',
  routes: [
    // The base route only authenticates: a 401 here is how clients discover auth.
    { name: 'base.get', method: 'GET', path: RoutePath.base, access: { kind: 'registry' }, handler: base, doc: { summary: 'API version check; a 401 names how to authenticate' } },
    { name: 'base.head', method: 'HEAD', path: RoutePath.base, access: { kind: 'registry' }, handler: base, doc: { summary: 'API version check' } },
    { name: 'catalog.get', method: 'GET', path: RoutePath.catalog, access: { kind: 'catalog' }, handler: catalog, doc: { summary: 'repository names, sorted, paginated', query: [query('n', 'page size'), query('last', 'the last name of the previous page')] } },
    { name: 'tags.get', method: 'GET', path: RoutePath.tags, access: pull, handler: listTags, doc: { summary: 'tags of a repository, sorted, paginated', query: [query('n', 'page size'), query('last', 'the last tag of the previous page')] } },
    { name: 'manifest.get', method: 'GET', path: RoutePath.manifest, access: pull, handler: getManifest, doc: { summary: 'a manifest by tag or digest', binary: true } },
    { name: 'manifest.head', method: 'HEAD', path: RoutePath.manifest, access: pull, handler: getManifest, doc: { summary: 'whether a manifest exists, its digest and size', binary: true } },
    { name: 'manifest.put', method: 'PUT', path: RoutePath.manifest, access: push, handler: putManifest, doc: { summary: 'push a manifest by tag or digest', status: 201, binary: true } },
    { name: 'manifest.delete', method: 'DELETE', path: RoutePath.manifest, access: del, handler: deleteManifest, doc: { summary: 'delete a manifest (by digest, with its tags) or a tag', status: 202 } },
    // Uploads before blobs/{digest}: the router tries paths in this order.
    { name: 'upload.start', method: 'POST', path: RoutePath.uploads, access: { ...push, also: mountSource }, handler: startUpload, doc: { summary: 'start an upload; ?digest= for a monolithic upload, ?mount=&from= to mount', status: 202, binary: true, query: [query('digest', 'monolithic upload'), query('mount', 'digest to mount'), query('from', 'repository to mount from')] } },
    { name: 'upload.status', method: 'GET', path: RoutePath.upload, access: push, handler: uploadStatus, doc: { summary: 'where an upload stands', status: 204 } },
    { name: 'upload.patch', method: 'PATCH', path: RoutePath.upload, access: push, handler: patchUpload, doc: { summary: 'append a chunk', status: 202, binary: true } },
    { name: 'upload.complete', method: 'PUT', path: RoutePath.upload, access: push, handler: completeUpload, doc: { summary: 'finish an upload (?digest=), with an optional last chunk', status: 201, binary: true, query: [{ name: 'digest', description: 'the digest of the whole blob', required: true }] } },
    { name: 'upload.cancel', method: 'DELETE', path: RoutePath.upload, access: push, handler: cancelUpload, doc: { summary: 'cancel an upload', status: 204 } },
    { name: 'blob.get', method: 'GET', path: RoutePath.blob, access: pull, handler: getBlob, doc: { summary: 'a blob\'s bytes (Range supported; may redirect to the storage)', binary: true } },
    { name: 'blob.head', method: 'HEAD', path: RoutePath.blob, access: pull, handler: getBlob, doc: { summary: 'whether a blob exists, and its size', binary: true } },
    { name: 'blob.delete', method: 'DELETE', path: RoutePath.blob, access: del, handler: deleteBlob, doc: { summary: 'unlink a blob from the repository', status: 202 } },
    { name: 'referrers.get', method: 'GET', path: RoutePath.referrers, access: pull, handler: referrers, doc: { summary: 'manifests whose subject is the digest, as an image index', query: [query('artifactType', 'only this artifact type')] } },
  ],
};
