import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { MetadataStore } from './store.js';
import { openedStore, type MetadataSuiteOptions } from './store-suite.js';

const d = (n: number) => `sha256:${n.toString(16).padStart(64, 'f')}`;

/**
 * The contract suite of the integrity-check store (fsck-store.ts), run by
 * every metadata backend on a store of its own.
 */
export function runFsckSuite(options: MetadataSuiteOptions): void {
  describe(`fsck store: ${options.name}`, { skip: options.skipReason ?? false }, () => {
    const opened = openedStore(options);
    let store: MetadataStore;
    before(() => {
      store = opened.store;
    });

    const manifest = (repository: string, digest: string) => ({
      repository, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 2, content: Buffer.from('{}'),
      artifactType: null, subject: null, annotations: null,
    });

    it('pages blob records, manifests and upload sessions, and counts them', async () => {
      await store.content.linkBlob('fsck/a', { digest: d(1), size: 10 });
      await store.content.linkBlob('fsck/a', { digest: d(2), size: 20, location: '/blobdata/x' });
      await store.content.linkBlob('fsck/b', { digest: d(3), size: 30 });
      await store.content.putManifest({ manifest: manifest('fsck/a', d(10)), references: [{ digest: d(1), kind: 'blob' }], tag: 'v1' });
      await store.content.putManifest({ manifest: manifest('fsck/a', d(11)), references: [] });
      await store.content.putManifest({ manifest: manifest('fsck/b', d(10)), references: [] });
      await store.uploads.create({ id: 'u1', repository: 'fsck/a', size: 3, createdAt: 1, updatedAt: 2 });
      await store.uploads.create({ id: 'u2', repository: 'fsck/b', size: 0, createdAt: 1, updatedAt: 1 });

      assert.deepEqual(await store.fsck.totals(), { blobs: 3, bytes: 60, manifests: 3 });
      const first = await store.fsck.blobs({ limit: 2 });
      assert.deepEqual(first, [
        { digest: d(1), size: 10, location: null, markedAt: null, hasChecksum: false },
        { digest: d(2), size: 20, location: '/blobdata/x', markedAt: null, hasChecksum: false },
      ]);
      assert.deepEqual((await store.fsck.blobs({ after: d(2), limit: 2 })).map((b) => b.digest), [d(3)]);
      assert.deepEqual(await store.fsck.blob(d(2)), { digest: d(2), size: 20, location: '/blobdata/x', markedAt: null, hasChecksum: false });
      assert.equal(await store.fsck.blob(d(9)), null);

      const m1 = await store.fsck.manifests({ limit: 2 });
      assert.deepEqual(m1.map((m) => [m.repository, m.digest]), [['fsck/a', d(10)], ['fsck/a', d(11)]]);
      assert.deepEqual(m1[0]?.content, Buffer.from('{}'));
      assert.equal(m1[0]?.mediaType, 'application/vnd.oci.image.manifest.v1+json');
      const m2 = await store.fsck.manifests({ after: { repository: 'fsck/a', digest: d(11) }, limit: 2 });
      assert.deepEqual(m2.map((m) => [m.repository, m.digest]), [['fsck/b', d(10)]]);

      assert.deepEqual((await store.fsck.uploads({ limit: 1 })).map((u) => u.id), ['u1']);
      assert.deepEqual(await store.fsck.uploads({ after: 'u1', limit: 5 }), [{ id: 'u2', repository: 'fsck/b', size: 0, createdAt: 1, updatedAt: 1 }]);
      assert.deepEqual(await store.fsck.danglingTags(10), [], 'tags follow their manifests');
    });

    it('marks a referenced blob, takes back only its own mark, and the mark hides the blob until the record is dropped', async () => {
      await store.content.linkBlob('mark/a', { digest: d(20), size: 5 });
      await store.content.putManifest({ manifest: manifest('mark/a', d(21)), references: [{ digest: d(20), kind: 'blob' }] });
      const marked = await store.fsck.markBlob(d(20), 1000);
      assert.deepEqual(marked, { digest: d(20), size: 5, location: null, markedAt: 1000, hasChecksum: false }, 'referenced by a manifest, marked all the same');
      assert.equal(await store.fsck.markBlob(d(20), 2000), null, 'marked already');
      assert.equal(await store.fsck.markBlob(d(29), 2000), null, 'absent');
      assert.equal(await store.content.getLinkedBlob('mark/a', d(20)), null, 'readers do not see a marked blob');
      assert.equal(await store.fsck.unmarkBlob(d(20), 999), false, 'another mark is not taken back');
      assert.equal(await store.fsck.unmarkBlob(d(20), 1000), true);
      assert.deepEqual(await store.content.getLinkedBlob('mark/a', d(20)), { digest: d(20), size: 5 });
      await store.fsck.markBlob(d(20), 3000);
      assert.deepEqual((await store.gc.dropMarkedBlobs([d(20)])).map((b) => b.digest), [d(20)]);
      assert.equal(await store.fsck.blob(d(20)), null);
      assert.notEqual(await store.content.getManifest('mark/a', d(21)), null, 'the manifest stays');
      assert.deepEqual(await store.content.missingBlobs('mark/a', [d(20)]), [d(20)]);
    });

    it('deletes a tag only while its manifest is absent', async () => {
      await store.content.putManifest({ manifest: manifest('tags/a', d(30)), references: [], tag: 'keep' });
      assert.equal(await store.fsck.deleteTagIfDangling('tags/a', 'keep'), false, 'its manifest is there');
      assert.equal((await store.content.resolveTag('tags/a', 'keep'))?.digest, d(30));
      assert.equal(await store.fsck.deleteTagIfDangling('tags/a', 'nothing'), false);
    });
  });
}
