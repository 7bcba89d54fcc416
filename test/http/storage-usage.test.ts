import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { startTestBerth, sha256, errorCode, type TestBerth } from '../helpers/berth.js';
import type { StorageDriver } from '../../src/storage/index.js';
import type { StorageUsage } from '../../src/metadata/index.js';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const admin = { Authorization: `Basic ${Buffer.from('admin:admin-password-1').toString('base64')}` };

/** Bytes of every object under the blob folders: what the storage actually holds for blobs. */
async function storedBytes(storage: StorageDriver): Promise<number> {
  let sum = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const name of await storage.list(dir)) {
      const info = await storage.stat(`${dir}/${name}`);
      if (info) sum += info.size;
      else await walk(`${dir}/${name}`);
    }
  };
  await walk('/blobs');
  await walk('/blobdata');
  return sum;
}

describe('storage usage (GET /api/v1/storage, berth df)', () => {
  let t: TestBerth;
  before(async () => {
    t = await startTestBerth({ REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: 'admin-password-1', REGISTRY_GC_ENABLED: 'false' });
  });
  after(async () => {
    await t.close();
  });

  /** Stores a blob through the registry core (token auth is on, for the admin API), as a push would. */
  async function put(repo: string, data: string): Promise<{ digest: string; size: number }> {
    const bytes = Buffer.from(data);
    async function* body() { yield bytes; }
    const digest = sha256(bytes);
    await t.berth.registry.putBlob(repo, digest, body());
    return { digest, size: bytes.length };
  }

  async function usage(): Promise<StorageUsage> {
    const res = await fetch(`${t.url}/api/v1/storage`, { headers: admin });
    assert.equal(res.status, 200);
    return await res.json() as StorageUsage;
  }

  /** The API's total is what the storage holds, at every step. */
  async function assertExact(): Promise<StorageUsage> {
    const u = await usage();
    assert.equal(u.total.bytes, await storedBytes(t.berth.storage), 'total bytes equal the bytes in storage');
    // What /metrics reads (one aggregate) is the same total.
    assert.deepEqual(await t.berth.metadata.gc.totals(), { blobs: u.total.blobs, bytes: u.total.bytes });
    return u;
  }

  it('is exact after pushes, mounts, deletes and garbage collection; a shared layer counts once', async () => {
    // Content goes in through the registry core (token auth is on, for the admin API).
    const core = t.berth.registry;
    await put('df/a', 'B'.repeat(1000));
    const onlyA = await put('df/a', 'A'.repeat(300));
    await put('df/b', 'B'.repeat(1000)); // the same layer in b: stored once
    const onlyB = await put('df/b', 'b'.repeat(70));
    let u = await assertExact();
    const row = (name: string) => u.repositories.find((r) => r.repository === name);
    assert.deepEqual(row('df/a'), { repository: 'df/a', blobs: 2, bytes: 1300, uniqueBytes: 300, sharedBytes: 1000, manifests: 0, manifestBytes: 0, tags: 0 });
    assert.deepEqual(row('df/b'), { repository: 'df/b', blobs: 2, bytes: 1070, uniqueBytes: 70, sharedBytes: 1000, manifests: 0, manifestBytes: 0, tags: 0 });
    assert.deepEqual([u.total.blobs, u.total.bytes, u.total.sharedBytes, u.total.unreferencedBytes], [3, 1370, 1000, 1370]);

    // A mount adds a link, not bytes.
    assert.ok(await core.mountBlob('df/c', 'df/a', onlyA.digest));
    u = await assertExact();
    assert.deepEqual([row('df/a')?.uniqueBytes, row('df/c')?.bytes, row('df/c')?.sharedBytes, u.total.bytes, u.total.sharedBytes], [0, 300, 300, 1370, 1300]);

    // A blob delete unlinks; the bytes stay until garbage collection.
    await core.deleteBlob('df/b', onlyB.digest);
    u = await assertExact();
    assert.deepEqual([row('df/b')?.blobs, row('df/b')?.bytes, u.total.bytes], [1, 1000, 1370]);
    const gc = await t.berth.gc.run({ graceMs: 0, trigger: 'test' });
    u = await assertExact();
    assert.deepEqual([gc.blobsDeleted, gc.bytesFreed, u.total.bytes, u.total.blobs], [3, 1370, 0, 0], 'nothing referenced it: all of it goes');
  });

  it('counts manifests and tags, and what garbage collection may free', async () => {
    const core = t.berth.registry;
    const config = await put('df/img', `{"seed":"${randomUUID()}"}`);
    const layer = await put('df/img', 'L'.repeat(500));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
    }));
    await core.putManifest('df/img', 'v1', manifest, 'application/vnd.oci.image.manifest.v1+json');
    const orphan = await put('df/img', 'o'.repeat(9));
    const u = await assertExact();
    const img = u.repositories.find((r) => r.repository === 'df/img');
    assert.deepEqual(img, { repository: 'df/img', blobs: 3, bytes: config.size + 500 + 9, uniqueBytes: config.size + 509, sharedBytes: 0, manifests: 1, manifestBytes: manifest.length, tags: 1 });
    assert.equal(u.total.unreferencedBytes, orphan.size);

    // berth df --json reads the same numbers from the database.
    const cli = await run(process.execPath, [BIN, 'df', '--json', '--data-dir', t.dataDir], { env: cliEnv() });
    const fromCli = JSON.parse(cli.stdout) as StorageUsage;
    assert.deepEqual(fromCli, u);
    const text = await run(process.execPath, [BIN, 'df', '--data-dir', t.dataDir], { env: cliEnv() });
    assert.match(text.stdout, /^REPOSITORY\s+MANIFESTS\s+TAGS\s+BLOBS\s+SIZE\s+SHARED SIZE\s+UNIQUE SIZE$/m);
    assert.match(text.stdout, new RegExp(`^df/img\\s+1\\s+1\\s+3\\s+${config.size + 509}B\\s+0B\\s+${config.size + 509}B$`, 'm'));
  });

  /** The CLI on the test's database (its SQLite file in the data folder, or its PostgreSQL database). */
  function cliEnv(): NodeJS.ProcessEnv {
    return { ...process.env, REGISTRY_AUTH: 'token', ...(t.databaseUrl ? { BERTH_DATABASE_URL: t.databaseUrl } : {}) };
  }

  it('is for administrators only', async () => {
    const res = await fetch(`${t.url}/api/v1/storage`);
    assert.equal(res.status, 401);
    assert.equal(await errorCode(res), 'UNAUTHORIZED');
  });
});
