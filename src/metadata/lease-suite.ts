import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { LeaseStore } from './lease-store.js';
import { openedStore, type MetadataSuiteOptions } from './store-suite.js';

/**
 * The contract suite of the lease store (lease-store.ts), run by every
 * metadata backend. Tests use their own lease names and release what they
 * take, so one store serves all.
 */
export function runLeaseSuite(options: MetadataSuiteOptions): void {
  describe(`lease store: ${options.name}`, { skip: options.skipReason ?? false }, () => {
    const opened = openedStore(options);
    let leases: LeaseStore;
    before(() => {
      leases = opened.store.leases;
    });

    it('grants a lease to one owner at a time, until it expires or is released', async () => {
      assert.equal(await leases.acquire('job/x', 'a', 1000, 0), true);
      assert.equal(await leases.acquire('job/x', 'b', 2000, 500), false, 'held by a until 1000');
      assert.equal(await leases.acquire('job/x', 'a', 3000, 600), true, 'the owner renews');
      assert.equal(await leases.acquire('job/x', 'b', 4000, 2999), false);
      assert.equal(await leases.acquire('job/x', 'b', 5000, 3000), true, 'an expired lease is taken over');
      await leases.release('job/x', 'a');
      assert.equal(await leases.acquire('job/x', 'c', 6000, 3001), false, 'only the owner can release');
      await leases.release('job/x', 'b');
      assert.equal(await leases.acquire('job/x', 'c', 6000, 3002), true);
      const racers = await Promise.all(Array.from({ length: 10 }, (_, i) => leases.acquire('job/race', `r${i}`, 10_000, 1)));
      assert.equal(racers.filter(Boolean).length, 1, 'exactly one of ten racers wins');
      assert.equal(await leases.prune(6001), 1, 'job/x expired at 6000');
      assert.equal(await leases.prune(6001), 0);
      await leases.release('job/race', `r${racers.indexOf(true)}`);
    });
  });
}
