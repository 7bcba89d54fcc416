import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { ContentStore } from './content-store.js';
import { openedStore, type MetadataSuiteOptions } from './store-suite.js';

const d = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

/**
 * The contract suite of the content store (content-store.ts), run by every
 * metadata backend. Each test uses its own repository names, so one store
 * serves all.
 */
export function runContentSuite(options: MetadataSuiteOptions): void {
  describe(`content store: ${options.name}`, { skip: options.skipReason ?? false }, () => {
    const opened = openedStore(options);
    let content: ContentStore;
    before(() => {
      content = opened.store.content;
    });

    const manifest = (repository: string, digest: string, extra: Partial<{ subject: string; artifactType: string; annotations: string }> = {}) => ({
      repository, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 3, content: Buffer.from([0x7b, 0xff, 0x7d]),
      artifactType: extra.artifactType ?? null, subject: extra.subject ?? null, annotations: extra.annotations ?? null,
    });

    it('links blobs per repository', async () => {
      assert.equal(await content.getBlob(d(1)), null);
      await content.linkBlob('links/a', { digest: d(1), size: 10 });
      await content.linkBlob('links/a', { digest: d(1), size: 10 }); // idempotent
      assert.deepEqual(await content.getBlob(d(1)), { digest: d(1), size: 10 });
      assert.deepEqual(await content.getLinkedBlob('links/a', d(1)), { digest: d(1), size: 10 });
      assert.equal(await content.getLinkedBlob('links/b', d(1)), null, 'a blob is only visible where linked');
      assert.deepEqual(await content.missingBlobs('links/a', [d(1), d(2), d(1)]), [d(2)]);
      assert.equal(await content.unlinkBlob('links/a', d(1)), true);
      assert.equal(await content.unlinkBlob('links/a', d(1)), false);
      assert.deepEqual(await content.getBlob(d(1)), { digest: d(1), size: 10 }, 'unlinking never forgets the blob itself');
    });

    it('records where a blob is stored, keeps the first record, and ends the upload session in the same transaction', async () => {
      const now = Date.now();
      await opened.store.uploads.create({ id: 'loc-upload-1', repository: 'loc/a', size: 5, createdAt: now, updatedAt: now });
      const first = await content.linkBlob('loc/a', { digest: d(30), size: 5, location: '/blobdata/one' }, { uploadId: 'loc-upload-1' });
      assert.deepEqual(first, { digest: d(30), size: 5, location: '/blobdata/one' });
      assert.equal(await opened.store.uploads.get('loc-upload-1'), null, 'the session is gone with the commit');
      assert.deepEqual(await content.getLinkedBlob('loc/a', d(30)), first);
      // A second upload of the same bytes elsewhere: the first record stays in force.
      const second = await content.linkBlob('loc/b', { digest: d(30), size: 5, location: '/blobdata/two' });
      assert.deepEqual(second, first);
      assert.deepEqual(await content.getLinkedBlob('loc/b', d(30)), first);
      assert.deepEqual((await content.blobLocationsInUse(['/blobdata/two', '/blobdata/one', '/blobdata/one'])).sort(), ['/blobdata/one']);
      assert.deepEqual(await content.blobLocationsInUse([]), []);
      // Content-addressed blobs have no location.
      assert.deepEqual(await content.linkBlob('loc/a', { digest: d(31), size: 1 }), { digest: d(31), size: 1 });
    });

    it('records a blob\'s checksum once, never replaces it, and returns it with the record', async () => {
      await content.linkBlob('crc/a', { digest: d(40), size: 7 });
      assert.equal(await content.recordBlobChecksum(d(40), 0xfedc_ba98), true);
      assert.equal(await content.recordBlobChecksum(d(40), 1), false, 'a recorded checksum is never replaced');
      // The full unsigned 32-bit range survives both dialects.
      assert.deepEqual(await content.getBlob(d(40)), { digest: d(40), size: 7, crc32: 0xfedc_ba98 });
      assert.deepEqual(await content.getLinkedBlob('crc/a', d(40)), { digest: d(40), size: 7, crc32: 0xfedc_ba98 });
      assert.deepEqual(await content.linkBlob('crc/b', { digest: d(40), size: 7 }), { digest: d(40), size: 7, crc32: 0xfedc_ba98 }, 'linking keeps the record in force, checksum included');
      assert.deepEqual(await content.linkExistingBlob('crc/c', d(40)), { digest: d(40), size: 7, crc32: 0xfedc_ba98 });
      assert.equal(await content.recordBlobChecksum(d(41), 5), false, 'no record, nothing recorded');
      assert.equal(await content.getBlob(d(41)), null);
      await content.linkBlob('crc/a', { digest: d(42), size: 1, location: '/blobdata/crc' });
      assert.equal(await content.recordBlobChecksum(d(42), 0), true, 'zero is a checksum like any other');
      assert.deepEqual(await content.getBlob(d(42)), { digest: d(42), size: 1, location: '/blobdata/crc', crc32: 0 });
      assert.equal(await content.recordBlobChecksum(d(42), 0), false);
    });

    it('stores manifests with their exact bytes, tags them and resolves tags', async () => {
      await content.putManifest({ manifest: manifest('m/a', d(10)), references: [{ digest: d(1), kind: 'blob' }], tag: 'v1' });
      const got = await content.getManifest('m/a', d(10));
      assert.deepEqual(got?.content, Buffer.from([0x7b, 0xff, 0x7d]));
      assert.equal((await content.resolveTag('m/a', 'v1'))?.digest, d(10));
      assert.equal(await content.resolveTag('m/a', 'v2'), null);
      assert.equal(await content.getManifest('m/b', d(10)), null);
      // Retagging moves the tag; re-putting the same manifest is harmless.
      await content.putManifest({ manifest: manifest('m/a', d(11)), references: [], tag: 'v1' });
      await content.putManifest({ manifest: manifest('m/a', d(11)), references: [], tag: 'v1' });
      assert.equal((await content.resolveTag('m/a', 'v1'))?.digest, d(11));
      assert.deepEqual(await content.missingManifests('m/a', [d(10), d(11), d(12)]), [d(12)]);
    });

    it('reports what a manifest put and delete changed (for the registry\'s events)', async () => {
      assert.deepEqual(await content.putManifest({ manifest: manifest('out/a', d(80)), references: [], tag: 'v1' }), { created: true, repositoryCreated: true, previousTagDigest: null });
      assert.deepEqual(await content.putManifest({ manifest: manifest('out/a', d(80)), references: [], tag: 'v1' }), { created: false, repositoryCreated: false, previousTagDigest: d(80) });
      assert.deepEqual(await content.putManifest({ manifest: manifest('out/a', d(81)), references: [], tag: 'v1' }), { created: true, repositoryCreated: false, previousTagDigest: d(80) });
      assert.deepEqual(await content.putManifest({ manifest: manifest('out/a', d(82)), references: [] }), { created: true, repositoryCreated: false, previousTagDigest: null });
      assert.deepEqual(await content.deleteManifest('out/a', d(80)), { tags: [], repositoryEmptied: false });
      assert.deepEqual(await content.deleteManifest('out/a', d(81)), { tags: ['v1'], repositoryEmptied: false });
      assert.deepEqual(await content.deleteManifest('out/a', d(82)), { tags: [], repositoryEmptied: true });
      assert.deepEqual(await content.putManifest({ manifest: manifest('out/a', d(80)), references: [] }), { created: true, repositoryCreated: true, previousTagDigest: null }, 'emptied, then created again');
    });

    it('deletes a manifest with its tags, and a tag alone', async () => {
      await content.putManifest({ manifest: manifest('del/a', d(20)), references: [], tag: 'one' });
      await content.putManifest({ manifest: manifest('del/a', d(20)), references: [], tag: 'two' });
      await content.putManifest({ manifest: manifest('del/a', d(21)), references: [], tag: 'three' });
      assert.equal(await content.deleteTag('del/a', 'three'), d(21), 'returns the digest the tag pointed to');
      assert.equal(await content.deleteTag('del/a', 'three'), null);
      assert.ok(await content.getManifest('del/a', d(21)), 'deleting a tag keeps its manifest');
      assert.deepEqual(await content.deleteManifest('del/a', d(20)), { tags: ['one', 'two'], repositoryEmptied: false }, 'the tags that went with it; d(21) is left');
      assert.deepEqual(await content.listTags('del/a', {}), []);
      assert.equal(await content.deleteManifest('del/a', d(20)), null);
    });

    it('lists tags in lexical (byte) order with pagination', async () => {
      for (const t of ['b', 'a', 'C', 'c', 'a1', '_x']) {
        await content.putManifest({ manifest: manifest('tags/a', d(30)), references: [], tag: t });
      }
      assert.deepEqual(await content.listTags('tags/a', {}), ['C', '_x', 'a', 'a1', 'b', 'c']);
      assert.deepEqual(await content.listTags('tags/a', { limit: 2 }), ['C', '_x']);
      assert.deepEqual(await content.listTags('tags/a', { last: '_x', limit: 2 }), ['a', 'a1']);
      assert.deepEqual(await content.listTags('tags/a', { last: 'c' }), []);
      assert.notEqual(await content.tagListVersion('tags/a'), null, 'the repository exists');
      assert.equal(await content.tagListVersion('tags/none'), null, 'an unknown repository has no version');
    });

    it('changes the tag-list version with every tag change, and only then', async () => {
      assert.equal(await content.tagListVersion('ver/a'), null);
      await content.putManifest({ manifest: manifest('ver/a', d(70)), references: [] });
      const v0 = await content.tagListVersion('ver/a');
      assert.equal(typeof v0, 'number');
      await content.putManifest({ manifest: manifest('ver/a', d(71)), references: [] });
      assert.equal(await content.tagListVersion('ver/a'), v0, 'an untagged push changes no tag');
      await content.putManifest({ manifest: manifest('ver/a', d(70)), references: [], tag: 'one' });
      const v1 = await content.tagListVersion('ver/a');
      assert.notEqual(v1, v0);
      await content.putManifest({ manifest: manifest('ver/a', d(71)), references: [], tag: 'one' });
      const v2 = await content.tagListVersion('ver/a');
      assert.notEqual(v2, v1, 'moving a tag');
      await content.deleteTag('ver/a', 'one');
      const v3 = await content.tagListVersion('ver/a');
      assert.notEqual(v3, v2, 'deleting a tag');
      await content.putManifest({ manifest: manifest('ver/a', d(71)), references: [], tag: 'two' });
      const v4 = await content.tagListVersion('ver/a');
      await content.deleteManifest('ver/a', d(71));
      assert.notEqual(await content.tagListVersion('ver/a'), v4, 'deleting a tagged manifest');
      assert.notEqual(v3, v4);
    });

    it('lists repositories that have manifests, sorted and paginated', async () => {
      for (const r of ['cat/b', 'cat/a', 'cat/c/d']) await content.putManifest({ manifest: manifest(r, d(40)), references: [] });
      await content.linkBlob('cat/blobs-only', { digest: d(1), size: 10 });
      const all = (await content.listRepositories({ limit: 10_000 })).filter((n) => n.startsWith('cat/'));
      assert.deepEqual(all, ['cat/a', 'cat/b', 'cat/c/d']);
      assert.deepEqual(await content.listRepositories({ last: 'cat/a', limit: 1 }), ['cat/b']);
    });

    it('finds referrers by subject, filtered by artifact type', async () => {
      const subject = d(50);
      await content.putManifest({ manifest: manifest('ref/a', d(52), { subject, artifactType: 'application/sig' }), references: [] });
      await content.putManifest({ manifest: manifest('ref/a', d(51), { subject, artifactType: 'application/sbom', annotations: '{"k":"v"}' }), references: [] });
      await content.putManifest({ manifest: manifest('ref/b', d(53), { subject, artifactType: 'application/sig' }), references: [] });
      const all = await content.listReferrers('ref/a', subject);
      assert.deepEqual(all.map((r) => r.digest), [d(51), d(52)]);
      assert.equal(all[0]?.annotations, '{"k":"v"}');
      assert.deepEqual((await content.listReferrers('ref/a', subject, 'application/sig')).map((r) => r.digest), [d(52)]);
      assert.deepEqual(await content.listReferrers('ref/a', d(99)), []);
    });

    it('finds the indexes of a repository that list a manifest as a child', async () => {
      await content.putManifest({ manifest: manifest('par/a', d(90)), references: [] });
      await content.putManifest({ manifest: manifest('par/b', d(90)), references: [] });
      await content.putManifest({ manifest: manifest('par/a', d(92)), references: [{ digest: d(90), kind: 'manifest' }, { digest: d(1), kind: 'blob' }] });
      await content.putManifest({ manifest: manifest('par/a', d(91)), references: [{ digest: d(90), kind: 'manifest' }] });
      await content.putManifest({ manifest: manifest('par/b', d(93)), references: [{ digest: d(90), kind: 'manifest' }] });
      assert.deepEqual(await content.parentManifests('par/a', d(90), 10), [d(91), d(92)]);
      assert.deepEqual(await content.parentManifests('par/a', d(90), 1), [d(91)]);
      assert.deepEqual(await content.parentManifests('par/b', d(90), 10), [d(93)]);
      assert.deepEqual(await content.parentManifests('par/a', d(1), 10), [], 'a blob reference is not a child manifest');
      await content.deleteManifest('par/a', d(91));
      assert.deepEqual(await content.parentManifests('par/a', d(90), 10), [d(92)]);
    });

    it('answers concurrent writers consistently', async () => {
      await Promise.all(Array.from({ length: 20 }, (_, i) =>
        content.putManifest({ manifest: manifest('conc/a', d(60 + (i % 2))), references: [{ digest: d(1), kind: 'blob' }], tag: 'latest' })));
      const tagged = await content.resolveTag('conc/a', 'latest');
      assert.ok(tagged && [d(60), d(61)].includes(tagged.digest));
      assert.deepEqual(await content.listTags('conc/a', {}), ['latest']);
    });
  });
}
