// Full disks under a running Berth process (issue 13, item 5), on tmpfs
// mounts made here (as root, like the rest of the end-to-end suite).
//
// The blob folder on a 4 MiB tmpfs: a push that does not fit, monolithic or
// one chunk of a chunked upload, answers 507 BERTH_STORAGE_FULL (a clear
// error, not a reset, never a 500); nothing half-written is left (no
// temporary file, no partial blob, the chunked session still holds exactly
// the chunks it acknowledged); /readyz says the storage is full; pulls of
// what is stored keep working; and once space is freed (a blob deleted and
// garbage collected) the same pushes succeed, the cut chunked session
// continuing where it stood.
//
// The data folder (the SQLite database) on a tmpfs filled up: pushes answer
// 201 or 507 BERTH_STORAGE_FULL, never a 500; what was refused is absent;
// once space returns pushes work again, and after a restart the database
// passes SQLite's integrity check and holds every acknowledged push.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BerthNode, pickClusterPorts } from './cluster.js';
import { BERTH_CLI, startRegistry, withRegistryLog, type RunningRegistry } from './registry-process.js';
import { run } from './util.js';

const T = { timeout: 120_000 };
const KiB = 1024;
const MiB = 1024 * KiB;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface OciErrors {
  errors: { code: string; message: string }[];
}

async function errorsOf(res: Response): Promise<string[][]> {
  return ((await res.json()) as OciErrors).errors.map((e) => [e.code, e.message]);
}

const FULL = [['BERTH_STORAGE_FULL', 'the registry\'s storage is full']];

/** Every file under `root` (relative paths). */
async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const p of await readdir(root, { recursive: true })) {
    if ((await stat(join(root, String(p)))).isFile()) out.push(String(p));
  }
  return out.sort();
}

/** Every file at a content address holds the bytes its name says. */
async function assertBlobFilesWhole(root: string): Promise<number> {
  const files = (await filesUnder(root)).filter((p) => p.startsWith('blobs/'));
  for (const p of files) {
    assert.equal(digestOf(await readFile(join(root, p))), `sha256:${p.split('/').pop()}`, `${p} holds other bytes than its name says`);
  }
  return files.length;
}

describe('a full disk', () => {
  let work: string;
  let blobs: string;
  let mounted = false;
  let reg: RunningRegistry | undefined;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-full-'));
    blobs = join(work, 'blobs');
    await mkdir(blobs);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', blobs]);
    mounted = true;
    reg = await startRegistry({ env: { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: blobs } });
  }, T);
  after(async () => {
    await reg?.stop();
    if (mounted) await run('umount', [blobs], { allowFailure: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  // 4 MiB: a small blob and 2.5 MiB of ballast fit, and a first chunk; then
  // neither a 1.5 MiB blob nor the 1.25 MiB rest of a chunked one does. With
  // the ballast gone, both do.
  const small = randomBytes(64 * KiB);
  const ballast = randomBytes(2560 * KiB);
  const mono = randomBytes(1536 * KiB);
  const chunked = randomBytes(1536 * KiB);
  const firstChunk = 256 * KiB;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(small)] } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(small), size: small.length }],
  }));
  let session = '';

  it('answers 507 BERTH_STORAGE_FULL to a monolithic push and to a chunk that do not fit, leaving nothing half-written', T, () => withRegistryLog(reg, async () => {
    const url = reg?.url ?? '';
    for (const [repo, b] of [['full/app', small], ['full/app', config], ['full/ballast', ballast]] as const) {
      const put = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digestOf(b)}`, { method: 'POST', body: b });
      assert.equal(put.status, 201, `${repo}: ${await put.text()}`);
    }
    // Tagged, so garbage collection keeps it; the ballast is a blob nothing references.
    const tagged = await fetch(`${url}/v2/full/app/manifests/v1`, { method: 'PUT', body: manifest, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(tagged.status, 201, await tagged.text());
    const start = await fetch(`${url}/v2/full/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const first = await fetch(new URL(start.headers.get('location') ?? '', url), {
      method: 'PATCH', body: chunked.subarray(0, firstChunk), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${firstChunk - 1}` },
    });
    assert.equal(first.status, 202, await first.text());
    session = new URL(first.headers.get('location') ?? '', url).toString();

    const monoRes = await fetch(`${url}/v2/full/app/blobs/uploads/?digest=${digestOf(mono)}`, { method: 'POST', body: mono });
    assert.equal(monoRes.status, 507);
    assert.deepEqual(await errorsOf(monoRes), FULL);

    const patch = await fetch(session, {
      method: 'PATCH', body: chunked.subarray(firstChunk), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${firstChunk}-${chunked.length - 1}` },
    });
    assert.equal(patch.status, 507, 'a chunk that does not fit');
    assert.deepEqual(await errorsOf(patch), FULL);

    // The session holds exactly the chunk it acknowledged, in its record and on disk.
    const status = await fetch(session);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${firstChunk - 1}`);
    const files = await filesUnder(blobs);
    const uploads = files.filter((p) => p.startsWith('uploads/'));
    assert.equal(uploads.length, 1, `one upload folder, the open session's: ${uploads.join(', ')}`);
    assert.equal((await stat(join(blobs, uploads[0] ?? ''))).size, firstChunk, 'the session\'s data is its acknowledged chunk, no more');
    assert.deepEqual(files.filter((p) => p.includes('.tmp')), [], 'no temporary files left behind');
    assert.equal(await assertBlobFilesWhole(blobs), 3, 'the three stored blobs, whole, and no partial one');
    for (const b of [mono, chunked]) {
      assert.equal((await fetch(`${url}/v2/full/app/blobs/${digestOf(b)}`, { method: 'HEAD' })).status, 404);
    }
  }));

  it('keeps serving what it has and says so in /readyz', T, () => withRegistryLog(reg, async () => {
    const url = reg?.url ?? '';
    for (const [repo, b] of [['full/app', small], ['full/ballast', ballast]] as const) {
      const got = await fetch(`${url}/v2/${repo}/blobs/${digestOf(b)}`);
      assert.equal(got.status, 200);
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), b, 'what is stored is still served');
    }
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as { checks: Record<string, string> }).checks.storage, 'full');
  }));

  it('takes the same pushes once space is freed (a blob deleted and collected), the cut session going on where it stood', T, () => withRegistryLog(reg, async () => {
    const url = reg?.url ?? '';
    const del = await fetch(`${url}/v2/full/ballast/blobs/${digestOf(ballast)}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    // `berth gc` on the server's data while it runs (the management API needs users from Berth's database).
    await run(process.execPath, [BERTH_CLI, 'gc', '--grace', '0s', '--data-dir', reg?.dataDir ?? ''], { env: { ...process.env, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: blobs } });
    assert.equal(await assertBlobFilesWhole(blobs), 2, 'the ballast\'s bytes are gone');

    const monoRes = await fetch(`${url}/v2/full/app/blobs/uploads/?digest=${digestOf(mono)}`, { method: 'POST', body: mono });
    assert.equal(monoRes.status, 201, await monoRes.text());
    const rest = await fetch(session, {
      method: 'PATCH', body: chunked.subarray(firstChunk), headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${firstChunk}-${chunked.length - 1}` },
    });
    assert.equal(rest.status, 202, await rest.text());
    const location = new URL(rest.headers.get('location') ?? '', url);
    location.searchParams.set('digest', digestOf(chunked));
    const done = await fetch(location, { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
    const pulled = await fetch(`${url}/v2/full/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(pulled.headers.get('docker-content-digest'), digestOf(manifest));
    for (const b of [small, config, mono, chunked]) {
      const got = await fetch(`${url}/v2/full/app/blobs/${digestOf(b)}`);
      assert.equal(got.status, 200);
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), b);
    }
    assert.equal(await assertBlobFilesWhole(blobs), 4);
    assert.deepEqual((await filesUnder(blobs)).filter((p) => !p.startsWith('blobs/')), [], 'no upload data and no temporary file left');
  }));
});

/** Writes `path` until its file system is full (whatever else writes there meanwhile). */
async function fillUp(path: string): Promise<void> {
  const fh = await open(path, 'w');
  const block = Buffer.alloc(64 * KiB);
  try {
    for (;;) await fh.write(block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await fh.close();
  }
  const fs = await statfs(path);
  assert.equal(fs.bavail, 0, 'the file system is full');
}

describe('a full disk under the SQLite database', () => {
  let work: string;
  let data: string;
  let mounted = false;
  let node: BerthNode | undefined;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-dbfull-'));
    data = join(work, 'data');
    await mkdir(data);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', data]);
    mounted = true;
    const [port] = await pickClusterPorts(1) as [number];
    node = new BerthNode('berth-dbfull', port, { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(work, 'blobs') }, data);
    await node.start();
  }, T);
  after(async () => {
    await node?.stop();
    if (mounted) await run('umount', [data], { allowFailure: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  const withLogs = async (fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      if (e instanceof Error && node) e.message += `\n--- berth output (tail) ---\n${node.logs().slice(-4000)}`;
      throw e;
    }
  };

  const layer = randomBytes(4 * KiB);
  /** Pushes a small image whose manifest carries `padding` bytes of annotation (the database grows by about that). */
  const pushImage = async (tag: string, padding: number): Promise<{ status: number; codes: string[]; digest: string }> => {
    const url = node?.url ?? '';
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { tag } }, rootfs: { type: 'layers', diff_ids: [digestOf(layer)] } }));
    for (const b of [config, layer]) {
      const put = await fetch(`${url}/v2/db/app/blobs/uploads/?digest=${digestOf(b)}`, { method: 'POST', body: b });
      if (put.status !== 201) return { status: put.status, codes: (await errorsOf(put)).map(([c]) => c ?? ''), digest: '' };
    }
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }],
      annotations: { padding: randomBytes(padding / 2).toString('hex') },
    }));
    const res = await fetch(`${url}/v2/db/app/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'Content-Type': OCI_MANIFEST } });
    return { status: res.status, codes: res.status === 201 ? [] : (await errorsOf(res)).map(([c]) => c ?? ''), digest: digestOf(manifest) };
  };
  const acknowledged: Array<{ tag: string; digest: string }> = [];
  const refused: Array<{ tag: string; digest: string }> = [];
  const filler = () => join(data, 'filler');

  it('answers 507 BERTH_STORAGE_FULL, never a 500, once the database cannot grow, and stores nothing of a refused push', T, (t) => withLogs(async () => {
    const url = node?.url ?? '';
    const before = await pushImage('before', 1024);
    assert.equal(before.status, 201);
    acknowledged.push({ tag: 'before', digest: before.digest });
    await fillUp(filler());
    let full = 0;
    for (let i = 0; i < 400 && full < 3; i++) {
      const r = await pushImage(`t${i}`, 32 * KiB);
      if (r.status === 201) {
        acknowledged.push({ tag: `t${i}`, digest: r.digest });
        continue;
      }
      assert.equal(r.status, 507, `push ${i}: ${r.status} ${r.codes.join(',')}`);
      assert.deepEqual(r.codes, ['BERTH_STORAGE_FULL']);
      if (r.digest) refused.push({ tag: `t${i}`, digest: r.digest });
      full++;
    }
    assert.equal(full, 3, 'the full database refused pushes with 507 BERTH_STORAGE_FULL');
    t.diagnostic(`on the full disk: ${acknowledged.length - 1} pushes acknowledged, then ${full} refused`);
    for (const { tag } of refused) {
      const m = await fetch(`${url}/v2/db/app/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(m.status, 404, `the refused push of ${tag} left a manifest`);
    }
    const pulled = await fetch(`${url}/v2/db/app/manifests/before`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(pulled.status, 200, 'reads keep working');
    assert.equal(pulled.headers.get('docker-content-digest'), before.digest);
  }));

  it('takes pushes again once space returns, and after a restart the database is intact and holds every acknowledged push', T, () => withLogs(async () => {
    await rm(filler());
    const again = await pushImage('after', 1024);
    assert.equal(again.status, 201, again.codes.join(','));
    acknowledged.push({ tag: 'after', digest: again.digest });
    await node?.stop();
    const db = new Database(join(data, 'berth.db'), { readonly: true });
    try {
      assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
    } finally {
      db.close();
    }
    await node?.start();
    const url = node?.url ?? '';
    for (const { tag, digest } of acknowledged) {
      const m = await fetch(`${url}/v2/db/app/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(m.status, 200, `acknowledged push ${tag}`);
      assert.equal(m.headers.get('docker-content-digest'), digest);
    }
    for (const { tag } of refused) {
      assert.equal((await fetch(`${url}/v2/db/app/manifests/${tag}`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } })).status, 404);
    }
  }));
});
