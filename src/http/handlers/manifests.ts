import { RegistryError } from '../../errors/index.js';
import type { RequestContext } from '../context.js';
import { readBoundedBody } from '../body.js';
import { paths } from '../routes.js';
import { sendEmpty } from '../respond.js';

/** GET and HEAD /v2/<name>/manifests/<reference>. */
export async function getManifest(ctx: RequestContext): Promise<void> {
  // Node joins repeated Accept fields with ", " (headersDistinct would copy every header into arrays first).
  const accept = ctx.req.headers.accept;
  const m = await ctx.registry.getManifest(ctx.match.name as string, ctx.match.reference as string, accept, { method: ctx.req.method === 'HEAD' ? 'HEAD' : 'GET' });
  ctx.res.writeHead(200, {
    'Content-Type': m.mediaType,
    'Content-Length': m.size,
    'Docker-Content-Digest': m.digest,
    ETag: `"${m.digest}"`,
  });
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : m.content);
}

/** PUT /v2/<name>/manifests/<reference>. */
export async function putManifest(ctx: RequestContext): Promise<void> {
  const { registry } = ctx;
  const { config } = ctx.services;
  const name = ctx.match.name as string;
  const limit = config.limits.manifestMaxBytes;
  const body = await readBoundedBody(ctx.req, limit, () => new RegistryError('BERTH_MANIFEST_TOO_LARGE', `manifest exceeds ${limit} bytes`));
  // `?tag=` (repeatable) points more tags at a manifest pushed by digest, atomically.
  const tags = ctx.url.searchParams.getAll('tag');
  const r = await registry.putManifest(name, ctx.match.reference as string, body, ctx.req.headers['content-type'], { tags });
  const headers: Record<string, string | string[]> = {
    Location: ctx.location(paths.manifest(name, r.digest)),
    'Docker-Content-Digest': r.digest,
  };
  if (r.subject) headers['OCI-Subject'] = r.subject;
  // One OCI-Tag field per accepted tag (RFC 9110 lets a client also join them with commas).
  if (tags.length > 0) headers['OCI-Tag'] = r.tags.map((t) => t.tag);
  ctx.res.writeHead(201, { ...headers, 'Content-Length': 0 });
  ctx.res.end();
}

/** DELETE /v2/<name>/manifests/<reference>: by digest the manifest (and its tags), by tag the tag. */
export async function deleteManifest(ctx: RequestContext): Promise<void> {
  await ctx.registry.deleteManifest(ctx.match.name as string, ctx.match.reference as string);
  sendEmpty(ctx.res, 202);
}
