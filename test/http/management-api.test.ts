import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBerth, errorCode, type TestBerth } from '../helpers/berth.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ADMIN = basic('admin', 'admin-password-1');

describe('management API (/api/v1)', () => {
  let t: TestBerth;
  const call = (method: string, path: string, auth: string | null, body?: unknown) =>
    fetch(`${t.url}/api/v1${path}`, {
      method,
      headers: { ...(auth ? { Authorization: auth } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });

  before(async () => {
    t = await startTestBerth({ REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: 'admin-password-1' });
  });
  after(async () => {
    await t?.close();
  });

  it('serves its OpenAPI 3.1 document without login', async () => {
    const res = await fetch(`${t.url}/api/v1/openapi.json`);
    assert.equal(res.status, 200);
    type Op = { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } };
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, Op>> };
    assert.equal(doc.openapi, '3.1.0');
    for (const p of ['/users', '/users/{user}', '/orgs', '/orgs/{org}/teams', '/orgs/{org}/teams/{team}/members/{user}', '/grants', '/tokens', '/tokens/{id}', '/bundle']) assert.ok(doc.paths[`/api/v1${p}`], p);
    assert.ok(doc.paths['/api/v1/users']?.post?.requestBody?.content['application/json']?.schema.properties?.password, 'request bodies from the services\' schemas');
  });

  it('asks for credentials, and refuses wrong ones', async () => {
    const res = await call('GET', '/users', null);
    assert.equal(res.status, 401);
    assert.equal(await errorCode(res), 'UNAUTHORIZED');
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
    assert.equal((await call('GET', '/users', basic('admin', 'wrong-password'))).status, 401);
  });

  it('lets administrators manage users; validates and reports conflicts from the catalogue', async () => {
    const created = await call('POST', '/users', ADMIN, { name: 'erin', password: 'erin-password' });
    assert.equal(created.status, 201);
    const text = await created.text();
    assert.ok(!text.includes('erin-password') && !text.includes('$2'), 'no password or hash in responses');
    assert.deepEqual(JSON.parse(text).name, 'erin');
    const dup = await call('POST', '/users', ADMIN, { name: 'erin', password: 'erin-password' });
    assert.equal(dup.status, 409);
    assert.equal(await errorCode(dup), 'BERTH_CONFLICT');
    const bad = await call('POST', '/users', ADMIN, { name: 'Not Valid', password: 'short' });
    assert.equal(bad.status, 400);
    const body = (await bad.json()) as { errors: { code: string; detail: { field: string }[] }[] };
    assert.equal(body.errors[0]?.code, 'BERTH_INVALID');
    assert.deepEqual(body.errors[0]?.detail.map((d) => d.field).sort(), ['name', 'password']);
    assert.equal((await call('POST', '/users', ADMIN, '{not json')).status, 400);
    assert.equal((await call('POST', '/users', ADMIN, { name: 'x'.repeat(70_000) })).status, 413);
    const listed = (await (await call('GET', '/users', ADMIN)).json()) as { users: { name: string }[] };
    assert.deepEqual(listed.users.map((u) => u.name), ['admin', 'erin']);
    assert.equal((await call('GET', '/users/nobody', ADMIN)).status, 404);
  });

  it('a user sees itself and changes its own password, nothing more', async () => {
    await t.berth.identity.createUser({ name: 'frank', password: 'frank-password' });
    const frank = basic('frank', 'frank-password');
    const me = await call('GET', '/me', frank);
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { name: string }).name, 'frank');
    const denied = await call('GET', '/users', frank);
    assert.equal(denied.status, 403);
    assert.equal(await errorCode(denied), 'DENIED');
    assert.equal((await call('PATCH', '/users/frank', frank, { admin: true })).status, 403);
    assert.equal((await call('GET', '/users/erin', frank)).status, 403);
    assert.equal((await call('PATCH', '/users/frank', frank, { password: 'frank-password-2' })).status, 200);
    assert.equal((await call('GET', '/me', frank)).status, 401, 'the old password is gone');
    assert.equal((await call('GET', '/me', basic('frank', 'frank-password-2'))).status, 200);
    assert.equal((await call('DELETE', '/users/admin', ADMIN)).status, 409, 'an administrator cannot delete itself');
  });

  it('organizations, teams, members and grants, then a pull with the grant', async () => {
    assert.equal((await call('POST', '/orgs', ADMIN, { name: 'globex' })).status, 201);
    assert.equal((await call('POST', '/orgs', ADMIN, { name: 'erin' })).status, 409, 'users and organizations share names');
    assert.equal((await call('POST', '/orgs/globex/teams', ADMIN, { name: 'devs' })).status, 201);
    assert.equal((await call('PUT', '/orgs/globex/teams/devs/members/erin', ADMIN)).status, 204);
    assert.equal((await call('PUT', '/orgs/globex/teams/devs/members/ghost', ADMIN)).status, 404);
    const team = (await (await call('GET', '/orgs/globex/teams/devs', ADMIN)).json()) as { members: string[] };
    assert.deepEqual(team.members, ['erin']);
    const grant = { subjectKind: 'team', subject: 'globex/devs', resourceKind: 'namespace', resource: 'globex', role: 'write' };
    assert.equal((await call('POST', '/grants', ADMIN, grant)).status, 200);
    assert.equal((await call('POST', '/grants', ADMIN, { ...grant, role: 'owner' })).status, 400);
    const grants = (await (await call('GET', '/grants?subjectKind=team&subject=globex/devs', ADMIN)).json()) as { grants: unknown[] };
    assert.deepEqual(grants.grants, [grant]);

    const tr = await fetch(`${t.url}/auth/token?service=berth&scope=repository:globex/app:pull,push`, { headers: { Authorization: basic('erin', 'erin-password') } });
    const { token } = (await tr.json()) as { token: string };
    assert.equal((await fetch(`${t.url}/v2/globex/app/blobs/uploads/`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } })).status, 202);
    // The same Bearer token authenticates the management API.
    assert.equal((await call('GET', '/me', `Bearer ${token}`)).status, 200);

    // An organization's admins (admin role on its namespace) manage its teams, and nothing else.
    const frank = basic('frank', 'frank-password-2');
    assert.equal((await call('POST', '/orgs/globex/teams', frank, { name: 'qa' })).status, 403);
    await call('POST', '/grants', ADMIN, { subjectKind: 'user', subject: 'frank', resourceKind: 'namespace', resource: 'globex', role: 'admin' });
    assert.equal((await call('POST', '/orgs/globex/teams', frank, { name: 'qa' })).status, 201);
    assert.equal((await call('PUT', '/orgs/globex/teams/qa/members/erin', frank)).status, 204);
    assert.equal((await call('GET', '/orgs/globex', frank)).status, 200);
    assert.equal((await call('DELETE', '/orgs/globex', frank)).status, 403, 'deleting the organization stays with administrators');
    assert.equal((await call('POST', '/grants', frank, { ...grant, role: 'admin' })).status, 403, 'grants stay with administrators');

    const q = new URLSearchParams({ subjectKind: 'team', subject: 'globex/devs', resourceKind: 'namespace', resource: 'globex' });
    assert.equal((await call('DELETE', `/grants?${q}`, ADMIN)).status, 204);
    assert.equal((await call('DELETE', `/grants?${q}`, ADMIN)).status, 404);
    assert.equal((await call('DELETE', '/orgs/globex', ADMIN)).status, 204);
  });

  it('users manage their own access tokens; the secret is shown once; tokens cannot use the API', async () => {
    const erin = basic('erin', 'erin-password');
    const created = await call('POST', '/tokens', erin, { name: 'laptop', scopes: [{ type: 'namespace', name: 'erin', actions: ['pull', 'push'] }], expiresInDays: 30 });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('cache-control'), 'no-store');
    const tok = (await created.json()) as { id: string; secret: string; expiresAt: string };
    assert.match(tok.secret, /^berth_/);
    assert.ok(tok.expiresAt);
    const list = await (await call('GET', '/tokens', erin)).text();
    assert.ok(list.includes(tok.id) && !list.includes(tok.secret.slice(24)), 'listed without its secret');
    const viaToken = await call('GET', '/me', basic('erin', tok.secret));
    assert.equal(viaToken.status, 403, 'an access token cannot use the management API');
    assert.equal((await call('GET', '/tokens?user=admin', erin)).status, 403);
    assert.equal((await call('DELETE', `/tokens/${tok.id}`, basic('frank', 'frank-password-2'))).status, 404, 'another user\'s token');
    assert.equal((await call('DELETE', `/tokens/${tok.id}`, erin)).status, 204);
    const after = (await (await call('GET', '/tokens', erin)).json()) as { tokens: { revokedAt: string | null }[] };
    assert.ok(after.tokens[0]?.revokedAt);
  });
});

describe('audit log', () => {
  let t: TestBerth;
  before(async () => {
    t = await startTestBerth({ REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: 'admin-password-1' });
  });
  after(async () => {
    await t?.close();
  });

  const events = async (query: string) => {
    const res = await fetch(`${t.url}/api/v1/audit?${query}`, { headers: { Authorization: ADMIN } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { events: { actor: string | null; action: string; target: string | null; outcome: string; detail: unknown; remoteAddress: string }[] }).events;
  };

  it('records logins, identity changes, pushes and pulls; admins only; no secrets', async () => {
    const post = (path: string, auth: string, body: unknown) => fetch(`${t.url}/api/v1${path}`, { method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post('/users', ADMIN, { name: 'gina', password: 'gina-password' })).status, 201);
    assert.equal((await post('/users', ADMIN, { name: 'gina', password: 'gina-password' })).status, 409);
    assert.equal((await fetch(`${t.url}/auth/token?service=berth`, { headers: { Authorization: basic('gina', 'wrong-password') } })).status, 401);
    const tok = (await (await post('/tokens', basic('gina', 'gina-password'), { name: 'ci', scopes: [{ type: 'namespace', name: 'gina', actions: ['pull', 'push'] }] })).json()) as { secret: string };
    // push and pull in gina's own namespace, with a Bearer token
    const tr = await fetch(`${t.url}/auth/token?service=berth&scope=repository:gina/app:pull,push`, { headers: { Authorization: basic('gina', 'gina-password') } });
    const { token } = (await tr.json()) as { token: string };
    const bearer = { Authorization: `Bearer ${token}` };
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 }, layers: [] });
    assert.equal((await fetch(`${t.url}/v2/gina/app/blobs/uploads/?digest=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a`, { method: 'POST', body: '{}', headers: bearer })).status, 201);
    assert.equal((await fetch(`${t.url}/v2/gina/app/manifests/v1`, { method: 'PUT', body: manifest, headers: { ...bearer, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } })).status, 201);
    assert.equal((await fetch(`${t.url}/v2/gina/app/manifests/v1`, { headers: bearer })).status, 200);

    let all: Awaited<ReturnType<typeof events>> = [];
    for (let i = 0; i < 50 && !all.some((e) => e.action === 'manifest.pull'); i++) {
      await new Promise((r) => setTimeout(r, 20));
      all = await events('limit=1000');
    }
    const has = (action: string, actor: string | null, outcome: string) => all.some((e) => e.action === action && e.actor === actor && e.outcome === outcome);
    assert.ok(has('user.create', 'admin', 'success'));
    assert.ok(has('user.create', 'admin', 'failure'), 'a refused change is recorded too');
    assert.ok(has('login', 'gina', 'failure'));
    assert.ok(has('login', 'gina', 'success'));
    assert.ok(has('token.create', 'gina', 'success'));
    assert.ok(has('manifest.push', 'gina', 'success'));
    assert.ok(has('manifest.pull', 'gina', 'success'));
    const text = JSON.stringify(all);
    for (const secret of ['gina-password', 'wrong-password', 'admin-password-1', tok.secret.slice(24)]) assert.ok(!text.includes(secret), 'no secrets in the audit log');
    const onlyGinaLogins = await events('actor=gina&action=login');
    assert.ok(onlyGinaLogins.length >= 2 && onlyGinaLogins.every((e) => e.actor === 'gina' && e.action === 'login'));
    assert.equal((await events('since=2999-01-01T00:00:00Z')).length, 0);
    assert.equal((await fetch(`${t.url}/api/v1/audit`, { headers: { Authorization: basic('gina', 'gina-password') } })).status, 403);
    assert.equal((await fetch(`${t.url}/api/v1/audit?limit=0`, { headers: { Authorization: ADMIN } })).status, 400);
  });
});

describe('management API without users from the database', () => {
  it('answers 404 naming the configuration it needs', async () => {
    const t = await startTestBerth();
    try {
      const res = await fetch(`${t.url}/api/v1/users`);
      assert.equal(res.status, 404);
      const body = (await res.json()) as { errors: { message: string }[] };
      assert.match(body.errors[0]?.message ?? '', /auth\.token/);
    } finally {
      await t.close();
    }
  });
});
