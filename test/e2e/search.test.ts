// `docker search HOST/term` against Berth, with the real docker CLI and
// engine (docs/search.md): the engine pings /v1/_ping over HTTPS, falls
// back to HTTP for an insecure registry (127.0.0.0/8 is one by default),
// then asks GET /v1/search?q=term&n=25 with the login's credentials (a
// Bearer token from the identity token that `docker login` kept). It must
// list only what the logged-in user (or anonymous) may pull.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerEnv } from './docker-env.js';
import { startRegistry, withRegistryLog, type RunningRegistry } from './registry-process.js';

const T = { timeout: 180_000 };
const ADMIN = 'Adm1n-passw0rd!';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('docker search', () => {
  let env: DockerEnv;
  let reg: RunningRegistry;

  before(async () => {
    env = await DockerEnv.start();
    await env.buildImages();
    reg = await startRegistry({ env: { REGISTRY_AUTH: 'token', REGISTRY_AUTH_TOKEN_SERVICE: 'berth-e2e', REGISTRY_AUTH_ANONYMOUS: 'true', BERTH_ADMIN_PASSWORD: ADMIN } });
  }, T);
  after(async () => {
    await env?.stop();
    await reg?.stop();
  });

  const api = async (method: string, path: string, body: unknown, authorization = basic('admin', ADMIN)) => {
    const res = await fetch(`${reg.url}${path}`, { method, headers: { Authorization: authorization, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.text();
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
  };

  /** `docker search`'s names and descriptions, one `name\tdescription` line each. */
  const search = async (term: string) => {
    const r = await env.docker(['search', '--no-trunc', '--format', '{{.Name}}\t{{.Description}}', `${reg.host}/${term}`]);
    return r.stdout.split('\n').filter((l) => l !== '');
  };

  it('lists what the caller may pull: anonymous, a user without grants, a granted user, the administrator', T, async () => {
    await withRegistryLog(reg, async () => {
      await api('POST', '/api/v1/users', { name: 'dave', password: 'dave-Passw0rd-long' });
      await api('POST', '/api/v1/users', { name: 'erin', password: 'erin-Passw0rd-long' });
      await api('POST', '/api/v1/grants', { subjectKind: 'user', subject: 'erin', resourceKind: 'namespace', resource: 'secret', role: 'read' });
      await api('PUT', '/api/v1/visibility', { resourceKind: 'namespace', resource: 'pub', public: true });
      await env.docker(['login', '-u', 'admin', '--password-stdin', reg.host], { input: `${ADMIN}\n` });
      for (const repo of ['pub/busybox', 'secret/busybox', 'secret/tools']) {
        await env.docker(['tag', env.images.one, `${reg.host}/${repo}:1`]);
        await env.docker(['push', `${reg.host}/${repo}:1`]);
      }
      // A description, set with a token for push on the repository (as any registry client would get one).
      const tr = await fetch(`${reg.url}/auth/token?service=berth-e2e&scope=repository:pub/busybox:push,pull`, { headers: { Authorization: basic('admin', ADMIN) } });
      const { token } = (await tr.json()) as { token: string };
      await api('PUT', '/api/v1/repositories/pub/busybox/description', { description: 'BusyBox for everyone' }, `Bearer ${token}`);

      assert.deepEqual(await search('busybox'), ['pub/busybox\tBusyBox for everyone', 'secret/busybox\t'], 'the administrator sees all');
      assert.deepEqual(await search('everyone'), ['pub/busybox\tBusyBox for everyone'], 'found by description');

      await env.docker(['logout', reg.host]);
      assert.deepEqual(await search('busybox'), ['pub/busybox\tBusyBox for everyone'], 'anonymous: public only');

      await env.docker(['login', '-u', 'dave', '--password-stdin', reg.host], { input: 'dave-Passw0rd-long\n' });
      assert.deepEqual(await search('busybox'), ['pub/busybox\tBusyBox for everyone'], 'no grants: public only');
      assert.deepEqual(await search('tools'), []);

      await env.docker(['logout', reg.host]);
      await env.docker(['login', '-u', 'erin', '--password-stdin', reg.host], { input: 'erin-Passw0rd-long\n' });
      // Berth's token endpoint gave docker a refresh token at login: docker keeps it (not the password) and
      // searches with a Bearer token it gets from it for registry:catalog:search, after a /v2/ challenge.
      const config = JSON.parse(await readFile(join(env.env.DOCKER_CONFIG ?? '', 'config.json'), 'utf8')) as { auths: Record<string, { identitytoken?: string }> };
      assert.ok(config.auths[reg.host]?.identitytoken, 'docker login stored an identity token');
      assert.deepEqual(await search('busybox'), ['pub/busybox\tBusyBox for everyone', 'secret/busybox\t']);
      assert.deepEqual(await search('tools'), ['secret/tools\t']);
      await env.docker(['logout', reg.host]);
      // docker pinged /v1/_ping first (over HTTPS, then HTTP).
      assert.match(reg.logs(), /"http.request.path":"\/v1\/_ping","http.response.status":200/);
    });
  });
});
