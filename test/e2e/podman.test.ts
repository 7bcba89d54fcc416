// End-to-end: podman push / pull against the registry. podman runs as root
// with private vfs storage in a temp dir; no Docker engine is needed (the test
// images come from a hand-built OCI layout). If podman cannot run on this
// machine the tests are skipped with the reason — unless E2E_REQUIRE_PODMAN=1,
// in which case they fail.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { PodmanEnv } from './docker-env.js';
import { startRegistry, type RunningRegistry, withRegistryLog as withLog } from './registry-process.js';
import {
  MT,
  run,
  buildRootfsTar,
  describeHttp,
  digestOf,
  getManifest,
  http,
  httpExpect,
  parseJson,
  writeMultiArchLayout,
  type ImageConfig,
  type ImageManifest,
  type ManifestIndex,
  type MultiArchLayout,
} from './util.js';

const T = { timeout: 120_000 };
const NO_TLS = '--tls-verify=false';

describe(`podman against the registry (E2E_TARGET=${process.env.E2E_TARGET ?? 'berth'})`, () => {
  let reg: RunningRegistry | undefined;
  let pm: PodmanEnv | undefined;
  let skipReason: string | undefined;
  let work: string;
  let layout: MultiArchLayout;
  let pushedDigest = '';

  before(async () => {
    const started = await PodmanEnv.tryStart();
    if ('reason' in started) {
      if (process.env.E2E_REQUIRE_PODMAN === '1') throw new Error(`E2E_REQUIRE_PODMAN=1 but ${started.reason}`);
      skipReason = started.reason;
      console.log(`podman e2e tests skipped: ${skipReason}`);
      return;
    }
    pm = started.env;
    reg = await startRegistry();
    // Lower-case path only: podman derives an image name from an oci: layout's path.
    work = join('/tmp', `berth-e2e-podman-${randomBytes(6).toString('hex')}`);
    await mkdir(work);
    const rootfsTar = await buildRootfsTar(work);
    layout = await writeMultiArchLayout(join(work, 'layout'), rootfsTar);
  }, { timeout: 120_000 });

  after(async () => {
    await pm?.stop();
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Returns the usable env, or marks the test skipped (with the reason) and returns null. */
  function ready(t: TestContext): { pm: PodmanEnv; reg: RunningRegistry } | null {
    if (skipReason !== undefined) {
      t.skip(skipReason);
      return null;
    }
    assert.ok(pm && reg, 'podman environment was not set up');
    return { pm, reg };
  }

  const withRegistryLog = <R>(fn: () => Promise<R>): Promise<R> => withLog(reg, fn);

  /** Load an image of the hand-built layout into podman's storage; returns its id. */
  async function loadFromLayout(p: PodmanEnv, arch: string): Promise<string> {
    const r = await p.podman(['pull', '-q', '--arch', arch, `oci:${layout.dir}:${arch}`]);
    const id = r.stdout.trim().split('\n').pop() ?? '';
    assert.match(id, /^[0-9a-f]{64}$/, `image id from podman pull: ${r.stdout}`);
    return id;
  }

  async function imageLayersFromRegistry(r: RunningRegistry, repo: string, reference: string): Promise<{ manifest: ImageManifest; config: ImageConfig; diffIds: string[] }> {
    const m = await getManifest(r.url, repo, reference);
    assert.equal(m.status, 200, describeHttp('GET', `${repo}:${reference}`, m.raw));
    const manifest = parseJson<ImageManifest>(m.body, 'manifest');
    const cfg = await httpExpect(200, `${r.url}/v2/${repo}/blobs/${manifest.config.digest}`);
    assert.equal(digestOf(cfg.body), manifest.config.digest);
    const diffIds: string[] = [];
    for (const l of manifest.layers) {
      const b = await httpExpect(200, `${r.url}/v2/${repo}/blobs/${l.digest}`);
      assert.equal(digestOf(b.body), l.digest);
      diffIds.push(digestOf(gunzipSync(b.body)));
    }
    return { manifest, config: parseJson<ImageConfig>(cfg.body, 'config'), diffIds };
  }

  it('podman push uploads an image the registry serves intact', T, (t) =>
    withRegistryLog(async () => {
      const e = ready(t);
      if (!e) return;
      const amd64 = layout.images.find((i) => i.arch === 'amd64');
      assert.ok(amd64);
      const id = await loadFromLayout(e.pm, 'amd64');
      const ref = `${e.reg.host}/pm/busybox:1`;
      await e.pm.podman(['tag', id, ref]);
      const digestFile = join(work, 'digest');
      await e.pm.podman(['push', NO_TLS, '--digestfile', digestFile, ref]);
      pushedDigest = (await readFile(digestFile, 'utf8')).trim();
      assert.match(pushedDigest, /^sha256:[0-9a-f]{64}$/);

      const head = await http(`${e.reg.url}/v2/pm/busybox/manifests/1`, {
        method: 'HEAD',
        headers: { Accept: [MT.ociManifest, MT.dockerManifest].join(', ') },
      });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('docker-content-digest'), pushedDigest);

      const img = await imageLayersFromRegistry(e.reg, 'pm/busybox', pushedDigest);
      assert.equal(img.config.architecture, 'amd64');
      assert.deepEqual(img.config.rootfs.diff_ids, amd64.diffIds);
      assert.deepEqual(img.diffIds, amd64.diffIds, 'layers gunzip to the diff IDs');
    }),
  );

  it('podman pull after removing local images gets the same image, and it runs', T, (t) =>
    withRegistryLog(async () => {
      const e = ready(t);
      if (!e) return;
      assert.ok(pushedDigest, 'push test ran first');
      await e.pm.podman(['rmi', '-a', '-f']);
      assert.equal((await e.pm.podman(['images', '-q'])).stdout.trim(), '');

      const ref = `${e.reg.host}/pm/busybox:1`;
      const pull = await e.pm.podman(['pull', NO_TLS, ref]);
      assert.match(pull.stderr + pull.stdout, /Copying blob/);
      const inspect = parseJson<Array<{ Digest: string; Architecture: string; RootFS: { Layers: string[] } }>>(
        (await e.pm.podman(['image', 'inspect', ref])).stdout,
        'podman image inspect',
      );
      const img = inspect[0];
      assert.ok(img);
      assert.equal(img.Digest, pushedDigest);
      assert.equal(img.Architecture, 'amd64');
      assert.deepEqual(img.RootFS.Layers, layout.images.find((i) => i.arch === 'amd64')?.diffIds);

      const byDigest = `${e.reg.host}/pm/busybox@${pushedDigest}`;
      await e.pm.podman(['pull', NO_TLS, byDigest]);
      const cat = await e.pm.podman(['run', '--rm', ...e.pm.runFlags(), byDigest, 'cat', '/f']);
      assert.equal(cat.stdout, 'amd64\n');
    }),
  );

  it('podman push --format v2s2 stores a Docker schema 2 manifest', T, (t) =>
    withRegistryLog(async () => {
      const e = ready(t);
      if (!e) return;
      const ref = `${e.reg.host}/pm/busybox:v2s2`;
      await e.pm.podman(['tag', `${e.reg.host}/pm/busybox:1`, ref]);
      await e.pm.podman(['push', NO_TLS, '--format', 'v2s2', ref]);
      const m = await getManifest(e.reg.url, 'pm/busybox', 'v2s2');
      assert.equal(m.status, 200);
      assert.equal(m.contentType, MT.dockerManifest);
      assert.equal(parseJson<ImageManifest>(m.body, 'manifest').mediaType, MT.dockerManifest);
      const tags = parseJson<{ tags: string[] }>((await httpExpect(200, `${e.reg.url}/v2/pm/busybox/tags/list`)).body, 'tags');
      assert.deepEqual([...tags.tags].sort(), ['1', 'v2s2']);
    }),
  );

  it('podman manifest push --all publishes a multi-arch list; pull --arch picks the platform', T, (t) =>
    withRegistryLog(async () => {
      const e = ready(t);
      if (!e) return;
      const arm = `${e.reg.host}/pm/busybox:arm64`;
      await e.pm.podman(['tag', await loadFromLayout(e.pm, 'arm64'), arm]);
      await e.pm.podman(['push', NO_TLS, arm]);

      const list = 'e2e-list';
      await e.pm.podman(['manifest', 'create', list]);
      await e.pm.podman(['manifest', 'add', NO_TLS, list, `docker://${e.reg.host}/pm/busybox:1`]);
      await e.pm.podman(['manifest', 'add', NO_TLS, list, `docker://${arm}`]);
      const target = `${e.reg.host}/pm/multi:1`;
      await e.pm.podman(['manifest', 'push', '--all', NO_TLS, list, `docker://${target}`]);

      const m = await getManifest(e.reg.url, 'pm/multi', '1');
      assert.equal(m.status, 200, describeHttp('GET', 'pm/multi:1', m.raw));
      assert.ok(m.contentType === MT.ociIndex || m.contentType === MT.dockerList, `content type ${m.contentType}`);
      const idx = parseJson<ManifestIndex>(m.body, 'index');
      assert.deepEqual(idx.manifests.map((d) => d.platform?.architecture).sort(), ['amd64', 'arm64']);
      for (const d of idx.manifests) {
        assert.equal((await getManifest(e.reg.url, 'pm/multi', d.digest)).status, 200, `child ${d.digest} is in pm/multi`);
      }

      await e.pm.podman(['rmi', '-a', '-f']);
      await e.pm.podman(['pull', NO_TLS, '--arch', 'arm64', target]);
      const arch = (await e.pm.podman(['image', 'inspect', '--format', '{{.Architecture}}', target])).stdout.trim();
      assert.equal(arch, 'arm64');
      await e.pm.podman(['rmi', '-a', '-f']);
      await e.pm.podman(['pull', NO_TLS, '--arch', 'amd64', target]);
      const cat = await e.pm.podman(['run', '--rm', ...e.pm.runFlags(), target, 'cat', '/f']);
      assert.equal(cat.stdout, 'amd64\n');
    }),
  );
  it('podman login, push, logout: the credentials flow against htpasswd', T, (t) =>
    withRegistryLog(async () => {
      const e = ready(t);
      if (!e) return;
      const htpasswd = join(work, 'htpasswd');
      await run('htpasswd', ['-Bbc', htpasswd, 'pod', 'p0dman-pass']);
      const authReg = await startRegistry({ env: { REGISTRY_AUTH: 'htpasswd', REGISTRY_AUTH_HTPASSWD_REALM: 'Berth', REGISTRY_AUTH_HTPASSWD_PATH: htpasswd } });
      try {
        const id = await loadFromLayout(e.pm, 'amd64');
        const ref = `${authReg.host}/pm/private:1`;
        await e.pm.podman(['tag', id, ref]);
        const anon = await e.pm.podman(['push', NO_TLS, ref], { allowFailure: true });
        assert.notEqual(anon.code, 0, 'anonymous push is refused');
        const bad = await e.pm.podman(['login', NO_TLS, '-u', 'pod', '--password-stdin', authReg.host], { input: 'wrong\n', allowFailure: true });
        assert.notEqual(bad.code, 0);
        const login = await e.pm.podman(['login', NO_TLS, '-u', 'pod', '--password-stdin', authReg.host], { input: 'p0dman-pass\n' });
        assert.match(login.stdout, /Login Succeeded/i);
        await e.pm.podman(['push', NO_TLS, ref]);
        await e.pm.podman(['rmi', '-f', ref]);
        await e.pm.podman(['pull', NO_TLS, ref]);
        await e.pm.podman(['logout', authReg.host]);
        await e.pm.podman(['rmi', '-f', ref]);
        const after = await e.pm.podman(['pull', NO_TLS, ref], { allowFailure: true });
        assert.notEqual(after.code, 0, 'after logout the pull is refused');
        assert.match(after.stderr, /unauthorized|authentication required/i);
      } finally {
        await authReg.stop();
      }
    }),
  );
});
