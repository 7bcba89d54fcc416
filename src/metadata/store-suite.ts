import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MetadataStore } from './store.js';

/**
 * The contract suite every metadata backend runs (SQLite and PostgreSQL).
 * Each test uses its own repository names, so one store serves all.
 */
export interface StoreSuiteOptions {
  name: string;
  create(): Promise<MetadataStore>;
  teardown?(store: MetadataStore): Promise<void>;
  skipReason?: string | undefined;
}

const d = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

export function runMetadataSuite(options: StoreSuiteOptions): void {
  describe(`metadata store: ${options.name}`, { skip: options.skipReason ?? false }, () => {
    let store: MetadataStore;
    before(async () => {
      store = await options.create();
      await store.init();
      await store.init(); // migrations are idempotent
    });
    after(async () => {
      await options.teardown?.(store);
      await store.close();
    });

    const manifest = (repository: string, digest: string, extra: Partial<{ subject: string; artifactType: string; annotations: string }> = {}) => ({
      repository, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 3, content: Buffer.from([0x7b, 0xff, 0x7d]),
      artifactType: extra.artifactType ?? null, subject: extra.subject ?? null, annotations: extra.annotations ?? null,
    });

    it('links blobs per repository', async () => {
      assert.equal(await store.getBlob(d(1)), null);
      await store.linkBlob('links/a', { digest: d(1), size: 10 });
      await store.linkBlob('links/a', { digest: d(1), size: 10 }); // idempotent
      assert.deepEqual(await store.getBlob(d(1)), { digest: d(1), size: 10 });
      assert.deepEqual(await store.getLinkedBlob('links/a', d(1)), { digest: d(1), size: 10 });
      assert.equal(await store.getLinkedBlob('links/b', d(1)), null, 'a blob is only visible where linked');
      assert.deepEqual(await store.missingBlobs('links/a', [d(1), d(2), d(1)]), [d(2)]);
      assert.equal(await store.unlinkBlob('links/a', d(1)), true);
      assert.equal(await store.unlinkBlob('links/a', d(1)), false);
      assert.deepEqual(await store.getBlob(d(1)), { digest: d(1), size: 10 }, 'unlinking never forgets the blob itself');
    });

    it('records where a blob is stored, keeps the first record, and ends the upload session in the same transaction', async () => {
      const now = Date.now();
      await store.createUpload({ id: 'loc-upload-1', repository: 'loc/a', size: 5, createdAt: now, updatedAt: now });
      const first = await store.linkBlob('loc/a', { digest: d(30), size: 5, location: '/blobdata/one' }, { uploadId: 'loc-upload-1' });
      assert.deepEqual(first, { digest: d(30), size: 5, location: '/blobdata/one' });
      assert.equal(await store.getUpload('loc-upload-1'), null, 'the session is gone with the commit');
      assert.deepEqual(await store.getLinkedBlob('loc/a', d(30)), first);
      // A second upload of the same bytes elsewhere: the first record stays in force.
      const second = await store.linkBlob('loc/b', { digest: d(30), size: 5, location: '/blobdata/two' });
      assert.deepEqual(second, first);
      assert.deepEqual(await store.getLinkedBlob('loc/b', d(30)), first);
      assert.deepEqual((await store.blobLocationsInUse(['/blobdata/two', '/blobdata/one', '/blobdata/one'])).sort(), ['/blobdata/one']);
      assert.deepEqual(await store.blobLocationsInUse([]), []);
      // Content-addressed blobs have no location.
      assert.deepEqual(await store.linkBlob('loc/a', { digest: d(31), size: 1 }), { digest: d(31), size: 1 });
    });

    it('stores manifests with their exact bytes, tags them and resolves tags', async () => {
      await store.putManifest({ manifest: manifest('m/a', d(10)), references: [{ digest: d(1), kind: 'blob' }], tag: 'v1' });
      const got = await store.getManifest('m/a', d(10));
      assert.deepEqual(got?.content, Buffer.from([0x7b, 0xff, 0x7d]));
      assert.equal((await store.resolveTag('m/a', 'v1'))?.digest, d(10));
      assert.equal(await store.resolveTag('m/a', 'v2'), null);
      assert.equal(await store.getManifest('m/b', d(10)), null);
      // Retagging moves the tag; re-putting the same manifest is harmless.
      await store.putManifest({ manifest: manifest('m/a', d(11)), references: [], tag: 'v1' });
      await store.putManifest({ manifest: manifest('m/a', d(11)), references: [], tag: 'v1' });
      assert.equal((await store.resolveTag('m/a', 'v1'))?.digest, d(11));
      assert.deepEqual(await store.missingManifests('m/a', [d(10), d(11), d(12)]), [d(12)]);
    });

    it('reports what a manifest put and delete changed (for the registry\'s events)', async () => {
      assert.deepEqual(await store.putManifest({ manifest: manifest('out/a', d(80)), references: [], tag: 'v1' }), { created: true, repositoryCreated: true, previousTagDigest: null });
      assert.deepEqual(await store.putManifest({ manifest: manifest('out/a', d(80)), references: [], tag: 'v1' }), { created: false, repositoryCreated: false, previousTagDigest: d(80) });
      assert.deepEqual(await store.putManifest({ manifest: manifest('out/a', d(81)), references: [], tag: 'v1' }), { created: true, repositoryCreated: false, previousTagDigest: d(80) });
      assert.deepEqual(await store.putManifest({ manifest: manifest('out/a', d(82)), references: [] }), { created: true, repositoryCreated: false, previousTagDigest: null });
      assert.deepEqual(await store.deleteManifest('out/a', d(80)), { tags: [], repositoryEmptied: false });
      assert.deepEqual(await store.deleteManifest('out/a', d(81)), { tags: ['v1'], repositoryEmptied: false });
      assert.deepEqual(await store.deleteManifest('out/a', d(82)), { tags: [], repositoryEmptied: true });
      assert.deepEqual(await store.putManifest({ manifest: manifest('out/a', d(80)), references: [] }), { created: true, repositoryCreated: true, previousTagDigest: null }, 'emptied, then created again');
    });

    it('deletes a manifest with its tags, and a tag alone', async () => {
      await store.putManifest({ manifest: manifest('del/a', d(20)), references: [], tag: 'one' });
      await store.putManifest({ manifest: manifest('del/a', d(20)), references: [], tag: 'two' });
      await store.putManifest({ manifest: manifest('del/a', d(21)), references: [], tag: 'three' });
      assert.equal(await store.deleteTag('del/a', 'three'), d(21), 'returns the digest the tag pointed to');
      assert.equal(await store.deleteTag('del/a', 'three'), null);
      assert.ok(await store.getManifest('del/a', d(21)), 'deleting a tag keeps its manifest');
      assert.deepEqual(await store.deleteManifest('del/a', d(20)), { tags: ['one', 'two'], repositoryEmptied: false }, 'the tags that went with it; d(21) is left');
      assert.deepEqual(await store.listTags('del/a', {}), []);
      assert.equal(await store.deleteManifest('del/a', d(20)), null);
    });

    it('lists tags in lexical (byte) order with pagination', async () => {
      for (const t of ['b', 'a', 'C', 'c', 'a1', '_x']) {
        await store.putManifest({ manifest: manifest('tags/a', d(30)), references: [], tag: t });
      }
      assert.deepEqual(await store.listTags('tags/a', {}), ['C', '_x', 'a', 'a1', 'b', 'c']);
      assert.deepEqual(await store.listTags('tags/a', { limit: 2 }), ['C', '_x']);
      assert.deepEqual(await store.listTags('tags/a', { last: '_x', limit: 2 }), ['a', 'a1']);
      assert.deepEqual(await store.listTags('tags/a', { last: 'c' }), []);
      assert.notEqual(await store.tagListVersion('tags/a'), null, 'the repository exists');
      assert.equal(await store.tagListVersion('tags/none'), null, 'an unknown repository has no version');
    });

    it('changes the tag-list version with every tag change, and only then', async () => {
      assert.equal(await store.tagListVersion('ver/a'), null);
      await store.putManifest({ manifest: manifest('ver/a', d(70)), references: [] });
      const v0 = await store.tagListVersion('ver/a');
      assert.equal(typeof v0, 'number');
      await store.putManifest({ manifest: manifest('ver/a', d(71)), references: [] });
      assert.equal(await store.tagListVersion('ver/a'), v0, 'an untagged push changes no tag');
      await store.putManifest({ manifest: manifest('ver/a', d(70)), references: [], tag: 'one' });
      const v1 = await store.tagListVersion('ver/a');
      assert.notEqual(v1, v0);
      await store.putManifest({ manifest: manifest('ver/a', d(71)), references: [], tag: 'one' });
      const v2 = await store.tagListVersion('ver/a');
      assert.notEqual(v2, v1, 'moving a tag');
      await store.deleteTag('ver/a', 'one');
      const v3 = await store.tagListVersion('ver/a');
      assert.notEqual(v3, v2, 'deleting a tag');
      await store.putManifest({ manifest: manifest('ver/a', d(71)), references: [], tag: 'two' });
      const v4 = await store.tagListVersion('ver/a');
      await store.deleteManifest('ver/a', d(71));
      assert.notEqual(await store.tagListVersion('ver/a'), v4, 'deleting a tagged manifest');
      assert.notEqual(v3, v4);
    });

    it('lists repositories that have manifests, sorted and paginated', async () => {
      for (const r of ['cat/b', 'cat/a', 'cat/c/d']) await store.putManifest({ manifest: manifest(r, d(40)), references: [] });
      await store.linkBlob('cat/blobs-only', { digest: d(1), size: 10 });
      const all = (await store.listRepositories({ limit: 10_000 })).filter((n) => n.startsWith('cat/'));
      assert.deepEqual(all, ['cat/a', 'cat/b', 'cat/c/d']);
      assert.deepEqual(await store.listRepositories({ last: 'cat/a', limit: 1 }), ['cat/b']);
    });

    it('finds referrers by subject, filtered by artifact type', async () => {
      const subject = d(50);
      await store.putManifest({ manifest: manifest('ref/a', d(52), { subject, artifactType: 'application/sig' }), references: [] });
      await store.putManifest({ manifest: manifest('ref/a', d(51), { subject, artifactType: 'application/sbom', annotations: '{"k":"v"}' }), references: [] });
      await store.putManifest({ manifest: manifest('ref/b', d(53), { subject, artifactType: 'application/sig' }), references: [] });
      const all = await store.listReferrers('ref/a', subject);
      assert.deepEqual(all.map((r) => r.digest), [d(51), d(52)]);
      assert.equal(all[0]?.annotations, '{"k":"v"}');
      assert.deepEqual((await store.listReferrers('ref/a', subject, 'application/sig')).map((r) => r.digest), [d(52)]);
      assert.deepEqual(await store.listReferrers('ref/a', d(99)), []);
    });

    it('advances uploads only from the expected size (compare and set)', async () => {
      await store.createUpload({ id: 'u1', repository: 'up/a', size: 0, createdAt: 1, updatedAt: 1 });
      assert.equal(await store.advanceUpload('u1', 0, 100, 2), true);
      assert.equal(await store.advanceUpload('u1', 0, 200, 3), false, 'a stale writer cannot advance');
      assert.equal((await store.getUpload('u1'))?.size, 100);
      assert.deepEqual((await store.listStaleUploads(3, 10)).map((u) => u.id), ['u1']);
      assert.deepEqual(await store.listStaleUploads(2, 10), []);
      assert.equal(await store.deleteUpload('u1'), true);
      assert.equal(await store.getUpload('u1'), null);
      assert.equal(await store.advanceUpload('u1', 100, 200, 4), false);
    });

    it('grants a lease to one owner at a time, until it expires or is released', async () => {
      assert.equal(await store.acquireLease('job/x', 'a', 1000, 0), true);
      assert.equal(await store.acquireLease('job/x', 'b', 2000, 500), false, 'held by a until 1000');
      assert.equal(await store.acquireLease('job/x', 'a', 3000, 600), true, 'the owner renews');
      assert.equal(await store.acquireLease('job/x', 'b', 4000, 2999), false);
      assert.equal(await store.acquireLease('job/x', 'b', 5000, 3000), true, 'an expired lease is taken over');
      await store.releaseLease('job/x', 'a');
      assert.equal(await store.acquireLease('job/x', 'c', 6000, 3001), false, 'only the owner can release');
      await store.releaseLease('job/x', 'b');
      assert.equal(await store.acquireLease('job/x', 'c', 6000, 3002), true);
      const racers = await Promise.all(Array.from({ length: 10 }, (_, i) => store.acquireLease('job/race', `r${i}`, 10_000, 1)));
      assert.equal(racers.filter(Boolean).length, 1, 'exactly one of ten racers wins');
      assert.equal(await store.pruneLeases(6001), 1, 'job/x expired at 6000');
      assert.equal(await store.pruneLeases(6001), 0);
      await store.releaseLease('job/race', `r${racers.indexOf(true)}`);
    });

    it('answers concurrent writers consistently', async () => {
      await Promise.all(Array.from({ length: 20 }, (_, i) =>
        store.putManifest({ manifest: manifest('conc/a', d(60 + (i % 2))), references: [{ digest: d(1), kind: 'blob' }], tag: 'latest' })));
      const tagged = await store.resolveTag('conc/a', 'latest');
      assert.ok(tagged && [d(60), d(61)].includes(tagged.digest));
      assert.deepEqual(await store.listTags('conc/a', {}), ['latest']);
    });

    it('pings', async () => {
      await store.ping();
    });
  });
}
