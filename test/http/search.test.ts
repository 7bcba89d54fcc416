import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { KyselySearchStore } from '../../src/metadata/kysely-search-store.js';
import { startTestBerth, errorCode, sha256, type TestBerth } from '../helpers/berth.js';

/**
 * Search (docs/search.md): docker's GET /v1/search and the management API's
 * GET /api/v1/search, with users, grants and visibility from Berth's
 * database. Each answer is compared exactly, and for every user with what a
 * pull of each repository answers: search shows exactly what may be pulled.
 */

const ADMIN_PASSWORD = 'admin-password-1';
const OCI = 'application/vnd.oci.image.manifest.v1+json';

interface Creds { user: string; password: string }
const basic = (c: Creds) => `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;

function client(url: string) {
  /** One registry request the way docker makes it: 401 Bearer challenge, a token, the request again. */
  async function call(method: string, path: string, creds?: Creds, body?: string, headers: Record<string, string> = {}): Promise<Response> {
    const first = await fetch(`${url}${path}`, { method, body, headers });
    if (first.status !== 401) return first;
    const scope = /scope="([^"]*)"/.exec(first.headers.get('www-authenticate') ?? '')?.[1];
    const q = new URLSearchParams({ service: 'berth' });
    if (scope) q.set('scope', scope);
    const tr = await fetch(`${url}/auth/token?${q}`, { headers: creds ? { Authorization: basic(creds) } : {} });
    if (tr.status !== 200) return tr;
    const { token } = (await tr.json()) as { token: string };
    return fetch(`${url}${path}`, { method, body, headers: { ...headers, Authorization: `Bearer ${token}` } });
  }

  async function pushImage(repo: string, tag: string, creds: Creds): Promise<string> {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', seed: Math.random() });
    const res1 = await call('POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(config)}`, creds, config);
    assert.equal(res1.status, 201, `blob push to ${repo}`);
    const manifest = JSON.stringify({
      schemaVersion: 2, mediaType: OCI,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: Buffer.byteLength(config) },
      layers: [],
    });
    const res = await call('PUT', `/v2/${repo}/manifests/${tag}`, creds, manifest, { 'Content-Type': OCI });
    assert.equal(res.status, 201, `manifest push to ${repo}`);
    return sha256(manifest);
  }

  /** docker search as a logged-in docker sends it: Basic credentials, X-Docker-Token: true. */
  async function v1(q: string, auth?: Creds | string, n = 25): Promise<Response> {
    const headers: Record<string, string> = { 'X-Docker-Token': 'true' };
    if (typeof auth === 'string') headers.Authorization = auth;
    else if (auth) headers.Authorization = basic(auth);
    return fetch(`${url}/v1/search?q=${encodeURIComponent(q)}&n=${n}`, { headers });
  }

  async function v1Names(q: string, auth?: Creds | string): Promise<string[]> {
    const res = await v1(q, auth);
    assert.equal(res.status, 200, `v1 search ${q}`);
    return ((await res.json()) as { results: { name: string }[] }).results.map((r) => r.name);
  }

  const api = (query: string, creds?: Creds) => fetch(`${url}/api/v1/search?${query}`, { headers: creds ? { Authorization: basic(creds) } : {} });
  return { call, pushImage, v1, v1Names, api };
}

/**
 * Holds every KyselySearchStore.reconcile until `release()`; `started`
 * gives the first held call's result (as `run`) once it began.
 */
function holdReconcile() {
  const original = KyselySearchStore.prototype.reconcile;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let began!: (call: { run: Promise<{ added: number; removed: number }> }) => void;
  const started = new Promise<{ run: Promise<{ added: number; removed: number }> }>((r) => (began = r));
  KyselySearchStore.prototype.reconcile = function (this: KyselySearchStore) {
    const run = gate.then(() => original.call(this));
    began({ run });
    return run;
  };
  return { started, release: () => release(), restore: () => { KyselySearchStore.prototype.reconcile = original; } };
}

describe('search (users from Berth\'s database)', () => {
  let t: TestBerth;
  let c: ReturnType<typeof client>;
  const admin: Creds = { user: 'admin', password: ADMIN_PASSWORD };
  const alice: Creds = { user: 'alice', password: 'alice-password' };
  const bob: Creds = { user: 'bob', password: 'bob-password' };
  const carol: Creds = { user: 'carol', password: 'carol-password' };
  const dave: Creds = { user: 'dave', password: 'dave-password' };
  const REPOS = ['acme/app', 'acme/tools/x', 'dave/own', 'pub/hidden', 'pub/img', 'secret/vault'];
  const digests: Record<string, string> = {};

  before(async () => {
    t = await startTestBerth({ REGISTRY_AUTH: 'token', REGISTRY_AUTH_ANONYMOUS: 'true', BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD });
    c = client(t.url);
    const id = t.berth.identity;
    for (const u of [alice, bob, carol, dave]) await id.createUser({ name: u.user, password: u.password });
    await id.createOrganization('acme');
    await id.createTeam('acme', 'ci');
    await id.addMember('acme', 'ci', 'carol');
    await id.grant({ subjectKind: 'user', subject: 'alice', resourceKind: 'repository', resource: 'acme/app', role: 'read' });
    await id.grant({ subjectKind: 'user', subject: 'bob', resourceKind: 'namespace', resource: 'acme', role: 'write' });
    await id.grant({ subjectKind: 'team', subject: 'acme/ci', resourceKind: 'namespace', resource: 'acme/tools', role: 'admin' });
    await id.setVisibility({ resourceKind: 'namespace', resource: 'pub', public: true });
    await id.setVisibility({ resourceKind: 'repository', resource: 'pub/hidden', public: false });
    for (const repo of REPOS) digests[repo] = await c.pushImage(repo, 'v1', admin);
    // The index follows repository.created events, delivered after the commit.
    await t.berth.events.idle();
  });
  after(async () => {
    await t?.close();
  });

  it('answers docker\'s /v1/search in the shape docker decodes', async () => {
    const ping = await fetch(`${t.url}/v1/_ping`);
    assert.equal(ping.status, 200);
    assert.equal(ping.headers.get('x-docker-registry-standalone'), 'true');
    assert.equal(await ping.json(), true);
    const res = await c.v1('img');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), {
      num_results: 1, query: 'img',
      results: [{ name: 'pub/img', description: '', star_count: 0, is_official: false, is_automated: false }],
    });
  });

  it('shows each caller exactly what it may pull', async () => {
    const expected: [string, Creds | undefined, string[]][] = [
      ['anonymous', undefined, ['pub/img']],
      ['dave (no grants, own namespace)', dave, ['dave/own', 'pub/img']],
      ['alice (read on a repository)', alice, ['acme/app', 'pub/img']],
      ['bob (write on a namespace)', bob, ['acme/app', 'acme/tools/x', 'pub/img']],
      ['carol (team grant on a nested namespace)', carol, ['acme/tools/x', 'pub/img']],
      ['admin', admin, REPOS],
    ];
    for (const [who, creds, names] of expected) {
      assert.deepEqual(await c.v1Names('', creds), names, `${who}: /v1/search`);
      const res = await c.api('q=', creds);
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as { results: { name: string }[] }).results.map((r) => r.name), names, `${who}: /api/v1/search`);
      // The same answer a pull gives, repository by repository.
      for (const repo of REPOS) {
        const pull = await c.call('GET', `/v2/${repo}/manifests/v1`, creds, undefined, { Accept: OCI });
        assert.equal(pull.status === 200, names.includes(repo), `${who} pulling ${repo}: ${pull.status}`);
      }
    }
  });

  it('takes the caller from a Bearer token, and limits an access token to its scopes', async () => {
    const tr = await fetch(`${t.url}/auth/token?service=berth&scope=registry:catalog:search`, { headers: { Authorization: basic(bob) } });
    assert.equal(tr.status, 200);
    const { token } = (await tr.json()) as { token: string };
    assert.deepEqual(await c.v1Names('', `Bearer ${token}`), ['acme/app', 'acme/tools/x', 'pub/img']);
    const { secret } = await t.berth.identity.createToken('bob', { name: 'ci', scopes: [{ type: 'repository', name: 'acme/app', actions: ['pull'] }] });
    assert.deepEqual(await c.v1Names('', { user: 'bob', password: secret }), ['acme/app'], 'Basic with the access token');
    const scoped = await fetch(`${t.url}/auth/token?service=berth&scope=registry:catalog:search`, { headers: { Authorization: basic({ user: 'bob', password: secret }) } });
    assert.equal(scoped.status, 200);
    const bearer = ((await scoped.json()) as { token: string }).token;
    assert.deepEqual(await c.v1Names('', `Bearer ${bearer}`), ['acme/app'], 'a bearer token of the access-token login');
  });

  it('refuses wrong credentials with 401 UNAUTHORIZED', async () => {
    const res = await c.v1('app', { user: 'bob', password: 'wrong-password' });
    assert.equal(res.status, 401);
    assert.equal(await errorCode(res), 'UNAUTHORIZED');
    const bad = await c.v1('app', 'Bearer not-a-token');
    assert.equal(bad.status, 401);
    assert.equal(await errorCode(bad), 'UNAUTHORIZED');
  });

  it('pages the management API by name with next and a Link header', async () => {
    const seen: string[] = [];
    let query = 'q=a&n=2';
    const nexts: (string | null)[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await c.api(query, admin);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { query: string; results: { name: string; description: string }[]; next: string | null };
      assert.equal(body.query, 'a');
      seen.push(...body.results.map((r) => r.name));
      nexts.push(body.next);
      if (body.next === null) {
        assert.equal(res.headers.get('link'), null);
        break;
      }
      const link = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1];
      assert.ok(link, 'a Link header to the next page');
      query = new URL(link, t.url).search.slice(1);
    }
    assert.deepEqual(seen, ['acme/app', 'acme/tools/x', 'dave/own', 'secret/vault']);
    assert.deepEqual(nexts, ['acme/tools/x', null]);
  });

  it('finds by description, which push access may set', async () => {
    const put = (repo: string, body: string, creds: Creds) => c.call('PUT', `/api/v1/repositories/${repo}/description`, creds, body, { 'Content-Type': 'application/json' });
    const ok = await put('acme/app', JSON.stringify({ description: 'The ACME storefront' }), bob);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { name: 'acme/app', description: 'The ACME storefront' });
    assert.deepEqual(await c.v1Names('storefront', alice), ['acme/app']);
    assert.deepEqual(await c.v1Names('STOREFRONT', dave), [], 'not for who may not pull it');
    const v1 = await c.v1('store', alice);
    assert.deepEqual(((await v1.json()) as { results: unknown[] }).results, [
      { name: 'acme/app', description: 'The ACME storefront', star_count: 0, is_official: false, is_automated: false },
    ]);
    const get = await c.call('GET', '/api/v1/repositories/acme/app/description', alice);
    assert.equal(get.status, 200);
    assert.deepEqual(await get.json(), { name: 'acme/app', description: 'The ACME storefront' });

    const denied = await put('acme/app', JSON.stringify({ description: 'mine' }), alice);
    assert.equal(denied.status, 403);
    assert.equal(await errorCode(denied), 'DENIED');
    const unknown = await put('acme/none', JSON.stringify({ description: 'x' }), admin);
    assert.equal(unknown.status, 404);
    assert.equal(await errorCode(unknown), 'NAME_UNKNOWN');
    for (const body of ['{', JSON.stringify({ description: 'x'.repeat(1001) }), JSON.stringify({ description: 'a\u0000b' }), JSON.stringify({ description: 1 }), JSON.stringify({ text: 'x' })]) {
      const res = await put('acme/app', body, bob);
      assert.equal(res.status, 400, body.slice(0, 40));
      assert.equal(await errorCode(res), 'BERTH_INVALID');
    }
    assert.deepEqual(await c.v1Names('storefront', admin), ['acme/app'], 'refused changes changed nothing');
    const audit = await t.berth.metadata.audit.list({ action: 'repository.describe', limit: 10 });
    assert.deepEqual(audit.map((e) => [e.actor, e.target, e.outcome, e.detail]), [['bob', 'acme/app', 'success', { length: 19 }]]);
  });

  it('refuses bad parameters with the catalogue\'s codes', async () => {
    for (const q of ['q=a&n=0', 'q=a&n=101', 'q=a&n=x']) {
      const res = await fetch(`${t.url}/v1/search?${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(await errorCode(res), 'PAGINATION_NUMBER_INVALID');
    }
    const long = await fetch(`${t.url}/api/v1/search?q=${'a'.repeat(256)}`);
    assert.equal(long.status, 400);
    assert.equal(await errorCode(long), 'BERTH_INVALID');
    const twice = await fetch(`${t.url}/api/v1/search?q=a&q=b`);
    assert.equal(twice.status, 400);
    assert.equal(await errorCode(twice), 'BERTH_INVALID');
    const big = await fetch(`${t.url}/api/v1/search?n=1001`);
    assert.equal(big.status, 400);
    assert.equal(await errorCode(big), 'PAGINATION_NUMBER_INVALID');
  });

  it('follows pushes and deletes, and rebuilds what it missed at start', async () => {
    const d = await c.pushImage('pub/fresh', 'v1', admin);
    await t.berth.events.idle();
    assert.deepEqual(await c.v1Names('fresh'), ['pub/fresh']);
    const del = await c.call('DELETE', `/v2/pub/fresh/manifests/${d}`, admin);
    assert.equal(del.status, 202);
    await t.berth.events.idle();
    assert.deepEqual(await c.v1Names('fresh'), []);
    assert.equal(await t.berth.metadata.search.get('pub/fresh'), null, 'the index row went with the repository');
    // An index that lost rows (as a crash between commit and listener would) is made whole after a
    // start, in the background: the start does not wait for it (it reads every repository and manifest).
    await t.berth.metadata.search.setDescription('pub/img', 'kept');
    const db = (t.berth.metadata as unknown as { db: { deleteFrom(table: string): { execute(): Promise<unknown> } } }).db;
    await db.deleteFrom('search_repositories').execute();
    assert.deepEqual(await c.v1Names(''), []);
    const held = holdReconcile();
    const restarting = t.restart();
    try {
      const { run } = await held.started;
      // The reconcile has begun and is held: the registry answers and is ready all the same.
      assert.equal((await c.call('GET', '/v2/', admin)).status, 200);
      assert.equal((await fetch(`${t.url}/readyz`)).status, 200);
      assert.deepEqual(await c.v1Names('', admin), [], 'meanwhile, answers come from the index as it is');
      held.release();
      await restarting;
      assert.deepEqual(await run, { added: REPOS.length, removed: 0 });
      assert.deepEqual(await c.v1Names('', admin), REPOS);
    } finally {
      held.release();
      held.restore();
      await restarting;
    }
  });
});

describe('search without Berth\'s users', () => {
  it('htpasswd: any user finds everything, anonymous is asked to log in', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-search-htpasswd-'));
    const file = path.join(dir, 'htpasswd');
    await writeFile(file, `eve:${bcrypt.hashSync('eve-password', 4)}\n`);
    const t = await startTestBerth({ REGISTRY_AUTH: 'htpasswd', REGISTRY_AUTH_HTPASSWD_REALM: 'berth', REGISTRY_AUTH_HTPASSWD_PATH: file });
    try {
      const eve = basic({ user: 'eve', password: 'eve-password' });
      const config = '{"architecture":"amd64","os":"linux"}';
      assert.equal((await fetch(`${t.url}/v2/team/app/blobs/uploads/?digest=${sha256(config)}`, { method: 'POST', body: config, headers: { Authorization: eve } })).status, 201);
      const manifest = JSON.stringify({ schemaVersion: 2, mediaType: OCI, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length }, layers: [] });
      assert.equal((await fetch(`${t.url}/v2/team/app/manifests/v1`, { method: 'PUT', body: manifest, headers: { Authorization: eve, 'Content-Type': OCI } })).status, 201);
      await t.berth.events.idle();
      const res = await fetch(`${t.url}/v1/search?q=app`, { headers: { Authorization: eve } });
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as { results: { name: string }[] }).results.map((r) => r.name), ['team/app']);
      const anonymous = await fetch(`${t.url}/v1/search?q=app`);
      assert.equal(anonymous.status, 401);
      assert.equal(await errorCode(anonymous), 'UNAUTHORIZED');
      assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm="berth"/);
    } finally {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
