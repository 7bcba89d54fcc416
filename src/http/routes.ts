import { fillPath, type RouteParams } from './route-table.js';

/**
 * The path templates of Berth's own routes, named once. The route groups
 * (groups/*.ts) declare their routes on these templates, and the URL
 * builders below fill the same templates, so a Location header can never
 * point at a path the router does not serve.
 */
export const RoutePath = {
  health: '/healthz',
  ready: '/readyz',
  token: '/auth/token',
  base: '/v2/',
  catalog: '/v2/_catalog',
  tags: '/v2/{name}/tags/list',
  manifest: '/v2/{name}/manifests/{reference}',
  uploads: '/v2/{name}/blobs/uploads/',
  upload: '/v2/{name}/blobs/uploads/{uuid}',
  blob: '/v2/{name}/blobs/{digest}',
  referrers: '/v2/{name}/referrers/{digest}',
} as const;

/** The route a request matched, with its path parameters (raw, as sent). */
export interface RouteMatch {
  /** The route's name (`manifest.get`, `api.users.list`, …). */
  route: string;
  params: RouteParams;
  /** Shorthands for the registry routes' parameters. */
  name?: string | undefined;
  reference?: string | undefined;
  digest?: string | undefined;
  uuid?: string | undefined;
}

/** URL paths, for Location and Link headers. */
export const paths = {
  blob: (name: string, digest: string) => fillPath(RoutePath.blob, { name, digest }),
  upload: (name: string, uuid: string) => fillPath(RoutePath.upload, { name, uuid }),
  manifest: (name: string, reference: string) => fillPath(RoutePath.manifest, { name, reference }),
  tags: (name: string) => fillPath(RoutePath.tags, { name }),
  catalog: () => RoutePath.catalog,
};
