import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { UploadStore } from './upload-store.js';
import { openedStore, type MetadataSuiteOptions } from './store-suite.js';

/**
 * The contract suite of the upload store (upload-store.ts), run by every
 * metadata backend. Tests use their own upload ids and repositories and end
 * the sessions they start, so one store serves all.
 */
export function runUploadSuite(options: MetadataSuiteOptions): void {
  describe(`upload store: ${options.name}`, { skip: options.skipReason ?? false }, () => {
    const opened = openedStore(options);
    let uploads: UploadStore;
    before(() => {
      uploads = opened.store.uploads;
    });

    it('advances uploads only from the expected size (compare and set)', async () => {
      await uploads.create({ id: 'u1', repository: 'up/a', size: 0, createdAt: 1, updatedAt: 1 });
      assert.equal(await uploads.advance('u1', 0, 100, 2), true);
      assert.equal(await uploads.advance('u1', 0, 200, 3), false, 'a stale writer cannot advance');
      assert.equal((await uploads.get('u1'))?.size, 100);
      assert.deepEqual((await uploads.listStale(3, 10)).map((u) => u.id), ['u1']);
      assert.deepEqual(await uploads.listStale(2, 10), []);
      assert.equal(await uploads.delete('u1'), true);
      assert.equal(await uploads.get('u1'), null);
      assert.equal(await uploads.advance('u1', 100, 200, 4), false);
    });

    it('lists stale sessions least recently touched first, at most `limit`, and refuses an id twice', async () => {
      const at = (id: string, updatedAt: number) => ({ id, repository: 'stale/a', size: 0, createdAt: 1000, updatedAt });
      await uploads.create(at('s-a', 1005));
      await uploads.create(at('s-b', 1003));
      await uploads.create(at('s-c', 1009));
      await assert.rejects(uploads.create(at('s-a', 1001)), 'an id is used once');
      const mine = async (before: number, limit: number) => (await uploads.listStale(before, limit)).filter((u) => u.repository === 'stale/a').map((u) => u.id);
      assert.deepEqual(await mine(10_000, 2), ['s-b', 's-a']);
      assert.deepEqual(await mine(1009, 10), ['s-b', 's-a'], 'touched at `before` is not stale');
      assert.deepEqual(await uploads.get('s-a'), at('s-a', 1005), 'the refused duplicate changed nothing');
      for (const id of ['s-a', 's-b', 's-c']) assert.equal(await uploads.delete(id), true);
      assert.deepEqual(await mine(10_000, 10), []);
    });
  });
}
