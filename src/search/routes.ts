import { z } from 'zod';
import { RegistryError } from '../errors/index.js';
import type { AuditStore, SearchStore } from '../metadata/index.js';
import { readBoundedBody, sendJson, type RequestContext, type RouteGroup } from '../http/index.js';
import { searchCaller } from './caller.js';
import { visibilityFor, type VisibilityOptions } from './visibility.js';

/** What docker's v1 search asks for (`n`, default 25; docker refuses more than 100 itself). */
const V1_MAX = 100;
const API_DEFAULT = 100;
const API_MAX = 1000;
/** Longer than any repository name (255) or search worth running. */
const MAX_TEXT = 255;
export const MAX_DESCRIPTION = 1000;
const MAX_BODY_BYTES = 8192;

export const descriptionSchema = z.object({
  description: z.string().max(MAX_DESCRIPTION, `at most ${MAX_DESCRIPTION} characters`)
    .refine((s) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(s), 'no control characters but tab and newline'),
}).strict();

function invalid(field: string, message: string): RegistryError {
  return new RegistryError('BERTH_INVALID', `${field}: ${message}`, { detail: [{ field, message }] });
}

function text(ctx: RequestContext): string {
  const values = ctx.url.searchParams.getAll('q');
  if (values.length > 1) throw invalid('q', 'give it once');
  const q = (values[0] ?? '').trim();
  if (q.length > MAX_TEXT) throw invalid('q', `at most ${MAX_TEXT} characters`);
  return q;
}

function count(ctx: RequestContext, fallback: number, max: number): number {
  const raw = ctx.url.searchParams.get('n');
  if (raw === null || raw === '') return fallback;
  const n = /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= max)) throw new RegistryError('PAGINATION_NUMBER_INVALID', `n: expected a number from 1 to ${max}`, { detail: { n: raw.slice(0, 32) } });
  return n;
}

function after(ctx: RequestContext): string | undefined {
  const last = ctx.url.searchParams.get('last');
  if (last === null || last === '') return undefined;
  if (last.length > 255) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'last: at most 255 characters');
  return last;
}

async function readDescription(ctx: RequestContext): Promise<string> {
  const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') throw invalid('(body)', 'Content-Type must be application/json');
  const body = await readBoundedBody(ctx.req, MAX_BODY_BYTES, () => new RegistryError('BERTH_TOO_LARGE', `description bodies are limited to ${MAX_BODY_BYTES} bytes`));
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid('(body)', 'not valid JSON');
  }
  const parsed = descriptionSchema.safeParse(json);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
    throw new RegistryError('BERTH_INVALID', detail.map((d) => `${d.field}: ${d.message}`).join('; '), { detail });
  }
  return parsed.data.description;
}

function repositoryOf(ctx: RequestContext): string {
  const name = ctx.match.name;
  if (name === undefined) throw new Error(`${ctx.match.route} without {name}`);
  return name;
}

export interface SearchRoutesOptions extends VisibilityOptions {
  store: SearchStore;
  /** The audit log, where description changes are recorded (null unless users come from Berth's database). */
  audit: AuditStore | null;
}

/**
 * Search (search.md): docker's `GET /v1/search`, the management API's
 * `GET /api/v1/search` with pagination, and repository descriptions. Both
 * searches answer only repositories the caller may pull, filtered in the
 * database (visibility.ts, the search store).
 */
export function searchRoutes(options: SearchRoutesOptions): RouteGroup {
  const { store } = options;
  const mode = { usersFromDatabase: options.identity !== null };
  const search = async (ctx: RequestContext, limit: number, last?: string) => {
    const q = text(ctx);
    const visibility = await visibilityFor(await searchCaller(ctx, mode), options);
    return { q, ...(await store.search({ text: q, visibility, limit, after: last })) };
  };
  return {
    name: 'search',
    description: 'Search: repositories by name and description, only those the caller may pull (docker search, and the management API); repository descriptions.',
    routes: [
      {
        // docker pings the v1 index before it searches; any answer will do, this one says "a standalone
        // registry" as registry v1 did (docker then sends Basic credentials over HTTPS with every request).
        name: 'search.v1.ping', method: 'GET', path: '/v1/_ping', access: { kind: 'public' },
        doc: { summary: 'docker\'s ping of the v1 index before `docker search`: true' },
        handler: async (ctx) => {
          ctx.res.setHeader('X-Docker-Registry-Standalone', 'true');
          sendJson(ctx.res, 200, true);
        },
      },
      {
        name: 'search.v1', method: 'GET', path: '/v1/search', access: { kind: 'login' },
        doc: {
          summary: 'docker search HOST/term: repositories whose name or description contains q, that the caller may pull (HTTP Basic from a logged-in docker, a Bearer token, or none)',
          query: [
            { name: 'q', description: 'the text to find (case-insensitive); empty finds all', schema: { type: 'string' } },
            { name: 'n', description: 'how many (1-100, default 25)', schema: { type: 'integer' } },
          ],
        },
        handler: async (ctx) => {
          const r = await search(ctx, count(ctx, 25, V1_MAX));
          // docker reads name and description; stars, official and automated mean nothing here.
          sendJson(ctx.res, 200, {
            num_results: r.results.length, query: r.q,
            results: r.results.map((x) => ({ name: x.name, description: x.description, star_count: 0, is_official: false, is_automated: false })),
          });
        },
      },
      {
        name: 'api.search', method: 'GET', path: '/api/v1/search', access: { kind: 'login' },
        doc: {
          summary: 'repositories whose name or description contains q, that the caller may pull, sorted by name; `next` (and a Link header) give the next page',
          query: [
            { name: 'q', description: 'the text to find (case-insensitive); empty finds all', schema: { type: 'string' } },
            { name: 'n', description: `page size (1-${API_MAX}, default ${API_DEFAULT})`, schema: { type: 'integer' } },
            { name: 'last', description: 'the `next` of the previous page', schema: { type: 'string' } },
          ],
        },
        handler: async (ctx) => {
          const limit = count(ctx, API_DEFAULT, API_MAX);
          const r = await search(ctx, limit, after(ctx));
          if (r.next !== null) {
            const q = new URLSearchParams({ q: r.q, n: String(limit), last: r.next });
            ctx.res.setHeader('Link', `<${ctx.location(`/api/v1/search?${q.toString()}`)}>; rel="next"`);
          }
          sendJson(ctx.res, 200, { query: r.q, results: r.results, next: r.next });
        },
      },
      {
        name: 'api.repository.description.get', method: 'GET', path: '/api/v1/repositories/{name}/description', access: { kind: 'repository', actions: ['pull'] },
        doc: { summary: 'the repository\'s description (empty when none was set)' },
        handler: async (ctx) => {
          const name = repositoryOf(ctx);
          const hit = await store.get(name);
          if (!hit) throw new RegistryError('NAME_UNKNOWN', undefined, { detail: { name } });
          sendJson(ctx.res, 200, hit);
        },
      },
      {
        name: 'api.repository.description.put', method: 'PUT', path: '/api/v1/repositories/{name}/description', access: { kind: 'repository', actions: ['push'] },
        doc: { summary: `set the repository's description (at most ${MAX_DESCRIPTION} characters; it goes with the repository when its last manifest is deleted)`, body: descriptionSchema },
        handler: async (ctx) => {
          const name = repositoryOf(ctx);
          const description = await readDescription(ctx);
          if (!(await store.setDescription(name, description))) throw new RegistryError('NAME_UNKNOWN', undefined, { detail: { name } });
          await options.audit?.record({
            time: Date.now(), actor: ctx.principal.name, action: 'repository.describe', target: name,
            remoteAddress: ctx.req.socket?.remoteAddress ?? null, outcome: 'success', detail: { length: description.length },
          });
          sendJson(ctx.res, 200, { name, description });
        },
      },
    ],
  };
}
