import { RegistryError } from '../../errors/index.js';
import type { RequestContext } from '../context.js';
import { readBoundedBody } from '../body.js';
import { paths } from '../routes.js';
import { sendEmpty } from '../respond.js';

/** GET and HEAD /v2/<name>/manifests/<reference>. */
export async function getManifest(ctx: RequestContext): Promise<void> {
  const accept = ctx.req.headersDistinct.accept?.join(',');
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
  const { digest, subject } = await registry.putManifest(name, ctx.match.reference as string, body, ctx.req.headers['content-type']);
  const headers: Record<string, string> = {
    Location: ctx.location(paths.manifest(name, digest)),
    'Docker-Content-Digest': digest,
  };
  if (subject) headers['OCI-Subject'] = subject;
  sendEmpty(ctx.res, 201, headers);
}

/** DELETE /v2/<name>/manifests/<reference>: by digest the manifest (and its tags), by tag the tag. */
export async function deleteManifest(ctx: RequestContext): Promise<void> {
  await ctx.registry.deleteManifest(ctx.match.name as string, ctx.match.reference as string);
  sendEmpty(ctx.res, 202);
}
