import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../metadata/sqlite/sqlite-store.js';
import { BaseDriver } from '../storage/base.js';
import { InMemoryDriver } from '../storage/drivers/inmemory.js';
import { Registry } from './registry.js';
import { uploadDataPath } from './layout.js';
import { RegistryError } from '../errors/index.js';

async function* bytes(s: string): AsyncGenerator<Buffer> {
  yield Buffer.from(s);
}

describe('Registry core', () => {
  let metadata: SqliteStore;
  let storage: BaseDriver;
  let registry: Registry;
  before(async () => {
    metadata = new SqliteStore({ path: ':memory:' });
    await metadata.init();
    storage = new BaseDriver(new InMemoryDriver());
    registry = new Registry({ storage, metadata, deleteEnabled: true, readOnly: false, manifestMaxBytes: 1024 });
  });
  after(async () => {
    await metadata.close();
  });

  it('purges stale upload sessions and orphaned upload data, keeping fresh ones', async () => {
    const stale = await registry.startUpload('purge/a');
    await registry.appendUpload('purge/a', stale.id, bytes('old'));
    const orphan = '0b6c1f2e-0000-4000-8000-00000000abcd';
    await storage.putContent(uploadDataPath(orphan), Buffer.from('crash leftovers'));
    const later = Date.now() + 60_000;
    const fresh = await registry.startUpload('purge/a');

    const dry = await registry.purgeUploads(30_000, { dryRun: true, now: later });
    assert.deepEqual(dry.sort(), [stale.id, fresh.id, orphan].sort(), 'everything older than 30 s at now+60 s');
    assert.ok(await metadata.getUpload(stale.id), 'a dry run deletes nothing');

    const purged = await registry.purgeUploads(120_000, { now: later });
    assert.deepEqual(purged, [], 'nothing is older than two minutes');
    const purgedNow = await registry.purgeUploads(30_000, { now: later });
    assert.deepEqual(purgedNow.sort(), [stale.id, fresh.id, orphan].sort());
    assert.equal(await metadata.getUpload(stale.id), null);
    assert.equal(await storage.stat(uploadDataPath(stale.id)), null);
    assert.equal(await storage.stat(uploadDataPath(orphan)), null);
  });

  it('serialises concurrent chunks to one session: the second sees the new offset', async () => {
    const u = await registry.startUpload('conc/a');
    const results = await Promise.allSettled([
      registry.appendUpload('conc/a', u.id, bytes('aaaa'), { range: { start: 0, end: 3 } }),
      registry.appendUpload('conc/a', u.id, bytes('bbbb'), { range: { start: 0, end: 3 } }),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(rejected.reason instanceof RegistryError && rejected.reason.status === 416);
    assert.equal((await registry.getUpload('conc/a', u.id)).size, 4);
  });

  it('refuses an upload of another repository\'s session', async () => {
    const u = await registry.startUpload('own/a');
    await assert.rejects(registry.getUpload('own/b', u.id), (e: unknown) => e instanceof RegistryError && e.code === 'BLOB_UPLOAD_UNKNOWN');
  });
});
