import { RegistryError } from '../../errors/index.js';
import type { RequestContext } from '../context.js';
import { paths } from '../routes.js';
import { sendJson } from '../respond.js';

const MAX_LAST_LENGTH = 256;

/** Reads `n` and `last`; `n` is clamped to limits.maxpagesize. */
function page(ctx: RequestContext, defaultLimit: number | undefined): { limit: number | undefined; last: string | undefined } {
  const q = ctx.url.searchParams;
  const n = q.get('n');
  const last = q.get('last') ?? undefined;
  let limit = defaultLimit;
  if (n !== null && n !== '') {
    if (!/^\d{1,9}$/.test(n)) throw new RegistryError('PAGINATION_NUMBER_INVALID', undefined, { detail: { n: n.slice(0, 32) } });
    limit = Number(n);
  }
  if (limit !== undefined) limit = Math.min(limit, ctx.services.config.limits.maxPageSize);
  if (last !== undefined && last.length > MAX_LAST_LENGTH) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'last is too long');
  return { limit, last };
}

function nextLink(path: string, limit: number, last: string): string {
  const q = new URLSearchParams({ n: String(limit), last });
  return `<${path}?${q.toString()}>; rel="next"`;
}

/** GET /v2/<name>/tags/list, lexically sorted, paginated with n/last and a Link header. */
export async function listTags(ctx: RequestContext): Promise<void> {
  const name = ctx.match.name as string;
  const p = page(ctx, ctx.services.config.limits.tagsPageSize || undefined);
  const { tags, more } = await ctx.registry.listTags(name, p);
  const headers: Record<string, string> = {};
  const lastTag = tags[tags.length - 1];
  if (more && p.limit !== undefined && lastTag !== undefined) headers.Link = nextLink(paths.tags(name), p.limit, lastTag);
  sendJson(ctx.res, 200, { name, tags }, headers, ctx.req.method === 'HEAD');
}

/** GET /v2/_catalog, sorted, paginated. */
export async function catalog(ctx: RequestContext): Promise<void> {
  const p = page(ctx, ctx.services.config.limits.catalogPageSize);
  const limit = p.limit ?? ctx.services.config.limits.catalogPageSize;
  const { repositories, more } = await ctx.registry.listRepositories({ last: p.last, limit });
  const headers: Record<string, string> = {};
  const lastRepo = repositories[repositories.length - 1];
  if (more && lastRepo !== undefined) headers.Link = nextLink(paths.catalog(), limit, lastRepo);
  sendJson(ctx.res, 200, { repositories }, headers, ctx.req.method === 'HEAD');
}

/** GET /v2/<name>/referrers/<digest>[?artifactType=]. */
export async function referrers(ctx: RequestContext): Promise<void> {
  const artifactType = ctx.url.searchParams.get('artifactType') ?? undefined;
  const index = await ctx.registry.referrers(ctx.match.name as string, ctx.match.digest as string, artifactType);
  const headers: Record<string, string> = { 'Content-Type': 'application/vnd.oci.image.index.v1+json' };
  if (artifactType !== undefined) headers['OCI-Filters-Applied'] = 'artifactType';
  sendJson(ctx.res, 200, index, headers, ctx.req.method === 'HEAD');
}
