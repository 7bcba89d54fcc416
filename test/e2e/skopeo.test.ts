// End-to-end: skopeo against the registry — copies in and out through
// docker-archive, OCI layout and dir: transports, inspect, list-tags, delete,
// and multi-arch images (OCI image index and Docker manifest list).

import assert from 'node:assert/strict';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DockerEnv, skopeo, skopeoExpectFailure } from './docker-env.js';
import { startRegistry, type RunningRegistry, withRegistryLog as withLog } from './registry-process.js';
import {
  MT,
  describeHttp,
  digestOf,
  digestOfFile,
  getManifest,
  http,
  httpExpect,
  layoutBlobPath,
  parseJson,
  readLayoutRef,
  run,
  writeMultiArchLayout,
  type ImageConfig,
  type ImageManifest,
  type MultiArchLayout,
} from './util.js';

const T = { timeout: 120_000 };
const NO_TLS = '--tls-verify=false';
const NO_TLS_DEST = '--dest-tls-verify=false';
const NO_TLS_SRC = '--src-tls-verify=false';
/**
 * Fail rather than let skopeo change any digest. Without it, c/image's global
 * blob-info cache (/var/lib/containers/cache) may substitute a differently
 * compressed copy of a layer it has seen before, which rewrites the manifests
 * and the index — client behaviour that would hide what the registry stored.
 */
const KEEP = '--preserve-digests';

describe(`skopeo against the registry (E2E_TARGET=${process.env.E2E_TARGET ?? 'berth'})`, () => {
  let reg: RunningRegistry;
  let env: DockerEnv;
  let work: string;
  /** docker save of bb:multi (4 layers) and bb:1 (1 layer). */
  let multiTar: string;
  let oneTar: string;
  /** diff IDs of bb:multi according to the engine. */
  let multiDiffIds: string[];
  /** Hand-built OCI layout: amd64 + arm64 images and an index (ref "multi"). */
  let layout: MultiArchLayout;

  const docker = (repoRef: string): string => `docker://${reg.host}/${repoRef}`;
  const rawManifest = async (repoRef: string): Promise<Buffer> =>
    Buffer.from((await skopeo(['inspect', '--raw', NO_TLS, docker(repoRef)])).stdout, 'utf8');

  before(async () => {
    reg = await startRegistry();
    env = await DockerEnv.start();
    await env.buildImages();
    work = join(env.dir, 'skopeo');
    await mkdir(work, { recursive: true });
    multiTar = join(work, 'multi.tar');
    oneTar = join(work, 'one.tar');
    await env.docker(['save', '-o', multiTar, env.images.multi]);
    await env.docker(['save', '-o', oneTar, env.images.one]);
    multiDiffIds = await env.diffIds(env.images.multi);
    layout = await writeMultiArchLayout(join(work, 'layout'), env.rootfsTar);
  }, { timeout: 180_000 });

  after(async () => {
    await env?.stop();
    await reg?.stop();
  });

  const withRegistryLog = <R>(fn: () => Promise<R>): Promise<R> => withLog(reg, fn);

  /** Manifest + config from the registry, every blob verified against its digest. */
  async function fetchImage(repo: string, reference: string): Promise<{ raw: Buffer; manifest: ImageManifest; config: ImageConfig }> {
    const m = await getManifest(reg.url, repo, reference);
    assert.equal(m.status, 200, describeHttp('GET', `${repo}:${reference}`, m.raw));
    const manifest = parseJson<ImageManifest>(m.body, `manifest ${repo}:${reference}`);
    const cfg = await httpExpect(200, `${reg.url}/v2/${repo}/blobs/${manifest.config.digest}`);
    assert.equal(digestOf(cfg.body), manifest.config.digest);
    for (const l of manifest.layers) {
      const b = await httpExpect(200, `${reg.url}/v2/${repo}/blobs/${l.digest}`);
      assert.equal(digestOf(b.body), l.digest, `blob ${l.digest} of ${repo}`);
      assert.equal(b.body.length, l.size);
    }
    return { raw: m.body, manifest, config: parseJson<ImageConfig>(cfg.body, 'config') };
  }

  /** Layer digests of a docker-archive tarball, by hashing the layer files it contains. */
  async function dockerArchiveLayers(tarPath: string): Promise<{ diffIds: string[]; configDiffIds: string[] }> {
    const dir = join(work, `x-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    await mkdir(dir);
    await run('tar', ['-xf', tarPath, '-C', dir]);
    const man = parseJson<Array<{ Config: string; Layers: string[] }>>(await readFile(join(dir, 'manifest.json')), 'docker-archive manifest.json');
    const [entry, ...more] = man;
    assert.ok(entry && more.length === 0, `one image in the archive, not ${man.length}`);
    const diffIds = await Promise.all(entry.Layers.map((l) => digestOfFile(join(dir, l))));
    const config = parseJson<ImageConfig>(await readFile(join(dir, entry.Config)), 'docker-archive config');
    return { diffIds, configDiffIds: config.rootfs.diff_ids };
  }

  it('copies docker-archive -> registry -> docker-archive with the same layers', T, () =>
    withRegistryLog(async () => {
      await skopeo(['copy', NO_TLS_DEST, `docker-archive:${multiTar}`, docker('sk/archive:1')]);
      const { manifest, config } = await fetchImage('sk/archive', '1');
      assert.equal(manifest.layers.length, 4);
      assert.deepEqual(config.rootfs.diff_ids, multiDiffIds);

      const out = join(work, 'archive-out.tar');
      await skopeo(['copy', NO_TLS_SRC, docker('sk/archive:1'), `docker-archive:${out}:${reg.host}/sk/archive:1`]);
      const got = await dockerArchiveLayers(out);
      assert.deepEqual(got.diffIds, multiDiffIds, 'layer files in the exported archive');
      assert.deepEqual(got.configDiffIds, multiDiffIds);

      // ... and the engine accepts it and can run it.
      await env.docker(['load', '-i', out]);
      assert.deepEqual(await env.diffIds(`${reg.host}/sk/archive:1`), multiDiffIds);
      const cat = await env.docker(['run', '--rm', '--network', 'none', `${reg.host}/sk/archive:1`, 'cat', '/f', '/g', '/h']);
      assert.equal(cat.stdout, 'hi\ntwo\nthree\n');
    }),
  );

  it('copies oci layout -> registry -> oci layout keeping manifest and layer digests', T, () =>
    withRegistryLog(async () => {
      const src = join(work, 'oci-src');
      await skopeo(['copy', `docker-archive:${multiTar}`, `oci:${src}:v1`]);
      const srcRef = await readLayoutRef(src, 'v1');
      const srcManifest = parseJson<ImageManifest>(srcRef.bytes, 'oci manifest');
      assert.equal(srcManifest.layers.length, 4);

      await skopeo(['copy', KEEP, NO_TLS_DEST, `oci:${src}:v1`, docker('sk/oci:v1')]);
      const { raw, manifest } = await fetchImage('sk/oci', 'v1');
      assert.deepEqual(
        manifest.layers.map((l) => l.digest),
        srcManifest.layers.map((l) => l.digest),
      );
      assert.equal(digestOf(raw), srcRef.descriptor.digest, 'registry stores the OCI manifest unchanged');
      assert.equal((await getManifest(reg.url, 'sk/oci', 'v1')).contentType, MT.ociManifest);

      const dst = join(work, 'oci-dst');
      await skopeo(['copy', KEEP, NO_TLS_SRC, docker('sk/oci:v1'), `oci:${dst}:v1`]);
      const dstRef = await readLayoutRef(dst, 'v1');
      assert.equal(dstRef.descriptor.digest, srcRef.descriptor.digest);
      assert.ok(dstRef.bytes.equals(srcRef.bytes));
      const dstManifest = parseJson<ImageManifest>(dstRef.bytes, 'copied oci manifest');
      for (const d of [dstManifest.config, ...dstManifest.layers]) {
        assert.equal(await digestOfFile(layoutBlobPath(dst, d.digest)), d.digest, `blob ${d.digest} in ${dst}`);
      }
    }),
  );

  it('copies dir: -> registry -> dir: keeping manifest and layer digests', T, () =>
    withRegistryLog(async () => {
      const src = join(work, 'dir-src');
      // --dest-compress: gzip the layers now, so pushing keeps them byte for byte.
      await skopeo(['copy', '--dest-compress', `docker-archive:${multiTar}`, `dir:${src}`]);
      const srcManifestBytes = await readFile(join(src, 'manifest.json'));
      const srcManifest = parseJson<ImageManifest>(srcManifestBytes, 'dir manifest');

      await skopeo(['copy', KEEP, NO_TLS_DEST, `dir:${src}`, docker('sk/dir:v1')]);
      const { raw, manifest, config } = await fetchImage('sk/dir', 'v1');
      assert.deepEqual(config.rootfs.diff_ids, multiDiffIds);
      assert.deepEqual(
        manifest.layers.map((l) => l.digest),
        srcManifest.layers.map((l) => l.digest),
      );

      const dst = join(work, 'dir-dst');
      await skopeo(['copy', KEEP, NO_TLS_SRC, docker('sk/dir:v1'), `dir:${dst}`]);
      const dstManifestBytes = await readFile(join(dst, 'manifest.json'));
      assert.ok(dstManifestBytes.equals(raw), 'dir: manifest.json equals the registry manifest bytes');
      const dstManifest = parseJson<ImageManifest>(dstManifestBytes, 'copied dir manifest');
      assert.deepEqual(dstManifest.layers, srcManifest.layers);
      for (const d of [dstManifest.config, ...dstManifest.layers]) {
        assert.equal(await digestOfFile(join(dst, d.digest.replace(/^sha256:/, ''))), d.digest);
      }
    }),
  );

  it('skopeo inspect and inspect --raw describe the pushed image', T, () =>
    withRegistryLog(async () => {
      const raw = await rawManifest('sk/oci:v1');
      const manifest = parseJson<ImageManifest>(raw, 'raw manifest');
      const info = parseJson<{ Name: string; Digest: string; RepoTags: string[]; Architecture: string; Os: string; Layers: string[] }>(
        (await skopeo(['inspect', NO_TLS, docker('sk/oci:v1')])).stdout,
        'skopeo inspect',
      );
      assert.equal(info.Name, `${reg.host}/sk/oci`);
      assert.equal(info.Digest, digestOf(raw));
      assert.deepEqual(info.RepoTags, ['v1']);
      assert.equal(info.Architecture, 'amd64');
      assert.equal(info.Os, 'linux');
      assert.deepEqual(info.Layers, manifest.layers.map((l) => l.digest));

      const cfg = parseJson<ImageConfig>((await skopeo(['inspect', '--config', '--raw', NO_TLS, docker('sk/oci:v1')])).stdout, 'config');
      assert.deepEqual(cfg.rootfs.diff_ids, multiDiffIds);

      // By digest as well.
      const byDigest = await rawManifest(`sk/oci@${info.Digest}`);
      assert.ok(byDigest.equals(raw));
    }),
  );

  it('skopeo list-tags lists every tag of a repository', T, () =>
    withRegistryLog(async () => {
      for (const tag of ['c', 'a', 'b']) {
        await skopeo(['copy', NO_TLS_SRC, NO_TLS_DEST, docker('sk/oci:v1'), docker(`sk/tags:${tag}`)]);
      }
      const res = parseJson<{ Repository: string; Tags: string[] }>(
        (await skopeo(['list-tags', NO_TLS, docker('sk/tags')])).stdout,
        'skopeo list-tags',
      );
      assert.equal(res.Repository, `${reg.host}/sk/tags`);
      assert.deepEqual([...res.Tags].sort(), ['a', 'b', 'c']);
      const fail = await skopeoExpectFailure(['list-tags', NO_TLS, docker('sk/does-not-exist')]);
      assert.match(fail.stderr, /name unknown|not found|404/i);
    }),
  );

  it('skopeo delete removes a manifest and its tag, leaving the rest of the repository', T, () =>
    withRegistryLog(async () => {
      await skopeo(['copy', NO_TLS_DEST, `docker-archive:${oneTar}`, docker('sk/del:gone')]);
      await skopeo(['copy', NO_TLS_DEST, `docker-archive:${multiTar}`, docker('sk/del:stay')]);
      const goneDigest = digestOf(await rawManifest('sk/del:gone'));

      await skopeo(['delete', NO_TLS, docker('sk/del:gone')]);

      const f1 = await skopeoExpectFailure(['inspect', '--raw', NO_TLS, docker('sk/del:gone')]);
      assert.match(f1.stderr, /manifest unknown|not found/i);
      await skopeoExpectFailure(['inspect', '--raw', NO_TLS, docker(`sk/del@${goneDigest}`)]);
      const tags = parseJson<{ Tags: string[] }>((await skopeo(['list-tags', NO_TLS, docker('sk/del')])).stdout, 'list-tags');
      assert.deepEqual(tags.Tags, ['stay']);
      await fetchImage('sk/del', 'stay');
    }),
  );

  it('OCI image index: skopeo copy --all pushes it byte for byte, and copies it out and back in', T, () =>
    withRegistryLog(async () => {
      await skopeo(['copy', KEEP, '--all', NO_TLS_DEST, `oci:${layout.dir}:multi`, docker('sk/index:multi')]);

      const raw = await rawManifest('sk/index:multi');
      assert.ok(raw.equals(layout.index), `inspect --raw returns the index bytes that were pushed:\n${raw.toString()}`);
      const g = await getManifest(reg.url, 'sk/index', 'multi');
      assert.equal(g.contentType, MT.ociIndex);
      assert.equal(g.digest, layout.indexDigest);
      assert.ok(g.body.equals(layout.index));
      const byDigest = await getManifest(reg.url, 'sk/index', layout.indexDigest);
      assert.equal(byDigest.status, 200);
      assert.ok(byDigest.body.equals(layout.index));

      for (const im of layout.images) {
        const child = await fetchImage('sk/index', im.manifestDigest);
        assert.ok(child.raw.equals(im.manifest), `${im.arch} manifest bytes`);
        assert.equal(child.config.architecture, im.arch);
        // skopeo resolves the index to the platform asked for (Digest stays the index's).
        const info = parseJson<{ Digest: string; Architecture: string; Layers: string[] }>(
          (await skopeo(['--override-arch', im.arch, 'inspect', NO_TLS, docker('sk/index:multi')])).stdout,
          'inspect',
        );
        assert.equal(info.Architecture, im.arch);
        assert.equal(info.Digest, layout.indexDigest);
        assert.deepEqual(info.Layers, im.layerDigests);
      }

      // Out to an OCI layout and back into another repository: identical bytes.
      const out = join(work, 'index-out');
      await skopeo(['copy', KEEP, '--all', NO_TLS_SRC, docker('sk/index:multi'), `oci:${out}:multi`]);
      const outRef = await readLayoutRef(out, 'multi');
      assert.equal(outRef.descriptor.digest, layout.indexDigest);
      assert.ok(outRef.bytes.equals(layout.index));
      for (const im of layout.images) {
        assert.equal(await digestOfFile(layoutBlobPath(out, im.manifestDigest)), im.manifestDigest);
        for (const l of im.layerDigests) assert.equal(await digestOfFile(layoutBlobPath(out, l)), l);
      }
      await skopeo(['copy', KEEP, '--all', NO_TLS_DEST, `oci:${out}:multi`, docker('sk/index-copy:multi')]);
      assert.ok((await rawManifest('sk/index-copy:multi')).equals(layout.index));
      for (const im of layout.images) await fetchImage('sk/index-copy', im.manifestDigest);

      // Registry to registry.
      await skopeo(['copy', KEEP, '--all', NO_TLS_SRC, NO_TLS_DEST, docker('sk/index:multi'), docker('sk/index-copy2:multi')]);
      assert.ok((await rawManifest('sk/index-copy2:multi')).equals(layout.index));

      // The engine pulls its own platform out of the index and runs it.
      await env.docker(['pull', `${reg.host}/sk/index:multi`]);
      const cat = await env.docker(['run', '--rm', '--network', 'none', `${reg.host}/sk/index:multi`, 'cat', '/f']);
      assert.equal(cat.stdout, 'amd64\n');
    }),
  );

  it('Docker manifest list: PUT by hand, inspect --raw returns it byte for byte, copy --all out and back in', T, () =>
    withRegistryLog(async () => {
      // Two single-arch images, converted by skopeo to Docker schema 2.
      const entries: Array<{ arch: string; digest: string; size: number }> = [];
      for (const im of layout.images) {
        await skopeo(['copy', '--format', 'v2s2', NO_TLS_DEST, `oci:${layout.dir}:${im.arch}`, docker(`sk/mlist:${im.arch}`)]);
        const raw = await rawManifest(`sk/mlist:${im.arch}`);
        const m = parseJson<ImageManifest>(raw, 'v2s2 manifest');
        assert.equal(m.mediaType, MT.dockerManifest);
        entries.push({ arch: im.arch, digest: digestOf(raw), size: raw.length });
      }
      const list = Buffer.from(
        JSON.stringify(
          {
            schemaVersion: 2,
            mediaType: MT.dockerList,
            manifests: entries.map((e) => ({
              mediaType: MT.dockerManifest,
              size: e.size,
              digest: e.digest,
              platform: { architecture: e.arch, os: 'linux' },
            })),
          },
          null,
          '\t',
        ),
      );
      const listDigest = digestOf(list);
      const url = `${reg.url}/v2/sk/mlist/manifests/list`;
      const put = await http(url, { method: 'PUT', headers: { 'Content-Type': MT.dockerList }, body: list });
      assert.equal(put.status, 201, describeHttp('PUT', url, put));
      assert.equal(put.headers.get('docker-content-digest'), listDigest);
      assert.ok(put.headers.get('location'), 'PUT answers with a Location header');

      const raw = await rawManifest('sk/mlist:list');
      assert.ok(raw.equals(list), `inspect --raw returns the list bytes that were pushed:\n${raw.toString()}`);
      const g = await getManifest(reg.url, 'sk/mlist', listDigest);
      assert.equal(g.status, 200);
      assert.equal(g.contentType, MT.dockerList);
      assert.ok(g.body.equals(list));
      const info = parseJson<{ Digest: string; Architecture: string }>(
        (await skopeo(['--override-arch', 'arm64', 'inspect', NO_TLS, docker('sk/mlist:list')])).stdout,
        'inspect',
      );
      assert.equal(info.Architecture, 'arm64');
      assert.equal(info.Digest, listDigest);

      // Out to dir: (keeps the list as is) and back into another repository.
      const out = join(work, 'mlist-out');
      await skopeo(['copy', KEEP, '--all', NO_TLS_SRC, docker('sk/mlist:list'), `dir:${out}`]);
      assert.ok((await readFile(join(out, 'manifest.json'))).equals(list));
      const files = await readdir(out);
      for (const e of entries) {
        assert.ok(files.includes(`${e.digest.replace(/^sha256:/, '')}.manifest.json`), `instance ${e.arch} in ${files.join(' ')}`);
      }
      await skopeo(['copy', KEEP, '--all', NO_TLS_DEST, `dir:${out}`, docker('sk/mlist-copy:list')]);
      assert.ok((await rawManifest('sk/mlist-copy:list')).equals(list));
      for (const e of entries) {
        const child = await fetchImage('sk/mlist-copy', e.digest);
        assert.equal(child.config.architecture, e.arch);
      }

      // Registry to registry, and the engine pulls its platform from the list.
      await skopeo(['copy', KEEP, '--all', NO_TLS_SRC, NO_TLS_DEST, docker('sk/mlist:list'), docker('sk/mlist-copy2:list')]);
      assert.ok((await rawManifest('sk/mlist-copy2:list')).equals(list));
      const pull = await env.docker(['pull', `${reg.host}/sk/mlist-copy2:list`]);
      assert.match(pull.stdout, new RegExp(`Digest: ${listDigest}`));
      const cat = await env.docker(['run', '--rm', '--network', 'none', `${reg.host}/sk/mlist-copy2:list`, 'cat', '/f']);
      assert.equal(cat.stdout, 'amd64\n');
    }),
  );
});
