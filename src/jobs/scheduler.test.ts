import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createMetadataStore } from '../metadata/index.js';
import { JobScheduler } from './scheduler.js';

const quiet = { info() {}, error() {} };

test('a job runs on one instance per interval, and moves on when that instance stops', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-jobs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = createMetadataStore({ kind: 'sqlite', path: path.join(dir, 'berth.db') });
  await store.init();
  t.after(() => store.close());
  let clock = 1_000_000;
  const runs: string[] = [];
  const instances = ['a', 'b', 'c'].map((owner) => {
    const s = new JobScheduler({ leases: store.leases, logger: quiet, owner, now: () => clock });
    s.every('purge', 60_000, async () => { runs.push(owner); });
    return s;
  });
  t.after(() => Promise.all(instances.map((s) => s.close())));

  const ran = await Promise.all(instances.map((s) => s.tick('purge')));
  assert.equal(ran.filter(Boolean).length, 1, 'exactly one instance runs the job');
  assert.equal(runs.length, 1);
  const first = runs[0];

  clock += 30_000; // same interval: nobody runs it again
  assert.deepEqual(await Promise.all(instances.map((s) => s.tick('purge'))), [false, false, false]);

  clock += 30_000; // next interval, and the first runner has stopped
  const owners = ['a', 'b', 'c'];
  const survivors = instances.filter((_, i) => owners[i] !== first);
  const stopped = instances.find((_, i) => owners[i] === first);
  assert.ok(stopped, 'the first runner is one of the instances');
  await stopped.close();
  const again = await Promise.all(survivors.map((s) => s.tick('purge')));
  assert.equal(again.filter(Boolean).length, 1);
  assert.notEqual(runs[1], first, 'another instance took over');
});

test('a failing job is logged and retried at the next interval', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-jobs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = createMetadataStore({ kind: 'sqlite', path: path.join(dir, 'berth.db') });
  await store.init();
  t.after(() => store.close());
  const errors: unknown[] = [];
  let clock = 0;
  let calls = 0;
  const s = new JobScheduler({ leases: store.leases, logger: { info() {}, error: (o) => errors.push(o) }, owner: 'x', now: () => clock });
  s.every('flaky', 1000, async () => {
    calls++;
    if (calls === 1) throw new Error('boom');
  });
  t.after(() => s.close());
  assert.equal(await s.tick('flaky'), true);
  assert.equal(errors.length, 1);
  clock += 1000;
  assert.equal(await s.tick('flaky'), true);
  assert.equal(calls, 2);
});
