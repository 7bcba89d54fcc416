// End-to-end: `berth import` of a REAL `docker save` tarball (issue 13 item 1),
// then `docker pull` from Berth into an engine that no longer has the images,
// and the image IDs compared with the ones docker saved, as seed 000 checks
// them by hand after `docker load`. docker 25 and later write their tarballs
// as OCI image layouts (index.json) with manifest.json beside; both are read.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DockerEnv } from './docker-env.js';
import { BERTH_CLI, startRegistry, withRegistryLog, type RunningRegistry } from './registry-process.js';
import { run } from './util.js';

const T = { timeout: 180_000 };

describe('berth import of a docker save tarball, pulled back with docker', () => {
  let reg: RunningRegistry;
  let env: DockerEnv;
  let work: string;

  before(async () => {
    reg = await startRegistry();
    env = await DockerEnv.start();
    await env.buildImages();
    work = await mkdtemp(path.join(tmpdir(), 'berth-e2e-import-'));
  }, { timeout: 240_000 });

  after(async () => {
    await env?.stop();
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const berth = (args: string[]) => run(process.execPath, [BERTH_CLI, ...args, '--data-dir', reg.dataDir], { allowFailure: true, timeoutMs: 120_000 });

  it('imports two images from one docker save under their own names and --expect-id one of them; docker pull gives the same image IDs', T, () =>
    withRegistryLog(reg, async () => {
      const multiId = await env.imageId(env.images.multi);
      const twoId = await env.imageId(env.images.two);
      const both = path.join(work, 'both.tar');
      const single = path.join(work, 'two.tar');
      await env.docker(['save', '-o', both, env.images.multi, env.images.two]);
      await env.docker(['save', '-o', single, env.images.two]);
      const files = (await run('tar', ['-tf', both])).stdout;
      const format = files.includes('index.json') ? 'oci-layout' : 'docker-archive';

      // Under the names the tarball carries (bb:multi, bb:2 → repository bb).
      const r = await berth(['import', both, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const summary = JSON.parse(r.stdout) as { images: number; tags: string[]; files: { format: string }[] };
      assert.equal(summary.images, 2);
      assert.deepEqual(summary.tags.sort(), ['bb:2', 'bb:multi']);
      assert.equal(summary.files[0]?.format, format);

      // A wrong --expect-id refuses; the right one imports (the tarball of one image, to a name of ours).
      const wrong = await berth(['import', single, '--to', 'e2e/imported:v2', '--expect-id', multiId]);
      assert.equal(wrong.code, 2, wrong.stderr);
      assert.match(wrong.stderr, /not the expected/);
      const right = await berth(['import', single, '--to', 'e2e/imported:v2', '--expect-id', twoId, '--json']);
      assert.equal(right.code, 0, right.stderr);

      // Again: nothing stored twice.
      const again = await berth(['import', both, '--json']);
      assert.equal(again.code, 0, again.stderr);
      const second = JSON.parse(again.stdout) as { blobs: { stored: number }; manifests: { stored: number } };
      assert.equal(second.blobs.stored, 0);
      assert.equal(second.manifests.stored, 0);

      // The engine forgets the images, then pulls them from Berth: the same image IDs.
      await env.removeAllImages();
      for (const [ref, id] of [[`${reg.host}/bb:multi`, multiId], [`${reg.host}/bb:2`, twoId], [`${reg.host}/e2e/imported:v2`, twoId]] as const) {
        await env.docker(['pull', ref]);
        assert.equal(await env.imageId(ref), id, `${ref}: the image ID after docker pull is the one docker saved`);
      }
      // And the content is the image's: the files the build wrote.
      const out = await env.docker(['run', '--rm', '--network', 'none', `${reg.host}/bb:multi`, 'cat', '/f', '/g', '/h']);
      assert.equal(out.stdout, 'hi\ntwo\nthree\n');
    }),
  );
});
