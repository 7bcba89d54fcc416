import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBerth, errorCode, pushImage, type TestBerth } from '../helpers/berth.js';
import { createScratchDatabase, postgresSkipReason, startTcpProxy, type ScratchDatabase, type TcpProxy } from '../helpers/postgres.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('readiness', () => {
  let t: TestBerth;
  before(async () => {
    t = await startTestBerth();
  });
  after(async () => {
    await t.close();
  });

  it('GET /readyz checks the database and the storage', async () => {
    const res = await fetch(`${t.url}/readyz`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await res.json(), { status: 'ok', checks: { database: 'ok', storage: 'ok' } });
    const head = await fetch(`${t.url}/readyz`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });
});

describe('readiness of the blob folder', () => {
  it('turns 503 when the storage folder is moved away, and 200 again when it is back', async () => {
    const { mkdtemp, rename, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const parent = await mkdtemp(path.join(tmpdir(), 'berth-ready-'));
    const blobs = path.join(parent, 'blobs');
    const t = await startTestBerth({ REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: blobs });
    const state = async () => {
      const res = await fetch(`${t.url}/readyz`);
      return [res.status, ((await res.json()) as { checks: Record<string, string> }).checks.storage] as const;
    };
    /** Polls until the probe shows `status` (a successful write probe is remembered for a second). */
    const until = async (status: number) => {
      let last = await state();
      for (let i = 0; i < 60 && last[0] !== status; i++) {
        await new Promise((r) => setTimeout(r, 100));
        last = await state();
      }
      return last;
    };
    try {
      assert.deepEqual(await state(), [200, 'ok']);
      await rename(blobs, path.join(parent, 'moved'));
      assert.deepEqual(await until(503), [503, 'unavailable']);
      await rename(path.join(parent, 'moved'), blobs);
      assert.deepEqual(await until(200), [200, 'ok']);
    } finally {
      await t.close();
      await rm(parent, { recursive: true, force: true });
    }
  });
});

/**
 * The database goes away under a running Berth (a proxy in front of
 * PostgreSQL is cut), then comes back: requests get 503 BERTH_UNAVAILABLE,
 * never 500, and Berth recovers without a restart.
 */
describe('database outage (PostgreSQL)', { skip: postgresSkipReason() }, () => {
  let db: ScratchDatabase;
  let proxy: TcpProxy;
  let t: TestBerth;
  before(async () => {
    db = await createScratchDatabase();
    proxy = await startTcpProxy(db.url);
    t = await startTestBerth({ BERTH_DATABASE_URL: proxy.url });
  });
  after(async () => {
    await t?.close();
    await proxy?.close();
    await db?.drop();
  });

  it('answers 503 BERTH_UNAVAILABLE while the database is lost, and recovers when it returns', async () => {
    const img = await pushImage(t.url, 'outage/a', 'v1');
    proxy.cut();

    const get = await fetch(`${t.url}/v2/outage/a/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(get.status, 503);
    const body = (await get.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]?.code, 'BERTH_UNAVAILABLE');
    assert.match(body.errors[0]?.message ?? '', /database is unavailable/);
    const push = await fetch(`${t.url}/v2/outage/a/blobs/uploads/`, { method: 'POST' });
    assert.equal(push.status, 503);
    assert.equal(await errorCode(push), 'BERTH_UNAVAILABLE');

    const ready = await fetch(`${t.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(await ready.json(), { status: 'unavailable', checks: { database: 'unavailable', storage: 'ok' } });
    assert.equal((await fetch(`${t.url}/healthz`)).status, 503);

    proxy.restore();
    let res: Response | undefined;
    for (let i = 0; i < 20; i++) {
      res = await fetch(`${t.url}/v2/outage/a/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
      if (res.status !== 503) break;
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(res?.status, 200);
    assert.equal(res?.headers.get('docker-content-digest'), img.digest);
    assert.equal((await fetch(`${t.url}/readyz`)).status, 200);
    await pushImage(t.url, 'outage/a', 'v2');
  });
});
