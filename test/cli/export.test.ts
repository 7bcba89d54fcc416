import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestBerth, pushImage, type TestBerth } from '../helpers/berth.js';
import { signedTargets } from '../../src/trust/index.js';
import { TestRepo, dockerTarget, signDoc } from '../../src/trust/tuf/testkit.js';
import { keyId, type TufKey } from '../../src/trust/tuf/index.js';
import { runBerth } from '../helpers/cli.js';

/**
 * `berth export` and `berth import` of its bundle, as commands on the data
 * folders of two Berths that share nothing (each running in this process):
 * the --json summaries, the same bytes twice, the trust data imported, and
 * the refusals with their exit codes: a changed bundle (2), a registry
 * under another name than the bundle's GUN (7, naming http.aliases and
 * --skip-trust; --skip-trust then imports the images alone), a bad or
 * unknown reference (2, 3).
 */

const BIN = path.resolve('dist/src/cli/main.js');
const BOUNDARY = 'b0undary';

const berth = runBerth;

const sha256hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('berth export and berth import of a bundle (CLI)', () => {
  let a: TestBerth;
  let work: string;
  let hostA: string;
  let v1: Buffer;
  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'berth-export-cli-'));
    a = await startTestBerth();
    hostA = new URL(a.url).host;
    v1 = (await pushImage(a.url, 'cli/app', 'v1')).manifest;
    const gun = `${hostA}/cli/app`;
    const repo = new TestRepo(gun);
    const key = async (role: string) => (await (await fetch(`${a.url}/v2/${gun}/_trust/tuf/${role}.key`)).json()) as TufKey;
    const ts = await key('timestamp');
    const sn = await key('snapshot');
    const signed = repo.rootSigned(1, { extraKeys: [ts, sn] });
    (signed.roles as Record<string, unknown>).timestamp = { keyids: [keyId(ts)], threshold: 1 };
    (signed.roles as Record<string, unknown>).snapshot = { keyids: [keyId(sn)], threshold: 1 };
    const parts: [string, Buffer][] = [['root', signDoc(signed, repo.rootKeys)], ['targets', repo.targets(2, { targets: { v1: dockerTarget(v1) } })]];
    const body = Buffer.concat([...parts.flatMap(([name, data]) => [Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="${name}"\r\n\r\n`), data, Buffer.from('\r\n')]), Buffer.from(`--${BOUNDARY}--\r\n`)]);
    const res = await fetch(`${a.url}/v2/${gun}/_trust/tuf/`, { method: 'POST', body: new Uint8Array(body), headers: { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` } });
    assert.equal(res.status, 200, await res.text());
  });
  after(async () => {
    await a?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('exports with a --json summary, the same bytes twice; imports into another Berth with its trust data; refuses a changed bundle (exit 2)', async () => {
    const out = path.join(work, 'app.tar');
    const r = await berth(['export', 'cli/app:v1', '-o', out, '--data-dir', a.dataDir, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { images: { reference: string; digest: string }[]; trust: { gun: string; files: number }[]; sha256: string; output: string };
    assert.deepEqual(summary.images.map((i) => [i.reference, i.digest]), [['cli/app:v1', `sha256:${sha256hex(v1)}`]]);
    assert.deepEqual(summary.trust, [{ repository: 'cli/app', gun: `${hostA}/cli/app`, files: 4 }]);
    const bytes = await readFile(out);
    assert.equal(summary.sha256, sha256hex(bytes));
    const again = await berth(['export', `${hostA}/cli/app:v1`, '-o', path.join(work, 'again.tar'), '--data-dir', a.dataDir]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /wrote .*again\.tar: 1 manifests, 2 blobs/);
    assert.ok((await readFile(path.join(work, 'again.tar'))).equals(bytes), 'exporting twice writes the same bytes (the host-prefixed name is the same repository)');

    const b = await startTestBerth();
    try {
      // Changed: refused whole with exit 2 and the member named; nothing imported.
      const flipped = Buffer.from(bytes);
      const at = flipped.indexOf(Buffer.from('"layers"'));
      flipped[at + 2] = 0x41;
      await writeFile(path.join(work, 'changed.tar'), flipped);
      const bad = await berth(['import', path.join(work, 'changed.tar'), '--data-dir', b.dataDir], { REGISTRY_HTTP_HOST: `http://${hostA}` });
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, /blobs\/sha256\/[0-9a-f]{64}: the bundle was changed or is damaged: its sha256 is .*nothing was imported/);
      assert.deepEqual(((await (await fetch(`${b.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories, []);

      const ok = await berth(['import', out, '--data-dir', b.dataDir, '--json'], { REGISTRY_HTTP_HOST: `http://${hostA}` });
      assert.equal(ok.status, 0, ok.stderr);
      const imported = JSON.parse(ok.stdout) as { tags: string[]; trust: unknown[]; warnings: string[] };
      assert.deepEqual(imported.tags, ['cli/app:v1']);
      assert.deepEqual(imported.trust, [{ repository: 'cli/app', gun: `${hostA}/cli/app`, stored: 4, alreadyPresent: 0 }]);
      const res = await fetch(`${b.url}/v2/cli/app/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(v1));
      const now = new Date();
      assert.deepEqual(signedTargets(await b.berth.metadata.trust.current('cli/app'), now), signedTargets(await a.berth.metadata.trust.current('cli/app'), now));
    } finally {
      await b.close();
    }
  });

  it('a registry under another name than the bundle\'s GUN: exit 7 naming the fix; --skip-trust imports the images without it', async () => {
    const out = path.join(work, 'app.tar');
    if (!(await readFile(out).then(() => true, () => false))) assert.equal((await berth(['export', 'cli/app:v1', '-o', out, '--data-dir', a.dataDir])).status, 0);
    const c = await startTestBerth();
    try {
      const env = { REGISTRY_HTTP_HOST: 'https://registry.example.com' };
      const r = await berth(['import', out, '--data-dir', c.dataDir], env);
      assert.equal(r.status, 7, r.stderr);
      assert.match(r.stderr, new RegExp(`trust data of cli/app is for ${hostA}/cli/app.*reached as ${hostA}.*http\\.aliases.*--skip-trust.*nothing was imported`));
      assert.deepEqual(((await (await fetch(`${c.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories, []);
      const skipped = await berth(['import', out, '--data-dir', c.dataDir, '--skip-trust'], env);
      assert.equal(skipped.status, 0, skipped.stderr);
      assert.match(skipped.stderr, /warning: the Docker Content Trust data of .* was not imported \(--skip-trust\)/);
      assert.equal((await fetch(`${c.url}/v2/cli/app/manifests/v1`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).status, 200);
      assert.equal((await c.berth.metadata.trust.current('cli/app')).size, 0);
    } finally {
      await c.close();
    }
  });

  it('a bad reference is exit 2, an unknown one exit 3; no file is left behind', async () => {
    const out = path.join(work, 'none.tar');
    const bad = await berth(['export', 'cli/app', '-o', out, '--data-dir', a.dataDir]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /"cli\/app": no tag or digest; write REPO:TAG or REPO@sha256:HEX/);
    const unknown = await berth(['export', 'cli/app:nope', '-o', out, '--data-dir', a.dataDir]);
    assert.equal(unknown.status, 3, unknown.stderr);
    assert.equal(await readFile(out).then(() => true, () => false), false);
  });
});
