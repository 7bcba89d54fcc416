import http from 'node:http';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { importPKCS8, SignJWT, decodeJwt } from 'jose';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { startTestBerth, errorCode, sha256, type TestBerth } from '../helpers/berth.js';
import { createCertificateAuthority, createServerCertificate } from '../../src/tls/certs.js';
import { libtrustKeyId } from '../../src/auth/keys.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** An htpasswd line as `htpasswd -B` writes it ($2y$, cost 10 here for speed of tests: 5). */
function htpasswdLine(user: string, password: string): string {
  return `${user}:${bcrypt.hashSync(password, 5).replace(/^\$2b\$/, '$2y$')}\n`;
}

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'berth-auth-'));
}

describe('htpasswd (HTTP Basic, as registry:2)', () => {
  let t: TestBerth;
  let dir: string;
  let file: string;
  before(async () => {
    dir = await tempDir();
    file = path.join(dir, 'htpasswd');
    await writeFile(file, `# users\n${htpasswdLine('alice', 'wonderland')}`);
    t = await startTestBerth({
      REGISTRY_AUTH: 'htpasswd',
      REGISTRY_AUTH_HTPASSWD_REALM: 'Registry Realm',
      REGISTRY_AUTH_HTPASSWD_PATH: file,
      REGISTRY_AUTH_LOGINLIMITS_PERUSER: '5',
      REGISTRY_AUTH_LOGINLIMITS_PERADDRESS: '1000',
    });
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('challenges anonymous requests with Basic and 401 UNAUTHORIZED', async () => {
    const res = await fetch(`${t.url}/v2/`);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="Registry Realm"');
    assert.equal(await errorCode(res), 'UNAUTHORIZED');
    const repo = await fetch(`${t.url}/v2/app/tags/list`);
    assert.equal(repo.status, 401);
  });

  it('accepts the right password and refuses wrong ones and unknown users', async () => {
    assert.equal((await fetch(`${t.url}/v2/`, { headers: { Authorization: basic('alice', 'wonderland') } })).status, 200);
    const wrong = await fetch(`${t.url}/v2/`, { headers: { Authorization: basic('alice', 'nope') } });
    assert.equal(wrong.status, 401);
    const body = await wrong.text();
    assert.ok(!body.includes('nope'), 'the password is never echoed');
    assert.equal((await fetch(`${t.url}/v2/`, { headers: { Authorization: basic('mallory', 'wonderland') } })).status, 401);
    assert.equal((await fetch(`${t.url}/v2/`, { headers: { Authorization: 'Basic !!!' } })).status, 401);
    assert.equal((await fetch(`${t.url}/v2/`, { headers: { Authorization: basic('alice', 'x'.repeat(5000)) } })).status, 401, 'oversized credentials');
  });

  it('protects every registry route', async () => {
    const digest = sha256('x');
    for (const [method, p] of [['GET', `/v2/a/blobs/${digest}`], ['POST', '/v2/a/blobs/uploads/'], ['GET', '/v2/a/manifests/v1'], ['PUT', '/v2/a/manifests/v1'], ['DELETE', `/v2/a/manifests/${digest}`], ['GET', '/v2/_catalog'], ['GET', `/v2/a/referrers/${digest}`]]) {
      const res = await fetch(`${t.url}${p}`, { method, ...(method === 'PUT' ? { body: '{}' } : {}) });
      assert.equal(res.status, 401, `${method} ${p}`);
    }
    assert.equal((await fetch(`${t.url}/healthz`)).status, 200, 'health stays public');
  });

  it('takes changes to the htpasswd file without a restart', async () => {
    assert.equal((await fetch(`${t.url}/v2/`, { headers: { Authorization: basic('bob', 'builder') } })).status, 401);
    await appendFile(file, htpasswdLine('bob', 'builder'));
    // The file is re-read at most once a second, and every failed try counts
    // against bob's limit of 5: poll slowly enough to stay under it.
    let status = 0;
    for (let i = 0; i < 20 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 450));
      status = (await fetch(`${t.url}/v2/`, { headers: { Authorization: basic('bob', 'builder') } })).status;
    }
    assert.equal(status, 200);
  });

  it('limits failed logins per user with 429 TOOMANYREQUESTS and Retry-After', async () => {
    const tries: number[] = [];
    for (let i = 0; i < 6; i++) tries.push((await fetch(`${t.url}/v2/`, { headers: { Authorization: basic('carol', `guess${i}`) } })).status);
    assert.deepEqual(tries, [401, 401, 401, 401, 401, 429]);
    const limited = await fetch(`${t.url}/v2/`, { headers: { Authorization: basic('carol', 'guess') } });
    assert.equal(limited.status, 429);
    assert.equal(await errorCode(limited), 'TOOMANYREQUESTS');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal((await fetch(`${t.url}/v2/`, { headers: { Authorization: basic('alice', 'wonderland') } })).status, 200, 'other users are not locked out');
  });
});

describe('Docker token authentication (Berth issues the tokens)', () => {
  let t: TestBerth;
  let dir: string;
  before(async () => {
    dir = await tempDir();
    const file = path.join(dir, 'htpasswd');
    await writeFile(file, htpasswdLine('alice', 'wonderland'));
    t = await startTestBerth({ REGISTRY_AUTH_TOKEN_SERVICE: 'registry.test', REGISTRY_AUTH_TOKEN_ISSUER: 'berth-test', REGISTRY_AUTH_HTPASSWD_PATH: file });
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function getToken(scope: string | null, auth?: string): Promise<string> {
    const q = new URLSearchParams({ service: 'registry.test' });
    if (scope) q.append('scope', scope);
    const res = await fetch(`${t.url}/auth/token?${q}`, { headers: auth ? { Authorization: auth } : {} });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
    assert.equal(body.token, body.access_token);
    assert.ok(body.expires_in > 0 && body.issued_at);
    return body.token;
  }

  async function signingKey() {
    return importPKCS8(await readFile(path.join(t.dataDir, 'keys', 'token-signing-key.pem'), 'utf8'), 'ES256');
  }

  it('challenges with Bearer realm, service and scope', async () => {
    const base = await fetch(`${t.url}/v2/`);
    assert.equal(base.status, 401);
    assert.equal(base.headers.get('www-authenticate'), `Bearer realm="${t.url}/auth/token",service="registry.test"`);
    const repo = await fetch(`${t.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(repo.headers.get('www-authenticate'), `Bearer realm="${t.url}/auth/token",service="registry.test",scope="repository:team/app:pull,push"`);
  });

  it('issues a signed JWT with the access claims, and the registry accepts it', async () => {
    const token = await getToken('repository:team/app:pull,push', basic('alice', 'wonderland'));
    const claims = decodeJwt(token);
    assert.equal(claims.iss, 'berth-test');
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.aud, 'registry.test');
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    const res = await fetch(`${t.url}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    assert.equal(res.status, 202);
    assert.equal((await fetch(`${t.url}/v2/`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);
  });

  it('maps a Notary scope with this registry\'s host to the repository, and names that repository in the claim', async () => {
    const own = new URL(t.url).host;
    const token = await getToken(`repository:${own}/team/app:push,pull`, basic('alice', 'wonderland'));
    assert.deepEqual(decodeJwt(token).access, [{ type: 'repository', name: 'team/app', actions: ['push', 'pull'] }]);
    const push = await fetch(`${t.url}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    assert.equal(push.status, 202);
    const other = await getToken('repository:localhost:5000/team/app:push,pull', basic('alice', 'wonderland'));
    assert.deepEqual(decodeJwt(other).access, [], 'another registry\'s host is not this registry: no such repository here');
  });

  it('a token for another repository: 401 insufficient_scope naming the scope needed (htpasswd users may do anything), 401 for anonymous', async () => {
    const token = await getToken('repository:team/app:pull', basic('alice', 'wonderland'));
    const other = await fetch(`${t.url}/v2/team/other/tags/list`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(other.status, 401);
    assert.equal(await errorCode(other), 'UNAUTHORIZED');
    assert.match(other.headers.get('www-authenticate') ?? '', /scope="repository:team\/other:pull",error="insufficient_scope"$/);
    const push = await fetch(`${t.url}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    assert.equal(push.status, 401, 'a pull token cannot push: the client must fetch a push token');
    assert.match(push.headers.get('www-authenticate') ?? '', /scope="repository:team\/app:pull,push",error="insufficient_scope"$/);
    const anon = await getToken('repository:team/app:pull');
    assert.deepEqual(decodeJwt(anon).access, [], 'anonymous callers get no grants');
    const res = await fetch(`${t.url}/v2/team/app/tags/list`, { headers: { Authorization: `Bearer ${anon}` } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
  });

  it('refuses expired, foreign-service, foreign-issuer, tampered and alg:none tokens', async () => {
    const key = await signingKey();
    const kid = (JSON.parse(Buffer.from((await getToken(null, basic('alice', 'wonderland'))).split('.')[0] as string, 'base64url').toString()) as { kid: string }).kid;
    const access = [{ type: 'repository', name: 'team/app', actions: ['pull'] }];
    const make = (o: { aud?: string; iss?: string; exp?: number }) => new SignJWT({ access })
      .setProtectedHeader({ alg: 'ES256', kid }).setIssuer(o.iss ?? 'berth-test').setSubject('alice').setAudience(o.aud ?? 'registry.test')
      .setIssuedAt().setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 300).sign(key);
    const url = `${t.url}/v2/team/app/tags/list`;
    const status = async (token: string) => {
      const r = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
      return { status: r.status, challenge: r.headers.get('www-authenticate') ?? '' };
    };
    const good = await make({});
    assert.notEqual((await status(good)).status, 401, 'the crafted token is otherwise valid');
    const cases: [string, string][] = [
      ['expired', await make({ exp: Math.floor(Date.now() / 1000) - 3600 })],
      ['another service', await make({ aud: 'other-registry' })],
      ['another issuer', await make({ iss: 'evil' })],
      ['tampered payload', (() => { const [h, , s] = good.split('.'); const p = Buffer.from(JSON.stringify({ iss: 'berth-test', sub: 'alice', aud: 'registry.test', exp: 9999999999, access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push', 'delete'] }] })).toString('base64url'); return `${h}.${p}.${s}`; })()],
      ['alg none', `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${good.split('.')[1]}.`],
      ['garbage', 'not.a.token'],
    ];
    for (const [what, token] of cases) {
      const r = await status(token);
      assert.equal(r.status, 401, what);
      assert.match(r.challenge, /error="invalid_token"/, what);
    }
  });

  it('speaks the OAuth2 POST of docker login: password and refresh_token grants', async () => {
    const form = (f: Record<string, string>) => fetch(`${t.url}/auth/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(f).toString() });
    const res = await form({ grant_type: 'password', username: 'alice', password: 'wonderland', service: 'registry.test', client_id: 'docker', access_type: 'offline', scope: 'repository:team/app:pull' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { access_token: string; refresh_token: string };
    assert.ok(body.refresh_token);
    assert.equal((await fetch(`${t.url}/v2/team/app/tags/list`, { headers: { Authorization: `Bearer ${body.refresh_token}` } })).status, 401, 'a refresh token is not an access token');
    const refreshed = await form({ grant_type: 'refresh_token', refresh_token: body.refresh_token, service: 'registry.test', client_id: 'docker', scope: 'repository:team/app:pull' });
    assert.equal(refreshed.status, 200);
    assert.deepEqual(decodeJwt(((await refreshed.json()) as { access_token: string }).access_token).access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    assert.equal((await form({ grant_type: 'password', username: 'alice', password: 'bad', service: 'registry.test' })).status, 401);
    assert.equal((await form({ grant_type: 'refresh_token', refresh_token: 'forged', service: 'registry.test' })).status, 401);
    assert.equal((await form({ grant_type: 'client_credentials', service: 'registry.test' })).status, 400);
  });

  it('refuses token requests for another service and wrong credentials', async () => {
    assert.equal((await fetch(`${t.url}/auth/token?service=elsewhere&scope=repository:a:pull`)).status, 400);
    const wrong = await fetch(`${t.url}/auth/token?service=registry.test`, { headers: { Authorization: basic('alice', 'nope') } });
    assert.equal(wrong.status, 401);
    assert.equal(await errorCode(wrong), 'UNAUTHORIZED');
  });
});

describe('Docker token authentication (external issuer, registry:2 rootcertbundle)', () => {
  let t: TestBerth;
  let dir: string;
  let ca: { cert: string; key: string };
  let leaf: { cert: string; key: string };
  before(async () => {
    dir = await tempDir();
    ca = createCertificateAuthority('Token Issuer CA');
    leaf = createServerCertificate(ca, ['auth.example.com']);
    const bundle = path.join(dir, 'bundle.pem');
    await writeFile(bundle, ca.cert);
    t = await startTestBerth({
      REGISTRY_AUTH_TOKEN_REALM: 'https://auth.example.com/token',
      REGISTRY_AUTH_TOKEN_SERVICE: 'registry.example.com',
      REGISTRY_AUTH_TOKEN_ISSUER: 'auth.example.com',
      REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: bundle,
    });
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  const access = [{ type: 'repository', name: 'ext/app', actions: ['pull'] }];
  async function sign(key: string, header: Record<string, unknown>, iss = 'auth.example.com'): Promise<string> {
    return new SignJWT({ access }).setProtectedHeader({ alg: 'RS256', ...header }).setIssuer(iss).setSubject('ci-bot')
      .setAudience('registry.example.com').setIssuedAt().setExpirationTime('5m').sign(createPrivateKey(key));
  }
  const get = (token: string) => fetch(`${t.url}/v2/ext/app/tags/list`, { headers: { Authorization: `Bearer ${token}` } });

  it('sends clients to the external realm and does not issue tokens itself', async () => {
    const res = await fetch(`${t.url}/v2/ext/app/tags/list`);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:ext/app:pull"');
    assert.equal((await fetch(`${t.url}/auth/token?service=registry.example.com`)).status, 404);
  });

  it('accepts tokens signed by a bundle key (libtrust kid) or by a certificate it issued (x5c)', async () => {
    const byKid = await sign(ca.key, { kid: libtrustKeyId(createPublicKey(ca.key)) });
    assert.equal((await get(byKid)).status, 404, 'authorized (the repository does not exist)');
    const der = new X509Certificate(leaf.cert).raw.toString('base64');
    const byChain = await sign(leaf.key, { x5c: [der] });
    assert.equal((await get(byChain)).status, 404);
  });

  it('refuses tokens from keys and certificates outside the bundle', async () => {
    const stranger = createCertificateAuthority('Stranger');
    const strangerLeaf = createServerCertificate(stranger, ['auth.example.com']);
    const cases = [
      await sign(stranger.key, { kid: libtrustKeyId(createPublicKey(stranger.key)) }),
      await sign(strangerLeaf.key, { x5c: [new X509Certificate(strangerLeaf.cert).raw.toString('base64')] }),
      await sign(ca.key, { kid: libtrustKeyId(createPublicKey(ca.key)) }, 'another-issuer'),
    ];
    for (const token of cases) assert.equal((await get(token)).status, 401);
  });
  it('answers a malformed x5c header with 401 invalid_token, never a 500', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const payload = b64({ iss: 'auth.example.com', sub: 'ci-bot', aud: 'registry.example.com', exp: Math.floor(Date.now() / 1000) + 300, access });
    for (const x5c of [['AAAA'], 'abc', [123], [null], { length: 1 }, [], ['!!!not base64!!!']]) {
      const token = `${b64({ alg: 'RS256', x5c })}.${payload}.${Buffer.from('sig').toString('base64url')}`;
      const res = await get(token);
      assert.equal(res.status, 401, JSON.stringify(x5c));
      assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/, JSON.stringify(x5c));
      assert.equal(await errorCode(res), 'UNAUTHORIZED');
    }
  });
});

describe('nobody can lock another user out', () => {
  /** A request from a chosen loopback address (Linux routes all of 127/8 to lo). */
  function getFrom(port: number, localAddress: string, authorization: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/v2/', localAddress, headers: { Authorization: authorization } }, (res) => {
        res.resume().on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject).end();
    });
  }

  it('wrong passwords from one address lock that address out for that user, not the user everywhere', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'htpasswd');
    await writeFile(file, htpasswdLine('alice', 'wonderland'));
    const t = await startTestBerth({ REGISTRY_AUTH_HTPASSWD_PATH: file, REGISTRY_AUTH_LOGINLIMITS_PERUSERADDRESS: '3' });
    try {
      const port = t.berth.address.port;
      const attacker: number[] = [];
      for (let i = 0; i < 4; i++) attacker.push(await getFrom(port, '127.0.0.2', basic('alice', `guess${i}`)));
      assert.deepEqual(attacker, [401, 401, 401, 429]);
      assert.equal(await getFrom(port, '127.0.0.2', basic('alice', 'wonderland')), 429, 'the guesser stays locked out, even with the right password');
      assert.equal(await getFrom(port, '127.0.0.3', basic('alice', 'wonderland')), 200, 'alice, elsewhere, logs in');
    } finally {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('failed-login limit per client address', () => {
  it('answers 429 once one address has failed too often, whatever user names it tries', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'htpasswd');
    await writeFile(file, htpasswdLine('alice', 'wonderland'));
    const t = await startTestBerth({ REGISTRY_AUTH_HTPASSWD_PATH: file, REGISTRY_AUTH_LOGINLIMITS_PERADDRESS: '3', REGISTRY_AUTH_LOGINLIMITS_PERUSER: '100' });
    try {
      const statuses: number[] = [];
      for (const user of ['u1', 'u2', 'u3', 'u4']) statuses.push((await fetch(`${t.url}/v2/`, { headers: { Authorization: basic(user, 'x') } })).status);
      assert.deepEqual(statuses, [401, 401, 401, 429]);
      const alice = await fetch(`${t.url}/v2/`, { headers: { Authorization: basic('alice', 'wonderland') } });
      assert.equal(alice.status, 429, 'the address is blocked for every user until the window ends');
      assert.ok(Number(alice.headers.get('retry-after')) > 0);
    } finally {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
