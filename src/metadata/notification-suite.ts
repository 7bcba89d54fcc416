import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { NotificationStore, OutboxEntry } from './notification-store.js';
import { openedStore, type MetadataSuiteOptions } from './store-suite.js';

/**
 * The contract suite of the notification store (notification-store.ts), run
 * by every metadata backend. Each test uses endpoint names of its own, so
 * one store serves all.
 */
export function runNotificationSuite(options: MetadataSuiteOptions): void {
  describe(`notification store: ${options.name}`, { skip: options.skipReason ?? false }, () => {
    const opened = openedStore(options);
    let store: NotificationStore;
    before(() => {
      store = opened.store.notifications;
    });

    const entry = (endpoint: string, n: number, createdAt = 1000 + n): OutboxEntry => ({
      id: `${endpoint}-${n}`, eventId: `event-${n}`, endpoint, action: 'push', repository: 'team/app',
      digest: `sha256:${n.toString(16).padStart(64, '0')}`, tag: n % 2 === 0 ? 'latest' : null, payload: JSON.stringify({ n }), createdAt,
    });

    it('enqueues rows and hands out the oldest pending row of an endpoint, one claimer at a time', async () => {
      await store.enqueue([entry('a', 2), entry('a', 1), entry('b', 3)]);
      const first = await store.claim('a', 'i1', 5000, 6000);
      assert.equal(first?.id, 'a-1', 'oldest first');
      assert.equal(first?.attempts, 1);
      assert.equal(first?.leaseOwner, 'i1');
      assert.equal(first?.leaseUntil, 6000);
      assert.equal(first?.lastAttemptAt, 5000);
      assert.deepEqual(JSON.parse(first?.payload ?? ''), { n: 1 });
      assert.equal(first?.tag, null);
      const second = await store.claim('a', 'i2', 5001, 6001);
      assert.equal(second?.id, 'a-2', 'a leased row is not handed out again');
      assert.equal(second?.tag, 'latest');
      assert.equal(await store.claim('a', 'i3', 5002, 6002), null, 'nothing left for a');
      assert.equal((await store.claim('b', 'i3', 5002, 6002))?.id, 'b-3', 'endpoints are apart');
    });

    it('a row whose lease expired (its instance died) is claimed again; delivered rows never', async () => {
      await store.enqueue([entry('c', 1)]);
      assert.equal((await store.claim('c', 'dead', 1000, 2000))?.id, 'c-1');
      assert.equal(await store.claim('c', 'alive', 1999, 3000), null, 'still leased at 1999');
      const again = await store.claim('c', 'alive', 2000, 3000);
      assert.equal(again?.id, 'c-1');
      assert.equal(again?.attempts, 2);
      await store.delivered('c-1', 'c', 2500);
      assert.equal(await store.claim('c', 'other', 9000, 10_000), null);
      const [row] = await store.list({ endpoint: 'c', limit: 10 });
      assert.equal(row?.status, 'delivered');
      assert.equal(row?.deliveredAt, 2500);
      assert.equal(row?.leaseOwner, null);
    });

    it('of many racing claimers each row goes to exactly one', async () => {
      await store.enqueue(Array.from({ length: 20 }, (_, i) => entry('race', i)));
      const got = await Promise.all(Array.from({ length: 30 }, (_, i) => store.claim('race', `r${i}`, 5000, 9000)));
      const ids = got.flatMap((r) => (r ? [r.id] : []));
      assert.equal(ids.length, 20, 'all 20 rows handed out, 10 claimers get none');
      assert.equal(new Set(ids).size, 20, 'no row twice');
    });

    it('counts consecutive failures per endpoint until a success, and keeps the backoff', async () => {
      await store.enqueue([entry('d', 1), entry('d', 2)]);
      const r1 = await store.claim('d', 'i1', 100, 200);
      assert.ok(r1);
      assert.equal(await store.failed(r1.id, 'd', 'i1', 110, 'HTTP 500'), 1);
      const r1again = await store.claim('d', 'i1', 120, 220);
      assert.equal(r1again?.id, r1.id, 'a failed row is pending again, still the oldest');
      assert.equal(r1again?.lastError, 'HTTP 500');
      assert.equal(await store.failed(r1.id, 'd', 'i1', 130, 'timed out after 1000ms'), 2);
      await store.defer('d', 5000);
      assert.equal(await store.claim('d', 'i1', 4999, 6000), null, 'nothing while the endpoint backs off');
      let [state] = await store.endpointStates(['d']);
      assert.deepEqual(state, { name: 'd', consecutiveFailures: 2, retryAt: 5000, lastError: 'timed out after 1000ms', lastFailureAt: 130, lastSuccessAt: null, pending: 2, delivered: 0 });
      assert.deepEqual((await store.list({ endpoint: 'd', status: 'retrying', limit: 10 })).map((r) => r.id), ['d-1']);
      assert.deepEqual((await store.list({ endpoint: 'd', status: 'pending', limit: 10 })).map((r) => r.id), ['d-2', 'd-1'], 'newest first');
      const r = await store.claim('d', 'i1', 6000, 7000);
      assert.ok(r);
      await store.delivered(r.id, 'd', 6100);
      [state] = await store.endpointStates(['d']);
      assert.deepEqual(state, { name: 'd', consecutiveFailures: 0, retryAt: 0, lastError: 'timed out after 1000ms', lastFailureAt: 130, lastSuccessAt: 6100, pending: 1, delivered: 1 });
      const [never] = await store.endpointStates(['never-tried']);
      assert.deepEqual(never, { name: 'never-tried', consecutiveFailures: 0, retryAt: 0, lastError: null, lastFailureAt: null, lastSuccessAt: null, pending: 0, delivered: 0 });
    });

    it('a failure reported by an instance that lost the lease leaves the row alone; release gives a row back untried', async () => {
      await store.enqueue([entry('e', 1)]);
      const r = await store.claim('e', 'old', 100, 200);
      assert.ok(r);
      const taken = await store.claim('e', 'new', 300, 400);
      assert.equal(taken?.id, r.id);
      await store.failed(r.id, 'e', 'old', 310, 'late failure');
      const [row] = await store.list({ endpoint: 'e', limit: 1 });
      assert.equal(row?.leaseOwner, 'new', 'still leased by the new owner');
      assert.equal(row?.lastError, null);
      await store.release(r.id, 'new');
      const [released] = await store.list({ endpoint: 'e', limit: 1 });
      assert.equal(released?.leaseOwner, null);
      assert.equal(released?.attempts, 1, 'the interrupted try is not counted');
      assert.equal((await store.claim('e', 'next', 320, 420))?.id, r.id, 'claimable at once');
    });

    it('prunes delivered rows older than the cut-off, in batches, never pending ones', async () => {
      await store.enqueue([entry('f', 1), entry('f', 2), entry('f', 3), entry('f', 4)]);
      for (const at of [100, 200, 300]) {
        const r = await store.claim('f', 'i', at, at + 50);
        assert.ok(r);
        await store.delivered(r.id, 'f', at + 10);
      }
      assert.equal(await store.prune(250, 1), 1, 'one per batch');
      assert.equal(await store.prune(250, 10), 1);
      assert.equal(await store.prune(250, 10), 0);
      assert.deepEqual((await store.list({ endpoint: 'f', limit: 10 })).map((r) => `${r.id}:${r.status}`), ['f-4:pending', 'f-3:delivered']);
    });

    it('enqueues a large batch in one go', async () => {
      await store.enqueue(Array.from({ length: 1200 }, (_, i) => entry('bulk', i)));
      const [state] = await store.endpointStates(['bulk']);
      assert.equal(state?.pending, 1200);
      assert.equal((await store.list({ endpoint: 'bulk', limit: 1000 })).length, 1000);
    });
  });
}
