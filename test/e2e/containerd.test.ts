// End-to-end: containerd's `ctr` pulls and pushes against a real Berth
// process, over plain HTTP (--plain-http), anonymously, with HTTP Basic
// (htpasswd) and with Berth's token service (`--user`). The test starts its
// own containerd (Debian's `containerd`, which docker.io depends on) with its
// root, state and socket in a temporary folder, so no system containerd is
// touched. The image is a hand-built two-platform OCI layout (no network),
// pushed to Berth over HTTP; every digest containerd reports or pushes is
// checked against the bytes the test made.
//
// Without ctr or containerd (or not as root) the tests are skipped with the
// reason, unless E2E_REQUIRE_CONTAINERD=1 (as in CI): then they fail.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { startRegistry, withRegistryLog, type RunningRegistry } from './registry-process.js';
import {
  MT,
  buildRootfsTar,
  describeHttp,
  digestOf,
  http,
  layoutBlobPath,
  run,
  runExpectFailure,
  RingLog,
  settlesWithin,
  sleep,
  writeMultiArchLayout,
  type MultiArchLayout,
  type RunOptions,
  type RunResult,
} from './util.js';

const T = { timeout: 180_000 };
const USER = 'alice';
const PASSWORD = 'ctr-s3cret-pass';

/** A containerd of the test's own: root, state and socket under `dir`. */
class Containerd {
  private constructor(
    readonly dir: string,
    readonly socket: string,
    private readonly child: ChildProcess,
    private readonly log: RingLog,
    private readonly exited: Promise<void>,
  ) {}

  /** The daemon, or why it cannot run here. */
  static async tryStart(): Promise<{ env: Containerd } | { reason: string }> {
    if (process.getuid?.() !== 0) return { reason: `containerd must run as root (uid ${process.getuid?.()})` };
    for (const bin of ['ctr', 'containerd']) {
      const found = await run('sh', ['-c', `command -v ${bin}`], { allowFailure: true });
      if (found.code !== 0) return { reason: `${bin} is not installed (Debian package containerd, a dependency of docker.io)` };
    }
    // Unix socket paths must stay short: /tmp, not a deep temporary folder.
    const dir = join('/tmp', `bctd-${randomBytes(4).toString('hex')}`);
    await mkdir(dir);
    const socket = join(dir, 'c.sock');
    const config = join(dir, 'config.toml');
    // The CRI plugin (Kubernetes) is not needed and wants more of the machine.
    await writeFile(config, [
      'version = 2',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
      '[ttrpc]',
      `  address = "${socket}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '',
    ].join('\n'));
    const log = new RingLog();
    const child = spawn('containerd', ['--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (b: Buffer) => log.push(b));
    child.stderr?.on('data', (b: Buffer) => log.push(b));
    let exit: string | null = null;
    const exited = new Promise<void>((resolve) => {
      child.on('error', (e) => { exit = `could not be started: ${e.message}`; resolve(); });
      child.on('exit', (code, signal) => { exit ??= `exited with code ${code}, signal ${signal}`; resolve(); });
    });
    process.on('exit', () => child.kill('SIGKILL'));
    const env = new Containerd(dir, socket, child, log, exited);
    for (const deadline = Date.now() + 30_000; ;) {
      if (exit) {
        await rm(dir, { recursive: true, force: true });
        return { reason: `containerd ${exit}\n--- containerd output ---\n${log.text().slice(-4000)}` };
      }
      if (existsSync(socket) && (await env.ctr(['version'], { allowFailure: true })).code === 0) return { env };
      if (Date.now() > deadline) {
        await env.stop();
        return { reason: `containerd did not answer on ${socket} within 30 s\n--- containerd output ---\n${log.text().slice(-4000)}` };
      }
      await sleep(100);
    }
  }

  ctr(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('ctr', ['--address', this.socket, ...args], opts).catch((e: Error) => {
      e.message += `\n--- containerd output (tail) ---\n${this.log.text().slice(-3000)}`;
      throw e;
    });
  }

  ctrExpectFailure(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return runExpectFailure('ctr', ['--address', this.socket, ...args], opts);
  }

  /** The target digest of each image containerd holds, by name. */
  async images(): Promise<Map<string, string>> {
    const out = (await this.ctr(['images', 'ls'])).stdout.trim().split('\n').slice(1);
    return new Map(out.map((line) => line.split(/\s+/)).map((f) => [f[0] ?? '', f[2] ?? '']));
  }

  /** Removes every image, and (synchronously) the content no image holds any more. */
  async removeAllImages(): Promise<void> {
    const names = [...(await this.images()).keys()];
    if (names.length > 0) await this.ctr(['images', 'rm', '--sync', ...names]);
  }

  /** The digests in containerd's content store. */
  async content(): Promise<Set<string>> {
    return new Set((await this.ctr(['content', 'ls', '--quiet'])).stdout.split('\n').map((l) => l.trim()).filter(Boolean));
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    if (!(await settlesWithin(this.exited, 10_000))) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    // The native snapshotter leaves plain folders; nothing is mounted.
    await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** Uploads the layout's image index, its manifests and their blobs to `repo:tag` over the registry API. */
async function pushLayout(url: string, repo: string, tag: string, layout: MultiArchLayout, headers: Record<string, string> = {}): Promise<void> {
  const blobs = new Set<string>();
  for (const im of layout.images) for (const d of [im.configDigest, ...im.layerDigests]) blobs.add(d);
  for (const digest of blobs) {
    const data = await readFile(layoutBlobPath(layout.dir, digest));
    const r = await http(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data as Uint8Array<ArrayBuffer>, headers: { ...headers, 'Content-Type': 'application/octet-stream' } });
    if (r.status !== 201) assert.fail(`blob push\n${describeHttp('POST', digest, r)}`);
  }
  const put = async (ref: string, body: Buffer, mediaType: string) => {
    const r = await http(`${url}/v2/${repo}/manifests/${ref}`, { method: 'PUT', body: body as Uint8Array<ArrayBuffer>, headers: { ...headers, 'Content-Type': mediaType } });
    if (r.status !== 201) assert.fail(`manifest push\n${describeHttp('PUT', ref, r)}`);
  };
  for (const im of layout.images) await put(im.manifestDigest, im.manifest, MT.ociManifest);
  await put(tag, layout.index, MT.ociIndex);
}

/**
 * What the registry holds under `repo:tag` is exactly the layout's image:
 * the index's bytes, and every manifest and blob it names, each hashing to
 * its digest.
 */
async function expectLayoutIn(url: string, repo: string, tag: string, layout: MultiArchLayout, headers: Record<string, string> = {}): Promise<void> {
  const index = await http(`${url}/v2/${repo}/manifests/${tag}`, { headers: { ...headers, Accept: MT.ociIndex } });
  assert.equal(index.status, 200, describeHttp('GET', `${repo}:${tag}`, index));
  assert.equal(index.headers.get('docker-content-digest'), layout.indexDigest);
  assert.equal(digestOf(index.body), layout.indexDigest, `${repo}:${tag}: the index bytes are not the ones made`);
  for (const im of layout.images) {
    const m = await http(`${url}/v2/${repo}/manifests/${im.manifestDigest}`, { headers: { ...headers, Accept: MT.ociManifest } });
    assert.equal(m.status, 200, describeHttp('GET', `${repo}@${im.manifestDigest}`, m));
    assert.equal(digestOf(m.body), im.manifestDigest);
    for (const d of [im.configDigest, ...im.layerDigests]) {
      const b = await http(`${url}/v2/${repo}/blobs/${d}`, { headers });
      assert.equal(b.status, 200, describeHttp('GET', `${repo} blob ${d}`, b));
      assert.equal(digestOf(b.body), d);
    }
  }
}

/** A bearer token from Berth's token service for `scope`, with the test user's password. */
async function bearer(url: string, service: string, scope: string): Promise<Record<string, string>> {
  const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  const r = await http(`${url}/auth/token?service=${encodeURIComponent(service)}&scope=${encodeURIComponent(scope)}`, { headers: { Authorization: basic } });
  assert.equal(r.status, 200, describeHttp('GET', '/auth/token', r));
  return { Authorization: `Bearer ${(JSON.parse(r.body.toString('utf8')) as { token: string }).token}` };
}

describe('containerd (ctr) against the registry', () => {
  let ctd: Containerd | undefined;
  let skipReason: string | undefined;
  let work = '';
  let layout: MultiArchLayout;
  let htpasswd = '';
  const regs: RunningRegistry[] = [];

  before(async () => {
    const started = await Containerd.tryStart();
    if ('reason' in started) {
      if (process.env.E2E_REQUIRE_CONTAINERD === '1') throw new Error(`E2E_REQUIRE_CONTAINERD=1 but ${started.reason}`);
      skipReason = started.reason;
      console.log(`containerd e2e tests skipped: ${skipReason}`);
      return;
    }
    ctd = started.env;
    work = join('/tmp', `berth-e2e-ctr-${randomBytes(6).toString('hex')}`);
    await mkdir(work);
    layout = await writeMultiArchLayout(join(work, 'layout'), await buildRootfsTar(work));
    htpasswd = join(work, 'htpasswd');
    await run('htpasswd', ['-Bbc', htpasswd, USER, PASSWORD]);
  }, T);

  after(async () => {
    for (const r of regs) await r.stop();
    await ctd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const ready = (t: TestContext): Containerd | undefined => {
    if (!ctd) t.skip(skipReason);
    return ctd;
  };

  it('plain HTTP: pulls an image index (all platforms) and a manifest by digest, unpacks it, and pushes it to another repository', T, async (t) => {
    const c = ready(t);
    if (!c) return;
    const reg = await startRegistry();
    regs.push(reg);
    await withRegistryLog(reg, async () => {
      await pushLayout(reg.url, 'ctr/source', 'multi', layout);
      const ref = `${reg.host}/ctr/source:multi`;
      // The native snapshotter unpacks into plain folders (no overlay mount needed), checking each layer against its diff_id.
      await c.ctr(['images', 'pull', '--plain-http', '--all-platforms', '--snapshotter', 'native', ref]);
      assert.equal((await c.images()).get(ref), layout.indexDigest, 'the index containerd pulled is the one pushed');
      const content = await c.content();
      for (const im of layout.images) {
        for (const d of [im.manifestDigest, im.configDigest, ...im.layerDigests]) assert.ok(content.has(d), `containerd fetched ${d} (${im.arch})`);
      }
      const amd64 = layout.images.find((im) => im.arch === 'amd64');
      assert.ok(amd64);
      // The bytes containerd stored are the registry's: its own check of the digest passed, and they read back the same.
      assert.equal(digestOf((await c.ctr(['content', 'get', amd64.configDigest])).stdout), amd64.configDigest);
      const byDigest = `${reg.host}/ctr/source@${amd64.manifestDigest}`;
      await c.ctr(['images', 'pull', '--plain-http', '--platform', 'linux/amd64', '--snapshotter', 'native', byDigest]);
      assert.equal((await c.images()).get(byDigest), amd64.manifestDigest);

      const pushed = `${reg.host}/ctr/pushed:v1`;
      await c.ctr(['images', 'tag', ref, pushed]);
      await c.ctr(['images', 'push', '--plain-http', pushed]);
      await expectLayoutIn(reg.url, 'ctr/pushed', 'v1', layout);
    });
  });

  for (const mode of ['htpasswd', 'token'] as const) {
    it(`${mode}: --user pushes and pulls; no or wrong credentials are refused`, T, async (t) => {
      const c = ready(t);
      if (!c) return;
      const service = 'berth-e2e-ctr';
      const reg = await startRegistry({
        env: mode === 'htpasswd'
          ? { REGISTRY_AUTH: 'htpasswd', REGISTRY_AUTH_HTPASSWD_REALM: 'Berth', REGISTRY_AUTH_HTPASSWD_PATH: htpasswd }
          : { REGISTRY_AUTH_TOKEN_SERVICE: service, REGISTRY_AUTH_HTPASSWD_PATH: htpasswd },
      });
      regs.push(reg);
      await withRegistryLog(reg, async () => {
        // The layout goes to this registry by HTTP, then containerd pulls it (after forgetting what it held) and pushes it on.
        const repo = `ctr/${mode}`;
        const auth = mode === 'htpasswd'
          ? { Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` }
          : await bearer(reg.url, service, `repository:${repo}:pull,push`);
        await pushLayout(reg.url, repo, 'multi', layout, auth);
        const ref = `${reg.host}/${repo}:multi`;

        await c.removeAllImages();
        assert.ok(!(await c.content()).has(layout.indexDigest), 'containerd still holds the index: the pull below would prove nothing');
        const anonymous = await c.ctrExpectFailure(['images', 'pull', '--plain-http', '--all-platforms', ref]);
        assert.match(anonymous.stderr, /401|unauthorized|authorization/i);
        const wrong = await c.ctrExpectFailure(['images', 'pull', '--plain-http', '--all-platforms', '--user', `${USER}:wrong-password`, ref]);
        assert.match(wrong.stderr, /401|unauthorized|authorization/i);
        await c.ctr(['images', 'pull', '--plain-http', '--all-platforms', '--snapshotter', 'native', '--user', `${USER}:${PASSWORD}`, ref]);
        assert.equal((await c.images()).get(ref), layout.indexDigest);

        const pushed = `${reg.host}/${repo}-pushed:v1`;
        await c.ctr(['images', 'tag', ref, pushed]);
        const refused = await c.ctrExpectFailure(['images', 'push', '--plain-http', pushed]);
        assert.match(refused.stderr, /401|unauthorized|authorization/i);
        await c.ctr(['images', 'push', '--plain-http', '--user', `${USER}:${PASSWORD}`, pushed]);
        const readBack = mode === 'htpasswd' ? auth : await bearer(reg.url, service, `repository:${repo}-pushed:pull`);
        await expectLayoutIn(reg.url, `${repo}-pushed`, 'v1', layout, readBack);
        // The password never reaches the registry's log.
        assert.ok(!reg.logs().includes(PASSWORD));
      });
    });
  }
});
