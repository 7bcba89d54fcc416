import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { startTestBerth, sha256, pushBlob, pushImage, errorCode, type TestBerth, type PushedImage } from '../helpers/berth.js';
import { createScratchDatabase, postgresSkipReason, type ScratchDatabase } from '../helpers/postgres.js';
import { sharedTestS3 } from '../helpers/s3.js';
import { RegistryError } from '../../src/errors/index.js';
import type { StorageDriver } from '../../src/storage/index.js';
import type { Berth } from '../../src/app.js';
import { storedObjects } from '../helpers/storage.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

async function putManifest(url: string, repo: string, reference: string, body: unknown, type = OCI_MANIFEST): Promise<string> {
  const bytes = Buffer.from(JSON.stringify(body));
  const res = await fetch(`${url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: bytes, headers: { 'Content-Type': type } });
  if (res.status !== 201) throw new Error(`manifest push failed: ${res.status} ${await res.text()}`);
  return sha256(bytes);
}

async function status(url: string, repo: string, kind: 'manifests' | 'blobs', digest: string): Promise<number> {
  return (await fetch(`${url}/v2/${repo}/${kind}/${digest}`, { method: 'HEAD', headers: { Accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } })).status;
}

/** An artifact manifest whose subject is `subject` (a signature or SBOM). */
async function pushReferrer(url: string, repo: string, subject: PushedImage, artifactType: string, reference?: string): Promise<string> {
  const blob = `payload-${randomUUID()}`;
  const digest = await pushBlob(url, repo, blob);
  const body = {
    schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: await pushBlob(url, repo, '{}'), size: 2 },
    layers: [{ mediaType: 'application/octet-stream', digest, size: blob.length }],
    subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.manifest.length },
  };
  const bytes = Buffer.from(JSON.stringify(body));
  return putManifest(url, repo, reference ?? sha256(bytes), body);
}

describe('garbage collection', () => {
  let t: TestBerth;
  before(async () => {
    t = await startTestBerth({ REGISTRY_GC_ENABLED: 'false' });
  });
  after(async () => {
    await t.close();
  });

  it('dry run lists without deleting; a run frees exactly the bytes the storage loses; what is referenced stays', async () => {
    const kept = await pushImage(t.url, 'gc/keep', 'v1', { layers: ['shared layer', 'kept layer'] });
    const orphan1 = await pushBlob(t.url, 'gc/orphans', 'orphan one');
    const orphan2 = await pushBlob(t.url, 'gc/orphans', 'orphan two, longer');
    const shared = sha256('shared layer');
    await pushBlob(t.url, 'gc/orphans', 'shared layer'); // linked here, referenced by gc/keep's manifest
    const before = await storedObjects(t.berth.storage);

    const dry = await t.berth.gc.run({ dryRun: true, graceMs: 0, trigger: 'test' });
    assert.deepEqual(dry.blobs.map((b) => b.digest).sort(), [orphan1, orphan2].sort());
    assert.equal(dry.bytesFreed, 'orphan one'.length + 'orphan two, longer'.length);
    assert.deepEqual(await storedObjects(t.berth.storage), before, 'a dry run deletes nothing');
    assert.equal(await status(t.url, 'gc/orphans', 'blobs', orphan1), 200);

    const run = await t.berth.gc.run({ graceMs: 0, trigger: 'test' });
    assert.deepEqual([run.blobsDeleted, run.manifestsDeleted, run.dryRun], [2, 0, false]);
    const after = await storedObjects(t.berth.storage);
    assert.equal(total(before) - total(after), run.bytesFreed, 'freed bytes are what the storage lost');
    assert.equal(before.size - after.size, 2);
    assert.equal(await status(t.url, 'gc/orphans', 'blobs', orphan1), 404);
    assert.equal(await status(t.url, 'gc/orphans', 'blobs', shared), 200, 'a blob another repository references stays everywhere it is linked');
    for (const d of [kept.config, ...kept.layers]) assert.equal(await status(t.url, 'gc/keep', 'blobs', d), 200);
    assert.equal(await status(t.url, 'gc/keep', 'manifests', kept.digest), 200);
    // An untagged manifest keeps its blobs unless asked to delete untagged manifests.
    const untagged = await pushImage(t.url, 'gc/untagged', 'tmp', { layers: ['untagged layer'] });
    assert.equal((await fetch(`${t.url}/v2/gc/untagged/manifests/tmp`, { method: 'DELETE' })).status, 202);
    assert.equal((await t.berth.gc.run({ graceMs: 0, trigger: 'test' })).blobsDeleted, 0);
    assert.equal(await status(t.url, 'gc/untagged', 'manifests', untagged.digest), 200);
  });

  it('keeps what is younger than the grace period', async () => {
    const fresh = await pushBlob(t.url, 'gc/fresh', `fresh ${randomUUID()}`);
    const run = await t.berth.gc.run({ graceMs: 3_600_000, trigger: 'test' });
    assert.equal(run.blobs.some((b) => b.digest === fresh), false);
    assert.equal(await status(t.url, 'gc/fresh', 'blobs', fresh), 200);
    // A blob mounted now is kept, however old and unreferenced it was.
    const old = await pushBlob(t.url, 'gc/mount-src', `mounted ${randomUUID()}`);
    const graceMs = 100;
    const oldEnough = Date.now() + graceMs + 10;
    while (Date.now() < oldEnough) await new Promise((r) => setTimeout(r, 10)); // until the blob is older than the grace period
    const mount = await fetch(`${t.url}/v2/gc/mount-dst/blobs/uploads/?mount=${old}&from=gc/mount-src`, { method: 'POST' });
    assert.equal(mount.status, 201);
    const run2 = await t.berth.gc.run({ graceMs, trigger: 'test' });
    assert.equal(run2.blobs.some((b) => b.digest === old), false, 'the fresh link keeps it');
    assert.equal(await status(t.url, 'gc/mount-dst', 'blobs', old), 200);
    assert.equal(await status(t.url, 'gc/mount-src', 'blobs', old), 200);
  });

  it('a chunked upload that lasts longer than the grace period survives runs meanwhile, even when its bytes were garbage being collected', async () => {
    const graceMs = 100;
    const pastGrace = async () => {
      const until = Date.now() + graceMs + 10;
      while (Date.now() < until) await new Promise((r) => setTimeout(r, 10)); // until what came before is older than the grace period
    };
    // Two uploads: new bytes, and bytes that are also an old unreferenced blob the runs delete meanwhile.
    const fresh = Buffer.from(`slow chunked ${randomUUID()} `.repeat(200));
    const revived = Buffer.from(`slow garbage ${randomUUID()} `.repeat(200));
    const garbage = await pushBlob(t.url, 'gc/slow-garbage', revived.toString());
    const uploads: { data: Buffer; location: string }[] = [];
    for (const data of [fresh, revived]) {
      const start = await fetch(`${t.url}/v2/gc/slow/blobs/uploads/`, { method: 'POST' });
      assert.equal(start.status, 202);
      const location = new URL(start.headers.get('location') as string, t.url).toString();
      const half = data.length / 2;
      const patch = await fetch(location, { method: 'PATCH', body: new Uint8Array(data.subarray(0, half)), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${half - 1}` } });
      assert.equal(patch.status, 202);
      uploads.push({ data, location: new URL(patch.headers.get('location') as string, t.url).toString() });
    }
    await pastGrace();
    const during = await t.berth.gc.run({ graceMs, deleteUntagged: true, trigger: 'test' });
    assert.equal(during.blobs.some((b) => b.digest === garbage), true, 'the old garbage went');
    assert.equal(during.blobs.some((b) => b.digest === sha256(fresh)), false);
    await pastGrace();
    const pushed: string[] = [];
    for (const { data, location } of uploads) {
      const half = data.length / 2;
      const patch = await fetch(location, { method: 'PATCH', body: new Uint8Array(data.subarray(half)), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${half}-${data.length - 1}` } });
      assert.equal(patch.status, 202);
      const digest = sha256(data);
      const done = await fetch(`${new URL(patch.headers.get('location') as string, t.url).toString()}${patch.headers.get('location')?.includes('?') ? '&' : '?'}digest=${digest}`, { method: 'PUT' });
      assert.equal(done.status, 201, await done.text());
      pushed.push(digest);
    }
    // Both serve their own bytes; once a tagged manifest references them, a run with no grace at all keeps them.
    const check = async (when: string) => {
      for (const digest of pushed) {
        const res = await fetch(`${t.url}/v2/gc/slow/blobs/${digest}`);
        assert.equal(res.status, 200, `${when}: ${digest}`);
        assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest, `${when}: ${digest} bytes`);
      }
    };
    await check('completed');
    const config = await pushBlob(t.url, 'gc/slow', '{}');
    await putManifest(t.url, 'gc/slow', 'latest', {
      schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: pushed.map((digest, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: (i === 0 ? fresh : revived).length })),
    });
    const after = await t.berth.gc.run({ graceMs: 0, deleteUntagged: true, trigger: 'test' });
    assert.equal(after.blobs.some((b) => pushed.includes(b.digest)), false);
    await check('after a run');
  });

  it('--delete-untagged: untagged manifests go with their referrers and signatures; children of a tagged index and referrers of kept subjects stay', async () => {
    const url = t.url;
    const repo = 'gc/graph';
    const tagged = await pushImage(url, repo, 'v1', { layers: [`tagged ${randomUUID()}`] });
    const sbomOfTagged = await pushReferrer(url, repo, tagged, 'application/spdx+json');
    const doomed = await pushImage(url, repo, 'doomed', { layers: [`doomed ${randomUUID()}`] });
    const sigOfDoomed = await pushReferrer(url, repo, doomed, 'application/vnd.dev.cosign.artifact.sig.v1+json');
    const cosignTag = `${doomed.digest.replace(':', '-')}.sig`;
    const cosignSig = await pushImage(url, repo, cosignTag, { layers: [`cosign sig ${randomUUID()}`] });
    assert.equal((await fetch(`${url}/v2/${repo}/manifests/doomed`, { method: 'DELETE' })).status, 202); // untag
    // A tagged index with two untagged children.
    const childA = await pushImage(url, repo, 'tmp-a', { layers: [`child a ${randomUUID()}`] });
    const childB = await pushImage(url, repo, 'tmp-b', { layers: [`child b ${randomUUID()}`] });
    for (const tag of ['tmp-a', 'tmp-b']) assert.equal((await fetch(`${url}/v2/${repo}/manifests/${tag}`, { method: 'DELETE' })).status, 202);
    const index = await putManifest(url, repo, 'multi', {
      schemaVersion: 2, mediaType: OCI_INDEX,
      manifests: [childA, childB].map((c) => ({ mediaType: OCI_MANIFEST, digest: c.digest, size: c.manifest.length, platform: { architecture: 'amd64', os: 'linux' } })),
    }, OCI_INDEX);

    const dry = await t.berth.gc.run({ dryRun: true, deleteUntagged: true, graceMs: 0, trigger: 'test' });
    const expected = [doomed.digest, sigOfDoomed, cosignSig.digest].sort();
    assert.deepEqual(dry.manifests.filter((m) => m.repository === repo).map((m) => m.digest).sort(), expected);
    assert.equal(await status(url, repo, 'manifests', doomed.digest), 200, 'dry run');

    const run = await t.berth.gc.run({ deleteUntagged: true, graceMs: 0, trigger: 'test' });
    assert.deepEqual(run.manifests.filter((m) => m.repository === repo).map((m) => m.digest).sort(), expected);
    for (const d of expected) assert.equal(await status(url, repo, 'manifests', d), 404, d);
    assert.equal((await fetch(`${url}/v2/${repo}/manifests/${cosignTag}`)).status, 404, 'the cosign tag went with its subject');
    for (const d of [tagged.digest, sbomOfTagged, index, childA.digest, childB.digest]) assert.equal(await status(url, repo, 'manifests', d), 200, d);
    for (const d of doomed.layers) assert.equal(await status(url, repo, 'blobs', d), 404, 'the untagged manifest\'s own layer is gone too');
    for (const d of [...childA.layers, ...childB.layers, ...tagged.layers]) assert.equal(await status(url, repo, 'blobs', d), 200);
    const referrers = await (await fetch(`${url}/v2/${repo}/referrers/${tagged.digest}`)).json() as { manifests: { digest: string }[] };
    assert.deepEqual(referrers.manifests.map((m) => m.digest), [sbomOfTagged]);
  });

  it('refuses a second run while one holds the lease (BERTH_CONFLICT)', async () => {
    const lease = await t.berth.metadata.leases.acquire('gc', 'someone-else', Date.now() + 60_000, Date.now());
    assert.equal(lease, true);
    try {
      await assert.rejects(t.berth.gc.run({ graceMs: 0, trigger: 'test' }), (err: unknown) => err instanceof RegistryError && err.code === 'BERTH_CONFLICT');
    } finally {
      await t.berth.metadata.leases.release('gc', 'someone-else');
    }
  });
});

describe('garbage collection API', () => {
  let t: TestBerth;
  const admin = { Authorization: `Basic ${Buffer.from('admin:admin-password-1').toString('base64')}` };
  before(async () => {
    t = await startTestBerth({ REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: 'admin-password-1', REGISTRY_GC_ENABLED: 'false' });
  });
  after(async () => {
    await t.close();
  });

  it('POST /api/v1/gc runs one and reports it; GET lists runs; admins only; bad parameters are 400 BERTH_INVALID', async () => {
    const data = Buffer.from(`api orphan ${randomUUID()}`);
    async function* body() { yield data; }
    await t.berth.registry.putBlob('api/orphans', sha256(data), body());
    const dry = await fetch(`${t.url}/api/v1/gc?dry-run=true&grace=0s`, { method: 'POST', headers: admin });
    assert.equal(dry.status, 200);
    const dryReport = await dry.json() as { dryRun: boolean; blobsDeleted: number; bytesFreed: number };
    assert.deepEqual([dryReport.dryRun, dryReport.blobsDeleted, dryReport.bytesFreed], [true, 1, data.length]);
    const res = await fetch(`${t.url}/api/v1/gc?grace=0s`, { method: 'POST', headers: admin });
    assert.equal(res.status, 200);
    const report = await res.json() as { blobsDeleted: number; bytesFreed: number; trigger: string; durationMs: number };
    assert.deepEqual([report.blobsDeleted, report.bytesFreed, report.trigger], [1, data.length, 'api:admin']);
    const runs = await (await fetch(`${t.url}/api/v1/gc?n=2`, { headers: admin })).json() as { runs: { status: string; dryRun: boolean; blobs: number; bytes: number }[] };
    assert.deepEqual(runs.runs.map((r) => [r.status, r.dryRun, r.blobs, r.bytes]), [['succeeded', false, 1, data.length], ['succeeded', true, 1, data.length]]);
    const bad = await fetch(`${t.url}/api/v1/gc?grace=soon`, { method: 'POST', headers: admin });
    assert.equal(bad.status, 400);
    assert.equal(await errorCode(bad), 'BERTH_INVALID');
    const anonymous = await fetch(`${t.url}/api/v1/gc`, { method: 'POST' });
    assert.equal(anonymous.status, 401);
    assert.equal(await errorCode(anonymous), 'UNAUTHORIZED');
  });
});

/**
 * The torture test: garbage collection in a loop during 100 concurrent
 * pushes, some of which upload or mount blobs that were garbage (old and
 * unreferenced) when the collection started: exactly the blobs it is
 * deleting. Then everything acknowledged is pulled and every digest checked.
 */
async function torture(urls: string[], instances: [Berth, ...Berth[]]): Promise<string> {
  // Longer than one push takes with 100 at once on 2 cores: shorter, and blobs go between their upload and their manifest (the client then uploads again).
  const graceMs = 12_000;
  const garbage = Array.from({ length: 60 }, (_, i) => `garbage ${i} ${randomUUID()} `.repeat(50 + i));
  const garbageDigests = await Promise.all(garbage.map((g, i) => pushBlob(urls[i % urls.length] as string, 'torture/garbage', g)));
  const oldEnough = Date.now() + graceMs + 20;
  while (Date.now() < oldEnough) await new Promise((r) => setTimeout(r, 25)); // until the garbage is older than the grace period
  let stop = false;
  let runs = 0;
  let freed = 0;
  const loops = instances.map(async (berth) => {
    while (!stop) {
      try {
        // Not `freed += await …`: that reads `freed` before the await, and the other instance's loop adds in between.
        const report = await berth.gc.run({ graceMs, deleteUntagged: true, trigger: 'torture' });
        freed += report.bytesFreed;
        runs++;
        await new Promise((r) => setTimeout(r, 50)); // back to back, with a breath for the pushes on a 2-core machine
      } catch (err) {
        if (!(err instanceof RegistryError && err.code === 'BERTH_CONFLICT')) throw err;
        await new Promise((r) => setImmediate(r));
      }
    }
  });
  let retries = 0;
  const pushes = Array.from({ length: 100 }, async (_, i): Promise<{ repo: string; tag: string; image: PushedImage }> => {
    const url = urls[i % urls.length] as string;
    const repo = `torture/r${i % 10}`;
    const layers = [`unique ${i} ${randomUUID()}`.repeat(20), `base ${i % 5}`.repeat(100)];
    if (i < 40) layers.push(garbage[i] as string); // revives a blob the collection is sweeping
    if (i % 4 === 0) await fetch(`${url}/v2/${repo}/blobs/uploads/?mount=${garbageDigests[(i + 1) % 40]}&from=torture/garbage`, { method: 'POST' });
    for (let attempt = 0; ; attempt++) {
      try {
        return { repo, tag: `t${i}`, image: await pushImage(url, repo, `t${i}`, { layers }) };
      } catch (err) {
        // What a client sees when the collection took a blob between its upload and its manifest: upload again.
        if (attempt >= 5 || !/BLOB_UPLOAD_INVALID|MANIFEST_BLOB_UNKNOWN/.test((err as Error).message)) throw err;
        retries++;
      }
    }
  });
  const pushed = await Promise.all(pushes);
  stop = true;
  await Promise.all(loops);
  const stats = `${runs} runs during the pushes, ${retries} push retries, ${freed} bytes freed meanwhile`;
  assert.ok(runs >= 2, stats);
  // Garbage 40 to 59 is never revived and was older than the grace period before the first run began.
  const neverRevived = garbage.slice(40).reduce((sum, g) => sum + Buffer.byteLength(g), 0);
  assert.ok(freed >= neverRevived, `the garbage nobody revives (${neverRevived} bytes) was deleted while the pushes ran (${stats})`);
  await instances[0].gc.run({ graceMs: 0, deleteUntagged: true, trigger: 'torture' });

  for (const [i, { repo, tag, image }] of pushed.entries()) {
    const url = urls[(i + 1) % urls.length] as string;
    const m = await fetch(`${url}/v2/${repo}/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(m.status, 200, `${repo}:${tag}`);
    assert.equal(sha256(Buffer.from(await m.arrayBuffer())), image.digest);
    for (const d of [image.config, ...image.layers]) {
      const b = await fetch(`${url}/v2/${repo}/blobs/${d}`);
      assert.equal(b.status, 200, `${repo}:${tag} ${d}`);
      assert.equal(sha256(Buffer.from(await b.arrayBuffer())), d, `${repo}:${tag} ${d} bytes`);
    }
  }
  for (const d of garbageDigests.slice(41)) assert.equal(await status(urls[0] as string, 'torture/garbage', 'blobs', d), 404, 'garbage nobody revived is gone');
  const usage = await instances[0].metadata.gc.usage();
  assert.equal(usage.total.bytes, total(await storedObjects(instances[0].storage)), 'usage is what the storage holds');
  return stats;
}

describe('garbage collection during 100 concurrent pushes (torture)', () => {
  let t: TestBerth;
  before(async () => {
    t = await startTestBerth({ REGISTRY_GC_ENABLED: 'false' });
  });
  after(async () => {
    await t.close();
  });

  it('loses nothing that was acknowledged, and frees the rest', { timeout: 120_000 }, async (ctx) => {
    ctx.diagnostic(await torture([t.url], [t.berth]));
  });
});

describe('garbage collection on two instances sharing PostgreSQL and the blob storage (torture)', { skip: postgresSkipReason() }, () => {
  let db: ScratchDatabase;
  let folder: string;
  let one: TestBerth;
  let two: TestBerth;
  before(async () => {
    db = await createScratchDatabase();
    folder = await mkdtemp(path.join(tmpdir(), 'berth-gc-'));
    const storage: Record<string, string> = process.env.BERTH_TEST_STORAGE === 's3'
      ? { REGISTRY_STORAGE_REDIRECT_DISABLE: 'true', ...(await sharedTestS3()).env({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `gc-${randomUUID()}` }) }
      : { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: folder };
    const env = { BERTH_DATABASE_URL: db.url, REGISTRY_GC_ENABLED: 'false', ...storage };
    one = await startTestBerth(env);
    two = await startTestBerth(env);
  });
  after(async () => {
    await one?.close();
    await two?.close();
    await db?.drop();
    await rm(folder, { recursive: true, force: true });
  });

  it('loses nothing that was acknowledged, with both instances collecting', { timeout: 120_000 }, async (ctx) => {
    ctx.diagnostic(await torture([one.url, two.url], [one.berth, two.berth]));
  });
});
