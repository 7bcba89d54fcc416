import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginLimiter, type Lockout } from './login-limiter.js';

const limits = { perUserAddress: 3, perAddress: 10, perUser: 6, windowMs: 60_000 };

test('a guesser from one address is stopped at the per-(user, address) limit; the user still logs in from elsewhere', () => {
  const seen: Lockout[] = [];
  const l = new LoginLimiter({ ...limits, onLockout: (x) => seen.push(x) });
  const t0 = 1_000_000;
  for (let i = 0; i < 3; i++) {
    assert.equal(l.retryAfter('alice', '10.0.0.9', t0), 0);
    l.fail('alice', '10.0.0.9', t0);
  }
  assert.equal(l.retryAfter('alice', '10.0.0.9', t0), 60);
  assert.equal(l.retryAfter('alice', '192.168.1.5', t0), 0, 'alice from her own address is not locked out');
  assert.equal(l.retryAfter('bob', '10.0.0.9', t0), 0, 'another user from that address is not either');
  assert.deepEqual(seen, [{ kind: 'user-address', user: 'alice', address: '10.0.0.9', until: t0 + 60_000 }]);
  assert.equal(l.retryAfter('alice', '10.0.0.9', t0 + 60_000), 0, 'the window ends');
});

test('failures from many addresses reach the much higher per-user limit', () => {
  const l = new LoginLimiter(limits);
  for (let i = 0; i < 6; i++) l.fail('alice', `10.0.0.${i}`, 0);
  assert.equal(l.retryAfter('alice', '192.168.1.5', 0), 60, 'a distributed guess locks the user');
  assert.deepEqual(l.lockouts(0), [{ kind: 'user', user: 'alice', address: null, until: 60_000 }]);
});

test('one address spraying user names is stopped at the per-address limit', () => {
  const l = new LoginLimiter(limits);
  for (let i = 0; i < 10; i++) l.fail(`user${i}`, '10.0.0.1', 0);
  assert.equal(l.retryAfter('alice', '10.0.0.1', 0), 60);
  assert.equal(l.retryAfter('alice', '10.0.0.2', 0), 0);
});

test('a success clears that user\'s failures from that address only', () => {
  const l = new LoginLimiter(limits);
  l.fail('alice', 'a', 0);
  l.fail('alice', 'a', 0);
  l.succeed('alice', 'a');
  l.fail('alice', 'a', 0);
  l.fail('alice', 'a', 0);
  assert.equal(l.retryAfter('alice', 'a', 0), 0, '2 failures after the success, under 3');
});

test('operators list and clear lockouts by user or address', () => {
  const l = new LoginLimiter(limits);
  for (let i = 0; i < 3; i++) l.fail('alice', 'a', 0);
  for (let i = 0; i < 3; i++) l.fail('bob', 'b', 0);
  assert.deepEqual(l.lockouts(0).map((x) => [x.kind, x.user, x.address]).sort(), [['user-address', 'alice', 'a'], ['user-address', 'bob', 'b']]);
  assert.ok(l.clear({ user: 'alice' }) >= 2);
  assert.equal(l.retryAfter('alice', 'a', 0), 0);
  assert.equal(l.retryAfter('bob', 'b', 0), 60);
  l.clear({ address: 'b' });
  assert.equal(l.retryAfter('bob', 'b', 0), 0);
});

test('memory is bounded: the oldest keys go first', () => {
  const l = new LoginLimiter({ ...limits, maxKeys: 5 });
  for (let i = 0; i < 100; i++) l.fail(null, `addr-${i}`, 0);
  assert.ok(l.lockouts(0).length === 0);
  assert.equal(l.retryAfter(null, 'addr-0', 0), 0);
});
