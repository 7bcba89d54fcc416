import { pipeline } from 'node:stream/promises';
import { RegistryError } from '../../errors/index.js';
import type { RequestContext } from '../context.js';
import { parseRangeHeader } from '../range.js';
import { sendEmpty } from '../respond.js';

/** GET and HEAD /v2/<name>/blobs/<digest>, with single Range requests. */
export async function getBlob(ctx: RequestContext): Promise<void> {
  const { registry } = ctx;
  const name = ctx.match.name as string;
  const head = ctx.req.method === 'HEAD';
  const blob = await registry.statBlob(name, ctx.match.digest as string, { method: head ? 'HEAD' : 'GET' });
  const common = {
    'Docker-Content-Digest': blob.digest,
    ETag: `"${blob.digest}"`,
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'max-age=31536000',
  };
  if (!head && ctx.services.config.storage.redirect) {
    const url = await registry.blobRedirectUrl(blob, 'GET');
    if (url) {
      sendEmpty(ctx.res, 307, { ...common, Location: url });
      return;
    }
  }
  const accel = ctx.services.config.http.accelRedirect;
  if (!head && accel) {
    // nginx replaces this empty answer with the file (sendfile, Range and all);
    // see the README's "Serving blobs with nginx".
    sendEmpty(ctx.res, 200, { ...common, 'Content-Type': 'application/octet-stream', 'X-Accel-Redirect': `${accel}${registry.blobStoragePath(blob)}` });
    return;
  }
  const range = parseRangeHeader(ctx.req.headers.range, blob.size);
  if (range === 'unsatisfiable') {
    throw new RegistryError('BERTH_RANGE_INVALID', undefined, { headers: { 'Content-Range': `bytes */${blob.size}` }, detail: { size: blob.size } });
  }
  const headers: Record<string, string | number> = {
    ...common,
    'Content-Type': 'application/octet-stream',
    'Content-Length': range ? range.end - range.start + 1 : blob.size,
  };
  if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${blob.size}`;
  if (head) {
    ctx.res.writeHead(range ? 206 : 200, headers);
    ctx.res.end();
    return;
  }
  const stream = await registry.openBlob(blob, range, ctx.signal);
  ctx.res.writeHead(range ? 206 : 200, headers);
  await pipeline(stream, ctx.res);
}

/** DELETE /v2/<name>/blobs/<digest>: unlinks the blob from the repository. */
export async function deleteBlob(ctx: RequestContext): Promise<void> {
  await ctx.registry.deleteBlob(ctx.match.name as string, ctx.match.digest as string);
  sendEmpty(ctx.res, 202);
}
