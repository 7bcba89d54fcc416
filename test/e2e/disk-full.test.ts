// A full disk under a running Berth process: the blob folder is a 4 MiB
// tmpfs (mounted here, as root, like the rest of the end-to-end suite).
// A push that does not fit answers 507 BERTH_STORAGE_FULL, never a 500;
// nothing half-written is left; /readyz says the storage is full; pulls of
// what is stored keep working.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, withRegistryLog, type RunningRegistry } from './registry-process.js';
import { run } from './util.js';

const T = { timeout: 120_000 };
const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

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

  it('answers 507 BERTH_STORAGE_FULL to pushes that do not fit, keeps serving what it has, and says so in /readyz', T, () => withRegistryLog(reg, async () => {
    const url = reg?.url ?? '';
    const small = randomBytes(64 * 1024);
    const put = await fetch(`${url}/v2/full/app/blobs/uploads/?digest=${digestOf(small)}`, { method: 'POST', body: small });
    assert.equal(put.status, 201);

    const big = randomBytes(6 * 1024 * 1024);
    const mono = await fetch(`${url}/v2/full/app/blobs/uploads/?digest=${digestOf(big)}`, { method: 'POST', body: big });
    assert.equal(mono.status, 507);
    const body = (await mono.json()) as { errors: { code: string; message: string }[] };
    assert.deepEqual(body.errors.map((e) => [e.code, e.message]), [['BERTH_STORAGE_FULL', 'the registry\'s storage is full']]);

    const start = await fetch(`${url}/v2/full/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const patch = await fetch(new URL(start.headers.get('location') ?? '', url), { method: 'PATCH', body: big, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(patch.status, 507, 'a chunk that does not fit');

    const got = await fetch(`${url}/v2/full/app/blobs/${digestOf(small)}`);
    assert.equal(got.status, 200);
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), small, 'what is stored is still served');

    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as { checks: Record<string, string> }).checks.storage, 'full');
    const leftovers = (await readdir(blobs, { recursive: true })).filter((p) => String(p).includes('.tmp'));
    assert.deepEqual(leftovers, [], 'no temporary files left behind');
  }));
});
