import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { errorCode, sha256, startTestBerth, type TestBerth } from '../helpers/berth.js';

/**
 * The token protocol's challenge: a valid token that lacks the scope a
 * request needs gets 401 with error="insufficient_scope" and the scope
 * needed; the client fetches a token for it and retries. Only what the
 * user could never be granted is 403 DENIED. Exercised with a client that
 * acquires scopes lazily, as regclient and the conformance suite do.
 */

const ADMIN_PASSWORD = 'insufficient-scope-admin';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Challenge { realm: string; service: string; scope?: string; error?: string }

function parseChallenge(header: string | null): Challenge {
  assert.ok(header?.startsWith('Bearer '), `a Bearer challenge, got ${header}`);
  const fields: Record<string, string> = {};
  for (const m of (header ?? '').slice(7).matchAll(/(\w+)="([^"]*)"/g)) fields[m[1] as string] = m[2] as string;
  return fields as unknown as Challenge;
}

/** A registry client that holds one token and widens it only when a 401 names a scope it lacks. */
class LazyClient {
  private token: string | null = null;
  private readonly scopes = new Set<string>();
  /** Status of every answer, retries included. */
  readonly statuses: number[] = [];
  readonly challenges: string[] = [];

  constructor(private readonly url: string, private readonly user: string, private readonly password: string) {}

  /** Starts with a token for exactly these scopes (a client that cached an earlier token). */
  async withToken(scopes: string[]): Promise<void> {
    for (const s of scopes) this.scopes.add(s);
    this.token = await this.fetchToken(`${this.url}/auth/token`, 'registry.test');
  }

  private async fetchToken(realm: string, service: string): Promise<string> {
    const q = new URLSearchParams({ service });
    for (const s of this.scopes) q.append('scope', s);
    const res = await fetch(`${realm}?${q}`, { headers: { Authorization: `Basic ${Buffer.from(`${this.user}:${this.password}`).toString('base64')}` } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { token: string }).token;
  }

  async call(method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    const send = () => fetch(`${this.url}${path}`, {
      method, body: init.body, headers: { ...init.headers, ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}) },
    });
    let res = await send();
    this.statuses.push(res.status);
    if (res.status !== 401) return res;
    const header = res.headers.get('www-authenticate');
    this.challenges.push(header ?? '');
    const c = parseChallenge(header);
    for (const s of c.scope?.split(' ') ?? []) this.scopes.add(s);
    this.token = await this.fetchToken(c.realm, c.service);
    res = await send();
    this.statuses.push(res.status);
    return res;
  }
}

describe('insufficient_scope: token clients that acquire scopes lazily', () => {
  let t: TestBerth;
  let configDigest: string;
  const config = '{"os":"linux"}';

  before(async () => {
    t = await startTestBerth({ REGISTRY_AUTH: 'token', REGISTRY_AUTH_TOKEN_SERVICE: 'registry.test', BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD });
    await t.berth.identity.createUser({ name: 'bob', password: 'bob-password' });
    await t.berth.identity.grant({ subjectKind: 'user', subject: 'bob', resourceKind: 'namespace', resource: 'a', role: 'write' });
    const admin = new LazyClient(t.url, 'admin', ADMIN_PASSWORD);
    configDigest = sha256(config);
    for (const repo of ['a/one', 'b/secret']) {
      assert.equal((await admin.call('POST', `/v2/${repo}/blobs/uploads/?digest=${configDigest}`, { body: config })).status, 201);
      const manifest = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length }, layers: [] });
      assert.equal((await admin.call('PUT', `/v2/${repo}/manifests/v1`, { body: manifest, headers: { 'Content-Type': OCI_MANIFEST } })).status, 201);
    }
  });
  after(async () => {
    await t?.close();
  });

  it('a push-only token that lists tags gets 401 insufficient_scope naming repository:a/one:pull, then succeeds with a fresh token', async () => {
    const bob = new LazyClient(t.url, 'bob', 'bob-password');
    await bob.withToken(['repository:a/one:push']);
    const res = await bob.call('GET', '/v2/a/one/tags/list');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { name: 'a/one', tags: ['v1'] });
    assert.deepEqual(bob.statuses, [401, 200]);
    assert.equal(bob.challenges[0], `Bearer realm="${t.url}/auth/token",service="registry.test",scope="repository:a/one:pull",error="insufficient_scope"`);
  });

  it('the 401 body is UNAUTHORIZED, and a cross-repository mount names the from repository in its scope', async () => {
    const bob = new LazyClient(t.url, 'bob', 'bob-password');
    await bob.withToken(['repository:a/two:pull,push']);
    const direct = await fetch(`${t.url}/v2/a/two/blobs/uploads/?mount=${configDigest}&from=a/one`, { method: 'POST', headers: { Authorization: `Bearer ${await tokenFor('bob', 'bob-password', ['repository:a/two:pull,push'])}` } });
    assert.equal(direct.status, 401);
    assert.equal(await errorCode(direct), 'UNAUTHORIZED');
    const mount = await bob.call('POST', `/v2/a/two/blobs/uploads/?mount=${configDigest}&from=a/one`);
    assert.equal(mount.status, 201);
    assert.equal(mount.headers.get('docker-content-digest'), configDigest);
    assert.deepEqual(bob.statuses, [401, 201]);
    assert.equal(parseChallenge(bob.challenges[0] ?? null).scope, 'repository:a/two:pull,push repository:a/one:pull');
    assert.equal(parseChallenge(bob.challenges[0] ?? null).error, 'insufficient_scope');
  });

  it('an upload session with a push-only token (the conformance suite\'s chunked-upload status GET): one 401, then answered', async () => {
    const bob = new LazyClient(t.url, 'bob', 'bob-password');
    await bob.withToken(['repository:a/three:push']);
    const post = await bob.call('POST', '/v2/a/three/blobs/uploads/');
    assert.equal(post.status, 202);
    const location = new URL(post.headers.get('location') as string, t.url);
    const status = await bob.call('GET', `${location.pathname}${location.search}`);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-0');
    assert.deepEqual(bob.statuses, [401, 202, 204]);
    assert.equal(parseChallenge(bob.challenges[0] ?? null).scope, 'repository:a/three:pull,push');
  });

  it('what the user could never be granted stays 403 DENIED after the retry', async () => {
    const bob = new LazyClient(t.url, 'bob', 'bob-password');
    const res = await bob.call('GET', '/v2/b/secret/tags/list');
    assert.equal(res.status, 403);
    assert.equal(await errorCode(res), 'DENIED');
    assert.deepEqual(bob.statuses, [401, 403], 'one challenge, one retry, then the refusal: no loop');
    const mount = new LazyClient(t.url, 'bob', 'bob-password');
    await mount.withToken(['repository:a/four:pull,push']);
    const refused = await mount.call('POST', `/v2/a/four/blobs/uploads/?mount=${configDigest}&from=b/secret`);
    assert.equal(refused.status, 403, 'mounting from a repository bob cannot read');
    assert.equal(await errorCode(refused), 'DENIED');
    assert.deepEqual(mount.statuses, [403], 'a valid token and a scope Berth would never grant: no challenge to retry');
  });

  async function tokenFor(user: string, password: string, scopes: string[]): Promise<string> {
    const q = new URLSearchParams({ service: 'registry.test' });
    for (const s of scopes) q.append('scope', s);
    const res = await fetch(`${t.url}/auth/token?${q}`, { headers: { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } });
    return ((await res.json()) as { token: string }).token;
  }
});
