// Identity and access with real clients: `docker login` against htpasswd
// (a file made by Apache's `htpasswd -B`) and against Berth's token service;
// skopeo with --creds; HTTPS with a CA from `berth certs init`, verified by
// skopeo (--cert-dir) and by docker on a non-loopback address (so docker does
// not treat the registry as insecure).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, copyFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerEnv, skopeo, skopeoExpectFailure } from './docker-env.js';
import { BERTH_CLI, startRegistry, withRegistryLog, type RunningRegistry } from './registry-process.js';
import { run } from './util.js';

const T = { timeout: 180_000 };

async function makeHtpasswd(dir: string, user: string, password: string): Promise<string> {
  const file = join(dir, 'htpasswd');
  await run('htpasswd', ['-Bbc', file, user, password]);
  return file;
}

describe('docker login, push and pull with credentials (htpasswd and token auth)', () => {
  let env: DockerEnv;
  let work: string;
  let htpasswd: string;
  const regs: RunningRegistry[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-auth-'));
    htpasswd = await makeHtpasswd(work, 'alice', 's3cret-pass');
    env = await DockerEnv.start();
    await env.buildImages();
  }, T);

  after(async () => {
    await env?.stop();
    for (const r of regs) await r.stop();
    await rm(work, { recursive: true, force: true });
  });

  for (const mode of ['htpasswd', 'token'] as const) {
    it(`${mode}: docker login, push, pull, logout; wrong passwords and anonymous pulls fail`, T, async () => {
      const reg = await startRegistry({
        env: mode === 'htpasswd'
          ? { REGISTRY_AUTH: 'htpasswd', REGISTRY_AUTH_HTPASSWD_REALM: 'Berth', REGISTRY_AUTH_HTPASSWD_PATH: htpasswd }
          : { REGISTRY_AUTH_TOKEN_SERVICE: 'berth-e2e', REGISTRY_AUTH_HTPASSWD_PATH: htpasswd },
      });
      regs.push(reg);
      await withRegistryLog(reg, async () => {
        const image = `${reg.host}/team/${mode}:v1`;
        const bad = await env.dockerExpectFailure(['login', '-u', 'alice', '--password-stdin', reg.host], { input: 'wrong-pass\n' });
        assert.match(bad.stderr, /unauthorized|401|incorrect username or password/i);
        const login = await env.docker(['login', '-u', 'alice', '--password-stdin', reg.host], { input: 's3cret-pass\n' });
        assert.match(login.stdout, /Login Succeeded/);
        await env.docker(['tag', env.images.two, image]);
        await env.docker(['push', image]);
        await env.docker(['rmi', image]);
        await env.docker(['pull', image]);
        await env.docker(['logout', reg.host]);
        await env.docker(['rmi', image]);
        const anon = await env.dockerExpectFailure(['pull', image]);
        assert.match(anon.stderr, /no basic auth credentials|unauthorized|authentication required|pull access denied/i);
        // The password never reaches the registry's log.
        assert.ok(!reg.logs().includes('s3cret-pass'));

        // skopeo, with and without credentials.
        const dest = `docker://${reg.host}/team/${mode}-skopeo:v1`;
        const archive = join(work, `${mode}.tar`);
        await env.docker(['save', '-o', archive, env.images.one]);
        await skopeoExpectFailure(['copy', '--dest-tls-verify=false', `docker-archive:${archive}`, dest]);
        await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:s3cret-pass', `docker-archive:${archive}`, dest]);
        const tags = await skopeo(['list-tags', '--tls-verify=false', '--creds', 'alice:s3cret-pass', `docker://${reg.host}/team/${mode}-skopeo`]);
        assert.deepEqual((JSON.parse(tags.stdout) as { Tags: string[] }).Tags, ['v1']);
      });
    });
  }
});

describe('database users, grants and access tokens with docker', () => {
  let env: DockerEnv;
  let reg: RunningRegistry;
  const admin = 'Adm1n-passw0rd!';
  before(async () => {
    env = await DockerEnv.start();
    await env.buildImages();
    reg = await startRegistry({ env: { REGISTRY_AUTH: 'token', REGISTRY_AUTH_TOKEN_SERVICE: 'berth-e2e', BERTH_ADMIN_PASSWORD: admin } });
  }, T);
  after(async () => {
    await env?.stop();
    await reg?.stop();
  });

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${reg.url}/api/v1${path}`, {
      method,
      headers: { Authorization: `Basic ${Buffer.from(`admin:${admin}`).toString('base64')}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };

  it('a user granted write on a namespace pushes with an access token as the docker login password; the token is limited to its scope', T, async () => {
    await withRegistryLog(reg, async () => {
      await api('POST', '/users', { name: 'ci', password: 'ci-Passw0rd-long' });
      await api('POST', '/grants', { subjectKind: 'user', subject: 'ci', resourceKind: 'namespace', resource: 'releases', role: 'write' });
      // The token is created by the user itself, scoped to push to releases/app only.
      const res = await fetch(`${reg.url}/api/v1/tokens`, {
        method: 'POST',
        headers: { Authorization: `Basic ${Buffer.from('ci:ci-Passw0rd-long').toString('base64')}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'pipeline', scopes: [{ type: 'repository', name: 'releases/app', actions: ['pull', 'push'] }], expiresInDays: 1 }),
      });
      assert.equal(res.status, 201, await res.clone().text());
      const { secret } = (await res.json()) as { secret: string };
      assert.match(secret, /^berth_/);

      const login = await env.docker(['login', '-u', 'ci', '--password-stdin', reg.host], { input: `${secret}\n` });
      assert.match(login.stdout, /Login Succeeded/);
      await env.docker(['tag', env.images.two, `${reg.host}/releases/app:1.0`]);
      await env.docker(['push', `${reg.host}/releases/app:1.0`]);
      await env.docker(['tag', env.images.two, `${reg.host}/releases/other:1.0`]);
      const outside = await env.dockerExpectFailure(['push', `${reg.host}/releases/other:1.0`]);
      assert.match(outside.stderr, /denied|unauthorized/i, 'the token only covers releases/app');
      await env.docker(['tag', env.images.two, `${reg.host}/private/app:1.0`]);
      await env.docker(['logout', reg.host]);
      await env.docker(['login', '-u', 'ci', '--password-stdin', reg.host], { input: 'ci-Passw0rd-long\n' });
      const noGrant = await env.dockerExpectFailure(['push', `${reg.host}/private/app:1.0`]);
      assert.match(noGrant.stderr, /denied/i, 'no grant on private/: 403 DENIED');
      await env.docker(['rmi', `${reg.host}/releases/app:1.0`]);
      await env.docker(['pull', `${reg.host}/releases/app:1.0`]);
      const audit = await api('GET', '/audit?actor=ci&limit=100');
      assert.ok(JSON.stringify(audit).includes('login'), 'logins are audited');
      assert.ok(!JSON.stringify(audit).includes(secret) && !JSON.stringify(audit).includes('ci-Passw0rd-long'), 'no secret in the audit log');
    });
  });
});

describe('HTTPS with a private CA from `berth certs init`', () => {
  let work: string;
  let certs: string;
  let archive: string;
  let env: DockerEnv;
  let reg: RunningRegistry | undefined;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-tls-'));
    certs = join(work, 'certs');
    await run(process.execPath, [BERTH_CLI, 'certs', 'init', '--host', 'localhost', '--ip', '127.0.0.1', '--ip', TLS_IP, '--dir', certs]);
    env = await DockerEnv.start();
    await env.buildImages();
    archive = join(work, 'bb.tar');
    await env.docker(['save', '-o', archive, env.images.one]);
  }, T);
  after(async () => {
    await reg?.stop();
    await env?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('skopeo verifies the certificate with --cert-dir, and refuses it without the CA', T, async () => {
    reg = await startRegistry({
      env: { REGISTRY_HTTP_TLS_CERTIFICATE: join(certs, 'server.crt'), REGISTRY_HTTP_TLS_KEY: join(certs, 'server.key') },
      tlsCa: join(certs, 'ca.crt'),
    });
    const r = reg;
    await withRegistryLog(r, async () => {
      const caDir = join(work, 'client-ca');
      await mkdir(caDir);
      await copyFile(join(certs, 'ca.crt'), join(caDir, 'ca.crt'));
      const layout = join(work, 'oci');
      await skopeo(['copy', `docker-archive:${archive}`, `oci:${layout}:v1`]);
      await skopeo(['copy', '--dest-cert-dir', caDir, `oci:${layout}:v1`, `docker://${r.host}/tls/app:v1`]);
      const inspect = await skopeo(['inspect', '--cert-dir', caDir, `docker://${r.host}/tls/app:v1`]);
      assert.match(inspect.stdout, /"Digest": "sha256:/);
      const refused = await skopeoExpectFailure(['inspect', `docker://${r.host}/tls/app:v1`]);
      assert.match(refused.stderr, /certificate|x509/i);
    });
    await r.stop();
    reg = undefined;
  });

  it('docker pushes over TLS to a non-loopback address using the CA in /etc/docker/certs.d', T, async () => {
    // Docker treats 127.0.0.0/8 as insecure (no verification), so the registry
    // listens on a TEST-NET address added to the loopback interface.
    await run('ip', ['addr', 'replace', `${TLS_IP}/32`, 'dev', 'lo']);
    let certsDir: string | undefined;
    try {
      reg = await startRegistry({
        listenHost: TLS_IP,
        env: { REGISTRY_HTTP_TLS_CERTIFICATE: join(certs, 'server.crt'), REGISTRY_HTTP_TLS_KEY: join(certs, 'server.key') },
        tlsCa: join(certs, 'ca.crt'),
      });
      const r = reg;
      await withRegistryLog(r, async () => {
        const image = `${r.host}/tls/docker:v1`;
        await env.docker(['tag', env.images.two, image]);
        const untrusted = await env.dockerExpectFailure(['push', image]);
        assert.match(untrusted.stderr, /x509|certificate signed by unknown authority/i, 'without the CA docker refuses: it is not treating the registry as insecure');
        certsDir = `/etc/docker/certs.d/${r.host}`;
        await mkdir(certsDir, { recursive: true });
        await copyFile(join(certs, 'ca.crt'), join(certsDir, 'ca.crt'));
        await env.docker(['push', image]);
        await env.docker(['rmi', image]);
        await env.docker(['pull', image]);
      });
    } finally {
      if (certsDir) await rm(certsDir, { recursive: true, force: true });
      await run('ip', ['addr', 'del', `${TLS_IP}/32`, 'dev', 'lo'], { allowFailure: true });
    }
  });
});

describe('client bundle', () => {
  let work: string;
  let env: DockerEnv;
  let reg: RunningRegistry | undefined;
  const admin = 'Adm1n-passw0rd!';
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-bundle-'));
    await run(process.execPath, [BERTH_CLI, 'certs', 'init', '--ip', TLS_IP, '--dir', join(work, 'certs')]);
    env = await DockerEnv.start();
    await env.buildImages();
  }, T);
  after(async () => {
    await reg?.stop();
    await env?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('unpacked on a new client, it is all docker needs to push over TLS', T, async () => {
    await run('ip', ['addr', 'replace', `${TLS_IP}/32`, 'dev', 'lo']);
    let host = '';
    try {
      reg = await startRegistry({
        listenHost: TLS_IP,
        env: {
          REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: admin,
          REGISTRY_HTTP_TLS_CERTIFICATE: join(work, 'certs', 'server.crt'), REGISTRY_HTTP_TLS_KEY: join(work, 'certs', 'server.key'),
        },
        tlsCa: join(work, 'certs', 'ca.crt'),
      });
      const r = reg;
      host = r.host;
      await withRegistryLog(r, async () => {
        // Download the bundle over HTTPS (trusting the CA only for this download).
        const archive = join(work, 'bundle.tar.gz');
        await run('curl', ['-fsS', '--cacert', join(work, 'certs', 'ca.crt'), '-u', `admin:${admin}`, '-X', 'POST', '-o', archive, `${r.url}/api/v1/bundle`]);
        const client = join(work, 'client');
        await mkdir(client);
        await run('tar', ['xzf', archive, '-C', client]);
        // A new client: the private engine, and no docker CLI config of its own.
        const clientEnv: NodeJS.ProcessEnv = { ...env.env };
        delete clientEnv.DOCKER_CONFIG;
        await env.docker(['tag', env.images.two, `${r.host}/admin/bundled:1`]);
        const script = 'cd berth-bundle && . ./env.sh && sh install-ca.sh && docker push "$BERTH_REGISTRY/admin/bundled:1" && docker pull "$BERTH_REGISTRY/admin/bundled:1"';
        const pushed = await run('sh', ['-c', script], { cwd: client, env: clientEnv });
        assert.match(pushed.stdout, /installed ca\.crt/);
        assert.match(pushed.stdout, /digest: sha256:/);
        // The bundle's token is scoped to the user's namespace.
        await env.docker(['tag', env.images.two, `${r.host}/elsewhere/app:1`]);
        const outside = await run('sh', ['-c', 'cd berth-bundle && . ./env.sh && docker push "$BERTH_REGISTRY/elsewhere/app:1"'], { cwd: client, env: clientEnv, allowFailure: true });
        assert.notEqual(outside.code, 0);
        assert.match(outside.stderr, /denied/i);
      });
    } finally {
      if (host) {
        await rm(`/etc/docker/certs.d/${host}`, { recursive: true, force: true });
        await rm(`/etc/containers/certs.d/${host}`, { recursive: true, force: true });
      }
      await run('ip', ['addr', 'del', `${TLS_IP}/32`, 'dev', 'lo'], { allowFailure: true });
    }
  });
});

/** Address for the docker TLS test (TEST-NET-2, never routed). */
const TLS_IP = '198.51.100.7';

