// A signed release carried to a dark site (issue 13 item 2), with the real
// docker CLI 28: `docker push` with content trust to Berth A, `berth export`
// from A's data folder, `berth import` into Berth B, which shares nothing
// with A (its own data folder, database, key secret and TLS certificate);
// then a fresh docker client with DOCKER_CONTENT_TRUST=1 pulls from B and
// `docker trust inspect` on B prints the same JSON as on A.
//
// The GUN caveat: a DCT GUN is host[:port]/repo and notary clients check
// that the root certificate's CN is the GUN they asked for, so B must be
// reached under A's name. A is stopped after the export and B is reached
// on A's host:port through a TCP forwarder (B listens on a port of its
// own): the dark site's registry answering to the source's name, as the
// docs describe. The import is told that name (http.aliases) and checks it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerEnv } from './docker-env.js';
import { BERTH_CLI, startTlsBerth, withRegistryLog, type RunningRegistry } from './registry-process.js';
import { run } from './util.js';

const T = { timeout: 600_000 };

/** Forwards every connection to `listen` (host:port) to `target` (host:port), bytes unchanged (TLS passes through). */
async function forward(listen: string, target: string): Promise<Server & { sockets: Set<Socket> }> {
  const [lh, lp] = [listen.slice(0, listen.lastIndexOf(':')), Number(listen.slice(listen.lastIndexOf(':') + 1))];
  const [th, tp] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set<Socket>();
  const server = Object.assign(createServer((client) => {
    const upstream = createConnection({ host: th, port: tp });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }), { sockets });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(lp, lh, () => resolve());
  });
  return server;
}

describe('air gap: a DCT-signed release from Berth A to Berth B with berth export and berth import', () => {
  let work: string;
  let env: DockerEnv;
  let a: RunningRegistry | undefined;
  let b: RunningRegistry | undefined;
  let proxy: (Server & { sockets: Set<Socket> }) | undefined;
  let n = 0;
  const passphrases = { DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE: 'root-passphrase-1', DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: 'repo-passphrase-1' };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-airgap-'));
    env = await DockerEnv.start();
    await env.buildImages();
    await mkdir(join(work, 'a'));
    await mkdir(join(work, 'b'));
    ({ reg: a } = await startTlsBerth(join(work, 'a')));
  }, T);
  after(async () => {
    if (proxy) {
      for (const s of proxy.sockets) s.destroy();
      await new Promise((r) => proxy?.close(r));
    }
    await a?.stop();
    await b?.stop();
    await env?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** A docker client with a fresh config folder (fresh trust cache and keys). */
  async function client() {
    const config = join(work, `client-${n++}`);
    await mkdir(config, { recursive: true });
    const e = { DOCKER_CONFIG: config, DOCKER_CONTENT_TRUST: '1', ...passphrases };
    return { config, docker: (args: string[]) => env.docker(args, { env: e }) };
  }

  it('docker push signed to A, berth export, berth import into B; DCT pull from B works and docker trust inspect on B equals A\'s', T, () => withRegistryLog(a, async () => {
    const host = a?.host as string;
    const ref = (p: string) => `${host}/${p}`;
    // On A: 1.0 signed by the repository key (docker push with DCT), 2.0 signed by alice (a delegation).
    const admin = await client();
    await env.docker(['tag', env.images.one, ref('air/app:1.0')]);
    const pushed = await admin.docker(['push', ref('air/app:1.0')]);
    const digest = /1\.0: digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
    assert.ok(digest, pushed.stdout);
    await run('docker', ['trust', 'key', 'generate', 'alice', '--dir', admin.config], { env: { ...env.env, DOCKER_CONFIG: admin.config, ...passphrases } });
    assert.match((await admin.docker(['trust', 'signer', 'add', '--key', join(admin.config, 'alice.pub'), 'alice', ref('air/app')])).stdout, /Successfully added signer: alice/);
    await env.docker(['tag', env.images.two, ref('air/app:2.0')]);
    assert.match((await admin.docker(['trust', 'sign', ref('air/app:2.0')])).stdout, /Successfully signed/);
    const inspectA = JSON.parse((await (await client()).docker(['trust', 'inspect', ref('air/app')])).stdout) as unknown[];
    const signersA = (inspectA[0] as { SignedTags: { SignedTag: string; Signers: string[] }[] }).SignedTags.map((s) => [s.SignedTag, s.Signers]);
    assert.deepEqual(signersA, [['1.0', ['Repo Admin']], ['2.0', ['alice']]]);

    // Export from A's data folder (beside the running server), then A goes away for good.
    const bundle = join(work, 'release.tar');
    const exported = await run(process.execPath, [BERTH_CLI, 'export', ref('air/app:1.0'), ref('air/app:2.0'), '-o', bundle, '--data-dir', a?.dataDir ?? '', '--json']);
    const summary = JSON.parse(exported.stdout) as { trust: { gun: string; files: number }[]; sha256: string };
    assert.deepEqual(summary.trust.map((t) => t.gun), [ref('air/app')]);
    await a?.stop();
    a = undefined;

    // B: its own data folder, database, key secret and certificate; nothing of A's but the bundle.
    ({ reg: b } = await startTlsBerth(join(work, 'b')));
    const imported = await run(process.execPath, [BERTH_CLI, 'import', bundle, '--data-dir', b.dataDir, '--json'], { env: { ...process.env, REGISTRY_HTTP_ALIASES: host } });
    const report = JSON.parse(imported.stdout) as { tags: string[]; trust: { gun: string; stored: number }[] };
    assert.deepEqual(report.tags.sort(), ['air/app:1.0', 'air/app:2.0']);
    assert.deepEqual(report.trust.map((t) => [t.gun, t.stored > 0]), [[ref('air/app'), true]]);
    // The import refuses the trust data for a registry that does not answer to the GUN's name.
    const other = await run(process.execPath, [BERTH_CLI, 'import', bundle, '--data-dir', b.dataDir], { env: { ...process.env, REGISTRY_HTTP_HOST: 'https://registry.example.com' }, allowFailure: true });
    assert.equal(other.code, 7, other.stderr);
    assert.match(other.stderr, /docker verifies it only on a registry reached as/);

    // B reached as A was: A's host:port forwards to B.
    proxy = await forward(host, b.host);
    await env.docker(['rmi', ref('air/app:1.0'), ref('air/app:2.0')]);
    await withRegistryLog(b, async () => {
      const puller = await client();
      const pulled = await puller.docker(['pull', ref('air/app:1.0')]);
      assert.match(pulled.stdout, new RegExp(`Pull \\(1 of 1\\): ${ref('air/app:1.0').replace(/[.]/g, '\\.')}@${digest}`));
      assert.match(pulled.stdout, new RegExp(`Digest: ${digest}`));
      assert.match((await puller.docker(['pull', ref('air/app:2.0')])).stdout, /Digest: sha256:[0-9a-f]{64}/);
      const inspectB = JSON.parse((await (await client()).docker(['trust', 'inspect', ref('air/app')])).stdout) as unknown[];
      assert.deepEqual(inspectB, inspectA);
    });
  }));
});
