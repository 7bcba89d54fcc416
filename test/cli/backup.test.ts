import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BERTH_CLI, pickFreePort, startRegistry, withRegistryLog, type RunningRegistry } from '../e2e/registry-process.js';
import { pushImage, sha256 } from '../helpers/berth.js';
import { createScratchDatabase, postgresSkipReason } from '../helpers/postgres.js';
import { sharedTestS3 } from '../helpers/s3.js';
import { SqliteStore } from '../../src/metadata/sqlite/sqlite-store.js';
import { runBerth, type CliResult } from '../helpers/cli.js';

/**
 * `berth backup` and `berth restore` (issue 13 item 3, and item 5's backup
 * torture) against real Berth processes: back up while serving, restore
 * into a fresh data folder (or an empty database and bucket), serve the
 * restore and pull every image with its digests checked.
 */

const berth = runBerth;

function json<T>(r: CliResult): T {
  assert.equal(r.status, 0, `berth failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface BackupSummary {
  generation: string;
  database: string;
  repositories: number;
  manifests: number;
  tags: number;
  blobs: { total: number; copied: number; skipped: number; bytesTotal: number; bytesCopied: number };
  files: string[];
  durationMs: number;
}

/** `berth serve` on an existing data folder (a restore), until stop(). */
async function serveOn(dataDir: string, env: Record<string, string> = {}): Promise<{ url: string; stop(): Promise<void>; logs(): string }> {
  const port = await pickFreePort();
  let logs = '';
  const child: ChildProcess = spawn(process.execPath, [BERTH_CLI, 'serve', '--addr', `127.0.0.1:${port}`, '--data-dir', dataDir], {
    env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (b: Buffer) => { logs = (logs + b.toString('utf8')).slice(-20_000); });
  child.stderr?.on('data', (b: Buffer) => { logs = (logs + b.toString('utf8')).slice(-20_000); });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`berth serve exited: ${logs}`);
    const ok = await fetch(`${url}/v2/`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`berth serve did not answer: ${logs}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    logs: () => logs,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

interface Image { repo: string; tag: string; digest: string }

/** Pulls an image by tag: the manifest's digest is `expected` (when given) and every blob it names comes back with its digest. */
async function pullChecked(url: string, repo: string, tag: string, expected?: string): Promise<string> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${tag}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(res.status, 200, `${repo}:${tag}: ${res.status}`);
  const body = Buffer.from(await res.arrayBuffer());
  const digest = sha256(body);
  assert.equal(res.headers.get('docker-content-digest'), digest, `${repo}:${tag} digest header`);
  if (expected !== undefined) assert.equal(digest, expected, `${repo}:${tag} is the pushed manifest`);
  const m = JSON.parse(body.toString('utf8')) as { config: { digest: string }; layers: { digest: string; size: number }[] };
  for (const d of [m.config.digest, ...m.layers.map((l) => l.digest)]) {
    const b = await fetch(`${url}/v2/${repo}/blobs/${d}`);
    assert.equal(b.status, 200, `${repo}:${tag} blob ${d}: ${b.status}`);
    assert.equal(sha256(Buffer.from(await b.arrayBuffer())), d, `${repo}:${tag} blob ${d} has its bytes`);
  }
  return digest;
}

/** Every tag of every repository the registry lists, pulled completely. */
async function pullEverything(url: string): Promise<Map<string, string>> {
  const catalog = (await (await fetch(`${url}/v2/_catalog?n=100000`)).json()) as { repositories: string[] };
  const seen = new Map<string, string>();
  for (const repo of catalog.repositories) {
    const tags = (await (await fetch(`${url}/v2/${repo}/tags/list?n=100000`)).json()) as { tags: string[] | null };
    for (const tag of tags.tags ?? []) seen.set(`${repo}:${tag}`, await pullChecked(url, repo, tag));
  }
  return seen;
}

async function push(url: string, repo: string, tag: string, layerBytes: number): Promise<Image> {
  const layers = [randomBytes(layerBytes).toString('base64'), randomBytes(layerBytes / 4).toString('base64')];
  const p = await pushImage(url, repo, tag, { layers });
  return { repo, tag, digest: p.digest };
}

async function tempDir(t: { after(fn: () => Promise<void>): void }, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The torture of issue 13 item 5: `pushers` clients push images without
 * pause; once `warmup` have been acknowledged the backup starts, and the
 * pushes go on during it. Returns what was acknowledged before the backup
 * started, what was acknowledged while it ran, and the backup's summary.
 */
async function backupDuringPushes(url: string, backupArgs: string[], env: Record<string, string>, options: { pushers: number; warmup: number; layerBytes: number; logs(): string }) {
  const acked: (Image & { at: number })[] = [];
  const failures: string[] = [];
  let stop = false;
  // A 5xx is never retried: it fails the test (the SQLite store begins its transactions IMMEDIATE, so the backup's lease writes only make pushes wait).
  const pushers = Array.from({ length: options.pushers }, async (_, w) => {
    for (let n = 0; !stop; n++) {
      try {
        const image = await push(url, `torture/w${w}`, `t${n}`, options.layerBytes);
        acked.push({ ...image, at: Date.now() });
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  });
  while (acked.length < options.warmup && failures.length === 0) await new Promise((r) => setTimeout(r, 20));
  const backupStart = Date.now();
  const ackedBefore = acked.filter((a) => a.at < backupStart);
  const result = await berth(backupArgs, env);
  const backupEnd = Date.now();
  stop = true;
  await Promise.all(pushers);
  assert.deepEqual(failures, [], `every push succeeded; the server's errors:\n${options.logs().split('\n').filter((l) => /"level":"(error|warn)"/.test(l)).join('\n')}`);
  const summary = json<BackupSummary>(result);
  const ackedDuring = acked.filter((a) => a.at >= backupStart && a.at <= backupEnd);
  return { ackedBefore, ackedDuring, all: acked, summary, backupMs: backupEnd - backupStart };
}

describe('berth backup and restore (SQLite + filesystem)', () => {
  it('backs up, incrementally, restores into a fresh data folder and serves every image with its digests', async (t) => {
    const reg: RunningRegistry = await startRegistry({ target: 'berth' });
    t.after(() => reg.stop());
    const work = await tempDir(t, 'berth-backup-');
    const dir = path.join(work, 'backup');

    const first: Image[] = [];
    for (let i = 0; i < 6; i++) first.push(await push(reg.url, `team${i % 2}/app`, `v${i}`, 64 * 1024));
    // The same manifest under a second tag: one more tag, nothing more to copy.
    assert.equal((await fetch(`${reg.url}/v2/team0/app/manifests/latest`, { method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: await (await fetch(`${reg.url}/v2/team0/app/manifests/v0`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).arrayBuffer() })).status, 201);
    first.push({ repo: 'team0/app', tag: 'latest', digest: first[0]?.digest ?? '' });

    const one = json<BackupSummary>(await berth(['backup', dir, '--data-dir', reg.dataDir, '--json']));
    assert.equal(one.database, 'sqlite');
    assert.deepEqual([one.repositories, one.manifests, one.tags], [2, 6, 7]);
    assert.equal(one.blobs.total, 18, 'a config and two layers per image');
    assert.deepEqual([one.blobs.copied, one.blobs.skipped], [18, 0]);
    assert.equal(one.blobs.bytesCopied, one.blobs.bytesTotal);
    assert.ok(one.files.includes('trust-key-secret'), `files: ${one.files.join(', ')}`);
    // Private: the folder 0700, files 0600.
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(path.join(dir, one.generation, 'berth.db'))).mode & 0o777, 0o600);
    assert.equal((await stat(path.join(dir, one.generation, 'files', 'trust-key-secret'))).mode & 0o777, 0o600);
    const blobFiles = await readdir(path.join(dir, 'blobs', 'sha256'));
    assert.equal(blobFiles.length, 18);
    for (const f of blobFiles) assert.equal((await stat(path.join(dir, 'blobs', 'sha256', f))).mode & 0o777, 0o600);

    // Incremental: two new images, so six new blobs; the eighteen others are not copied again.
    const second = [await push(reg.url, 'team2/app', 'v1', 64 * 1024), await push(reg.url, 'team0/app', 'v9', 64 * 1024)];
    const two = json<BackupSummary>(await berth(['backup', dir, '--data-dir', reg.dataDir, '--json']));
    assert.notEqual(two.generation, one.generation);
    assert.deepEqual([two.blobs.total, two.blobs.copied, two.blobs.skipped], [24, 6, 18]);
    assert.equal((await readdir(path.join(dir, 'blobs', 'sha256'))).length, 24);
    // Nothing changed: a third backup copies nothing.
    const three = json<BackupSummary>(await berth(['backup', dir, '--data-dir', reg.dataDir, '--json']));
    assert.deepEqual([three.blobs.copied, three.blobs.skipped, three.blobs.bytesCopied], [0, 24, 0]);

    // Restore the newest generation into a fresh folder, serve it, pull everything.
    const fresh = path.join(work, 'restored');
    const restored = json<{ generation: string; blobs: number; files: Record<string, string> }>(await berth(['restore', dir, '--data-dir', fresh, '--json']));
    assert.equal(restored.generation, three.generation);
    assert.equal(restored.blobs, 24);
    assert.equal(restored.files['trust-key-secret'], path.join(fresh, 'keys', 'trust-key-secret'));
    assert.deepEqual(await readFile(path.join(fresh, 'keys', 'trust-key-secret')), await readFile(path.join(reg.dataDir, 'keys', 'trust-key-secret')));
    const server = await serveOn(fresh);
    t.after(() => server.stop());
    for (const image of [...first, ...second]) await pullChecked(server.url, image.repo, image.tag, image.digest);
    assert.equal((await pullEverything(server.url)).size, first.length + second.length);
    // It is a working registry: it takes a push.
    await push(server.url, 'team0/app', 'after-restore', 1024);

    // An older generation restores the state it saw.
    const old = path.join(work, 'restored-old');
    json(await berth(['restore', dir, '--generation', one.generation, '--data-dir', old, '--json']));
    const oldServer = await serveOn(old);
    t.after(() => oldServer.stop());
    for (const image of first) await pullChecked(oldServer.url, image.repo, image.tag, image.digest);
    const missing = await fetch(`${oldServer.url}/v2/team0/app/manifests/v9`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { errors: { code: string }[] }).errors[0]?.code, 'MANIFEST_UNKNOWN');
  });

  it('refuses, with a message and an exit code: a non-empty target, a folder that is not a backup, a corrupt blob, an unknown generation', async (t) => {
    const reg = await startRegistry({ target: 'berth' });
    t.after(() => reg.stop());
    const work = await tempDir(t, 'berth-backup-');
    const dir = path.join(work, 'backup');
    await push(reg.url, 'acme/app', 'v1', 4096);
    const summary = json<BackupSummary>(await berth(['backup', dir, '--data-dir', reg.dataDir, '--json']));

    // A garbage collection holds the `gc` lease: the backup waits for it, then gives up naming it.
    const store = new SqliteStore({ path: path.join(reg.dataDir, 'berth.db') });
    await store.init();
    t.after(() => store.close());
    assert.equal(await store.leases.acquire('gc', 'a-collection', Date.now() + 60_000, Date.now()), true);
    const waited = await berth(['backup', dir, '--data-dir', reg.dataDir, '--wait', '1s']);
    assert.equal(waited.status, 4, waited.stderr);
    assert.match(waited.stderr, /a garbage collection is running and did not finish within 1s; run the backup again when it has/);
    await store.leases.release('gc', 'a-collection');
    assert.equal((await readdir(dir)).filter((n) => n.startsWith('.partial-')).length, 0, 'the refused backup left no partial generation');
    // A finished backup gives the lease back: a collection runs.
    json(await berth(['backup', dir, '--data-dir', reg.dataDir, '--json']));
    assert.equal(await store.leases.acquire('gc', 'a-collection', Date.now() + 60_000, Date.now()), true, 'the backup released the gc lease');
    await store.leases.release('gc', 'a-collection');

    // Backing up into a folder that holds something else.
    const other = path.join(work, 'other');
    await mkdir(other);
    await writeFile(path.join(other, 'notes.txt'), 'mine');
    const intoOther = await berth(['backup', other, '--data-dir', reg.dataDir]);
    assert.equal(intoOther.status, 4, intoOther.stderr);
    assert.match(intoOther.stderr, new RegExp(`${other} is not empty and is not a Berth backup`));

    // Restoring into a folder that is not empty.
    const busy = path.join(work, 'busy');
    await berth(['restore', dir, '--data-dir', busy, '--json']).then(json);
    const again = await berth(['restore', dir, '--data-dir', busy]);
    assert.equal(again.status, 4, again.stderr);
    assert.match(again.stderr, new RegExp(`the target data folder ${busy} is not empty .*--data-dir NEW`));

    // No target at all.
    const none = await berth(['restore', dir]);
    assert.equal(none.status, 2, none.stderr);
    assert.match(none.stderr, /restore needs a target: --data-dir NEW/);

    // Not a backup.
    const notBackup = await berth(['restore', reg.dataDir, '--data-dir', path.join(work, 'x')]);
    assert.equal(notBackup.status, 3, notBackup.stderr);
    assert.match(notBackup.stderr, new RegExp(`${reg.dataDir} is not a Berth backup \\(no berth-backup.json\\)`));

    // An unknown generation.
    const unknown = await berth(['restore', dir, '--generation', '20000101T000000000Z', '--data-dir', path.join(work, 'y')]);
    assert.equal(unknown.status, 3, unknown.stderr);
    assert.match(unknown.stderr, new RegExp(`no complete generation 20000101T000000000Z; it has: ${summary.generation}`));

    // A blob whose bytes changed in the backup: the restore names it, and leaves the target without a database.
    const blobs = await readdir(path.join(dir, 'blobs', 'sha256'));
    const victim = blobs.sort()[0] ?? assert.fail('the backup holds blobs');
    const victimPath = path.join(dir, 'blobs', 'sha256', victim);
    const bytes = await readFile(victimPath);
    bytes.writeUInt8(bytes.readUInt8(0) ^ 0xff, 0);
    await writeFile(victimPath, bytes);
    const target = path.join(work, 'z');
    const corrupt = await berth(['restore', dir, '--data-dir', target]);
    assert.equal(corrupt.status, 5, corrupt.stderr);
    assert.match(corrupt.stderr, new RegExp(`blob sha256:${victim} in the backup is corrupt`));
    assert.equal(existsSync(path.join(target, 'berth.db')), false, 'no database: nothing was restored');
    assert.deepEqual(await readdir(path.join(target, 'blobs', 'sha256')).catch(() => []), [], 'the blobs it wrote are removed');

    // A blob missing from the backup.
    await rm(victimPath);
    const lacking = await berth(['restore', dir, '--data-dir', path.join(work, 'w')]);
    assert.equal(lacking.status, 5, lacking.stderr);
    assert.match(lacking.stderr, new RegExp(`the backup lacks blob sha256:${victim}`));

    // A blob whose bytes in the registry's storage do not match its digest: the backup stops, naming it, and makes no generation.
    const before = await readdir(dir);
    const fresh = await pushImage(reg.url, 'acme/app', 'v2', { layers: ['bytes that will rot'] });
    const rotten = fresh.layers[0] ?? assert.fail('a layer');
    const rottenPath = path.join(reg.dataDir, 'blobs', 'sha256', rotten.slice(7, 9), rotten.slice(7));
    await writeFile(rottenPath, 'bytes that did rot!');
    const stopped = await berth(['backup', dir, '--data-dir', reg.dataDir]);
    assert.equal(stopped.status, 5, stopped.stderr);
    assert.match(stopped.stderr, new RegExp(`blob ${rotten} in storage does not match its digest .*Run \`berth fsck\``));
    assert.deepEqual((await readdir(dir)).filter((n) => !before.includes(n) && !n.startsWith('.partial-')), [], 'no new generation');
  });

  it('torture: a backup taken during 50 concurrent pushes restores every push acknowledged before it started, and every image in it pulls completely', async (t) => {
    const reg = await startRegistry({ target: 'berth' });
    t.after(() => reg.stop());
    const work = await tempDir(t, 'berth-backup-torture-');
    const dir = path.join(work, 'backup');
    // Some content first, so that the backup takes long enough for pushes to land during it.
    await Promise.all(Array.from({ length: 10 }, async (_, i) => { for (let n = 0; n < 10; n++) await push(reg.url, `base/r${i}`, `t${n}`, 256 * 1024); }));
    const run = await withRegistryLog(reg, () => backupDuringPushes(reg.url, ['backup', dir, '--data-dir', reg.dataDir, '--json'], {}, { pushers: 50, warmup: 100, layerBytes: 64 * 1024, logs: reg.logs }));
    t.diagnostic(`backup: ${run.backupMs} ms, ${run.summary.blobs.total} blobs (${run.summary.blobs.bytesTotal} bytes), ${run.ackedBefore.length} pushes acknowledged before it, ${run.ackedDuring.length} during it, ${run.all.length} in all`);
    assert.ok(run.ackedBefore.length >= 100);
    assert.ok(run.ackedDuring.length > 0, 'pushes were acknowledged while the backup ran');

    const fresh = path.join(work, 'restored');
    const restoreStart = Date.now();
    json(await berth(['restore', dir, '--data-dir', fresh, '--json']));
    t.diagnostic(`restore: ${Date.now() - restoreStart} ms`);
    const server = await serveOn(fresh);
    t.after(() => server.stop());
    // Every image present pulls completely (no manifest points at a missing blob)...
    const present = await pullEverything(server.url);
    // ...every push acknowledged before the backup started is among them, with its digest...
    for (const a of run.ackedBefore) assert.equal(present.get(`${a.repo}:${a.tag}`), a.digest, `${a.repo}:${a.tag} acknowledged before the backup`);
    // ...and whatever else is there is what was pushed.
    const pushed = new Map(run.all.map((a) => [`${a.repo}:${a.tag}`, a.digest]));
    for (const [ref, digest] of present) if (ref.startsWith('torture/')) assert.equal(pushed.get(ref), digest, ref);
    assert.equal(present.size, run.summary.tags, 'the restore holds exactly the snapshot\'s tags');
  });
});

describe('berth backup and restore (PostgreSQL + S3)', { skip: postgresSkipReason() }, () => {
  it('dumps an exported snapshot and copies what it references while 20 clients push; the restore into an empty database and bucket serves every push acknowledged before', async (t) => {
    const s3 = await sharedTestS3();
    const sourceDb = await createScratchDatabase();
    t.after(() => sourceDb.drop());
    const targetDb = await createScratchDatabase();
    t.after(() => targetDb.drop());
    const sourceEnv = { BERTH_DATABASE_URL: sourceDb.url, REGISTRY_STORAGE_REDIRECT_DISABLE: 'true', ...s3.env({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: `backup-src-${randomUUID()}` }) };
    const targetPrefix = `backup-dst-${randomUUID()}`;
    const targetEnv = { BERTH_DATABASE_URL: targetDb.url, REGISTRY_STORAGE_REDIRECT_DISABLE: 'true', ...s3.env({ REGISTRY_STORAGE_S3_ROOTDIRECTORY: targetPrefix }) };
    const reg = await startRegistry({ target: 'berth', env: sourceEnv });
    t.after(() => reg.stop());
    const work = await tempDir(t, 'berth-backup-pg-');
    const dir = path.join(work, 'backup');
    await Promise.all(Array.from({ length: 5 }, async (_, i) => { for (let n = 0; n < 4; n++) await push(reg.url, `base/r${i}`, `t${n}`, 64 * 1024); }));

    const run = await backupDuringPushes(reg.url, ['backup', dir, '--data-dir', reg.dataDir, '--json'], { ...process.env as Record<string, string>, ...sourceEnv }, { pushers: 20, warmup: 30, layerBytes: 16 * 1024, logs: reg.logs });
    t.diagnostic(`backup (PostgreSQL + s3rver): ${run.backupMs} ms, ${run.summary.blobs.total} blobs (${run.summary.blobs.bytesTotal} bytes), ${run.ackedBefore.length} pushes acknowledged before it, ${run.ackedDuring.length} during it`);
    assert.equal(run.summary.database, 'postgres');
    assert.ok(existsSync(path.join(dir, run.summary.generation, 'berth.pgdump')));

    // The bucket prefix is not empty: refused.
    const refused = await berth(['restore', dir, '--data-dir', path.join(work, 'refused')], { ...process.env as Record<string, string>, ...sourceEnv });
    assert.equal(refused.status, 4, refused.stderr);
    assert.match(refused.stderr, /the target is not empty: the database holds tables .*its s3 storage holds objects/);

    const fresh = path.join(work, 'restored');
    const restoreStart = Date.now();
    json(await berth(['restore', dir, '--data-dir', fresh, '--json'], { ...process.env as Record<string, string>, ...targetEnv }));
    t.diagnostic(`restore (PostgreSQL + s3rver): ${Date.now() - restoreStart} ms`);
    const server = await serveOn(fresh, targetEnv);
    t.after(() => server.stop());
    const present = await pullEverything(server.url);
    for (const a of run.ackedBefore) assert.equal(present.get(`${a.repo}:${a.tag}`), a.digest, `${a.repo}:${a.tag} acknowledged before the backup`);
    const pushed = new Map(run.all.map((a) => [`${a.repo}:${a.tag}`, a.digest]));
    for (const [ref, digest] of present) if (ref.startsWith('torture/')) assert.equal(pushed.get(ref), digest, ref);
    assert.equal(present.size, run.summary.tags);
  });
});
