import { z } from 'zod';
import { createTokenSchema, createUserSchema, grantSchema, updateUserSchema, visibilitySchema } from '../../../identity/index.js';
import { sendJson } from '../../respond.js';
import type { RequestContext } from '../../context.js';

const json = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const body = (name: string) => ({ required: true, content: { 'application/json': { schema: ref(name) } } });
const ok = (description: string, schema?: unknown) => (schema ? { description, content: { 'application/json': { schema } } } : { description });
const errors = { $ref: '#/components/responses/Error' };
const param = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });
const op = (summary: string, extra: Record<string, unknown> = {}, status: 200 | 201 | 204 = 200) => ({
  summary, security: [{ basic: [] }, { bearer: [] }],
  responses: { [status]: ok(status === 204 ? 'Done, no body' : status === 201 ? 'Created' : 'OK'), 400: errors, 401: errors, 403: errors, 404: errors, 409: errors },
  ...extra,
});
const create = (summary: string, name: string) => op(summary, { requestBody: body(name) }, 201);
const done = (summary: string) => op(summary, {}, 204);

let cached: unknown;

/** The management API as an OpenAPI 3.1 document; request bodies come from the services' own zod schemas. */
export function openApiDocument(): unknown {
  cached ??= {
    openapi: '3.1.0',
    info: { title: 'Berth management API', version: '1', description: 'Users, organizations, teams, grants, visibility and access tokens. Administrators only, except /me, a user\'s own password and tokens, and an organization\'s teams and members, which its admins (admin role on the namespace <org>) may manage too. Errors: {"errors":[{"code","message","detail"}]} with codes from Berth\'s catalogue (BERTH_INVALID 400, UNAUTHORIZED 401, DENIED 403, BERTH_NOT_FOUND 404, BERTH_CONFLICT 409).' },
    servers: [{ url: '/api/v1' }],
    components: {
      securitySchemes: { basic: { type: 'http', scheme: 'basic' }, bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT from /auth/token' } },
      schemas: {
        CreateUser: json(createUserSchema), UpdateUser: json(updateUserSchema), Grant: json(grantSchema), Visibility: json(visibilitySchema), CreateToken: json(createTokenSchema),
        Name: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      },
      responses: { Error: ok('An error from the catalogue', { type: 'object', properties: { errors: { type: 'array', items: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, detail: {} } } } } }) },
    },
    paths: {
      '/me': { get: op('the caller, with its teams') },
      '/users': { get: op('list users'), post: create('create a user', 'CreateUser') },
      '/users/{user}': {
        parameters: [param('user')],
        get: op('one user'), patch: op('change password, admin or disabled', { requestBody: body('UpdateUser') }), delete: done('delete a user, its memberships, grants and tokens'),
      },
      '/orgs': { get: op('list organizations'), post: create('create an organization', 'Name') },
      '/orgs/{org}': { parameters: [param('org')], get: op('an organization and its teams'), delete: done('delete an organization and its teams') },
      '/orgs/{org}/teams': { parameters: [param('org')], get: op('list teams'), post: create('create a team', 'Name') },
      '/orgs/{org}/teams/{team}': { parameters: [param('org'), param('team')], get: op('a team and its members'), delete: done('delete a team') },
      '/orgs/{org}/teams/{team}/members': { parameters: [param('org'), param('team')], get: op('list members') },
      '/orgs/{org}/teams/{team}/members/{user}': { parameters: [param('org'), param('team'), param('user')], put: done('add a member'), delete: done('remove a member') },
      '/grants': {
        get: op('list grants, optionally of one subject', { parameters: ['subjectKind', 'subject'].map((name) => ({ name, in: 'query', schema: { type: 'string' } })) }),
        post: op('grant a role (or change it)', { requestBody: body('Grant') }),
        delete: op('remove a grant', { responses: { 204: ok('Done, no body'), 400: errors, 401: errors, 403: errors, 404: errors }, parameters: ['subjectKind', 'subject', 'resourceKind', 'resource'].map((name) => ({ name, in: 'query', required: true, schema: { type: 'string' } })) }),
      },
      '/visibility': { get: op('list visibility flags'), put: op('make a repository or namespace public or private', { requestBody: body('Visibility') }) },
      '/tokens': {
        get: op('list the caller\'s access tokens (administrators: ?user=)'),
        post: create('create an access token; the response holds the secret, shown only this once', 'CreateToken'),
      },
      '/tokens/{id}': { parameters: [param('id')], delete: done('revoke an access token') },
      '/audit': {
        get: op('audit events, newest first: logins, pushes, pulls, deletes and identity changes', {
          parameters: [
            { name: 'actor', in: 'query', schema: { type: 'string' } },
            { name: 'action', in: 'query', schema: { type: 'string' }, description: 'e.g. login, manifest.push, manifest.pull, manifest.delete, user.create, grant.put, token.create' },
            { name: 'since', in: 'query', schema: { type: 'string' }, description: 'ISO 8601 time or epoch milliseconds' },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
          ],
        }),
      },
    },
  };
  return cached;
}

export async function openApi(ctx: RequestContext): Promise<void> {
  sendJson(ctx.res, 200, openApiDocument());
}
