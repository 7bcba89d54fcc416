import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { startTestBerth, sha256, pushBlob, pushImage, errorCode, type TestBerth } from '../helpers/berth.js';
import { sharedTestS3 } from '../helpers/s3.js';
import { Fsck, type Finding, type FsckReport } from '../../src/fsck/index.js';
import { SparsePolicy } from '../../src/registry/index.js';
import type { StorageDriver } from '../../src/storage/index.js';
import { storedObjects } from '../helpers/storage.js';

/**
 * berth fsck on the test backends (SQLite + filesystem by default;
 * BERTH_TEST_DATABASE=postgres and BERTH_TEST_STORAGE=s3 as CI runs it):
 * the CLI's verdicts and exit codes, and the in-process checker where a
 * test needs its options (the sparse policy, no quiet period).
 */

const BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

const kinds = (r: FsckReport) => r.findings.map((f) => `${f.kind}:${f.reference ?? f.digest ?? f.path}`).sort();

describe('berth fsck', () => {
  let t: TestBerth;
  let storageEnv: Record<string, string> = {};
  before(async () => {
    if (process.env.BERTH_TEST_STORAGE === 's3') {
      storageEnv = { REGISTRY_STORAGE_REDIRECT_DISABLE: 'true', ...(await sharedTestS3()).env({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `fsck-${randomUUID()}` }) };
    }
    t = await startTestBerth({ REGISTRY_GC_ENABLED: 'false', REGISTRY_MANIFESTS_SPARSE_NAMESPACES: 'mirror', ...storageEnv });
  });
  after(async () => {
    await t?.close();
  });

  /** The CLI on the test's database and storage: its exit code, its JSON report (with --json) and its output. */
  async function cli(args: string[], dataDir = t.dataDir): Promise<{ code: number; report: FsckReport | null; stdout: string; stderr: string }> {
    const env = {
      ...process.env, ...storageEnv, REGISTRY_GC_ENABLED: 'false', REGISTRY_MANIFESTS_SPARSE_NAMESPACES: 'mirror',
      ...(t.databaseUrl ? { BERTH_DATABASE_URL: t.databaseUrl } : {}),
    };
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, 'fsck', '--data-dir', dataDir, ...args], { env, timeout: 120_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
    return { code, stdout, stderr, report: args.includes('--json') && stdout ? JSON.parse(stdout) as FsckReport : null };
  }

  /** The checker as the CLI builds it; `quietMs` 0 (unless given) so that what a test just wrote is not taken for work in flight. */
  function checker(sparse = new SparsePolicy(t.berth.config.manifests.sparse), quietMs: number | undefined = 0): Fsck {
    return new Fsck({ metadata: t.berth.metadata, storage: t.berth.registry.storage, placement: t.berth.registry.placement, sparse, instanceId: 'test', quietMs });
  }

  async function blobPath(digest: string): Promise<string> {
    const record = await t.berth.metadata.content.getBlob(digest);
    assert.ok(record, `${digest} is recorded`);
    return t.berth.registry.placement.location(record);
  }

  async function getBlob(repo: string, digest: string): Promise<Response> {
    return fetch(`${t.url}/v2/${repo}/blobs/${digest}`);
  }

  function only(r: FsckReport, kind: Finding['kind']): Finding[] {
    return r.findings.filter((f) => f.kind === kind);
  }

  it('reports a clean registry as clean (exit 0), in JSON and as text; bad usage exits 2', async () => {
    const img = await pushImage(t.url, 'fsck/clean', 'v1', { layers: ['clean layer one', 'clean layer two'] });
    const { code, report, stderr } = await cli(['--json']);
    assert.equal(code, 0, stderr);
    assert.ok(report);
    assert.equal(report.clean, true);
    assert.deepEqual(report.findings, []);
    assert.deepEqual(report.counts, {});
    assert.equal(report.remaining, 0);
    assert.equal(report.checked.blobs, 3);
    assert.equal(report.checked.manifests, 1);
    const config = await t.berth.metadata.content.getBlob(img.config);
    assert.equal(report.checked.bytes, 'clean layer one'.length + 'clean layer two'.length + (config?.size ?? NaN));
    assert.equal(report.repair, false);
    const text = await cli([]);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /^checked 3 blobs \(.*\), 1 manifests, 0 upload sessions, 3 storage objects in /m);
    assert.match(text.stdout, /^clean$/m);
    const bad = await cli(['--no-such-flag']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown option '--no-such-flag'/);
    if (!t.databaseUrl) {
      // A data folder without a database is a mistake in the command, and fsck does not create one there.
      const empty = await mkdtemp(join(tmpdir(), 'berth-fsck-'));
      try {
        const none = await cli([], empty);
        assert.equal(none.code, 2);
        assert.match(none.stderr, /no Berth database at .*berth\.db: run fsck with the server's configuration/);
        assert.deepEqual(await readdir(empty), []);
      } finally {
        await rm(empty, { recursive: true, force: true });
      }
    }
  });

  it('reports a flipped byte as a corrupt blob (exit 1); --repair quarantines it, GET answers 404 BLOB_UNKNOWN, a re-push works and fsck is clean again', async () => {
    const layer = `corrupt me ${randomUUID()}`;
    const img = await pushImage(t.url, 'fsck/corrupt', 'v1', { layers: [layer, `kept ${randomUUID()}`] });
    const digest = img.layers[0] as string;
    const path = await blobPath(digest);
    const bytes = await t.berth.storage.getContent(path);
    bytes[3] = (bytes[3] as number) ^ 0x01;
    await t.berth.storage.putContent(path, bytes);

    const check = await cli(['--json']);
    assert.equal(check.code, 1, check.stderr);
    assert.ok(check.report);
    assert.deepEqual(kinds(check.report), [`broken-manifest:${digest}`, `corrupt-blob:${digest}`]);
    const corrupt = only(check.report, 'corrupt-blob')[0] as Finding;
    assert.deepEqual([corrupt.severity, corrupt.path, corrupt.action, corrupt.repaired], ['error', path, 'quarantine', false]);
    assert.match(corrupt.detail, new RegExp(`hash to ${sha256(bytes)}`));
    const broken = only(check.report, 'broken-manifest')[0] as Finding;
    assert.deepEqual([broken.repository, broken.digest, broken.action], ['fsck/corrupt', img.digest, 'none']);
    assert.equal(check.report.remaining, 2);
    assert.deepEqual(await t.berth.storage.getContent(path), bytes, 'a check changes nothing');
    assert.notEqual(await t.berth.metadata.content.getBlob(digest), null);

    const before = await storedObjects(t.berth.storage);
    const repair = await cli(['--repair', '--json']);
    assert.equal(repair.code, 1, 'the manifest that needs the blob stays broken until the blob is pushed again');
    assert.ok(repair.report);
    const quarantined = only(repair.report, 'corrupt-blob')[0] as Finding;
    assert.equal(quarantined.repaired, true);
    assert.match(quarantined.quarantinedTo ?? '', new RegExp(`^/_quarantine/sha256/${digest.slice(7)}\\.\\d+$`));
    assert.deepEqual(only(repair.report, 'broken-manifest').map((f) => [f.reference, f.repaired]), [[digest, false]]);
    assert.equal(repair.report.remaining, 1);

    // Only the corrupt object left the blob folders; every valid one is there, unchanged.
    const afterRepair = await storedObjects(t.berth.storage);
    const expected = new Map(before);
    expected.delete(path);
    assert.deepEqual(afterRepair, expected);
    assert.deepEqual(await t.berth.storage.getContent(quarantined.quarantinedTo as string), bytes, 'the bad bytes are kept in quarantine');

    const res = await getBlob('fsck/corrupt', digest);
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'BLOB_UNKNOWN');
    assert.equal((await getBlob('fsck/corrupt', img.config)).status, 200);
    assert.equal((await fetch(`${t.url}/v2/fsck/corrupt/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })).status, 200, 'the manifest stays');

    assert.equal(await pushBlob(t.url, 'fsck/corrupt', layer), digest);
    const again = await getBlob('fsck/corrupt', digest);
    assert.equal(again.status, 200);
    assert.equal(await again.text(), layer);
    const clean = await cli(['--json']);
    assert.equal(clean.code, 0, JSON.stringify(clean.report?.findings));
    assert.equal(clean.report?.quarantined, 1);
  });

  it('hashes sha512 blobs with sha512: a clean one passes, a corrupt one is reported with its sha512 hash and quarantined', async () => {
    const sha512 = (data: Uint8Array | string) => `sha512:${createHash('sha512').update(data).digest('hex')}`;
    const data = `sha512 layer ${randomUUID()}`;
    const digest = sha512(data);
    const post = await fetch(`${t.url}/v2/fsck/s5/blobs/uploads/?digest-algorithm=sha512&digest=${digest}`, { method: 'POST', body: data });
    assert.equal(post.status, 201);
    const clean = await checker().run({ repair: false });
    assert.deepEqual(clean.findings.filter((f) => f.kind !== 'sparse'), []);
    const path = await blobPath(digest);
    const bytes = Buffer.from(data);
    bytes[0] = (bytes[0] as number) ^ 0x20;
    await t.berth.storage.putContent(path, bytes);
    const bad = await checker().run({ repair: true });
    assert.deepEqual(bad.findings.filter((f) => f.kind !== 'sparse').map((f) => [f.kind, f.digest, f.detail, f.repaired]), [['corrupt-blob', digest, `the bytes hash to ${sha512(bytes)}`, true]]);
    const res = await getBlob('fsck/s5', digest);
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'BLOB_UNKNOWN');
  });

  it('reports a blob whose bytes were deleted behind the database\'s back; --repair drops the record, the manifest that needs it stays broken', async () => {
    const layer = `delete me ${randomUUID()}`;
    const img = await pushImage(t.url, 'fsck/missing', 'v1', { layers: [layer] });
    const digest = img.layers[0] as string;
    const path = await blobPath(digest);
    assert.equal(await t.berth.storage.delete(path), true);

    const check = await cli(['--json']);
    assert.equal(check.code, 1);
    assert.deepEqual(kinds(check.report as FsckReport), [`broken-manifest:${digest}`, `missing-blob:${digest}`]);
    assert.equal(only(check.report as FsckReport, 'missing-blob')[0]?.action, 'drop-record');
    assert.match(only(check.report as FsckReport, 'broken-manifest')[0]?.detail ?? '', /missing from the storage/);

    const before = await storedObjects(t.berth.storage);
    const repair = await cli(['--repair', '--json']);
    assert.equal(repair.code, 1);
    assert.deepEqual(repair.report?.findings.map((f) => [f.kind, f.repaired]).sort(), [['broken-manifest', false], ['missing-blob', true]]);
    assert.deepEqual(await storedObjects(t.berth.storage), before, 'nothing in the storage changed');
    assert.equal(await t.berth.metadata.content.getBlob(digest), null, 'the dangling record is gone');
    const res = await getBlob('fsck/missing', digest);
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'BLOB_UNKNOWN');

    const still = await cli(['--json']);
    assert.equal(still.code, 1);
    assert.deepEqual(kinds(still.report as FsckReport), [`broken-manifest:${digest}`]);
    assert.match(only(still.report as FsckReport, 'broken-manifest')[0]?.detail ?? '', /not in the repository; push it again/);
    await pushBlob(t.url, 'fsck/missing', layer);
    assert.equal((await cli([])).code, 0);
  });

  it('reports the absent children of a sparse index as sparse (exit 0) where manifests.sparse allows them, and as broken where it does not', async () => {
    const child = await pushImage(t.url, 'mirror/app', 'amd64');
    const absent = sha256(`never pushed ${randomUUID()}`);
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: child.digest, size: child.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: OCI_MANIFEST, digest: absent, size: 1024, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    }));
    const put = await fetch(`${t.url}/v2/mirror/app/manifests/multi`, { method: 'PUT', body: index, headers: { 'Content-Type': OCI_INDEX } });
    assert.equal(put.status, 201);

    const { code, report } = await cli(['--json']);
    assert.equal(code, 0);
    assert.ok(report);
    assert.equal(report.clean, true);
    assert.deepEqual(report.findings.map((f) => [f.kind, f.severity, f.repository, f.digest, f.reference]), [['sparse', 'info', 'mirror/app', sha256(index), absent]]);
    assert.deepEqual(report.counts, { sparse: 1 });

    const strict = await checker(new SparsePolicy()).run({ repair: true });
    assert.equal(strict.clean, false);
    assert.deepEqual(strict.findings.map((f) => [f.kind, f.severity, f.digest, f.reference, f.repaired]), [['broken-manifest', 'error', sha256(index), absent, false]]);
    assert.equal((await fetch(`${t.url}/v2/mirror/app/manifests/multi`, { method: 'HEAD', headers: { Accept: OCI_INDEX } })).status, 200, 'a repair never deletes a manifest');
  });

  it('reports storage objects no record names as orphans and leaves them; ends an upload session whose bytes are gone', async () => {
    const hex = sha256(`orphan ${randomUUID()}`).slice(7);
    const orphanPath = `/blobs/sha256/${hex.slice(0, 2)}/${hex}`;
    await t.berth.storage.putContent(orphanPath, Buffer.from('nobody names me'));
    const start = await fetch(`${t.url}/v2/fsck/upload/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const location = new URL(start.headers.get('location') as string, t.url).toString();
    const patch = await fetch(location, { method: 'PATCH', body: 'half an upload', headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-13' } });
    assert.equal(patch.status, 202);
    const id = new URL(location).pathname.split('/').pop() as string;
    assert.equal(await t.berth.storage.delete(t.berth.registry.placement.dataPath(id)), true);

    const check = await checker().run({ repair: false });
    assert.deepEqual(check.findings.filter((f) => f.kind !== 'sparse').map((f) => [f.kind, f.severity, f.path, f.reference, f.action]), [
      ['dangling-upload', 'error', t.berth.registry.placement.dataPath(id), id, 'drop-session'],
      ['orphan', 'info', orphanPath, null, 'none'],
    ]);
    assert.equal(check.remaining, 1);
    const repair = await checker().run({ repair: true });
    assert.equal(repair.clean, true);
    assert.equal(only(repair, 'dangling-upload')[0]?.repaired, true);
    const status = await fetch(location);
    assert.equal(status.status, 404);
    assert.equal(await errorCode(status), 'BLOB_UPLOAD_UNKNOWN');
    assert.deepEqual(await t.berth.storage.getContent(orphanPath), Buffer.from('nobody names me'), 'an orphan is left alone');
    assert.deepEqual(only(await checker().run({ repair: false }), 'orphan').map((f) => f.path), [orphanPath]);
    await t.berth.storage.delete(orphanPath);
  });

  it('repairs beside concurrent pushes without touching what they store: every image pulls whole afterwards, and nothing was reported', { timeout: 120_000 }, async () => {
    const pushes = Array.from({ length: 12 }, (_, i) => pushImage(t.url, `fsck/busy${i % 3}`, `v${i}`, { layers: [`busy layer ${i} ${randomUUID()}`, 'busy shared layer'] }));
    const runs: FsckReport[] = [];
    let pushed: Awaited<typeof pushes[number]>[] = [];
    await Promise.all([
      (async () => { pushed = await Promise.all(pushes); })(),
      // With the CLI's quiet period: uploads and objects of the last minute are in flight.
      (async () => { for (let i = 0; i < 3; i++) runs.push(await checker(undefined, undefined).run({ repair: true })); })(),
    ]);
    runs.push(await checker(undefined, undefined).run({ repair: true }));
    for (const r of runs) {
      assert.deepEqual(r.findings.filter((f) => f.severity === 'error'), [], 'a push in flight is never a problem');
    }
    for (const [i, img] of pushed.entries()) {
      const repo = `fsck/busy${i % 3}`;
      assert.equal((await fetch(`${t.url}/v2/${repo}/manifests/v${i}`, { headers: { Accept: OCI_MANIFEST } })).status, 200);
      for (const d of [img.config, ...img.layers]) {
        const res = await getBlob(repo, d);
        assert.equal(res.status, 200, `${repo} ${d}`);
        assert.equal(sha256(Buffer.from(await res.arrayBuffer())), d);
      }
    }
  });

  it('repairs only while it holds the gc lease: a running garbage collection refuses it (exit 4), a check still runs', async () => {
    const owner = `someone-${randomUUID()}`;
    assert.equal(await t.berth.metadata.leases.acquire('gc', owner, Date.now() + 60_000, Date.now()), true);
    try {
      await assert.rejects(checker().run({ repair: true }), (err: Error & { code?: string }) => err.code === 'BERTH_CONFLICT');
      const refused = await cli(['--repair']);
      assert.equal(refused.code, 4);
      assert.match(refused.stderr, /garbage collection or another fsck --repair is running/);
      assert.equal((await cli([])).code, 0);
    } finally {
      await t.berth.metadata.leases.release('gc', owner);
    }
    // And a garbage collection waits for a repair the same way: the lease is free again now.
    assert.equal((await t.berth.gc.run({ graceMs: 3_600_000, trigger: 'test' })).blobsDeleted, 0);
  });
});
