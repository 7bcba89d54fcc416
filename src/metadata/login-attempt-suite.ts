import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { LoginAttemptStore, LoginFailureKey } from './login-attempt-store.js';
import { openedStore, type MetadataSuiteOptions } from './store-suite.js';

const ua = (user: string, address: string): LoginFailureKey => ({ kind: 'user-address', user, address });
const a = (address: string): LoginFailureKey => ({ kind: 'address', user: null, address });
const u = (user: string): LoginFailureKey => ({ kind: 'user', user, address: null });
const limits = { perUserAddress: 3, perAddress: 5, perUser: 4 };

/**
 * The contract suite of the failed-login store (login-attempt-store.ts), run
 * by every metadata backend. Tests use their own user names and addresses
 * and clear what they wrote; the last test checks nothing is left behind.
 */
export function runLoginAttemptSuite(options: MetadataSuiteOptions): void {
  describe(`login attempt store: ${options.name}`, { skip: options.skipReason ?? false }, () => {
    const opened = openedStore(options);
    let store: LoginAttemptStore;
    before(() => {
      store = opened.store.loginAttempts;
    });

    it('counts failures per key in a fixed window, and starts a new window once it ended', async () => {
      const keys = [ua('w-alice', '10.0.0.1'), a('10.0.0.1'), u('w-alice')];
      assert.deepEqual(await store.recordFailure(keys, 1000, 60_000), [
        { kind: 'address', user: null, address: '10.0.0.1', failures: 1, resetAt: 61_000 },
        { kind: 'user', user: 'w-alice', address: null, failures: 1, resetAt: 61_000 },
        { kind: 'user-address', user: 'w-alice', address: '10.0.0.1', failures: 1, resetAt: 61_000 },
      ]);
      const second = await store.recordFailure(keys, 30_000, 60_000);
      assert.deepEqual(second.map((w) => [w.kind, w.failures, w.resetAt]), [['address', 2, 61_000], ['user', 2, 61_000], ['user-address', 2, 61_000]], 'the window keeps its end');
      assert.deepEqual((await store.recordFailure([ua('w-alice', '10.0.0.2'), a('10.0.0.2'), u('w-alice')], 40_000, 60_000)).map((w) => [w.kind, w.address, w.failures]),
        [['address', '10.0.0.2', 1], ['user', null, 3], ['user-address', '10.0.0.2', 1]], 'the user\'s window counts every address');
      assert.deepEqual(await store.recordFailure([ua('w-alice', '10.0.0.1')], 61_000, 60_000), [
        { kind: 'user-address', user: 'w-alice', address: '10.0.0.1', failures: 1, resetAt: 121_000 },
      ], 'a failure at the end of the window starts a new one');
      assert.deepEqual(await store.recordFailure([a('10.0.0.9'), a('10.0.0.9')], 0, 1000), [{ kind: 'address', user: null, address: '10.0.0.9', failures: 1, resetAt: 1000 }], 'a key given twice counts once');
      assert.deepEqual(await store.recordFailure([], 0, 1000), []);
      await store.clear({ user: 'w-alice' });
      await store.clear({ address: '10.0.0.1' });
      await store.clear({ address: '10.0.0.2' });
      await store.clear({ address: '10.0.0.9' });
    });

    it('counts racing failures exactly: each caller sees its own count', async () => {
      const keys = [ua('r-bob', '10.1.0.1'), a('10.1.0.1'), u('r-bob')];
      const results = await Promise.all(Array.from({ length: 20 }, () => store.recordFailure(keys, 5000, 60_000)));
      for (const kind of ['user-address', 'address', 'user'] as const) {
        const counts = results.map((r) => r.find((w) => w.kind === kind)?.failures).sort((x = 0, y = 0) => x - y);
        assert.deepEqual(counts, Array.from({ length: 20 }, (_, i) => i + 1), kind);
      }
      // Racers over overlapping key sets (one shared row each) do not deadlock.
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.recordFailure([ua(`r-user${i}`, '10.1.0.1'), a('10.1.0.1'), u(`r-user${i}`)], 5000, 60_000)));
      assert.deepEqual(await store.read([a('10.1.0.1')], 5000), [{ kind: 'address', user: null, address: '10.1.0.1', failures: 30, resetAt: 65_000 }]);
      assert.equal((await store.clear({ address: '10.1.0.1' })).length, 12, 'the address and its 11 user pairs');
      assert.equal((await store.clear({})).filter((w) => w.kind === 'user').length, 11);
    });

    it('reads the windows of a key set that have not ended', async () => {
      await store.recordFailure([ua('rd-carol', '10.2.0.1'), u('rd-carol')], 0, 1000);
      await store.recordFailure([a('10.2.0.1')], 500, 1000);
      const keys = [ua('rd-carol', '10.2.0.1'), a('10.2.0.1'), u('rd-carol'), u('rd-nobody')];
      assert.deepEqual((await store.read(keys, 999)).map((w) => w.kind), ['address', 'user', 'user-address']);
      assert.deepEqual(await store.read(keys, 1000), [{ kind: 'address', user: null, address: '10.2.0.1', failures: 1, resetAt: 1500 }], 'two windows ended at 1000');
      assert.deepEqual(await store.read([], 0), []);
      await store.forget(a('10.2.0.1'));
      await store.forget(a('10.2.0.1'));
      assert.deepEqual(await store.read(keys, 0), [
        { kind: 'user', user: 'rd-carol', address: null, failures: 1, resetAt: 1000 },
        { kind: 'user-address', user: 'rd-carol', address: '10.2.0.1', failures: 1, resetAt: 1000 },
      ], 'forget deletes one key only');
      assert.equal((await store.clear({ user: 'rd-carol' })).length, 2);
    });

    it('lists the windows at or over their kind\'s limit, ordered, at most max', async () => {
      for (let i = 0; i < 3; i++) await store.recordFailure([ua('l-dave', '10.3.0.1'), a('10.3.0.1'), u('l-dave')], 0, 1000);
      for (let i = 0; i < 2; i++) await store.recordFailure([ua('l-erin', '10.3.0.2'), a('10.3.0.2'), u('l-erin')], 0, 1000);
      for (let i = 0; i < 5; i++) await store.recordFailure([a('10.3.0.3')], 0, 2000);
      for (let i = 0; i < 4; i++) await store.recordFailure([u('l-frank')], 0, 1000);
      assert.deepEqual(await store.lockouts(0, limits, 100), [
        { kind: 'address', user: null, address: '10.3.0.3', failures: 5, resetAt: 2000 },
        { kind: 'user', user: 'l-frank', address: null, failures: 4, resetAt: 1000 },
        { kind: 'user-address', user: 'l-dave', address: '10.3.0.1', failures: 3, resetAt: 1000 },
      ]);
      assert.deepEqual((await store.lockouts(0, limits, 2)).map((w) => w.kind), ['address', 'user']);
      assert.deepEqual((await store.lockouts(1000, limits, 100)).map((w) => w.address), ['10.3.0.3'], 'ended windows are no lockouts');
      assert.deepEqual((await store.lockouts(0, { perUserAddress: 2, perAddress: 100, perUser: 100 }, 100)).map((w) => w.user), ['l-dave', 'l-erin']);
      await store.clear({});
    });

    it('clears by user, by address, by the pair (what stops that user there), or all, returning what it deleted', async () => {
      const fail = (user: string, address: string) => store.recordFailure([ua(user, address), a(address), u(user)], 0, 1000);
      await fail('c-gina', '10.4.0.1');
      await fail('c-gina', '10.4.0.2');
      await fail('c-hank', '10.4.0.1');
      await fail('c-hank', '10.4.0.2');
      const keysOf = (ws: { kind: string; user: string | null; address: string | null }[]) => ws.map((w) => `${w.kind} ${w.user ?? '-'} ${w.address ?? '-'}`);
      assert.deepEqual(keysOf(await store.clear({ user: 'c-gina', address: '10.4.0.1' })), ['address - 10.4.0.1', 'user c-gina -', 'user-address c-gina 10.4.0.1']);
      assert.deepEqual(keysOf(await store.clear({ user: 'c-gina' })), ['user-address c-gina 10.4.0.2']);
      assert.deepEqual(keysOf(await store.clear({ address: '10.4.0.2' })), ['address - 10.4.0.2', 'user-address c-hank 10.4.0.2']);
      assert.deepEqual(keysOf(await store.clear({ user: 'nobody' })), []);
      assert.deepEqual(keysOf(await store.clear({})), ['user c-hank -', 'user-address c-hank 10.4.0.1']);
      assert.deepEqual(await store.clear({}), []);
    });

    it('prunes windows that ended, and leaves nothing behind', async () => {
      await store.recordFailure([a('10.5.0.1')], 0, 1000);
      await store.recordFailure([a('10.5.0.2')], 0, 2000);
      assert.equal(await store.prune(999), 0);
      assert.equal(await store.prune(1000), 1, 'ended at 1000');
      assert.deepEqual((await store.read([a('10.5.0.1'), a('10.5.0.2')], 0)).map((w) => w.address), ['10.5.0.2']);
      assert.equal(await store.prune(Number.MAX_SAFE_INTEGER), 1);
      assert.deepEqual(await store.clear({}), [], 'no windows are left behind');
    });
  });
}
