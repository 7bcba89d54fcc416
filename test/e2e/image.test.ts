// The container image: builds the repository's Dockerfile (both stages: the
// real `npm ci`, better-sqlite3 compiled from source, tsc, prune) and runs the
// result: `berth --version`, what is and is not in the runtime stage,
// /healthz and /readyz, the HEALTHCHECK, docker push and pull through Berth in
// a container, data kept in the /var/lib/berth volume, a prompt exit on
// SIGTERM. Then the Compose setup's moving parts that can run here: its keygen
// service's script, and two containers sharing one PostgreSQL database and
// that key behind nginx with deploy/compose/nginx.conf.
//
// What stands in for what:
// - node:20-bookworm and node:20-bookworm-slim cannot be pulled, so
//   base-images.ts makes stand-ins from this machine's Debian packages and the
//   build gets them as NODE_IMAGE / NODE_RUNTIME_IMAGE.
// - The engine has no bridge network: the build runs with --network host (npm
//   must reach its registry) and the containers too, each Berth on its own
//   loopback port. The classic builder (DOCKER_BUILDKIT=0) builds it, which the
//   Dockerfile is written to support.
// - In the two-instance test, PostgreSQL is the CI's throwaway server (not the
//   postgres image), nginx is this machine's (with the compose nginx.conf, its
//   upstream names replaced by the two loopback ports), and the blobs are on a
//   volume both containers share instead of MinIO, which cannot be pulled.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { createScratchDatabase, postgresSkipReason, type ScratchDatabase } from '../helpers/postgres.js';
import { importStandInImages } from './base-images.js';
import { DockerEnv } from './docker-env.js';
import { REPO_ROOT } from './registry-process.js';
import { buildRootfsTar, digestOf, freePortIn, http, httpExpect, sleep } from './util.js';

const IMAGE = 'berth-test/berth:e2e';
const BUSYBOX = 'berth-test/bb:1';
const BUILD_TIMEOUT_MS = 15 * 60_000;
/** This suite's share of the ports, apart from the other e2e files'. */
const PORTS = { min: 15200, max: 15299 };

const taken = new Set<number>();
async function freePort(): Promise<number> {
  const port = await freePortIn(PORTS, taken);
  taken.add(port);
  return port;
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

interface ComposeService {
  entrypoint: string[];
  command: string[];
  user: string;
  volumes: string[];
  environment: Record<string, string>;
}

describe('container image (Dockerfile)', { timeout: BUILD_TIMEOUT_MS + 10 * 60_000 }, () => {
  let engine: DockerEnv;
  let work: string;
  const timings: string[] = [];
  const timed = async <R>(what: string, fn: () => Promise<R>): Promise<R> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      timings.push(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  };

  /** Starts a Berth container on a free loopback port and waits for /healthz. */
  const startBerth = async (name: string, extra: string[] = []): Promise<{ url: string; host: string }> => {
    const port = await freePort();
    await engine.docker(['run', '-d', '--name', name, '--network', 'host', ...extra, IMAGE, 'serve', '--addr', `127.0.0.1:${port}`]);
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor(`${name} to answer ${url}/healthz`, 60_000, async () => (await http(`${url}/healthz`)).status === 200);
    } catch (e) {
      const logs = await engine.docker(['logs', name], { allowFailure: true });
      throw new Error(`${(e as Error).message}\n--- container logs ---\n${logs.stdout}${logs.stderr}`);
    }
    return { url, host: `127.0.0.1:${port}` };
  };

  const diffIds = (ref: string): Promise<string[]> => engine.diffIds(ref);

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-image-'));
    engine = await timed('start dockerd', () => DockerEnv.start({ storageDrivers: ['overlay2', 'vfs'] }));
    timings.push(`storage driver: ${engine.storageDriver}`);
    const base = await timed('stand-in base images (from Debian packages)', () => importStandInImages(engine, join(work, 'base')));
    await timed('docker build (both stages)', () =>
      engine.docker(
        ['build', '--network', 'host', '--build-arg', `NODE_IMAGE=${base.build}`, '--build-arg', `NODE_RUNTIME_IMAGE=${base.runtime}`, '-t', IMAGE, REPO_ROOT],
        { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: BUILD_TIMEOUT_MS },
      ),
    );
    await engine.docker(['import', '--change', 'CMD ["sh"]', await buildRootfsTar(work), BUSYBOX]);
  });

  after(async () => {
    process.stderr.write(`# image test timings:\n${timings.map((t) => `#   ${t}\n`).join('')}`);
    await engine?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('is configured as documented: non-root, port 5000, volume /var/lib/berth, berth serve', async () => {
    const c = (await engine.inspect<{ Config: Record<string, unknown> }>(IMAGE)).Config;
    assert.equal(c.User, '1000:1000');
    assert.deepEqual(Object.keys(c.ExposedPorts as object), ['5000/tcp']);
    assert.deepEqual(Object.keys(c.Volumes as object), ['/var/lib/berth']);
    assert.deepEqual(c.Entrypoint, ['berth']);
    assert.deepEqual(c.Cmd, ['serve']);
    assert.ok((c.Env as string[]).includes('BERTH_DATA_DIR=/var/lib/berth'), `Env: ${JSON.stringify(c.Env)}`);
    assert.ok((c.Env as string[]).includes('NODE_ENV=production'));
    assert.match((c.Healthcheck as { Test: string[] }).Test.join(' '), /127\.0\.0\.1:5000\/healthz/);
  });

  it('runs the berth CLI (--version is the package version) as uid 1000, without toolchain, dev dependencies or tests', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const v = await engine.docker(['run', '--rm', '--network', 'none', IMAGE, '--version']);
    assert.equal(v.stdout.trim(), pkg.version);
    const script = [
      'id -u',
      'for t in g++ gcc make python3; do command -v $t && echo "tool $t"; done',
      'for p in typescript s3rver koa @types/node @types/pg; do [ -e node_modules/$p ] && echo "dev $p"; done',
      'for p in pg yaml better-sqlite3/build/Release/better_sqlite3.node; do [ -e node_modules/$p ] || echo "missing $p"; done',
      'find dist node_modules -maxdepth 1 -empty',
      'find dist -name "*.test.js"',
    ].join('; ');
    const r = await engine.docker(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', IMAGE, '-c', script]);
    const [uid, ...rest] = r.stdout.trim().split('\n');
    assert.equal(uid, '1000');
    assert.deepEqual(rest, [], 'no toolchain, no dev dependency, nothing missing, no empty folder, no unit test');
  });

  it('serves the registry: health, readiness, HEALTHCHECK, docker push and pull', async () => {
    // As started by default (:5000, no arguments), in a network of its own,
    // where only the image's HEALTHCHECK can reach it.
    const isolated = 'berth-isolated';
    await engine.docker(['run', '-d', '--name', isolated, '--network', 'none', '--health-interval', '1s', IMAGE]);
    const name = 'berth-serve';
    try {
      await waitFor('the HEALTHCHECK to report healthy', 60_000, async () => {
        const s = await engine.docker(['inspect', '--format', '{{.State.Health.Status}}', isolated]);
        return s.stdout.trim() === 'healthy';
      });
      const ready = await engine.docker(['exec', isolated, 'node', '-e', "fetch('http://127.0.0.1:5000/readyz').then(async (r) => console.log(r.status, await r.text()))"]);
      assert.equal(ready.stdout.trim(), '200 {"status":"ok","checks":{"database":"ok","storage":"ok"}}');

      const { url, host } = await startBerth(name);
      await httpExpect(200, `${url}/v2/`);

      const ref = `${host}/e2e/image:1`;
      await engine.docker(['tag', BUSYBOX, ref]);
      await engine.docker(['push', ref], { timeoutMs: 120_000 });
      await engine.docker(['rmi', ref]);
      await engine.docker(['pull', ref], { timeoutMs: 120_000 });
      assert.deepEqual(await diffIds(ref), await diffIds(BUSYBOX));

      // A blob by the HTTP API: the bytes come back unchanged.
      const body = Buffer.from(`blob ${Date.now()}\n`);
      const digest = digestOf(body);
      const start = await httpExpect(202, `${url}/v2/e2e/raw/blobs/uploads/`, { method: 'POST' });
      const location = new URL(start.headers.get('location') ?? '', url);
      location.searchParams.set('digest', digest);
      await httpExpect(201, location.toString(), { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal((await httpExpect(200, `${url}/v2/e2e/raw/blobs/${digest}`)).body.toString(), body.toString());
    } finally {
      await engine.docker(['rm', '-f', name, isolated], { allowFailure: true });
    }
  });

  it('keeps its data in the volume, and exits 0 promptly on SIGTERM', async () => {
    const volume = 'berth-e2e-data';
    await engine.docker(['volume', 'create', volume]);
    try {
      const first = await startBerth('berth-a', ['-v', `${volume}:/var/lib/berth`]);
      const ref = `${first.host}/e2e/kept:1`;
      await engine.docker(['tag', BUSYBOX, ref]);
      await engine.docker(['push', ref], { timeoutMs: 120_000 });
      const t0 = Date.now();
      await engine.docker(['stop', '--time', '30', 'berth-a']);
      const stopMs = Date.now() - t0;
      const exit = await engine.docker(['inspect', '--format', '{{.State.ExitCode}}', 'berth-a']);
      assert.equal(exit.stdout.trim(), '0', 'berth exits 0 after draining on SIGTERM');
      assert.ok(stopMs < 20_000, `an idle Berth stops long before docker's SIGKILL (took ${stopMs} ms)`);
      await engine.docker(['rm', 'berth-a']);

      const second = await startBerth('berth-b', ['-v', `${volume}:/var/lib/berth`]);
      const tags = await httpExpect(200, `${second.url}/v2/e2e/kept/tags/list`);
      assert.deepEqual(JSON.parse(tags.body.toString()), { name: 'e2e/kept', tags: ['1'] });
    } finally {
      await engine.docker(['rm', '-f', 'berth-a', 'berth-b'], { allowFailure: true });
      await engine.docker(['volume', 'rm', '-f', volume], { allowFailure: true });
    }
  });

  describe('the Compose setup, as far as it runs here', () => {
    const composeDir = join(REPO_ROOT, 'deploy', 'compose');
    const compose = parse(readFileSync(join(composeDir, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, ComposeService>;
    };
    const keygen = compose.services.keygen as ComposeService;
    const berth = compose.services['berth-1'] as ComposeService;
    /** Where the berth-keys volume is mounted in a service. */
    const keysAt = (s: ComposeService): string => s.volumes.find((v) => v.startsWith('berth-keys:'))?.split(':')[1] ?? '';
    const keygenRun = ['--user', keygen.user, '--network', 'none', '-v', `berth-e2e-keys:${keysAt(keygen)}`, '--entrypoint', keygen.entrypoint[0] as string];
    const keygenArgs = [...keygen.entrypoint.slice(1), ...keygen.command];

    it('keygen writes one key for uid 1000, and keeps it when run again', async () => {
      await engine.docker(['volume', 'rm', '-f', 'berth-e2e-keys'], { allowFailure: true });
      const first = await engine.docker(['run', '--rm', ...keygenRun, IMAGE, ...keygenArgs]);
      assert.match(first.stdout, /created \/keys\/token-signing-key\.pem/);
      const look = ['run', '--rm', '--network', 'none', '-v', `berth-e2e-keys:${keysAt(berth)}:ro`, '--entrypoint', 'sh', IMAGE, '-c', `stat -c '%u %a' ${keysAt(berth)}/token-signing-key.pem && cat ${keysAt(berth)}/token-signing-key.pem`];
      const seen = (await engine.docker(look)).stdout;
      assert.match(seen, /^1000 400\n-----BEGIN PRIVATE KEY-----\n/);
      const again = await engine.docker(['run', '--rm', ...keygenRun, IMAGE, ...keygenArgs]);
      assert.equal(again.stdout.trim(), '', 'nothing created the second time');
      assert.equal((await engine.docker(look)).stdout, seen);
    });

    it('two instances on one PostgreSQL database and one key, behind nginx.conf: login, push and pull, tokens valid on both', async (t) => {
      const skip = postgresSkipReason();
      if (skip) return t.skip(skip);
      const nginxBin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
      if (!nginxBin) return t.skip('nginx is not installed (apt-get install nginx)');
      let db: ScratchDatabase | undefined;
      const dir = await mkdtemp(join(tmpdir(), 'berth-e2e-ha-'));
      let nginx: ReturnType<typeof spawn> | undefined;
      try {
        db = await createScratchDatabase();
        await engine.docker(['run', '--rm', ...keygenRun, IMAGE, ...keygenArgs]); // keeps the key of the test above, if there
        // berth.yml's signing key path, where the keys volume is mounted, as in Compose;
        // the S3 section is replaced by a volume both containers share.
        const keyFile = `${keysAt(berth)}/token-signing-key.pem`;
        const admin = 'ha-admin-password';
        const common = [
          '-e', `BERTH_DATABASE_URL=${db.url}`,
          '-e', `REGISTRY_AUTH_TOKEN_SIGNINGKEY=${keyFile}`,
          '-e', `BERTH_ADMIN_PASSWORD=${admin}`,
          '-v', `berth-e2e-keys:${keysAt(berth)}:ro`,
          '-v', 'berth-e2e-shared:/var/lib/berth',
        ];
        // Started together, as Compose does: both migrate the schema and look for the first admin.
        const [a, b] = await Promise.all([startBerth('berth-ha-1', common), startBerth('berth-ha-2', common)]);

        const port = await freePort();
        const conf = readFileSync(join(composeDir, 'nginx.conf'), 'utf8')
          .replace(/server berth-1:5000/, `server ${a.host}`)
          .replace(/server berth-2:5000/, `server ${b.host}`)
          .replace('listen 80;', `listen 127.0.0.1:${port};`)
          .replace('pid /tmp/nginx.pid;', `pid ${dir}/nginx.pid;`)
          .replaceAll('/var/log/nginx/', `${dir}/`);
        await writeFile(join(dir, 'nginx.conf'), conf);
        nginx = spawn(nginxBin, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; user root;`], { stdio: 'ignore' });
        const front = `127.0.0.1:${port}`;
        await waitFor('nginx', 20_000, async () => (await http(`http://${front}/v2/`)).status === 401);

        await engine.docker(['login', front, '-u', 'admin', '--password-stdin'], { input: admin });
        const ref = `${front}/ha/app:1`;
        await engine.docker(['tag', BUSYBOX, ref]);
        await engine.docker(['push', ref], { timeoutMs: 120_000 });
        await engine.docker(['rmi', ref]);
        await engine.docker(['pull', ref], { timeoutMs: 120_000 });
        assert.deepEqual(await diffIds(ref), await diffIds(BUSYBOX));

        // nginx spread the push over both instances, but kept each upload
        // session's requests (PATCH, PUT) on one of them.
        const sessions: Array<Set<string>> = [];
        for (const name of ['berth-ha-1', 'berth-ha-2']) {
          const logs = await engine.docker(['logs', name]);
          const out = logs.stdout + logs.stderr;
          assert.match(out, /\/v2\/ha\/app\//, `${name} served part of the push`);
          sessions.push(new Set([...out.matchAll(/"http\.request\.method":"(?:PATCH|PUT)","http\.request\.path":"\/v2\/ha\/app\/blobs\/uploads\/([0-9a-f-]+)"/g)].map((m) => m[1] ?? '')));
        }
        const [one, two] = sessions;
        assert.ok(one && two);
        assert.ok(one.size + two.size > 0, 'the push used upload sessions');
        assert.deepEqual([...one].filter((id) => two.has(id)), [], 'no upload session was split between the instances');

        // A token from one instance works on the other: same key, same users.
        const basic = `Basic ${Buffer.from(`admin:${admin}`).toString('base64')}`;
        const tokenRes = await httpExpect(200, `${a.url}/auth/token?service=berth&scope=repository:ha/app:pull`, { headers: { authorization: basic } });
        const token = (JSON.parse(tokenRes.body.toString()) as { token: string }).token;
        for (const url of [a.url, b.url]) {
          const tags = await httpExpect(200, `${url}/v2/ha/app/tags/list`, { headers: { authorization: `Bearer ${token}` } });
          assert.deepEqual(JSON.parse(tags.body.toString()), { name: 'ha/app', tags: ['1'] });
        }
      } finally {
        nginx?.kill('SIGTERM');
        await engine.docker(['rm', '-f', 'berth-ha-1', 'berth-ha-2'], { allowFailure: true });
        await engine.docker(['volume', 'rm', '-f', 'berth-e2e-shared', 'berth-e2e-keys'], { allowFailure: true });
        await db?.drop();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
