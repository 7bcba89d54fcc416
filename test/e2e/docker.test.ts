// End-to-end: the docker CLI + a private Docker engine against the registry.
// Tests run in order and build on each other (push before pull, ...).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DockerEnv, layerStatuses, parsePushDigest, shortId } from './docker-env.js';
import { startRegistry, type RunningRegistry, withRegistryLog as withLog } from './registry-process.js';
import {
  ALL_MANIFEST_TYPES,
  MT,
  digestOf,
  describeHttp,
  getJson,
  getManifest,
  http,
  httpExpect,
  type ImageConfig,
  type ImageManifest,
} from './util.js';
import { gunzipSync } from 'node:zlib';

const T = { timeout: 120_000 };

describe(`docker CLI against the registry (E2E_TARGET=${process.env.E2E_TARGET ?? 'berth'})`, () => {
  let reg: RunningRegistry;
  let env: DockerEnv;
  /** Digests of what was pushed, filled in by earlier tests. */
  const pushed: Record<string, string> = {};
  const ref = (repoAndTag: string): string => `${reg.host}/${repoAndTag}`;

  before(async () => {
    reg = await startRegistry();
    env = await DockerEnv.start();
    await env.buildImages();
  }, { timeout: 180_000 });

  after(async () => {
    await env?.stop();
    await reg?.stop();
  });

  const withRegistryLog = <R>(fn: () => Promise<R>): Promise<R> => withLog(reg, fn);

  async function tagAndPush(local: string, remote: string): Promise<{ out: string; digest: string; size: number }> {
    await env.docker(['tag', local, ref(remote)]);
    const r = await env.docker(['push', ref(remote)]);
    return { out: r.stdout + r.stderr, ...parsePushDigest(r.stdout) };
  }

  it('answers GET /v2/ and starts with an empty catalog', T, async () => {
    const v2 = await httpExpect(200, `${reg.url}/v2/`);
    assert.equal(v2.headers.get('docker-distribution-api-version'), 'registry/2.0');
    const cat = await getJson<{ repositories: string[] }>(`${reg.url}/v2/_catalog`);
    assert.deepEqual(cat, { repositories: [] });
  });

  it('docker push of a two-layer image uploads both layers and returns the manifest digest', T, () =>
    withRegistryLog(async () => {
      const { out, digest, size } = await tagAndPush(env.images.two, 'e2e/busybox:2');
      pushed['busybox:2'] = digest;

      const diffIds = await env.diffIds(env.images.two);
      assert.equal(diffIds.length, 2);
      const st = layerStatuses(out);
      for (const d of diffIds) assert.equal(st.get(shortId(d)), 'Pushed', `layer ${d} in:\n${out}`);

      // The engine records the same digest.
      const repoDigests = (await env.inspect<{ RepoDigests: string[] }>(env.images.two)).RepoDigests;
      assert.ok(repoDigests.includes(`${reg.host}/e2e/busybox@${digest}`), `RepoDigests ${JSON.stringify(repoDigests)}`);

      // The registry serves exactly those bytes, by tag and by digest.
      for (const reference of ['2', digest]) {
        const m = await getManifest(reg.url, 'e2e/busybox', reference, ALL_MANIFEST_TYPES);
        assert.equal(m.status, 200, describeHttp('GET', reference, m.raw));
        assert.equal(digestOf(m.body), digest);
        assert.equal(m.body.length, size);
        assert.equal(m.digest, digest);
        assert.equal(m.contentType, MT.dockerManifest);
      }

      // Every blob downloads and matches its digest; layers gunzip to the diff IDs.
      const manifest = JSON.parse((await getManifest(reg.url, 'e2e/busybox', digest)).body.toString()) as ImageManifest;
      const cfgRes = await httpExpect(200, `${reg.url}/v2/e2e/busybox/blobs/${manifest.config.digest}`);
      assert.equal(digestOf(cfgRes.body), manifest.config.digest);
      assert.equal(manifest.config.digest, await env.imageId(env.images.two));
      const config = JSON.parse(cfgRes.body.toString()) as ImageConfig;
      assert.deepEqual(config.rootfs.diff_ids, diffIds);
      assert.equal(manifest.layers.length, 2);
      for (const [i, l] of manifest.layers.entries()) {
        const b = await httpExpect(200, `${reg.url}/v2/e2e/busybox/blobs/${l.digest}`);
        assert.equal(digestOf(b.body), l.digest);
        assert.equal(b.body.length, l.size);
        assert.equal(digestOf(gunzipSync(b.body)), diffIds[i]);
      }
    }),
  );

  it('pushes several tags of one image; tags/list shows them', T, () =>
    withRegistryLog(async () => {
      for (const tag of ['latest', 'v1.0']) {
        const { out, digest } = await tagAndPush(env.images.two, `e2e/busybox:${tag}`);
        assert.equal(digest, pushed['busybox:2'], `same image, same digest for tag ${tag}`);
        const st = layerStatuses(out);
        for (const d of await env.diffIds(env.images.two)) {
          assert.equal(st.get(shortId(d)), 'Layer already exists', `layer ${d} in:\n${out}`);
        }
      }
      const one = await tagAndPush(env.images.one, 'e2e/busybox:1');
      assert.notEqual(one.digest, pushed['busybox:2']);
      pushed['busybox:1'] = one.digest;

      for (const [tag, digest] of [
        ['1', one.digest],
        ['2', pushed['busybox:2']],
        ['latest', pushed['busybox:2']],
        ['v1.0', pushed['busybox:2']],
      ] as const) {
        const h = await http(`${reg.url}/v2/e2e/busybox/manifests/${tag}`, { method: 'HEAD', headers: { Accept: ALL_MANIFEST_TYPES } });
        assert.equal(h.status, 200, `HEAD tag ${tag}`);
        assert.equal(h.headers.get('docker-content-digest'), digest, `HEAD tag ${tag}`);
      }

      const tags = await getJson<{ name: string; tags: string[] }>(`${reg.url}/v2/e2e/busybox/tags/list`);
      assert.equal(tags.name, 'e2e/busybox');
      assert.deepEqual([...tags.tags].sort(), ['1', '2', 'latest', 'v1.0']);
    }),
  );

  it('tags/list returns the tags in lexical order (OCI distribution-spec)', T, async () => {
    const tags = await getJson<{ name: string; tags: string[] }>(`${reg.url}/v2/e2e/busybox/tags/list`);
    assert.deepEqual(tags, { name: 'e2e/busybox', tags: ['1', '2', 'latest', 'v1.0'] });
  });

  it('tags/list paginates with ?n= and last=', T, () =>
    withRegistryLog(async () => {
      const url = `${reg.url}/v2/e2e/busybox/tags/list?n=2`;
      const first = await httpExpect(200, url);
      assert.deepEqual(JSON.parse(first.body.toString()), { name: 'e2e/busybox', tags: ['1', '2'] });
      const link = first.headers.get('link');
      assert.ok(link, `a Link header for the next page: ${describeHttp('GET', url, first)}`);
      assert.match(link, /rel="?next"?/);
      const second = await getJson(`${reg.url}/v2/e2e/busybox/tags/list?n=2&last=2`);
      assert.deepEqual(second, { name: 'e2e/busybox', tags: ['latest', 'v1.0'] });
    }),
  );

  it('a second repository sharing layers gets them by cross-repository mount', T, () =>
    withRegistryLog(async () => {
      // bb:multi = the two layers already in e2e/busybox + two new ones.
      const diffIds = await env.diffIds(env.images.multi);
      assert.equal(diffIds.length, 4);
      const multi = await tagAndPush(env.images.multi, 'e2e/multi:1');
      pushed['multi:1'] = multi.digest;
      const st = layerStatuses(multi.out);
      assert.deepEqual(diffIds.map((d) => st.get(shortId(d))), ['Mounted from e2e/busybox', 'Mounted from e2e/busybox', 'Pushed', 'Pushed'], multi.out);

      // Same image into a third repo: every layer is mounted, nothing uploaded.
      const other = await tagAndPush(env.images.two, 'e2e/other:latest');
      assert.equal(other.digest, pushed['busybox:2']);
      const st2 = layerStatuses(other.out);
      for (const d of await env.diffIds(env.images.two)) {
        assert.match(st2.get(shortId(d)) ?? '(no status)', /^Mounted from e2e\/(busybox|multi)$/, other.out);
      }

      // The mounted blobs are really readable through the new repository.
      const m = JSON.parse((await getManifest(reg.url, 'e2e/other', 'latest')).body.toString()) as ImageManifest;
      for (const l of m.layers) {
        const b = await httpExpect(200, `${reg.url}/v2/e2e/other/blobs/${l.digest}`);
        assert.equal(digestOf(b.body), l.digest);
      }
    }),
  );

  it('GET /v2/_catalog and tags/list show every pushed repository and tag', T, async () => {
    const cat = await getJson<{ repositories: string[] }>(`${reg.url}/v2/_catalog`);
    assert.deepEqual(cat, { repositories: ['e2e/busybox', 'e2e/multi', 'e2e/other'] });
    assert.deepEqual(await getJson(`${reg.url}/v2/e2e/multi/tags/list`), { name: 'e2e/multi', tags: ['1'] });
    assert.deepEqual(await getJson(`${reg.url}/v2/e2e/other/tags/list`), { name: 'e2e/other', tags: ['latest'] });
    const page = await getJson<{ repositories: string[] }>(`${reg.url}/v2/_catalog?n=2`);
    assert.deepEqual(page, { repositories: ['e2e/busybox', 'e2e/multi'] });
  });

  it('DELETE /v2/<name>/manifests/<digest> returns 202 and the image can no longer be pulled', T, () =>
    withRegistryLog(async () => {
      const gone = await tagAndPush(env.images.one, 'e2e/deleteme:1');
      const kept = await tagAndPush(env.images.two, 'e2e/deleteme:2');
      const url = `${reg.url}/v2/e2e/deleteme/manifests/${gone.digest}`;

      const del = await http(url, { method: 'DELETE' });
      assert.equal(del.status, 202, describeHttp('DELETE', url, del));

      const head = await http(url, { method: 'HEAD', headers: { Accept: ALL_MANIFEST_TYPES } });
      assert.equal(head.status, 404, 'HEAD of the deleted manifest');
      const byTag = await getManifest(reg.url, 'e2e/deleteme', '1');
      assert.equal(byTag.status, 404, `tag of the deleted manifest: ${describeHttp('GET', 'e2e/deleteme:1', byTag.raw)}`);
      assert.deepEqual(await getJson(`${reg.url}/v2/e2e/deleteme/tags/list`), { name: 'e2e/deleteme', tags: ['2'] });
      // Other manifests of the repository are untouched.
      assert.equal((await getManifest(reg.url, 'e2e/deleteme', kept.digest)).status, 200);
      // Deleting again: it is gone.
      assert.equal((await http(url, { method: 'DELETE' })).status, 404);

      const fail = await env.dockerExpectFailure(['pull', `${reg.host}/e2e/deleteme@${gone.digest}`]);
      assert.match(fail.stderr + fail.stdout, /manifest unknown|not found/i);
    }),
  );

  it('docker pull downloads every layer again after the local images are removed', T, () =>
    withRegistryLog(async () => {
      const wantId = await env.imageId(env.images.multi);
      const wantLayers = await env.diffIds(env.images.multi);
      await env.removeAllImages();

      const r = await env.docker(['pull', ref('e2e/multi:1')]);
      const out = r.stdout;
      assert.match(out, new RegExp(`Digest: ${pushed['multi:1']}`));
      assert.match(out, /Status: Downloaded newer image/);
      const complete = [...layerStatuses(out).values()].filter((s) => s === 'Pull complete');
      assert.equal(complete.length, 4, out);
      assert.doesNotMatch(out, /Already exists/);

      assert.equal(await env.imageId(ref('e2e/multi:1')), wantId);
      assert.deepEqual(await env.diffIds(ref('e2e/multi:1')), wantLayers);
      const cat = await env.docker(['run', '--rm', '--network', 'none', ref('e2e/multi:1'), 'cat', '/f', '/g', '/h']);
      assert.equal(cat.stdout, 'hi\ntwo\nthree\n');
    }),
  );

  it('docker pull by digest (repo@sha256:...) and run the image', T, () =>
    withRegistryLog(async () => {
      await env.removeAllImages();
      const digest = pushed['busybox:2'];
      assert.ok(digest);
      const byDigest = `${reg.host}/e2e/busybox@${digest}`;
      const r = await env.docker(['pull', byDigest]);
      assert.match(r.stdout, new RegExp(`Digest: ${digest}`));
      const repoDigests = (await env.inspect<{ RepoDigests: string[] }>(byDigest)).RepoDigests;
      assert.deepEqual(repoDigests, [byDigest]);
      const cat = await env.docker(['run', '--rm', '--network', 'none', byDigest, 'cat', '/f']);
      assert.equal(cat.stdout, 'hi\n');

      // Pulling by tag afterwards resolves to the same image without downloading layers.
      const r2 = await env.docker(['pull', ref('e2e/busybox:latest')]);
      assert.match(r2.stdout, new RegExp(`Digest: ${digest}`));
      assert.doesNotMatch(r2.stdout, /Pull complete/);
    }),
  );
});
