import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { startTestBerth, errorCode, sha256, type TestBerth } from '../helpers/berth.js';

/**
 * Users, organizations, teams and grants from Berth's database
 * (auth.token without htpasswd), exercised as docker does it: a request, a
 * 401 Bearer challenge, a token from /auth/token with Basic credentials, the
 * request again with the token.
 */

const ADMIN_PASSWORD = 'admin-password-1';
const OCI = 'application/vnd.oci.image.manifest.v1+json';

interface Creds { user: string; password: string }
const basic = (c: Creds) => `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;

function client(url: string) {
  /** One request the way docker makes it. */
  async function call(method: string, path: string, creds?: Creds, body?: string, headers: Record<string, string> = {}): Promise<Response> {
    const first = await fetch(`${url}${path}`, { method, body, headers });
    if (first.status !== 401) return first;
    const challenge = first.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer realm=/);
    const scope = /scope="([^"]*)"/.exec(challenge)?.[1];
    const q = new URLSearchParams({ service: 'berth' });
    if (scope) q.set('scope', scope);
    const tr = await fetch(`${url}/auth/token?${q}`, { headers: creds ? { Authorization: basic(creds) } : {} });
    if (tr.status !== 200) return tr;
    const { token } = (await tr.json()) as { token: string };
    return fetch(`${url}${path}`, { method, body, headers: { ...headers, Authorization: `Bearer ${token}` } });
  }

  async function pushImage(repo: string, tag: string, creds: Creds): Promise<string> {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', seed: Math.random() });
    const layer = `layer-${Math.random()}`;
    for (const data of [config, layer]) {
      const res = await call('POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, creds, data);
      assert.equal(res.status, 201, `blob push to ${repo}: ${res.status}`);
    }
    const manifest = JSON.stringify({
      schemaVersion: 2, mediaType: OCI,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: Buffer.byteLength(config) },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: Buffer.byteLength(layer) }],
    });
    const res = await call('PUT', `/v2/${repo}/manifests/${tag}`, creds, manifest, { 'Content-Type': OCI });
    assert.equal(res.status, 201, `manifest push to ${repo}: ${res.status}`);
    return sha256(manifest);
  }

  const pull = (repo: string, ref: string, creds?: Creds) => call('GET', `/v2/${repo}/manifests/${ref}`, creds, undefined, { Accept: OCI });
  const startPush = (repo: string, creds?: Creds) => call('POST', `/v2/${repo}/blobs/uploads/`, creds);
  const del = (repo: string, digest: string, creds?: Creds) => call('DELETE', `/v2/${repo}/manifests/${digest}`, creds);
  return { call, pushImage, pull, startPush, del };
}

describe('grants (users from Berth\'s database)', () => {
  let t: TestBerth;
  let c: ReturnType<typeof client>;
  const admin: Creds = { user: 'admin', password: ADMIN_PASSWORD };
  const alice: Creds = { user: 'alice', password: 'alice-password' };
  const bob: Creds = { user: 'bob', password: 'bob-password' };
  const carol: Creds = { user: 'carol', password: 'carol-password' };
  const dave: Creds = { user: 'dave', password: 'dave-password' };
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
    for (const repo of ['acme/app', 'acme/tools/x', 'pub/img', 'pub/hidden']) digests[repo] = await c.pushImage(repo, 'v1', admin);
  });
  after(async () => {
    await t?.close();
  });

  it('creates the first administrator from BERTH_ADMIN_PASSWORD', async () => {
    const res = await c.call('GET', '/v2/_catalog', admin);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { repositories: string[] };
    assert.deepEqual(body.repositories, ['acme/app', 'acme/tools/x', 'pub/hidden', 'pub/img']);
    const wrong = await c.call('GET', '/v2/', { user: 'admin', password: 'nope-nope' });
    assert.equal(wrong.status, 401);
  });

  it('read: pull yes, push and delete 403 DENIED', async () => {
    assert.equal((await c.pull('acme/app', 'v1', alice)).status, 200);
    const push = await c.startPush('acme/app', alice);
    assert.equal(push.status, 403);
    assert.equal(await errorCode(push), 'DENIED');
    assert.equal((await c.del('acme/app', digests['acme/app'] as string, alice)).status, 403);
  });

  it('write on a namespace: pull and push under it, no delete, nothing outside it', async () => {
    assert.equal((await c.pull('acme/app', 'v1', bob)).status, 200);
    assert.equal((await c.pull('acme/tools/x', 'v1', bob)).status, 200, 'nested repositories are under the namespace');
    assert.equal((await c.startPush('acme/new', bob)).status, 202);
    assert.equal((await c.del('acme/app', digests['acme/app'] as string, bob)).status, 403);
    assert.equal((await c.pull('pub/hidden', 'v1', bob)).status, 403);
  });

  it('team grants reach members, on nested namespaces only', async () => {
    assert.equal((await c.pull('acme/tools/x', 'v1', carol)).status, 200);
    assert.equal((await c.startPush('acme/tools/x', carol)).status, 202);
    assert.equal((await c.pull('acme/app', 'v1', carol)).status, 403, 'admin on acme/tools is nothing on acme/app');
    const d = await c.pushImage('acme/tools/y', 'tmp', carol);
    assert.equal((await c.del('acme/tools/y', d, carol)).status, 202, 'admin may delete');
    await t.berth.identity.removeMember('acme', 'ci', 'carol');
    assert.equal((await c.pull('acme/tools/x', 'v1', carol)).status, 403, 'leaving the team takes the grant away');
    await t.berth.identity.addMember('acme', 'ci', 'carol');
  });

  it('a user owns its namespace', async () => {
    assert.equal((await c.startPush('dave/thing', dave)).status, 202);
    assert.equal((await c.startPush('alice/thing', dave)).status, 403);
  });

  it('without a grant: 403 DENIED when logged in, 401 with the challenge when anonymous', async () => {
    const denied = await c.pull('acme/app', 'v1', dave);
    assert.equal(denied.status, 403);
    assert.equal(await errorCode(denied), 'DENIED');
    const anon = await fetch(`${t.url}/v2/acme/app/manifests/v1`);
    assert.equal(anon.status, 401);
    assert.equal(anon.headers.get('www-authenticate'), `Bearer realm="${t.url}/auth/token",service="berth",scope="repository:acme/app:pull"`);
    const viaToken = await c.pull('acme/app', 'v1');
    assert.equal(viaToken.status, 401, 'an anonymous token without the scope is still 401');
  });

  it('anonymous pulls public repositories only (a private flag beats a public namespace)', async () => {
    assert.equal((await c.pull('pub/img', 'v1')).status, 200);
    assert.equal((await c.pull('pub/hidden', 'v1')).status, 401);
    assert.equal((await c.startPush('pub/img')).status, 401);
    assert.equal((await c.pull('pub/img', 'v1', dave)).status, 200, 'logged-in users pull public repositories too');
    assert.equal((await c.startPush('pub/img', dave)).status, 403);
  });

  it('the catalog is for administrators', async () => {
    assert.equal((await c.call('GET', '/v2/_catalog', alice)).status, 403);
    assert.equal((await c.call('GET', '/v2/_catalog')).status, 401);
  });

  it('an access token is a docker-login password, limited to its scopes', async () => {
    const { secret, token } = await t.berth.identity.createToken('bob', { name: 'ci pull', scopes: [{ type: 'repository', name: 'acme/app', actions: ['pull'] }] });
    assert.match(secret, /^berth_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.ok(!JSON.stringify(await t.berth.identity.listTokens('bob')).includes(secret.slice(24)), 'the secret is never listed');
    const viaToken: Creds = { user: 'bob', password: secret };
    assert.equal((await c.pull('acme/app', 'v1', viaToken)).status, 200);
    assert.equal((await c.startPush('acme/app', viaToken)).status, 403, 'bob may push, his pull-only token may not');
    assert.equal((await c.pull('acme/tools/x', 'v1', viaToken)).status, 403, 'outside the scopes');
    assert.equal((await c.call('GET', '/v2/', { user: 'alice', password: secret })).status, 401, 'another user name');
    const listed = (await t.berth.identity.listTokens('bob')).find((x) => x.id === token.id);
    assert.ok(listed?.lastUsedAt, 'use is recorded');
    // docker login: the OAuth2 POST; no refresh token that would outlive the scopes
    const form = new URLSearchParams({ grant_type: 'password', username: 'bob', password: secret, service: 'berth', access_type: 'offline', scope: 'repository:acme/app:pull' });
    const login = await fetch(`${t.url}/auth/token`, { method: 'POST', body: form, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assert.equal(login.status, 200);
    assert.equal(((await login.json()) as { refresh_token?: string }).refresh_token, undefined);

    await t.berth.identity.revokeToken('bob', token.id);
    assert.equal((await c.pull('acme/app', 'v1', viaToken)).status, 401, 'revoked');
  });

  it('refuses an expired token and a disabled user', async () => {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    await t.berth.metadata.identity.createAccessToken({
      id, name: 'old', user: 'alice', secretHash: createHash('sha256').update(secret).digest('hex'),
      scopes: [{ type: 'namespace', name: 'acme', actions: ['pull'] }], expiresAt: Date.now() - 1000, revokedAt: null, lastUsedAt: null, createdAt: Date.now() - 5000,
    });
    assert.equal((await c.pull('acme/app', 'v1', { user: 'alice', password: `berth_${id}_${secret}` })).status, 401, 'expired');

    await t.berth.identity.updateUser('dave', { disabled: true });
    assert.equal((await c.call('GET', '/v2/', dave)).status, 401);
    await t.berth.identity.updateUser('dave', { disabled: false });
    assert.equal((await c.call('GET', '/v2/', dave)).status, 200);
  });
});

describe('the first administrator without BERTH_ADMIN_PASSWORD', () => {
  it('gets a random password, printed once to stderr', async () => {
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    let t: TestBerth;
    try {
      t = await startTestBerth({ REGISTRY_AUTH: 'token' });
    } finally {
      process.stderr.write = write;
    }
    try {
      const text = written.join('');
      const password = /user "admin" with password (\S+)/.exec(text)?.[1];
      assert.ok(password, text);
      assert.match(text, /change it/);
      const c = client(t.url);
      assert.equal((await c.call('GET', '/v2/_catalog', { user: 'admin', password })).status, 200);
      await t.restart();
      assert.equal((await client(t.url).call('GET', '/v2/_catalog', { user: 'admin', password })).status, 200, 'not replaced at the next start');
    } finally {
      await t.close();
    }
  });
});

/**
 * The namespace escape found by the outside probe: a scope whose first name
 * component looked like a host had that component removed before the policy
 * check, while the token was issued for the full name. Now a host prefix is
 * removed only when it names this registry, and the token names exactly what
 * was authorized.
 */
describe('repository names with a host in token scopes', () => {
  let t: TestBerth;
  let c: ReturnType<typeof client>;
  const admin: Creds = { user: 'admin', password: ADMIN_PASSWORD };
  const alice: Creds = { user: 'alice', password: 'alice-password' };
  const john: Creds = { user: 'john.doe', password: 'john-password' };

  before(async () => {
    t = await startTestBerth({ REGISTRY_AUTH: 'token', REGISTRY_AUTH_ANONYMOUS: 'true', BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD, REGISTRY_HTTP_ALIASES: 'registry.example.com,localhost:5000' });
    c = client(t.url);
    const id = t.berth.identity;
    for (const u of [alice, john]) await id.createUser({ name: u.user, password: u.password });
    await id.createOrganization('acme.io');
    await id.setVisibility({ resourceKind: 'repository', resource: 'pubtool', public: true });
    await c.pushImage('pubtool', 'v1', admin);
    await c.pushImage('john.doe/pubtool', 'v1', admin);
  });
  after(async () => {
    await t?.close();
  });

  async function token(scope: string, creds?: Creds): Promise<{ token: string; access: unknown }> {
    const q = new URLSearchParams({ service: 'berth', scope });
    const res = await fetch(`${t.url}/auth/token?${q}`, { headers: creds ? { Authorization: basic(creds) } : {} });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { token: string };
    const claims = JSON.parse(Buffer.from(body.token.split('.')[1] as string, 'base64url').toString()) as { access: unknown };
    return { token: body.token, access: claims.access };
  }

  const bearer = (tok: string) => ({ Authorization: `Bearer ${tok}` });

  for (const repo of ['john.doe/alice/pwn', 'acme.io/alice/x', 'localhost/alice']) {
    it(`a user without grants gets nothing on ${repo}, and cannot push there`, async () => {
      const { token: tok, access } = await token(`repository:${repo}:pull,push,delete`, alice);
      assert.deepEqual(access, []);
      const push = await fetch(`${t.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: bearer(tok) });
      assert.equal(push.status, 403);
      assert.equal(await errorCode(push), 'DENIED');
      assert.equal((await c.startPush(repo, alice)).status, 403, 'nor through the docker flow');
    });
  }

  it('a public top-level repository does not open a private one of the same name under a user', async () => {
    const { token: tok, access } = await token('repository:john.doe/pubtool:pull', alice);
    assert.deepEqual(access, []);
    const res = await fetch(`${t.url}/v2/john.doe/pubtool/manifests/v1`, { headers: { ...bearer(tok), Accept: OCI } });
    assert.equal(res.status, 403);
    assert.deepEqual((await token('repository:john.doe/pubtool:pull')).access, [], 'anonymous either');
    assert.equal((await c.pull('pubtool', 'v1')).status, 200, 'the public one stays public');
  });

  it('a user whose name contains a dot pushes to its own namespace', async () => {
    const { access } = await token('repository:john.doe/app:pull,push', john);
    assert.deepEqual(access, [{ type: 'repository', name: 'john.doe/app', actions: ['pull', 'push'] }]);
    await c.pushImage('john.doe/app', 'v1', john);
    assert.equal((await c.pull('john.doe/app', 'v1', john)).status, 200);
    assert.equal((await c.pull('john.doe/app', 'v1', alice)).status, 403);
  });

  it('this registry\'s own host names (request host, http.aliases) are removed, and the token names the canonical repository', async () => {
    const own = new URL(t.url).host;
    for (const scoped of [`${own}/alice/app`, 'registry.example.com/alice/app', 'registry.example.com:443/alice/app', 'localhost:5000/alice/app']) {
      const { token: tok, access } = await token(`repository:${scoped}:push,pull`, alice);
      assert.deepEqual(access, [{ type: 'repository', name: 'alice/app', actions: ['push', 'pull'] }], scoped);
      const push = await fetch(`${t.url}/v2/alice/app/blobs/uploads/`, { method: 'POST', headers: bearer(tok) });
      assert.equal(push.status, 202, scoped);
    }
    assert.deepEqual((await token('repository:registry.example.com:5000/alice/app:pull', alice)).access, [], 'another port is another registry: not a valid name here');
  });

  it('a forged Host header only changes which name is authorized, never lets another be acted on', async () => {
    // Host: john.doe makes "john.doe/alice/pwn" read as alice/pwn, alice's own
    // repository, and the token says so: it does not cover john.doe/alice/pwn.
    const { request } = await import('node:http');
    const body = await new Promise<string>((resolve, reject) => {
      const u = new URL(`${t.url}/auth/token?${new URLSearchParams({ service: 'berth', scope: 'repository:john.doe/alice/pwn:pull,push' })}`);
      const req = request({ host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, headers: { Host: 'john.doe', Authorization: basic(alice) } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve(text));
      });
      req.on('error', reject).end();
    });
    const tok = (JSON.parse(body) as { token: string }).token;
    const claims = JSON.parse(Buffer.from(tok.split('.')[1] as string, 'base64url').toString()) as { access: unknown };
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'alice/pwn', actions: ['pull', 'push'] }]);
    const push = await fetch(`${t.url}/v2/john.doe/alice/pwn/blobs/uploads/`, { method: 'POST', headers: bearer(tok) });
    assert.equal(push.status, 403);
  });
});
