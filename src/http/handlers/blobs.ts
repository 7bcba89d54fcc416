import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { RegistryError } from '../../errors/index.js';
import { readBlocks } from '../../registry/index.js';
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
    // A HEAD reads no bytes (docker push sends one per layer; on S3 a read is a GET): it answers from the record.
    ctx.res.writeHead(range ? 206 : 200, headers);
    ctx.res.end();
    return;
  }
  const stream = await registry.openBlob(blob, range, ctx.signal);
  await sendBody(ctx, stream, range ? 206 : 200, headers);
}

/**
 * Writes the headers only once the first bytes are there, so a read that
 * fails before any byte (a damaged blob whose range lies in the held-back
 * tail, a store that fails at once) still gets its error answer; after
 * that, a failure closes the connection mid-body (respond.ts). Writes wait
 * for the socket to drain, so at most one block per response is queued.
 */
async function sendBody(ctx: RequestContext, stream: Readable, status: number, headers: Record<string, string | number>): Promise<void> {
  const { res } = ctx;
  const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let finished = false;
  try {
    let next = await chunks.next();
    res.writeHead(status, headers);
    for (; !next.done; next = await chunks.next()) {
      const chunk = next.value;
      // Once the socket has taken the bytes, nothing holds the block: it may be read into again.
      const written = res.write(chunk, (err) => { if (!err) readBlocks.give(chunk); });
      if (!written) await once(res, 'drain', { signal: ctx.signal });
    }
    finished = true;
    res.end();
  } finally {
    if (!finished) stream.destroy();
  }
}

/** DELETE /v2/<name>/blobs/<digest>: unlinks the blob from the repository. */
export async function deleteBlob(ctx: RequestContext): Promise<void> {
  await ctx.registry.deleteBlob(ctx.match.name as string, ctx.match.digest as string);
  sendEmpty(ctx.res, 202);
}
