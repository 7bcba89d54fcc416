import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../errors/index.js';
import { readBoundedBody, sendEmpty, sendJson, type RequestContext, type RouteGroup } from '../http/index.js';
import type { TrustService } from './service.js';

/** Largest publish body: every role of an update, each at most a few MiB in practice. */
const MAX_PUBLISH_BYTES = 16 * 1024 * 1024;
/** How much of a too large publish is read and dropped so that the client gets the 413. */
const MAX_DRAIN_BYTES = 4 * MAX_PUBLISH_BYTES;
const CURRENT_CACHE = 'public, max-age=300, s-maxage=300, must-revalidate';
const CONSISTENT_CACHE = 'public, max-age=31536000, s-maxage=31536000';

const GUN = '/v2/{gun+}/_trust';

function repositoryOf(ctx: RequestContext): { repository: string; gun: string } {
  const repository = ctx.match.name;
  const gun = ctx.match.params.gun;
  if (repository === undefined || gun === undefined) throw new Error('a trust route without {gun}');
  return { repository, gun };
}

/**
 * Notary's access: reading trust data is a pull of the repository;
 * publishing, and asking for the keys to publish with, a push; rotating a
 * server key or deleting trust data needs every action (Notary asks `*`),
 * which only the repository's admins have. The GUN
 * (`registry.example.com:5000/app`) names the same repository as `app`.
 */
const on = (actions: readonly ('pull' | 'push' | 'delete')[]) => ({ kind: 'repository', actions, param: 'gun', hostPrefixed: true }) as const;

/**
 * The Notary v1 server API, on Berth's own host and port, under
 * /v2/<gun>/_trust/. Success is always 200 (Notary's clients accept nothing
 * else); errors use Notary's codes from the catalogue.
 */
export function trustRoutes(service: TrustService): RouteGroup {
  return {
    name: 'trust',
    description: 'Docker Content Trust: the Notary v1 server API (TUF metadata per repository), used by docker trust and the notary CLI.',
    routes: [
      {
        name: 'trust.key.get', method: 'GET', path: `${GUN}/tuf/{role}.key`, access: on(['pull', 'push']),
        doc: { summary: 'the public key the server signs timestamp (or snapshot) with; created on first request' },
        handler: async (ctx) => {
          const { repository } = repositoryOf(ctx);
          sendKey(ctx, await service.publicKey(repository, ctx.match.params.role ?? ''));
        },
      },
      {
        name: 'trust.key.rotate', method: 'POST', path: `${GUN}/tuf/{role}.key`, access: on(['pull', 'push', 'delete']),
        doc: { summary: 'a new timestamp (or snapshot) key; it signs once a root listing it is published' },
        handler: async (ctx) => {
          const { repository } = repositoryOf(ctx);
          sendKey(ctx, await service.rotateKey(repository, ctx.match.params.role ?? ''));
        },
      },
      {
        name: 'trust.metadata.get', method: 'GET', path: `${GUN}/tuf/{file+}`, access: on(['pull']),
        doc: { summary: 'metadata: <role>.json, <role>.<sha256>.json or <version>.<role>.json, byte for byte as stored' },
        handler: async (ctx) => {
          const { repository, gun } = repositoryOf(ctx);
          const f = await service.get(repository, gun, ctx.match.params.file ?? '');
          ctx.res.writeHead(200, {
            'Content-Type': 'application/json',
            'Content-Length': f.bytes.length,
            'Cache-Control': f.cache === 'current' ? CURRENT_CACHE : CONSISTENT_CACHE,
            'Last-Modified': f.lastModified.toUTCString(),
          });
          ctx.res.end(f.bytes);
        },
      },
      {
        name: 'trust.publish', method: 'POST', path: `${GUN}/tuf/`, access: on(['pull', 'push']),
        doc: { summary: 'publish client-signed metadata (multipart/form-data, one part per role named by its filename); the server signs snapshot and timestamp' },
        handler: async (ctx) => {
          const { repository, gun } = repositoryOf(ctx);
          const body = await readPublishBody(ctx.req);
          await service.publish(repository, gun, ctx.req.headers['content-type'], body);
          sendEmpty(ctx.res, 200);
        },
      },
      {
        name: 'trust.delete', method: 'DELETE', path: `${GUN}/tuf/`, access: on(['pull', 'push', 'delete']),
        doc: { summary: 'delete the repository\'s trust data and server keys (200 also when there was none)' },
        handler: async (ctx) => {
          const { repository, gun } = repositoryOf(ctx);
          await service.delete(repository, gun);
          sendEmpty(ctx.res, 200);
        },
      },
      {
        name: 'trust.changefeed.repository', method: 'GET', path: `${GUN}/changefeed`, access: on(['pull']),
        doc: { summary: 'changes to the repository\'s trust data, oldest first', query: [{ name: 'change_id', description: 'start after this id (0: from the start)' }, { name: 'records', description: 'at most this many (default 100, at most 1000)' }] },
        handler: async (ctx) => {
          const { repository } = repositoryOf(ctx);
          sendJson(ctx.res, 200, await service.changes({ repository, ...feedPage(ctx) }));
        },
      },
      {
        name: 'trust.changefeed', method: 'GET', path: '/v2/_trust/changefeed', access: { kind: 'catalog' },
        doc: { summary: 'changes to all trust data, oldest first (administrators)', query: [{ name: 'change_id' }, { name: 'records' }] },
        handler: async (ctx) => {
          sendJson(ctx.res, 200, await service.changes(feedPage(ctx)));
        },
      },
    ],
  };
}

/**
 * The publish body, at most MAX_PUBLISH_BYTES. A larger one is still read
 * (and dropped) to its end, up to MAX_DRAIN_BYTES, before the 413: closing a
 * connection with unread bytes resets it, and the client, still sending,
 * would lose the answer (the differential test against notary-server found
 * this). Beyond that the connection is closed unread.
 */
async function readPublishBody(req: IncomingMessage): Promise<Buffer> {
  const tooLarge = () => new RegistryError('BERTH_TOO_LARGE', `trust publishes are limited to ${MAX_PUBLISH_BYTES} bytes`);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_DRAIN_BYTES) return readBoundedBody(req, MAX_PUBLISH_BYTES, tooLarge);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_DRAIN_BYTES) break;
    if (total <= MAX_PUBLISH_BYTES) chunks.push(chunk);
  }
  if (total > MAX_PUBLISH_BYTES) throw tooLarge();
  return Buffer.concat(chunks, total);
}

function sendKey(ctx: RequestContext, json: string): void {
  const body = Buffer.from(json);
  ctx.res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length, 'Cache-Control': 'no-store' });
  ctx.res.end(body);
}

function feedPage(ctx: RequestContext): { after: string; limit: number } {
  const q = ctx.url.searchParams;
  const records = q.get('records') ?? '100';
  if (!/^\d{1,4}$/.test(records)) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'records: 1 to 1000');
  return { after: (q.get('change_id') ?? '0').slice(0, 128), limit: Math.min(Math.max(Number(records), 1), 1000) };
}
