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
  // The management API (JSON), under /api/v1.
  ApiOpenApi: 'api-openapi',
  ApiMe: 'api-me',
  ApiUsers: 'api-users',
  ApiUser: 'api-user',
  ApiOrgs: 'api-orgs',
  ApiOrg: 'api-org',
  ApiTeams: 'api-teams',
  ApiTeam: 'api-team',
  ApiMembers: 'api-members',
  ApiMember: 'api-member',
  ApiGrants: 'api-grants',
  ApiVisibility: 'api-visibility',
  ApiTokens: 'api-tokens',
  ApiBundle: 'api-bundle',
  ApiToken: 'api-token',
  ApiAudit: 'api-audit',
} as const;
export type RouteName = (typeof RouteName)[keyof typeof RouteName];

export interface RouteMatch {
  route: RouteName;
  name?: string;
  reference?: string;
  digest?: string;
  uuid?: string;
  /** Path parameters of /api/v1 routes (user, org, team, id). */
  params?: Record<string, string>;
}

/** The management API's routes, with their path templates (also used by the OpenAPI document). */
export const apiRoutes: { route: RouteName; template: string; re: RegExp }[] = [
  { route: RouteName.ApiOpenApi, template: '/api/v1/openapi.json', re: /^openapi\.json$/ },
  { route: RouteName.ApiMe, template: '/api/v1/me', re: /^me$/ },
  { route: RouteName.ApiUsers, template: '/api/v1/users', re: /^users$/ },
  { route: RouteName.ApiUser, template: '/api/v1/users/{user}', re: /^users\/(?<user>[^/]+)$/ },
  { route: RouteName.ApiOrgs, template: '/api/v1/orgs', re: /^orgs$/ },
  { route: RouteName.ApiOrg, template: '/api/v1/orgs/{org}', re: /^orgs\/(?<org>[^/]+)$/ },
  { route: RouteName.ApiTeams, template: '/api/v1/orgs/{org}/teams', re: /^orgs\/(?<org>[^/]+)\/teams$/ },
  { route: RouteName.ApiTeam, template: '/api/v1/orgs/{org}/teams/{team}', re: /^orgs\/(?<org>[^/]+)\/teams\/(?<team>[^/]+)$/ },
  { route: RouteName.ApiMembers, template: '/api/v1/orgs/{org}/teams/{team}/members', re: /^orgs\/(?<org>[^/]+)\/teams\/(?<team>[^/]+)\/members$/ },
  { route: RouteName.ApiMember, template: '/api/v1/orgs/{org}/teams/{team}/members/{user}', re: /^orgs\/(?<org>[^/]+)\/teams\/(?<team>[^/]+)\/members\/(?<user>[^/]+)$/ },
  { route: RouteName.ApiGrants, template: '/api/v1/grants', re: /^grants$/ },
  { route: RouteName.ApiVisibility, template: '/api/v1/visibility', re: /^visibility$/ },
  { route: RouteName.ApiTokens, template: '/api/v1/tokens', re: /^tokens$/ },
  { route: RouteName.ApiBundle, template: '/api/v1/bundle', re: /^bundle$/ },
  { route: RouteName.ApiToken, template: '/api/v1/tokens/{id}', re: /^tokens\/(?<id>[^/]+)$/ },
  { route: RouteName.ApiAudit, template: '/api/v1/audit', re: /^audit$/ },
];

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
  if (pathname.startsWith('/api/v1/')) {
    const rest = pathname.slice('/api/v1/'.length);
    for (const { route, re } of apiRoutes) {
      const m = re.exec(rest);
      if (m) return { route, params: { ...m.groups } };
    }
    return null;
  }
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
