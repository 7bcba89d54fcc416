import { z } from 'zod';
import { errorCatalog } from '../errors/index.js';
import type { AccessKind, Route, RouteTable } from './route-table.js';

/** What each access kind means to a reader of the document. */
const ACCESS_TEXT: Record<AccessKind, string> = {
  public: 'Public: no credentials.',
  login: 'Checks the credentials it is sent (Basic, or the OAuth2 form).',
  registry: 'Any caller the registry lets in (a 401 names how to authenticate).',
  repository: 'Needs the named actions on the repository in the path.',
  catalog: 'Needs registry:catalog:* (administrators).',
  user: 'A signed-in user (password; access tokens refused).',
  admin: 'A system administrator.',
  'org-admin': 'An administrator, or an admin of the organization in the path.',
};

/** OpenAPI templates have no multi-segment marker: `{file+}` is written `{file}`. */
export function openApiPath(path: string): string {
  return path.replace(/\{([a-z]+)\+\}/gi, '{$1}');
}

function parameterNames(path: string): string[] {
  return [...path.matchAll(/\{([a-z]+)\+?\}/gi)].map((m) => m[1] as string);
}

function operation(route: Route, group: string): Record<string, unknown> {
  const { doc, access } = route;
  const status = String(doc.status ?? 200);
  const errors = { $ref: '#/components/responses/Error' };
  const responses: Record<string, unknown> = { [status]: { description: doc.binary ? 'Success (see the OCI Distribution Spec for headers and body)' : 'Success' } };
  for (const s of access.kind === 'public' ? ['404'] : ['400', '401', '403', '404']) responses[s] = errors;
  const op: Record<string, unknown> = {
    operationId: route.name,
    summary: doc.summary,
    tags: [group],
    description: `${ACCESS_TEXT[access.kind]}${access.kind === 'repository' ? ` Actions: ${access.actions.join(', ')}.` : ''}`,
    'x-berth-access': access.kind === 'repository' ? { kind: access.kind, actions: access.actions } : { kind: access.kind },
    responses,
  };
  if (access.kind !== 'public' && access.kind !== 'login') op.security = [{ basic: [] }, { bearer: [] }];
  const params: Record<string, unknown>[] = parameterNames(route.path).map((name) => ({
    name, in: 'path', required: true, schema: { type: 'string' },
    ...(name === 'name' ? { description: 'repository name; may contain /', allowReserved: true } : {}),
  }));
  for (const p of doc.query ?? []) params.push({ name: p.name, in: 'query', required: p.required ?? false, schema: p.schema ?? { type: 'string' }, ...(p.description ? { description: p.description } : {}) });
  if (params.length > 0) op.parameters = params;
  if (doc.body) op.requestBody = { required: true, content: { 'application/json': { schema: z.toJSONSchema(doc.body, { io: 'input' }) } } };
  return op;
}

/**
 * The OpenAPI 3.1 document of every route, derived from the route table:
 * paths, methods, access kinds, parameters, and request bodies from the
 * same zod schemas the services validate with. A route cannot be served
 * without being documented.
 */
export function openApiDocument(table: RouteTable): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const group of table.groups) {
    for (const route of group.routes) {
      const item = (paths[openApiPath(route.path)] ??= {});
      item[route.method.toLowerCase()] = operation(route, group.name);
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Berth',
      version: '1',
      description: `Every route Berth serves. Errors are {"errors":[{"code","message","detail"}]} with codes from Berth's catalogue (${Object.keys(errorCatalog).length} codes; docs/errors.md).`,
    },
    tags: table.groups.map((g) => ({ name: g.name, description: g.description })),
    components: {
      securitySchemes: { basic: { type: 'http', scheme: 'basic' }, bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT from /auth/token' } },
      responses: {
        Error: {
          description: 'An error from the catalogue',
          content: { 'application/json': { schema: { type: 'object', properties: { errors: { type: 'array', items: { type: 'object', properties: { code: { type: 'string', enum: Object.keys(errorCatalog) }, message: { type: 'string' }, detail: {} } } } } } } },
        },
      },
    },
    paths,
  };
}
