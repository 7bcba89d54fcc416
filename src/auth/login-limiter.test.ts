import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { SqliteStore } from '../metadata/sqlite/sqlite-store.js';
import type { LoginAttemptStore } from '../metadata/index.js';
import { RegistryError } from '../errors/index.js';
import { LoginLimiter, type Lockout } from './login-limiter.js';
import { createAuth } from './setup.js';

const limits = { perUserAddress: 3, perAddress: 10, perUser: 6, windowMs: 60_000 };

/** Counts the store's calls by method, so a test can say which ones a login made. */
function counting(store: LoginAttemptStore): { store: LoginAttemptStore; calls: string[] } {
  const calls: string[] = [];
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: wrapped, calls };
}

// The limiter over the real store (SQLite in a scratch folder); the same
// store runs on PostgreSQL in the metadata suites. Each test clears it first.
describe('login limiter over the shared store', () => {
  let dir: string;
  let db: SqliteStore;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-limiter-'));
    db = new SqliteStore({ path: path.join(dir, 'berth.db') });
    await db.init();
  });
  after(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  const limiter = (extra: { onLockout?: (l: Lockout) => void; store?: LoginAttemptStore } = {}) => new LoginLimiter({ ...limits, store: db.loginAttempts, ...extra });
  const fresh = async () => {
    await db.loginAttempts.clear({});
  };

  it('a guesser from one address is stopped at the per-(user, address) limit; the user still logs in from elsewhere', async () => {
    await fresh();
    const seen: Lockout[] = [];
    const l = limiter({ onLockout: (x) => seen.push(x) });
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) {
      assert.equal(await l.retryAfter('alice', '10.0.0.9', t0), 0);
      await l.fail('alice', '10.0.0.9', t0);
    }
    assert.equal(await l.retryAfter('alice', '10.0.0.9', t0), 60);
    assert.equal(await l.retryAfter('alice', '10.0.0.9', t0 + 59_001), 1, 'seconds to wait, rounded up');
    assert.equal(await l.retryAfter('alice', '192.168.1.5', t0), 0, 'alice from her own address is not locked out');
    assert.equal(await l.retryAfter('bob', '10.0.0.9', t0), 0, 'another user from that address is not either');
    assert.deepEqual(seen, [{ kind: 'user-address', user: 'alice', address: '10.0.0.9', failures: 3, until: t0 + 60_000 }]);
    await l.fail('alice', '10.0.0.9', t0);
    assert.equal(seen.length, 1, 'told once, when the limit is reached');
    assert.equal(await l.retryAfter('alice', '10.0.0.9', t0 + 60_000), 0, 'the window ends');
  });

  it('failures from many addresses reach the much higher per-user limit', async () => {
    await fresh();
    const l = limiter();
    for (let i = 0; i < 6; i++) await l.fail('alice', `10.0.0.${i}`, 0);
    assert.equal(await l.retryAfter('alice', '192.168.1.5', 0), 60, 'a distributed guess locks the user');
    assert.deepEqual(await l.lockouts(0), [{ kind: 'user', user: 'alice', address: null, failures: 6, until: 60_000 }]);
  });

  it('one address spraying user names is stopped at the per-address limit', async () => {
    await fresh();
    const l = limiter();
    for (let i = 0; i < 10; i++) await l.fail(`user${i}`, '10.0.0.1', 0);
    assert.equal(await l.retryAfter('alice', '10.0.0.1', 0), 60);
    assert.equal(await l.retryAfter(null, '10.0.0.1', 0), 60, 'an attempt without a user name too');
    assert.equal(await l.retryAfter('alice', '10.0.0.2', 0), 0);
  });

  it('a success clears that user\'s failures from that address only, and writes nothing when there were none', async () => {
    await fresh();
    const { store, calls } = counting(db.loginAttempts);
    const l = limiter({ store });
    await l.fail('alice', 'a', 0);
    await l.fail('alice', 'a', 0);
    let check = await l.check('alice', 'a', 0);
    assert.deepEqual(check, { retryAfter: 0, pairFailures: 2 });
    await l.succeed('alice', 'a', check);
    await l.fail('alice', 'a', 0);
    await l.fail('alice', 'a', 0);
    assert.equal(await l.retryAfter('alice', 'a', 0), 0, '2 failures after the success, under 3');
    assert.deepEqual((await db.loginAttempts.read([{ kind: 'user', user: 'alice', address: null }], 0)).map((w) => w.failures), [4], 'the user\'s own count stays');
    await db.loginAttempts.clear({});
    calls.length = 0;
    check = await l.check('alice', 'a', 0);
    await l.succeed('alice', 'a', check);
    assert.deepEqual(calls, ['read'], 'a login without failures before it: one read, no write');
  });

  it('holds across instances: failures through two limiters on one database add up, and a clear through one frees both at once', async () => {
    await fresh();
    const seen: Lockout[] = [];
    const one = limiter({ onLockout: (x) => seen.push(x) });
    const two = limiter({ onLockout: (x) => seen.push(x) });
    await one.fail('carol', '10.9.0.1', 0);
    await two.fail('carol', '10.9.0.1', 0);
    assert.equal(await one.retryAfter('carol', '10.9.0.1', 0), 0);
    await two.fail('carol', '10.9.0.1', 0);
    assert.equal(await one.retryAfter('carol', '10.9.0.1', 0), 60, 'three failures in all: locked on the first instance');
    assert.equal(await two.retryAfter('carol', '10.9.0.1', 0), 60, 'and on the second');
    assert.equal(seen.length, 1, 'the lockout is reported once, by the instance whose failure reached the limit');
    assert.deepEqual(await one.clear({ user: 'carol' }, 0), [{ kind: 'user-address', user: 'carol', address: '10.9.0.1', failures: 3, until: 60_000 }], 'returns the lockouts it ended (not the user\'s count under its limit)');
    assert.equal(await two.retryAfter('carol', '10.9.0.1', 0), 0, 'the other instance sees the clear at once');
  });

  it('racing failures on several instances are each counted: each limit is reached, and reported, exactly once', async () => {
    await fresh();
    const seen: Lockout[] = [];
    const instances = Array.from({ length: 4 }, () => limiter({ onLockout: (x) => seen.push(x) }));
    await Promise.all(Array.from({ length: 12 }, (_, i) => (instances[i % 4] as LoginLimiter).fail('dave', '10.8.0.1', 0)));
    assert.deepEqual(seen.map((x) => [x.kind, x.failures]).sort(), [['address', 10], ['user', 6], ['user-address', 3]]);
    assert.deepEqual((await db.loginAttempts.read([{ kind: 'address', user: null, address: '10.8.0.1' }], 0)).map((w) => w.failures), [12], 'all 12 counted');
    for (const l of instances) assert.equal(await l.retryAfter('dave', '10.8.0.1', 0), 60);
  });

  it('operators list and clear lockouts by user, by address, by the pair, or all', async () => {
    await fresh();
    const l = limiter();
    for (let i = 0; i < 3; i++) await l.fail('alice', 'a', 0);
    for (let i = 0; i < 3; i++) await l.fail('bob', 'b', 0);
    assert.deepEqual((await l.lockouts(0)).map((x) => [x.kind, x.user, x.address]), [['user-address', 'alice', 'a'], ['user-address', 'bob', 'b']]);
    assert.equal((await l.clear({ user: 'alice' }, 0)).length, 1);
    assert.equal(await l.retryAfter('alice', 'a', 0), 0);
    assert.equal(await l.retryAfter('bob', 'b', 0), 60);
    assert.equal((await l.clear({ address: 'b' }, 0)).length, 1);
    assert.equal(await l.retryAfter('bob', 'b', 0), 0);
    for (let i = 0; i < 3; i++) await l.fail('erin', 'e', 0);
    assert.equal((await l.clear({ user: 'erin', address: 'e' }, 0)).length, 1);
    for (let i = 0; i < 3; i++) await l.fail('erin', 'e', 0);
    assert.deepEqual((await l.clear({}, 0)).map((x) => x.user), ['erin']);
    assert.deepEqual(await l.lockouts(0), []);
  });

  it('prunes ended windows, so the table stays bounded', async () => {
    await fresh();
    const l = limiter();
    for (let i = 0; i < 50; i++) await l.fail(null, `addr-${i}`, 0);
    assert.equal(await l.prune(59_999), 0);
    assert.equal(await l.prune(60_000), 50);
    assert.deepEqual(await db.loginAttempts.clear({}), []);
  });

  it('logs a lockout at warn level with the user and the address, never the password (htpasswd)', async () => {
    await fresh();
    const file = path.join(dir, 'htpasswd');
    await writeFile(file, `frank:${bcrypt.hashSync('right-password', 4)}\n`);
    const warnings: { fields: Record<string, unknown>; msg: string }[] = [];
    const auth = await createAuth({ kind: 'htpasswd', realm: 'berth', path: file, limits }, {
      loginAttempts: db.loginAttempts,
      log: { warn: (fields, msg) => warnings.push({ fields: fields as Record<string, unknown>, msg }) },
    });
    const login = (password: string) => auth.authenticator?.login('frank', password, '10.7.0.1');
    for (let i = 0; i < 3; i++) assert.equal(await login(`guess-${i}`), null);
    await assert.rejects(login('right-password') as Promise<unknown>, (err: unknown) => {
      assert.ok(err instanceof RegistryError);
      assert.equal(err.code, 'TOOMANYREQUESTS');
      assert.equal(err.status, 429);
      assert.ok(Number(err.headers?.['Retry-After']) > 0);
      return true;
    });
    const lockouts = warnings.filter((w) => w.msg === 'login locked out after too many failures');
    assert.equal(lockouts.length, 1);
    assert.deepEqual({ ...lockouts[0]?.fields, 'lockout.until': undefined }, {
      'lockout.kind': 'user-address', user: 'frank', 'client.address': '10.7.0.1', 'lockout.failures': 3, 'lockout.until': undefined,
    });
    assert.doesNotMatch(JSON.stringify(warnings), /guess-|right-password/);
    assert.ok(await auth.limiter?.clear({ user: 'frank' }));
    assert.deepEqual(await login('right-password'), { kind: 'user', name: 'frank' }, 'cleared: the right password works');
  });
});
