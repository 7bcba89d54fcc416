/**
 * Every route of the registry API, named once. The router, the URL builders
 * and the tests all use this table. Paths are matched on the raw (undecoded)
 * path, so a percent-encoded `/` or `..` can never become part of a name.
 */
export const RouteName = {
  Base: 'base',
  Catalog: 'catalog',
  Tags: 'tags',
  Manifest: 'manifest',
  UploadStart: 'upload-start',
  Upload: 'upload',
  Blob: 'blob',
  Referrers: 'referrers',
  Health: 'health',
  Ready: 'ready',
  Token: 'token',
} as const;
export type RouteName = (typeof RouteName)[keyof typeof RouteName];

export interface RouteMatch {
  route: RouteName;
  name?: string;
  reference?: string;
  digest?: string;
  uuid?: string;
}

/** Routes under /v2/<name>/…, tried in order (uploads before blobs/<digest>). */
const repositoryRoutes: { route: RouteName; re: RegExp }[] = [
  { route: RouteName.Tags, re: /^(?<name>.+)\/tags\/list$/ },
  { route: RouteName.Manifest, re: /^(?<name>.+)\/manifests\/(?<reference>[^/]+)$/ },
  { route: RouteName.UploadStart, re: /^(?<name>.+)\/blobs\/uploads\/?$/ },
  { route: RouteName.Upload, re: /^(?<name>.+)\/blobs\/uploads\/(?<uuid>[^/]+)$/ },
  { route: RouteName.Blob, re: /^(?<name>.+)\/blobs\/(?<digest>[^/]+)$/ },
  { route: RouteName.Referrers, re: /^(?<name>.+)\/referrers\/(?<digest>[^/]+)$/ },
];

export function matchRoute(pathname: string): RouteMatch | null {
  if (pathname === '/healthz') return { route: RouteName.Health };
  if (pathname === '/readyz') return { route: RouteName.Ready };
  if (pathname === '/auth/token') return { route: RouteName.Token };
  if (pathname === '/v2' || pathname === '/v2/') return { route: RouteName.Base };
  if (!pathname.startsWith('/v2/')) return null;
  const rest = pathname.slice(4);
  if (rest === '_catalog') return { route: RouteName.Catalog };
  for (const { route, re } of repositoryRoutes) {
    const m = re.exec(rest);
    if (m?.groups) {
      const g = m.groups;
      return { route, name: g.name, reference: g.reference, digest: g.digest, uuid: g.uuid };
    }
  }
  return null;
}

/** URL paths, for Location and Link headers. */
export const paths = {
  blob: (name: string, digest: string) => `/v2/${name}/blobs/${digest}`,
  upload: (name: string, uuid: string) => `/v2/${name}/blobs/uploads/${uuid}`,
  manifest: (name: string, reference: string) => `/v2/${name}/manifests/${reference}`,
  tags: (name: string) => `/v2/${name}/tags/list`,
  catalog: () => '/v2/_catalog',
};
