import { createHash } from 'node:crypto';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../metadata/sqlite/sqlite-store.js';
import { BaseDriver } from '../storage/base.js';
import { InMemoryDriver } from '../storage/drivers/inmemory.js';
import { Registry } from './registry.js';
import { UploadPurge } from './maintenance/upload-purge.js';
import { storedDataPath, uploadDataPath } from './layout.js';
import { InPlacePlacement, RenamePlacement } from './placement.js';
import { RegistryError } from '../errors/index.js';

async function* bytes(s: string): AsyncGenerator<Buffer> {
  yield Buffer.from(s);
}

function sha256(s: string): string {
  return `sha256:${createHash('sha256').update(s).digest('hex')}`;
}

async function readAll(r: AsyncIterable<unknown>): Promise<string> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(out).toString();
}

/** A registry on in-memory storage and SQLite, made before and closed after the enclosing describe's tests. */
function registryFixture(copiesOnMove: boolean): { metadata: SqliteStore; storage: BaseDriver; registry: Registry } {
  const f = {} as { metadata: SqliteStore; storage: BaseDriver; registry: Registry };
  before(async () => {
    f.metadata = new SqliteStore({ path: ':memory:' });
    await f.metadata.init();
    f.storage = new BaseDriver(new InMemoryDriver({ copiesOnMove }));
    f.registry = new Registry({ storage: f.storage, metadata: f.metadata, deleteEnabled: true, readOnly: false, manifestMaxBytes: 1024 });
  });
  after(async () => {
    await f.metadata.close();
  });
  return f;
}

describe('Registry core', () => {
  const f = registryFixture(false);

  it('renames uploads to their content address where a move does not copy', () => {
    assert.ok(f.registry.placement instanceof RenamePlacement);
  });

  it('purges stale upload sessions and orphaned upload data, keeping fresh ones', async () => {
    const stale = await f.registry.startUpload('purge/a');
    await f.registry.appendUpload('purge/a', stale.id, bytes('old'));
    const orphan = '0b6c1f2e-0000-4000-8000-00000000abcd';
    await f.storage.putContent(uploadDataPath(orphan), Buffer.from('crash leftovers'));
    const later = Date.now() + 60_000;
    const fresh = await f.registry.startUpload('purge/a');

    const dry = await new UploadPurge(f.registry).run(30_000, { dryRun: true, now: later });
    assert.deepEqual(dry.sort(), [stale.id, fresh.id, orphan].sort(), 'everything older than 30 s at now+60 s');
    assert.ok(await f.metadata.uploads.get(stale.id), 'a dry run deletes nothing');

    const purged = await new UploadPurge(f.registry).run(120_000, { now: later });
    assert.deepEqual(purged, [], 'nothing is older than two minutes');
    const purgedNow = await new UploadPurge(f.registry).run(30_000, { now: later });
    assert.deepEqual(purgedNow.sort(), [stale.id, fresh.id, orphan].sort());
    assert.equal(await f.metadata.uploads.get(stale.id), null);
    assert.equal(await f.storage.stat(uploadDataPath(stale.id)), null);
    assert.equal(await f.storage.stat(uploadDataPath(orphan)), null);
  });

  it('serialises concurrent chunks to one session: the second sees the new offset', async () => {
    const u = await f.registry.startUpload('conc/a');
    const results = await Promise.allSettled([
      f.registry.appendUpload('conc/a', u.id, bytes('aaaa'), { range: { start: 0, end: 3 } }),
      f.registry.appendUpload('conc/a', u.id, bytes('bbbb'), { range: { start: 0, end: 3 } }),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(rejected.reason instanceof RegistryError && rejected.reason.status === 416);
    assert.equal((await f.registry.getUpload('conc/a', u.id)).size, 4);
  });

  it('ends a session whose stored bytes ran ahead of its record (a write that died before being recorded)', async () => {
    const u = await f.registry.startUpload('ahead/a');
    await f.storage.append(uploadDataPath(u.id), bytes('written, never recorded'));
    await assert.rejects(
      f.registry.appendUpload('ahead/a', u.id, bytes('next'), { range: { start: 0, end: 3 }, contentLength: 4 }),
      (e: unknown) => e instanceof RegistryError && e.code === 'BLOB_UPLOAD_INVALID' && /start a new upload/.test(e.message),
    );
    await assert.rejects(f.registry.getUpload('ahead/a', u.id), (e: unknown) => e instanceof RegistryError && e.code === 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(await f.storage.stat(uploadDataPath(u.id)), null);
  });

  it('refuses an upload of another repository\'s session', async () => {
    const u = await f.registry.startUpload('own/a');
    await assert.rejects(f.registry.getUpload('own/b', u.id), (e: unknown) => e instanceof RegistryError && e.code === 'BLOB_UPLOAD_UNKNOWN');
  });
});

describe('Registry core on an object store (no rename: blobs stay where they were uploaded)', () => {
  const f = registryFixture(true);

  it('keeps blobs where they were uploaded where a move would copy', () => {
    assert.ok(f.registry.placement instanceof InPlacePlacement);
  });

  it('records the upload\'s own object as the blob, without moving it, and ends the session with the same commit', async () => {
    const u = await f.registry.startUpload('obj/a');
    await f.registry.appendUpload('obj/a', u.id, bytes('hello '), { range: { start: 0, end: 5 }, contentLength: 6 });
    await f.registry.appendUpload('obj/a', u.id, bytes('world'), { range: { start: 6, end: 10 }, contentLength: 5 });
    const blob = await f.registry.completeUpload('obj/a', u.id, sha256('hello world'), null);
    assert.deepEqual(blob, { digest: sha256('hello world'), size: 11, location: storedDataPath(u.id) });
    assert.equal(await f.metadata.uploads.get(u.id), null);
    assert.deepEqual(await f.storage.list('/'), ['blobdata'], 'nothing was copied to a content address');
    assert.equal(await readAll(await f.registry.openBlob(await f.registry.statBlob('obj/a', blob.digest), null)), 'hello world');
    assert.equal(f.registry.blobStoragePath(blob), `blobdata/${u.id}`);
  });

  it('keeps the first copy of a blob pushed twice and deletes the second', async () => {
    const first = await f.registry.putBlob('obj/b', sha256('twice'), bytes('twice'), { contentLength: 5 });
    const u = await f.registry.startUpload('obj/c');
    const second = await f.registry.completeUpload('obj/c', u.id, sha256('twice'), bytes('twice'), { contentLength: 5 });
    assert.equal(second.location, first.location);
    assert.equal(await f.storage.stat(storedDataPath(u.id)), null, 'the duplicate bytes are gone');
    assert.equal(await readAll(await f.registry.openBlob(await f.registry.statBlob('obj/c', second.digest), null)), 'twice');
  });

  it('finishes an upload another instance wrote (no hash state here: the bytes are re-read)', async () => {
    const other = new Registry({ storage: f.storage, metadata: f.metadata, deleteEnabled: true, readOnly: false, manifestMaxBytes: 1024 });
    const u = await other.startUpload('obj/d');
    await other.appendUpload('obj/d', u.id, bytes('from elsewhere'));
    const blob = await f.registry.completeUpload('obj/d', u.id, sha256('from elsewhere'), null);
    assert.equal(blob.location, storedDataPath(u.id));
    await assert.rejects(f.registry.putBlob('obj/d', sha256('right'), bytes('wrong'), { contentLength: 5 }), (e: unknown) => e instanceof RegistryError && e.code === 'DIGEST_INVALID');
    const ids = await f.storage.list('/blobdata');
    const inUse = await f.metadata.content.blobLocationsInUse(ids.map(storedDataPath));
    assert.equal(inUse.length, ids.length, 'a refused upload leaves no bytes behind');
  });

  it('purges stored bytes that neither a session nor a blob owns, never a blob\'s', async () => {
    const kept = await f.registry.putBlob('obj/e', sha256('kept'), bytes('kept'), { contentLength: 4 });
    const stale = await f.registry.startUpload('obj/e');
    await f.registry.appendUpload('obj/e', stale.id, bytes('abandoned'));
    const orphan = '0b6c1f2e-0000-4000-8000-00000000beef';
    await f.storage.putContent(storedDataPath(orphan), Buffer.from('crash leftovers'));
    const purged = await new UploadPurge(f.registry).run(30_000, { now: Date.now() + 60_000 });
    assert.ok(purged.includes(stale.id) && purged.includes(orphan));
    assert.equal(await f.storage.stat(storedDataPath(stale.id)), null);
    assert.equal(await f.storage.stat(storedDataPath(orphan)), null);
    assert.equal(await readAll(await f.registry.openBlob(kept, null)), 'kept');
    for (const id of await f.storage.list('/blobdata')) assert.equal((await f.metadata.content.blobLocationsInUse([storedDataPath(id)])).length, 1, `${id} is a blob`);
  });
});
