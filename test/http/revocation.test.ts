import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { errorCode, startTestBerth, type TestBerth } from '../helpers/berth.js';

/**
 * Tokens Berth issued stop working the moment the login they came from
 * ends: a password change, a disabled or deleted user, a revoked access
 * token. Bearer tokens and refresh tokens alike (hardening: JWTs outlived
 * what issued them; refresh tokens survived password changes).
 */
const ADMIN_PASSWORD = 'admin-password-1';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('revoking sessions', () => {
  let t: TestBerth;
  before(async () => {
    t = await startTestBerth({ REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD });
    for (const name of ['alice', 'bob', 'carol', 'dave']) await t.berth.identity.createUser({ name, password: `${name}-password` });
  });
  after(async () => {
    await t?.close();
  });

  async function login(user: string, password: string): Promise<{ token: string; refresh: string }> {
    const form = new URLSearchParams({ grant_type: 'password', username: user, password, service: 'berth', access_type: 'offline', scope: `repository:${user}/app:pull,push` });
    const res = await fetch(`${t.url}/auth/token`, { method: 'POST', body: form, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { token: string; refresh_token?: string };
    return { token: body.token, refresh: body.refresh_token ?? '' };
  }

  const push = (user: string, token: string) => fetch(`${t.url}/v2/${user}/app/blobs/uploads/`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
  const refresh = (user: string, refreshToken: string) => fetch(`${t.url}/auth/token`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, service: 'berth', scope: `repository:${user}/app:pull` }),
  });

  async function assertRevoked(res: Response): Promise<void> {
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    assert.equal(await errorCode(res), 'UNAUTHORIZED');
  }

  it('a password change ends the bearer token and the refresh token at once', async () => {
    const { token, refresh: r } = await login('alice', 'alice-password');
    assert.equal((await push('alice', token)).status, 202);
    assert.equal((await refresh('alice', r)).status, 200, 'the refresh token works before');
    await t.berth.identity.updateUser('alice', { password: 'alice-new-password' });
    await assertRevoked(await push('alice', token));
    assert.equal((await refresh('alice', r)).status, 401, 'the refresh token is refused too');
    const again = await login('alice', 'alice-new-password');
    assert.equal((await push('alice', again.token)).status, 202, 'a new login works');
  });

  it('disabling a user ends its tokens; so does deleting one', async () => {
    const bob = await login('bob', 'bob-password');
    assert.equal((await push('bob', bob.token)).status, 202);
    await t.berth.identity.updateUser('bob', { disabled: true });
    await assertRevoked(await push('bob', bob.token));
    assert.equal((await refresh('bob', bob.refresh)).status, 401);

    const carol = await login('carol', 'carol-password');
    assert.equal((await push('carol', carol.token)).status, 202);
    await t.berth.identity.deleteUser('carol');
    await assertRevoked(await push('carol', carol.token));
  });

  it('revoking an access token ends the bearer tokens it logged in to', async () => {
    const { secret, token: record } = await t.berth.identity.createToken('dave', { name: 'ci', scopes: [{ type: 'namespace', name: 'dave', actions: ['pull', 'push'] }] });
    const { token } = await login('dave', secret);
    assert.equal((await push('dave', token)).status, 202);
    const password = await login('dave', 'dave-password');
    await t.berth.identity.revokeToken('dave', record.id);
    await assertRevoked(await push('dave', token));
    assert.equal((await push('dave', password.token)).status, 202, 'dave\'s password session is not the token\'s');
  });
});
