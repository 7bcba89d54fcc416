import { parseDuration } from '../config/index.js';
import { RegistryError } from '../errors/index.js';
import type { MetadataStores } from '../metadata/index.js';
import { sendJson, type RequestContext, type RouteGroup } from '../http/index.js';
import type { GarbageCollector } from './collector.js';

const GC = '/api/v1/gc';

/** A boolean query parameter: absent is false; true/false/1/0 (or present without a value) otherwise. */
function flag(ctx: RequestContext, name: string): boolean {
  const values = ctx.url.searchParams.getAll(name);
  if (values.length === 0) return false;
  const v = values[0]?.toLowerCase();
  if (values.length > 1 || !(v === '' || v === 'true' || v === '1' || v === 'false' || v === '0')) {
    throw new RegistryError('BERTH_INVALID', `${name}: expected true or false`, { detail: [{ field: name, message: 'expected true or false, once' }] });
  }
  return v === '' || v === 'true' || v === '1';
}

function grace(ctx: RequestContext, fallback: number): number {
  const raw = ctx.url.searchParams.get('grace');
  if (raw === null) return fallback;
  const ms = parseDuration(raw);
  if (ms === null) throw new RegistryError('BERTH_INVALID', 'grace: expected a duration such as 30m or 24h', { detail: [{ field: 'grace', message: 'expected a duration such as 30m or 24h' }] });
  return ms;
}

function limit(ctx: RequestContext): number {
  const raw = ctx.url.searchParams.get('n');
  if (raw === null) return 20;
  const n = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= 1000)) throw new RegistryError('BERTH_INVALID', 'n: expected a number from 1 to 1000', { detail: [{ field: 'n', message: 'expected 1-1000' }] });
  return n;
}

export interface GcRoutesOptions {
  collector: GarbageCollector;
  metadata: Pick<MetadataStores, 'gc'>;
  /** gc.graceperiod: the grace of a run that names none. */
  graceMs: number;
  /** Whether a run may delete (false on a read-only registry: only dry runs). */
  writable: boolean;
}

/**
 * Garbage collection and storage usage under /api/v1, for administrators:
 * run a collection (or a dry run) and see the last runs; storage usage
 * like `docker system df -v`.
 */
export function gcRoutes(options: GcRoutesOptions): RouteGroup {
  const { collector, metadata } = options;
  return {
    name: 'gc',
    description: 'Online garbage collection (unreferenced blobs, and untagged manifests nothing needs) and exact storage usage per repository.',
    routes: [
      {
        name: 'api.gc.run', method: 'POST', path: GC, access: { kind: 'admin' },
        doc: {
          summary: 'run a garbage collection now and answer with what it freed (blobs, manifests, bytes, duration); 409 BERTH_CONFLICT while one runs',
          query: [
            { name: 'dry-run', description: 'list what would be deleted, delete nothing', schema: { type: 'boolean' } },
            { name: 'delete-untagged', description: 'also delete manifests no tag, tagged index or kept subject needs', schema: { type: 'boolean' } },
            { name: 'grace', description: 'keep what was pushed, uploaded or mounted this recently (a duration, default gc.graceperiod)', schema: { type: 'string' } },
          ],
        },
        handler: async (ctx) => {
          const dryRun = flag(ctx, 'dry-run');
          const deleteUntagged = flag(ctx, 'delete-untagged');
          const graceMs = grace(ctx, options.graceMs);
          if (!dryRun && !options.writable) throw new RegistryError('UNSUPPORTED', 'the registry is read-only (storage.maintenance.readonly): only a dry run is possible');
          sendJson(ctx.res, 200, await collector.run({ dryRun, deleteUntagged, graceMs, trigger: `api:${ctx.caller?.name ?? 'unknown'}` }));
        },
      },
      {
        name: 'api.gc.runs', method: 'GET', path: GC, access: { kind: 'admin' },
        doc: { summary: 'the latest garbage collection runs, newest first, with what each freed', query: [{ name: 'n', description: 'how many (1-1000, default 20)', schema: { type: 'integer' } }] },
        handler: async (ctx) => sendJson(ctx.res, 200, { runs: await metadata.gc.listRuns(limit(ctx)) }),
      },
      {
        name: 'api.storage.usage', method: 'GET', path: '/api/v1/storage', access: { kind: 'admin' },
        doc: { summary: 'storage usage per repository (bytes, unique and shared) and in total, each blob counted once' },
        handler: async (ctx) => sendJson(ctx.res, 200, await metadata.gc.usage()),
      },
    ],
  };
}
