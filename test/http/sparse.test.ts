import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBerth, errorCode, pushBlob, pushImage, sha256, type TestBerth } from '../helpers/berth.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/index.js';

/**
 * Sparse manifests (manifests.sparse): an index whose children, or an image
 * whose layers, are not in the repository. Off by default; on for the
 * repositories and namespaces the config names, where the config blob is
 * still required.
 */

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

function put(url: string, repo: string, ref: string, body: string, contentType: string): Promise<Response> {
  return fetch(`${url}/v2/${repo}/manifests/${ref}`, { method: 'PUT', body, headers: { 'Content-Type': contentType } });
}

/** An index with one child present in `repo` and one that was never pushed anywhere. */
async function sparseIndex(url: string, repo: string): Promise<{ body: string; present: string; absent: string }> {
  const img = await pushImage(url, repo, `child-${Math.random().toString(36).slice(2)}`);
  const absent = sha256(`never pushed ${Math.random()}`);
  const body = JSON.stringify({
    schemaVersion: 2, mediaType: OCI_INDEX,
    manifests: [
      { mediaType: OCI_MANIFEST, digest: img.digest, size: img.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: OCI_MANIFEST, digest: absent, size: 1024, platform: { os: 'linux', architecture: 'arm64' } },
    ],
  });
  return { body, present: img.digest, absent };
}

/** An image manifest whose config is in `repo` and whose second layer is not. */
async function sparseImage(url: string, repo: string, withConfig = true): Promise<string> {
  const configData = JSON.stringify({ os: 'linux', seed: Math.random() });
  const config = withConfig ? await pushBlob(url, repo, configData) : sha256(configData);
  const layer = await pushBlob(url, repo, `present ${Math.random()}`);
  return JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: configData.length },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: 10 },
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(`absent ${Math.random()}`), size: 10 },
    ],
  });
}

describe('sparse manifests', () => {
  describe('by default', () => {
    let t: TestBerth;
    before(async () => {
      t = await startTestBerth();
    });
    after(async () => {
      await t?.close();
    });

    it('refuses an index with an absent child and an image with an absent layer: 400 MANIFEST_BLOB_UNKNOWN, nothing stored', async () => {
      const idx = await sparseIndex(t.url, 'plain/app');
      const r1 = await put(t.url, 'plain/app', 'idx', idx.body, OCI_INDEX);
      assert.equal(r1.status, 400);
      assert.equal(await errorCode(r1), 'MANIFEST_BLOB_UNKNOWN');
      const img = await sparseImage(t.url, 'plain/app');
      const r2 = await put(t.url, 'plain/app', 'img', img, OCI_MANIFEST);
      assert.equal(r2.status, 400);
      assert.equal(await errorCode(r2), 'MANIFEST_BLOB_UNKNOWN');
      for (const tag of ['idx', 'img']) assert.equal((await fetch(`${t.url}/v2/plain/app/manifests/${tag}`, { method: 'HEAD' })).status, 404);
    });
  });

  describe('with manifests.sparse', () => {
    let t: TestBerth;
    before(async () => {
      t = await startTestBerth({ REGISTRY_MANIFESTS_SPARSE_NAMESPACES: 'mirror', REGISTRY_MANIFESTS_SPARSE_REPOSITORIES: 'solo/app, other/one' });
    });
    after(async () => {
      await t?.close();
    });

    it('accepts a sparse index in a listed namespace (any depth) and repository, serves it by tag and digest, lists its tag, deletes it', async () => {
      for (const repo of ['mirror/busybox', 'mirror/deep/alpine', 'solo/app']) {
        const idx = await sparseIndex(t.url, repo);
        const res = await put(t.url, repo, 'multi', idx.body, OCI_INDEX);
        assert.equal(res.status, 201, `${repo}: ${await res.clone().text()}`);
        const digest = sha256(idx.body);
        assert.equal(res.headers.get('docker-content-digest'), digest);
        for (const ref of ['multi', digest]) {
          const get = await fetch(`${t.url}/v2/${repo}/manifests/${ref}`, { headers: { Accept: OCI_INDEX } });
          assert.equal(get.status, 200);
          assert.equal(get.headers.get('content-type'), OCI_INDEX);
          assert.equal(await get.text(), idx.body);
        }
        const tags = (await (await fetch(`${t.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] };
        assert.ok(tags.tags.includes('multi'), repo);
        // The absent child stays absent; the present one is served.
        const absent = await fetch(`${t.url}/v2/${repo}/manifests/${idx.absent}`);
        assert.equal(absent.status, 404);
        assert.equal(await errorCode(absent), 'MANIFEST_UNKNOWN');
        assert.equal((await fetch(`${t.url}/v2/${repo}/manifests/${idx.present}`, { method: 'HEAD' })).status, 200);
        const del = await fetch(`${t.url}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' });
        assert.equal(del.status, 202);
        assert.equal((await fetch(`${t.url}/v2/${repo}/manifests/multi`, { method: 'HEAD' })).status, 404);
      }
    });

    it('accepts an image with an absent layer there, never one without its config blob', async () => {
      const img = await sparseImage(t.url, 'mirror/img');
      const ok = await put(t.url, 'mirror/img', 'v1', img, OCI_MANIFEST);
      assert.equal(ok.status, 201);
      assert.equal((await fetch(`${t.url}/v2/mirror/img/manifests/v1`)).status, 200);
      const noConfig = await sparseImage(t.url, 'mirror/img', false);
      const res = await put(t.url, 'mirror/img', 'v2', noConfig, OCI_MANIFEST);
      assert.equal(res.status, 400);
      assert.equal(await errorCode(res), 'MANIFEST_BLOB_UNKNOWN');
    });

    it('garbage collection keeps a tagged sparse index and its present child, never trips on the absent one, and collects the child once the index goes', async () => {
      const repo = 'mirror/gc';
      const idx = await sparseIndex(t.url, repo);
      assert.equal((await put(t.url, repo, 'multi', idx.body, OCI_INDEX)).status, 201);
      const digest = sha256(idx.body);
      // The present child was pushed with a tag by sparseIndex: untag it, so only the index keeps it.
      const childTag = ((await (await fetch(`${t.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] }).tags.find((x) => x.startsWith('child-')) as string;
      assert.equal((await fetch(`${t.url}/v2/${repo}/manifests/${childTag}`, { method: 'DELETE' })).status, 202);

      const kept = await t.berth.gc.run({ deleteUntagged: true, graceMs: 0, trigger: 'test' });
      assert.equal(kept.manifests.some((m) => [digest, idx.present].includes(m.digest)), false, 'a tagged sparse index and its present child are kept');
      for (const ref of [digest, idx.present]) assert.equal((await fetch(`${t.url}/v2/${repo}/manifests/${ref}`, { method: 'HEAD' })).status, 200, ref);
      assert.equal((await fetch(`${t.url}/v2/${repo}/manifests/${idx.absent}`, { method: 'HEAD' })).status, 404);

      assert.equal((await fetch(`${t.url}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' })).status, 202);
      const run = await t.berth.gc.run({ deleteUntagged: true, graceMs: 0, trigger: 'test' });
      assert.deepEqual(run.manifests.filter((m) => m.repository === repo).map((m) => m.digest), [idx.present], 'the child goes once nothing needs it; the absent child was never there to delete');
      assert.equal((await fetch(`${t.url}/v2/${repo}/manifests/${idx.present}`, { method: 'HEAD' })).status, 404);
    });

    it('refuses elsewhere: other repositories, a name that only starts like the namespace, a sibling of a listed repository', async () => {
      for (const repo of ['plain/app', 'mirrorx/app', 'mirror', 'solo/app2', 'solo']) {
        const idx = await sparseIndex(t.url, repo);
        const res = await put(t.url, repo, 'multi', idx.body, OCI_INDEX);
        assert.equal(res.status, 400, repo);
        assert.equal(await errorCode(res), 'MANIFEST_BLOB_UNKNOWN', repo);
      }
    });
  });

  describe('configuration', () => {
    it('refuses names outside the repository grammar and unknown keys, naming the key', async (t) => {
      const dir = await mkdtemp(path.join(tmpdir(), 'berth-sparse-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const bad = await loadConfig({ env: { REGISTRY_MANIFESTS_SPARSE_NAMESPACES: 'Mirror' }, flags: { dataDir: dir } });
      assert.equal(bad.config ?? null, null);
      assert.deepEqual(bad.errors, ['manifests.sparse.namespaces.0: expected a repository name such as team/app (lower case, digits, . _ - and / between components)']);
      const file = path.join(dir, 'config.yml');
      await writeFile(file, 'manifests:\n  sparse:\n    namespace: [mirror]\n');
      const typo = await loadConfig({ env: {}, file, flags: { dataDir: dir } });
      assert.equal(typo.config ?? null, null);
      assert.ok(typo.errors.some((e) => e.startsWith('manifests.sparse.namespace: unknown key; did you mean manifests.sparse.namespaces?')), typo.errors.join('\n'));
      await writeFile(file, 'manifests:\n  sparse: all\n');
      const shape = await loadConfig({ env: {}, file, flags: { dataDir: dir } });
      assert.equal(shape.config ?? null, null);
      assert.ok(shape.errors.some((e) => e.startsWith('manifests.sparse: ')), shape.errors.join('\n'));
      const good = await loadConfig({ env: { REGISTRY_MANIFESTS_SPARSE_REPOSITORIES: 'a/b,c' }, flags: { dataDir: dir } });
      assert.deepEqual(good.errors, []);
      assert.deepEqual(good.config?.manifests.sparse, { repositories: ['a/b', 'c'], namespaces: [] });
    });
  });
});
