import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditStore } from './audit-store.js';
import { openedStore, type MetadataSuiteOptions } from './store-suite.js';

/**
 * The contract suite of the audit store (audit-store.ts), run by every
 * metadata backend. Tests filter on their own actors, so one store serves all.
 */
export function runAuditSuite(options: MetadataSuiteOptions): void {
  describe(`audit store: ${options.name}`, { skip: options.skipReason ?? false }, () => {
    const opened = openedStore(options);
    let audit: AuditStore;
    before(() => {
      audit = opened.store.audit;
    });

    it('keeps the audit log, newest first, filtered', async () => {
      const e = (time: number, actor: string | null, action: string) => ({ time, actor, action, target: 'x', remoteAddress: '127.0.0.1', outcome: 'success' as const, detail: { n: time } });
      await audit.record(e(10_000, 'a-ann', 'login'));
      await audit.record(e(10_001, 'a-ann', 'manifest.push'));
      await audit.record(e(10_001, null, 'manifest.pull'));
      await audit.record(e(10_002, 'a-ben', 'login'));
      const mine = await audit.list({ actor: 'a-ann', limit: 10 });
      assert.deepEqual(mine.map((x) => x.action), ['manifest.push', 'login']);
      assert.deepEqual(mine[0]?.detail, { n: 10_001 });
      const logins = await audit.list({ action: 'login', since: 10_000, limit: 10 });
      assert.deepEqual(logins.filter((x) => x.actor?.startsWith('a-')).map((x) => x.actor), ['a-ben', 'a-ann']);
      assert.equal((await audit.list({ since: 10_001, limit: 2 })).length, 2);
    });

    it('prunes events older than a time, oldest first, in bounded batches', async () => {
      const e = (time: number) => ({ time, actor: 'p-old', action: 'login', target: null, remoteAddress: null, outcome: 'success' as const, detail: null });
      for (const time of [100, 200, 300, 400]) await audit.record(e(time));
      assert.equal(await audit.prune(350, 2), 2, 'a batch of at most 2');
      assert.deepEqual((await audit.list({ actor: 'p-old', limit: 10 })).map((x) => x.time), [400, 300]);
      assert.equal(await audit.prune(350, 100), 1);
      assert.equal(await audit.prune(350, 100), 0);
      assert.deepEqual((await audit.list({ actor: 'p-old', limit: 10 })).map((x) => x.time), [400], 'newer events stay');
    });
  });
}
