import { RegistryHostNames, type AccessRequest } from '../auth/index.js';
import { RegistryError } from '../errors/index.js';
import type { RequestContext, RouteGroup } from '../http/index.js';
import { planExport, parseExportRef, writeBundle, type ExportRef, type ExportSource, type ExportTrustSource } from './export.js';

/** Most references one download may name (a release is a handful of images). */
const MAX_REFS = 50;
export const EXPORT_PATH = '/api/v1/export';

export interface ExportRoutesOptions {
  /** The registry core: children, referrers and signatures are read from it (not pulls). */
  source: ExportSource;
  /** Trust data to ship (null when trust.enabled is off). */
  trust: ExportTrustSource | null;
}

/** The file name a browser saves: `<repo>-<tag>.tar` for one reference, else `berth-bundle.tar`. */
function fileName(refs: readonly ExportRef[]): string {
  const one = refs.length === 1 ? refs[0] : undefined;
  if (!one) return 'berth-bundle.tar';
  return `${one.repository.replace(/\//g, '_')}-${one.tag ?? (one.digest as string).replace(/^[a-z0-9]+:/, '').slice(0, 12)}.tar`;
}

function refsOf(ctx: RequestContext): ExportRef[] {
  const values = ctx.url.searchParams.getAll('ref');
  if (values.length === 0 || values.length > MAX_REFS) {
    throw new RegistryError('BERTH_INVALID', `ref: name 1 to ${MAX_REFS} images, as ref=REPO:TAG or ref=REPO@DIGEST`, { detail: [{ field: 'ref', message: `1 to ${MAX_REFS} values` }] });
  }
  const config = ctx.services.config;
  const hosts = new RegistryHostNames([config.http.baseUrl, ...config.http.aliases, ctx.baseUrl]);
  return values.map((v) => parseExportRef(v, (name) => hosts.canonicalRepository(name)));
}

/**
 * `GET /api/v1/export?ref=REPO:TAG&ref=REPO@DIGEST…`: the same bundle as
 * `berth export`, streamed as a download.
 *
 * Access: the route's kind is `registry` (the caller is authenticated by
 * the access controller, and an anonymous caller gets its 401 challenge),
 * and the handler then asks the same access controller for `pull` on every
 * repository named, in one request, before reading anything: the
 * repositories are in the query, not the path, so the route table cannot
 * name them. A caller who may not pull one of them gets 401 (insufficient
 * scope, with the challenge naming every scope) or 403 DENIED, and no byte
 * of the bundle. Each top-level reference is then read as a pull (trust
 * policies and the audit log apply); children, referrers and signatures
 * come from the core. The whole export is planned before the 200 is sent,
 * so a missing manifest or blob is a proper error, never a cut tar; a blob
 * whose bytes turn out corrupt while streaming aborts the connection.
 */
export function exportRoutes(options: ExportRoutesOptions): RouteGroup {
  return {
    name: 'export',
    description: 'Export: images with their children, referrers, signatures and Docker Content Trust data as a verifiable bundle (OCI image layout tar) for `berth import` at a dark site.',
    routes: [
      {
        name: 'api.export', method: 'GET', path: EXPORT_PATH, access: { kind: 'registry' },
        doc: {
          summary: 'download a Berth bundle (application/x-tar, Content-Disposition: attachment) of the images named; needs pull on each repository',
          query: [{ name: 'ref', required: true, description: 'REPO:TAG or REPO@DIGEST (repeat for several images, at most 50)', schema: { type: 'string' } }],
          binary: true,
        },
        handler: async (ctx) => {
          const refs = refsOf(ctx);
          const needs: AccessRequest[] = [...new Set(refs.map((r) => r.repository))].sort().map((name) => ({ type: 'repository', name, actions: ['pull'] }));
          await ctx.services.access.authorize({ authorization: ctx.req.headers.authorization, remoteAddress: ctx.req.socket?.remoteAddress ?? '', baseUrl: ctx.baseUrl }, needs);
          const plan = await planExport({
            refs, source: options.source, trust: options.trust, sourceName: new URL(ctx.baseUrl).host,
            resolve: (repository, reference) => ctx.registry.getManifest(repository, reference, undefined, { method: 'GET' }),
          });
          ctx.res.writeHead(200, {
            'Content-Type': 'application/x-tar',
            'Content-Disposition': `attachment; filename="${fileName(refs)}"`,
            'Cache-Control': 'no-store',
            'X-Content-Type-Options': 'nosniff',
          });
          try {
            await writeBundle(plan, ctx.res, options.source, { signal: ctx.signal });
          } catch (err) {
            // Headers are sent: the only honest signal left is a cut connection (the importer refuses a truncated tar).
            ctx.log.error({ err, 'err.code': (err as RegistryError).code }, 'failed to stream an export');
            ctx.res.destroy();
          }
        },
      },
    ],
  };
}
