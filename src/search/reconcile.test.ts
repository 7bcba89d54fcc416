import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteStore } from '../metadata/sqlite/sqlite-store.js';
import { reconcileAtStart, STARTUP_RECONCILE_LEASE } from './reconcile.js';

/** A reconcile that waits for `open()`; `calls` counts how many began. */
function gatedReconcile() {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let began!: () => void;
  const started = new Promise<void>((r) => (began = r));
  const state = {
    calls: 0,
    started,
    open: () => open(),
    store: {
      reconcile: async () => {
        state.calls++;
        began();
        await gate;
        return { added: 2, removed: 1 };
      },
    },
  };
  return state;
}

function recorder() {
  const lines: Array<{ level: string; obj: object; msg: string }> = [];
  return {
    lines,
    info: (obj: object, msg: string) => { lines.push({ level: 'info', obj, msg }); },
    warn: (obj: object, msg: string) => { lines.push({ level: 'warn', obj, msg }); },
  };
}

describe('reconcileAtStart', () => {
  let dir: string;
  let leases: SqliteStore;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-reconcile-'));
    leases = new SqliteStore({ path: path.join(dir, 'berth.db') });
    await leases.init();
  });
  after(async () => {
    await leases.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs once across instances that start together, and again at a later start', async () => {
    const r = gatedReconcile();
    const log = recorder();
    const first = reconcileAtStart({ store: r.store, leases: leases.leases, owner: 'instance-a', log });
    await r.started;
    // A second instance starting while the first reconciles skips: it finds the lease taken.
    await reconcileAtStart({ store: r.store, leases: leases.leases, owner: 'instance-b', log });
    assert.equal(r.calls, 1);
    r.open();
    await first;
    assert.deepEqual(log.lines.map((l) => [l.level, l.msg, (l.obj as { added?: number }).added, (l.obj as { removed?: number }).removed]),
      [['info', 'search index reconciled', 2, 1]]);
    // Given back when done: the next start reconciles again.
    assert.equal(await leases.leases.acquire(STARTUP_RECONCILE_LEASE, 'probe', Date.now() + 1000, Date.now()), true);
    await leases.leases.release(STARTUP_RECONCILE_LEASE, 'probe');
    await reconcileAtStart({ store: r.store, leases: leases.leases, owner: 'instance-c', log });
    assert.equal(r.calls, 2);
  });

  it('logs a failure as a warning, never rejects, and gives the lease back', async () => {
    const log = recorder();
    await reconcileAtStart({ store: { reconcile: () => Promise.reject(new Error('database is locked')) }, leases: leases.leases, owner: 'instance-d', log });
    assert.deepEqual(log.lines, [{ level: 'warn', obj: { err: 'database is locked' }, msg: 'failed to reconcile the search index, retrying within the hour' }]);
    assert.equal(await leases.leases.acquire(STARTUP_RECONCILE_LEASE, 'probe', Date.now() + 1000, Date.now()), true);
    await leases.leases.release(STARTUP_RECONCILE_LEASE, 'probe');
  });
});
