import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ACCESS_KINDS, fillPath, openApiPath, type Route } from '../../src/http/index.js';
import { errorCode, sha256, startTestBerth, type TestBerth } from '../helpers/berth.js';

/**
 * Properties of the whole route table, checked by walking it: a route added
 * later is covered without anyone remembering to add a test for it.
 */

const ADMIN_PASSWORD = 'admin-password-1';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Sample values for every path parameter a route may have. */
const SAMPLE: Record<string, string> = {
  name: 'acme/app', reference: 'v1', digest: sha256('x'), uuid: randomUUID(), user: 'nobody', org: 'acme', team: 'ci', id: 'abcdef0123456789',
  gun: 'acme/app', file: 'targets/releases.json', role: 'timestamp', scope: 'repository:acme/app', namespace: 'acme',
};

function send(url: string, route: Route, authorization?: string): Promise<Response> {
  const path = fillPath(route.path, SAMPLE);
  const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
  const hasBody = route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH';
  if (hasBody) headers['Content-Type'] = 'application/json';
  return fetch(`${url}${path}`, { method: route.method, headers, ...(hasBody ? { body: '{}' } : {}) });
}

describe('the route table', () => {
  let t: TestBerth;
  let routes: readonly Route[];
  before(async () => {
    t = await startTestBerth({ REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD });
    await t.berth.identity.createUser({ name: 'carl', password: 'carl-password' });
    await t.berth.identity.createOrganization('acme');
    routes = t.berth.http.routes.routes;
  });
  after(async () => {
    await t?.close();
  });

  it('every route has a name, an access kind, and a unique method and path', () => {
    assert.ok(routes.length >= 40, `${routes.length} routes`);
    const seen = new Set<string>();
    for (const r of routes) {
      assert.ok(ACCESS_KINDS.includes(r.access.kind), `${r.name}: access kind ${String(r.access.kind)}`);
      assert.ok(r.doc.summary.length > 0, `${r.name}: summary`);
      const key = `${r.method} ${r.path}`;
      assert.ok(!seen.has(key), key);
      seen.add(key);
    }
  });

  it('every route is in openapi.json, with its method and access kind', async () => {
    const res = await fetch(`${t.url}/api/v1/openapi.json`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { paths: Record<string, Record<string, { operationId: string; 'x-berth-access': { kind: string } }>> };
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.entries(ops).map(([m, op]) => `${m.toUpperCase()} ${p} ${op.operationId} ${op['x-berth-access'].kind}`)).sort();
    const served = routes.map((r) => `${r.method} ${openApiPath(r.path)} ${r.name} ${r.access.kind}`).sort();
    assert.deepEqual(documented, served);
  });

  it('no admin route lets a signed-in non-administrator (or anyone anonymous) through', async () => {
    const admin = routes.filter((r) => r.access.kind === 'admin');
    assert.ok(admin.length >= 10, `${admin.length} admin routes`);
    for (const r of admin) {
      const res = await send(t.url, r, basic('carl', 'carl-password'));
      assert.equal(res.status, 403, `${r.method} ${r.path} as a user`);
      assert.equal(await errorCode(res), 'DENIED', `${r.method} ${r.path}`);
      assert.equal((await send(t.url, r)).status, 401, `${r.method} ${r.path} anonymous`);
    }
  });

  it('org-admin routes refuse a user who administers neither Berth nor the organization', async () => {
    const orgAdmin = routes.filter((r) => r.access.kind === 'org-admin');
    assert.ok(orgAdmin.length >= 5);
    for (const r of orgAdmin) {
      const res = await send(t.url, r, basic('carl', 'carl-password'));
      assert.equal(res.status, 403, `${r.method} ${r.path}`);
      assert.equal((await send(t.url, r)).status, 401, `${r.method} ${r.path} anonymous`);
    }
  });

  it('user routes need a signed-in user; repository and catalog routes need a token', async () => {
    for (const r of routes.filter((x) => ['user', 'repository', 'catalog', 'registry'].includes(x.access.kind))) {
      const res = await send(t.url, r);
      assert.equal(res.status, 401, `${r.method} ${r.path} anonymous`);
      if (r.method !== 'HEAD') assert.equal(await errorCode(res), 'UNAUTHORIZED', `${r.method} ${r.path}`);
    }
    // The catalog is for administrators: carl's token does not cover it.
    const tr = await fetch(`${t.url}/auth/token?service=berth&scope=registry:catalog:*`, { headers: { Authorization: basic('carl', 'carl-password') } });
    const { token } = (await tr.json()) as { token: string };
    assert.equal((await fetch(`${t.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${token}` } })).status, 403);
  });

  it('public routes answer without credentials; login routes judge what they are sent', async () => {
    for (const r of routes.filter((x) => x.access.kind === 'public')) {
      assert.equal((await send(t.url, r)).status, 200, `${r.method} ${r.path}`);
    }
    for (const r of routes.filter((x) => x.access.kind === 'login')) {
      // No credentials: an anonymous token (GET); the POST form needs a form body, so 400, not 401.
      const res = await send(t.url, r);
      assert.equal(res.status, r.method === 'GET' ? 200 : 400, `${r.method} ${r.path}`);
      assert.equal((await send(t.url, r, basic('carl', 'wrong-password'))).status, r.method === 'GET' ? 401 : 400, `${r.method} ${r.path} with a wrong password`);
    }
  });
});
