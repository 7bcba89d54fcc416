import type { UploadRecord } from '../../metadata/index.js';
import { RegistryError } from '../../errors/index.js';
import { parseDigestAlgorithm } from '../../registry/index.js';
import type { RequestContext } from '../context.js';
import { bodySource, contentLength, hasBody } from '../body.js';
import { parseContentRange } from '../range.js';
import { paths } from '../routes.js';
import { sendEmpty } from '../respond.js';

function rangeOf(size: number): string {
  return `0-${size > 0 ? size - 1 : 0}`;
}

function sendSession(ctx: RequestContext, status: 202 | 204, upload: UploadRecord): void {
  sendEmpty(ctx.res, status, {
    Location: ctx.location(paths.upload(upload.repository, upload.id)),
    Range: rangeOf(upload.size),
    'Docker-Upload-UUID': upload.id,
  });
}

function sendCreated(ctx: RequestContext, name: string, digest: string): void {
  sendEmpty(ctx.res, 201, { Location: ctx.location(paths.blob(name, digest)), 'Docker-Content-Digest': digest });
}

/**
 * POST /v2/<name>/blobs/uploads/: a resumable session; with `?digest=` a
 * monolithic upload; with `?mount=&from=` a cross-repository mount that falls
 * back to a session when the source does not have the blob.
 */
export async function startUpload(ctx: RequestContext): Promise<void> {
  const { registry } = ctx;
  const name = ctx.match.name as string;
  const q = ctx.url.searchParams;
  const mount = q.get('mount');
  const digest = q.get('digest');
  const algorithmParam = q.get('digest-algorithm');
  const algorithm = algorithmParam === null ? undefined : parseDigestAlgorithm(algorithmParam);
  if (mount !== null) {
    const from = q.get('from');
    const blob = from ? await registry.mountBlob(name, from, mount) : null;
    if (blob) {
      sendCreated(ctx, name, blob.digest);
      return;
    }
  } else if (digest !== null) {
    const blob = await registry.putBlob(name, digest, bodySource(ctx.req), { signal: ctx.signal, contentLength: contentLength(ctx.req), algorithm });
    sendCreated(ctx, name, blob.digest);
    return;
  }
  const upload = await registry.startUpload(name, { algorithm });
  sendSession(ctx, 202, upload);
}

/** GET /v2/<name>/blobs/uploads/<uuid>: where the session stands. */
export async function uploadStatus(ctx: RequestContext): Promise<void> {
  const upload = await ctx.registry.getUpload(ctx.match.name as string, ctx.match.uuid as string);
  sendSession(ctx, 204, upload);
}

function chunkRange(ctx: RequestContext) {
  const range = parseContentRange(ctx.req.headers['content-range']);
  if (range === 'invalid') throw new RegistryError('BERTH_UPLOAD_RANGE_INVALID', 'malformed Content-Range');
  return range;
}

/** PATCH /v2/<name>/blobs/uploads/<uuid>: one chunk, streamed or with Content-Range. */
export async function patchUpload(ctx: RequestContext): Promise<void> {
  const upload = await ctx.registry.appendUpload(ctx.match.name as string, ctx.match.uuid as string, bodySource(ctx.req), {
    signal: ctx.signal,
    range: chunkRange(ctx),
    contentLength: contentLength(ctx.req),
  });
  sendSession(ctx, 202, upload);
}

/** PUT /v2/<name>/blobs/uploads/<uuid>?digest=: finishes the session, with an optional last chunk. */
export async function completeUpload(ctx: RequestContext): Promise<void> {
  const digest = ctx.url.searchParams.get('digest');
  if (!digest) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required');
  const name = ctx.match.name as string;
  const body = hasBody(ctx.req) ? bodySource(ctx.req) : null;
  const blob = await ctx.registry.completeUpload(name, ctx.match.uuid as string, digest, body, {
    signal: ctx.signal,
    range: body ? chunkRange(ctx) : undefined,
    contentLength: contentLength(ctx.req),
  });
  sendCreated(ctx, name, blob.digest);
}

/** DELETE /v2/<name>/blobs/uploads/<uuid>: cancels the session. */
export async function cancelUpload(ctx: RequestContext): Promise<void> {
  await ctx.registry.cancelUpload(ctx.match.name as string, ctx.match.uuid as string);
  sendEmpty(ctx.res, 204);
}
