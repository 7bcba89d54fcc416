import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/index.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';

/**
 * trust.addr: the Notary API on a listener of its own, as a separate Notary
 * server would be (DOCKER_CONTENT_TRUST_SERVER=https://host:4443), while it
 * stays on Berth's own address too. That listener serves the trust API, /v2/,
 * the token endpoint and health: nothing of the registry or the management API.
 */
describe('trust.addr: the Notary API on its own listener', () => {
  const ADMIN_PASSWORD = 'trust listener admin password';
  let t: TestBerth;
  let trustUrl: string;
  before(async () => {
    t = await startTestBerth({ REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD, REGISTRY_TRUST_ADDR: '127.0.0.1:0' });
    const a = t.berth.trustAddress;
    assert.ok(a, 'the trust listener is up');
    assert.notEqual(a.port, t.berth.address.port);
    trustUrl = `http://127.0.0.1:${a.port}`;
  });
  after(async () => {
    await t?.close();
  });

  const basic = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');

  it('answers /v2/ with a challenge whose realm is its own token endpoint, and that endpoint issues tokens', async () => {
    const ping = await fetch(`${trustUrl}/v2/`);
    assert.equal(ping.status, 401);
    const challenge = ping.headers.get('www-authenticate') ?? '';
    assert.match(challenge, new RegExp(`^Bearer realm="${trustUrl}/auth/token",service="[^"]+"`));
    const service = /service="([^"]+)"/.exec(challenge)?.[1] ?? '';
    const res = await fetch(`${trustUrl}/auth/token?service=${encodeURIComponent(service)}&scope=repository:dct/app:pull,push`, { headers: { Authorization: basic } });
    assert.equal(res.status, 200);
    const { token } = (await res.json()) as { token: string };
    const root = await fetch(`${trustUrl}/v2/dct/app/_trust/tuf/root.json`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(root.status, 404);
    assert.equal(await root.text(), '{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist.","detail":{}}]}');
    const key = await fetch(`${trustUrl}/v2/dct/app/_trust/tuf/timestamp.key`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(key.status, 200);
    // The same repository's key on Berth's own address: one trust store behind both.
    const same = await fetch(`${t.url}/v2/dct/app/_trust/tuf/timestamp.key`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(same.status, 200);
    assert.deepEqual(await same.json(), await key.json());
  });

  it('serves health, and nothing of the registry or the management API', async () => {
    assert.equal((await fetch(`${trustUrl}/healthz`)).status, 200);
    for (const path of ['/v2/dct/app/tags/list', '/v2/dct/app/manifests/latest', '/v2/_catalog', '/api/v1/users']) {
      const res = await fetch(`${trustUrl}${path}`, { headers: { Authorization: basic } });
      assert.equal(res.status, 404, path);
      assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code, 'BERTH_ROUTE_UNKNOWN', path);
    }
  });
});

describe('trust.addr: configuration errors', () => {
  it('refuses a trust listener with trust off, on http.addr\'s port, or unparsable', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ REGISTRY_TRUST_ADDR: ':4443', REGISTRY_TRUST_ENABLED: 'false' }, 'trust.addr: a trust listener is set but trust.enabled is false; remove trust.addr or enable trust'],
      [{ REGISTRY_TRUST_ADDR: ':5000', REGISTRY_HTTP_ADDR: ':5000' }, 'trust.addr: port 5000 is http.addr\'s; choose another port (the Notary API is on http.addr already)'],
      [{ REGISTRY_TRUST_ADDR: 'nowhere' }, 'trust.addr: expected HOST:PORT or :PORT, got "nowhere"'],
    ];
    for (const [env, message] of cases) {
      const { config, errors } = await loadConfig({ env: { BERTH_DATA_DIR: '/tmp/berth-unused', ...env } });
      assert.equal(config, null, message);
      assert.deepEqual(errors, [message]);
    }
  });
});
