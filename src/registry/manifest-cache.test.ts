import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ManifestRecord } from '../metadata/index.js';
import { SqliteStore } from '../metadata/sqlite/sqlite-store.js';
import { BaseDriver } from '../storage/base.js';
import { InMemoryDriver } from '../storage/drivers/inmemory.js';
import { RegistryError } from '../errors/index.js';
import { ManifestCache } from './manifest-cache.js';
import { MediaType } from './media-types.js';
import { Registry } from './registry.js';

function record(digest: string, bytes = 100): ManifestRecord {
  return { repository: 'a/b', digest, mediaType: MediaType.OciManifest, size: bytes, content: Buffer.alloc(bytes), artifactType: null, subject: null, annotations: null, createdAt: 0 };
}

describe('ManifestCache', () => {
  it('answers only for the tag-list version the entry was read under', () => {
    const cache = new ManifestCache();
    cache.set('a/b', 'v1', 3, record('sha256:1'));
    assert.equal(cache.get('a/b', 'v1', 3)?.digest, 'sha256:1');
    assert.equal(cache.get('a/b', 'v1', 4), null, 'the repository\'s tags changed since');
    assert.equal(cache.get('a/b', 'v2', 3), null);
    assert.equal(cache.get('a/bv1', '', 3), null, 'keys of different names never meet');
  });

  it('freezes what it hands out, so no request can change another\'s record', () => {
    const cache = new ManifestCache();
    const m = cache.set('a/b', 'v1', 1, record('sha256:1'));
    assert.ok(Object.isFrozen(m));
    assert.throws(() => { (m as { digest: string }).digest = 'x'; }, TypeError);
  });

  it('is bounded by bytes as well as entries, dropping the least recently used', () => {
    const cache = new ManifestCache({ maxEntries: 100, maxBytes: 10_000 });
    for (let i = 0; i < 10; i++) cache.set('a/b', `t${i}`, 1, record(`sha256:${i}`, 2_000));
    assert.ok(cache.size <= 4, `at most 4 entries of ~2.3 KB fit in 10 KB, kept ${cache.size}`);
    assert.equal(cache.get('a/b', 't9', 1)?.digest, 'sha256:9');
    assert.equal(cache.get('a/b', 't0', 1), null);
  });
});

async function* bytes(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/**
 * Two registry cores on one SQLite file, each with its own connection and
 * manifest cache: two instances (or a server and a CLI process) sharing
 * the database. What one changes, the other must serve at once.
 */
describe('Manifest pulls by tag across instances sharing a database', () => {
  let dir: string;
  const stores: SqliteStore[] = [];
  let a: Registry;
  let b: Registry;
  let resolved = 0;
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}');

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-mcache-'));
    const file = path.join(dir, 'berth.db');
    const storage = new BaseDriver(new InMemoryDriver());
    for (let i = 0; i < 2; i++) {
      const s = new SqliteStore({ path: file });
      await s.init();
      stores.push(s);
    }
    const [sa, sb] = stores as [SqliteStore, SqliteStore];
    // Count the full lookups of instance b: a cache hit reads only the version.
    const inner = sb.content.resolveTag.bind(sb.content);
    sb.content.resolveTag = (repo, tag) => { resolved++; return inner(repo, tag); };
    a = new Registry({ storage, metadata: sa, deleteEnabled: true, readOnly: false, manifestMaxBytes: 1 << 20 });
    b = new Registry({ storage, metadata: sb, deleteEnabled: true, readOnly: false, manifestMaxBytes: 1 << 20 });
    await a.putBlob('c/app', sha256(config), bytes(config));
  });
  after(async () => {
    for (const s of stores) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function push(tag: string, n: number): Promise<string> {
    const body = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaType.OciManifest, annotations: { n: String(n) },
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length }, layers: [],
    }));
    return (await a.putManifest('c/app', tag, body, MediaType.OciManifest)).digest;
  }

  async function unknown(p: Promise<unknown>): Promise<void> {
    await assert.rejects(p, (err: unknown) => err instanceof RegistryError && err.code === 'MANIFEST_UNKNOWN');
  }

  it('serves a repeated pull from the cache, and a tag moved elsewhere at once', async () => {
    const first = await push('v1', 1);
    assert.equal((await b.getManifest('c/app', 'v1')).digest, first);
    const before = resolved;
    assert.equal((await b.getManifest('c/app', 'v1')).digest, first);
    assert.equal(resolved, before, 'the second pull did not look the tag up again');

    const second = await push('v1', 2);
    assert.notEqual(second, first);
    assert.equal((await b.getManifest('c/app', 'v1')).digest, second, 'the move on instance a is seen by b');
    assert.equal(resolved, before + 1);
  });

  it('forgets a tag deleted elsewhere, alone or with its manifest', async () => {
    const digest = await push('gone', 3);
    await push('kept', 3);
    assert.equal((await b.getManifest('c/app', 'gone')).digest, digest);
    assert.equal((await b.getManifest('c/app', 'kept')).digest, digest);
    await a.deleteManifest('c/app', 'gone');
    await unknown(b.getManifest('c/app', 'gone'));
    assert.equal((await b.getManifest('c/app', 'kept')).digest, digest, 'the manifest stays for its other tag');
    await a.deleteManifest('c/app', digest);
    await unknown(b.getManifest('c/app', 'kept'));
  });

  it('forgets a tag deleted in the database by another part (garbage collection, fsck) at once', async () => {
    const digest = await push('direct', 4);
    assert.equal((await b.getManifest('c/app', 'direct')).digest, digest);
    assert.equal(await (stores[0] as SqliteStore).content.deleteTag('c/app', 'direct'), digest);
    await unknown(b.getManifest('c/app', 'direct'));
  });

  it('answers MANIFEST_UNKNOWN for a tag of a repository that does not exist', async () => {
    await unknown(b.getManifest('nowhere/app', 'v1'));
  });
});
