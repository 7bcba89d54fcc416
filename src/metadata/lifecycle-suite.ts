import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { LifecycleRule, LifecycleStore } from './lifecycle-store.js';
import { openedStore, type MetadataSuiteOptions } from './store-suite.js';

const d = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const manifest = (repository: string, digest: string, size: number) => ({
  repository, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size, content: Buffer.alloc(size, 0x20), artifactType: null, subject: null, annotations: null,
});
const rule = (id: string, extra: Partial<LifecycleRule> = {}): LifecycleRule => ({
  id, kind: 'immutable', scopeKind: 'namespace', scopeName: 'acme', tagPattern: 'v*', keepLast: null, keepWithinMs: null, createdAt: 1000, createdBy: 'admin', ...extra,
});

/** The contract suite of the lifecycle store (lifecycle-store.ts), run by every metadata backend. */
export function runLifecycleSuite(options: MetadataSuiteOptions): void {
  describe(`lifecycle store: ${options.name}`, { skip: options.skipReason ?? false }, () => {
    const opened = openedStore(options);
    let store: LifecycleStore;
    before(() => {
      store = opened.store.lifecycle;
    });

    it('adds, reads, lists and deletes rules; an id is used once', async () => {
      assert.deepEqual(await store.listRules(), []);
      const a = await store.addRule(rule('r1'));
      assert.deepEqual(await store.getRule('r1'), a);
      await store.addRule(rule('r2', { kind: 'retention', scopeKind: 'repository', scopeName: 'acme/app', tagPattern: '*', keepLast: 3, keepWithinMs: 86_400_000, createdBy: null }));
      await store.addRule(rule('r3', { scopeKind: 'registry', scopeName: '', tagPattern: 'release-*' }));
      await assert.rejects(store.addRule(rule('r1')), 'a second rule with the same id is refused');
      assert.deepEqual((await store.listRules()).map((r) => r.id), ['r1', 'r3', 'r2']);
      assert.deepEqual((await store.listRules('retention')).map((r) => [r.id, r.keepLast, r.keepWithinMs, r.createdBy]), [['r2', 3, 86_400_000, null]]);
      assert.equal(await store.deleteRule('r1'), true);
      assert.equal(await store.deleteRule('r1'), false);
      assert.equal(await store.getRule('r1'), null);
      await store.deleteRule('r2');
      await store.deleteRule('r3');
    });

    it('finds the rules that cover a repository: registry, every enclosing namespace, the repository itself', async () => {
      await store.addRule(rule('c-reg', { scopeKind: 'registry', scopeName: '' }));
      await store.addRule(rule('c-a', { scopeName: 'cov' }));
      await store.addRule(rule('c-ab', { scopeName: 'cov/b' }));
      await store.addRule(rule('c-repo', { scopeKind: 'repository', scopeName: 'cov/b/c' }));
      await store.addRule(rule('c-other', { scopeKind: 'repository', scopeName: 'cov/b' }));
      await store.addRule(rule('c-ret', { kind: 'retention', scopeName: 'cov', keepLast: 1 }));
      await store.addRule(rule('c-prefix', { scopeName: 'co' }));
      const ids = async (repo: string) => (await store.rulesFor(repo, 'immutable')).map((r) => r.id).sort();
      assert.deepEqual(await ids('cov/b/c'), ['c-a', 'c-ab', 'c-reg', 'c-repo']);
      assert.deepEqual(await ids('cov/b'), ['c-a', 'c-other', 'c-reg'], 'a namespace does not cover a repository of its own name');
      assert.deepEqual(await ids('cov'), ['c-reg']);
      assert.deepEqual((await store.rulesFor('cov/x', 'retention')).map((r) => r.id), ['c-ret']);
      for (const r of await store.listRules()) await store.deleteRule(r.id);
    });

    it('keeps one quota per namespace and finds those that cover a repository', async () => {
      await store.putQuota({ namespace: 'q', limitBytes: 100, updatedAt: 1, updatedBy: 'admin' });
      await store.putQuota({ namespace: 'q', limitBytes: 5_000_000_000_000, updatedAt: 2, updatedBy: null });
      await store.putQuota({ namespace: 'q/team', limitBytes: 10, updatedAt: 3, updatedBy: 'admin' });
      assert.deepEqual(await store.getQuota('q'), { namespace: 'q', limitBytes: 5_000_000_000_000, updatedAt: 2, updatedBy: null });
      assert.deepEqual((await store.listQuotas()).map((q) => q.namespace), ['q', 'q/team']);
      assert.deepEqual((await store.quotasFor('q/team/app')).map((q) => q.namespace), ['q', 'q/team']);
      assert.deepEqual((await store.quotasFor('q/app')).map((q) => q.namespace), ['q']);
      assert.deepEqual(await store.quotasFor('q'), []);
      assert.equal(await store.deleteQuota('q/team'), true);
      assert.equal(await store.deleteQuota('q/team'), false);
      assert.equal(await store.getQuota('q/team'), null);
      await store.deleteQuota('q');
    });

    it('counts a namespace\'s blobs and manifests once each, however many repositories share them', async () => {
      const content = opened.store.content;
      assert.deepEqual(await store.usage('use'), { namespace: 'use', bytes: 0, blobs: 0, blobBytes: 0, manifests: 0, manifestBytes: 0 });
      await content.linkBlob('use/a', { digest: d(1), size: 1000 });
      await content.linkBlob('use/b', { digest: d(1), size: 1000 });
      await content.linkBlob('use/b/deep', { digest: d(2), size: 200 });
      await content.linkBlob('user/x', { digest: d(3), size: 7 }); // another namespace that shares the prefix
      await content.linkBlob('use', { digest: d(4), size: 9 }); // a repository named like the namespace
      await content.putManifest({ manifest: manifest('use/a', d(10), 30), references: [], tag: 'v1' });
      await content.putManifest({ manifest: manifest('use/b', d(10), 30), references: [], tag: 'v1' });
      await content.putManifest({ manifest: manifest('use/b', d(11), 5), references: [] });
      assert.deepEqual(await store.usage('use'), { namespace: 'use', bytes: 1235, blobs: 2, blobBytes: 1200, manifests: 2, manifestBytes: 35 });
      assert.deepEqual(await store.usage('use/b'), { namespace: 'use/b', bytes: 200, blobs: 1, blobBytes: 200, manifests: 0, manifestBytes: 0 });
      assert.equal(await store.holds('use', d(1)), true);
      assert.equal(await store.holds('use', d(10)), true, 'a manifest digest');
      assert.equal(await store.holds('use', d(3)), false);
      assert.equal(await store.holds('use', d(4)), false);
      await content.unlinkBlob('use/a', d(1));
      assert.equal((await store.usage('use')).blobBytes, 1200, 'still linked by use/b');
      await content.unlinkBlob('use/b', d(1));
      assert.equal((await store.usage('use')).blobBytes, 200);
    });

    it('lists the tags of a scope with push times, in pages, and the tags of a digest', async () => {
      const content = opened.store.content;
      const before = Date.now();
      await content.putManifest({ manifest: manifest('tags/a', d(20), 2), references: [], tag: 'v2' });
      await content.putManifest({ manifest: manifest('tags/a', d(20), 2), references: [], tag: 'v1' });
      await content.putManifest({ manifest: manifest('tags/b/c', d(21), 2), references: [], tag: 'latest' });
      await content.putManifest({ manifest: manifest('tagsx', d(22), 2), references: [], tag: 'v1' });
      const all = await store.tagsIn({ kind: 'namespace', name: 'tags' }, { limit: 10 });
      assert.deepEqual(all.map((t) => [t.repository, t.tag, t.digest]), [['tags/a', 'v1', d(20)], ['tags/a', 'v2', d(20)], ['tags/b/c', 'latest', d(21)]]);
      assert.ok(all.every((t) => t.updatedAt >= before && t.updatedAt <= Date.now()));
      const page1 = await store.tagsIn({ kind: 'namespace', name: 'tags' }, { limit: 2 });
      const page2 = await store.tagsIn({ kind: 'namespace', name: 'tags' }, { limit: 2, after: { repository: 'tags/a', tag: 'v2' } });
      assert.deepEqual([...page1, ...page2], all);
      assert.deepEqual((await store.tagsIn({ kind: 'repository', name: 'tagsx' }, { limit: 10 })).map((t) => t.tag), ['v1']);
      assert.ok((await store.tagsIn({ kind: 'registry', name: '' }, { limit: 1000 })).some((t) => t.repository === 'tagsx'));
      assert.deepEqual(await store.tagsOf('tags/a', d(20)), ['v1', 'v2']);
      assert.deepEqual(await store.tagsOf('tags/a', d(21)), []);
    });
  });
}
