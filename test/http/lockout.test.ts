import http from 'node:http';
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/postgres.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ADMIN = basic('admin', 'admin-password-1');

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request from a chosen loopback address (Linux routes all of 127/8 to lo), so each test's client has an address of its own. */
function request(t: TestBerth, method: string, target: string, from: string, authorization: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { ...(authorization ? { Authorization: authorization } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) };
    const req = http.request({ host: '127.0.0.1', port: t.berth.address.port, method, path: target, localAddress: from, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject).end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const code = (r: Reply) => (JSON.parse(r.body) as { errors?: { code: string }[] }).errors?.[0]?.code;
/** A docker login: Basic credentials at Berth's token endpoint. */
const login = (t: TestBerth, from: string, password: string) => request(t, 'GET', '/auth/token?service=berth', from, basic('alice', password));

/**
 * Two Berth instances on one database, as behind a load balancer: the
 * failed-login limits and an administrator's clear hold across both.
 * SQLite (one file both open) by default; PostgreSQL with BERTH_TEST_DATABASE=postgres.
 */
describe('login lockouts across two instances sharing a database', () => {
  let dir: string;
  let scratch: ScratchDatabase | null = null;
  let one: TestBerth;
  let two: TestBerth;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-lockout-'));
    if (process.env.BERTH_TEST_DATABASE === 'postgres') scratch = await createScratchDatabase();
    const env = { REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: 'admin-password-1', BERTH_DATABASE_URL: scratch ? scratch.url : `sqlite:${path.join(dir, 'berth.db')}` };
    // One after the other: the first creates the administrator.
    one = await startTestBerth(env);
    two = await startTestBerth(env);
    const created = await request(one, 'POST', '/api/v1/users', '127.0.0.1', ADMIN, { name: 'alice', password: 'alice-password' });
    assert.equal(created.status, 201, created.body);
  });
  after(async () => {
    await one?.close();
    await two?.close();
    await scratch?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('10 wrong passwords spread over both lock the (user, address) pair on both; an admin\'s clear through one unlocks both at once', async () => {
    const guesser = '127.0.0.2';
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await login(i % 2 ? two : one, guesser, `wrong-${i}`)).status);
    assert.deepEqual(statuses, Array(10).fill(401), 'each instance saw only 5 failures: the limit of 10 is shared');

    for (const t of [one, two]) {
      const r = await login(t, guesser, 'alice-password');
      assert.equal(r.status, 429, 'the right password is refused on both');
      assert.equal(code(r), 'TOOMANYREQUESTS');
      const wait = Number(r.headers['retry-after']);
      assert.ok(wait > 890 && wait <= 900, `Retry-After ${r.headers['retry-after']}: the rest of the 15 minute window`);
      assert.equal((await login(t, '127.0.0.3', 'alice-password')).status, 200, 'alice from another address is not locked out');
    }

    const listed = await request(two, 'GET', '/api/v1/lockouts', '127.0.0.1', ADMIN);
    assert.equal(listed.status, 200);
    const { lockouts } = JSON.parse(listed.body) as { lockouts: { kind: string; user: string; address: string; failures: number; until: string }[] };
    assert.deepEqual(lockouts.map((l) => ({ ...l, until: undefined })), [{ kind: 'user-address', user: 'alice', address: guesser, failures: 10, until: undefined }]);
    assert.ok(Date.parse(lockouts[0]?.until ?? '') > Date.now() + 890_000);

    const cleared = await request(one, 'DELETE', '/api/v1/lockouts?user=alice', '127.0.0.1', ADMIN);
    assert.equal(cleared.status, 200);
    assert.deepEqual(JSON.parse(cleared.body), { cleared: 1, lockouts: lockouts });
    for (const t of [two, one]) assert.equal((await login(t, guesser, 'alice-password')).status, 200, 'unlocked on both, at once');
    assert.deepEqual(JSON.parse((await request(two, 'GET', '/api/v1/lockouts', '127.0.0.1', ADMIN)).body), { lockouts: [] });

    const audit = await request(two, 'GET', '/api/v1/audit?action=lockout.clear', '127.0.0.1', ADMIN);
    const events = (JSON.parse(audit.body) as { events: { actor: string; target: string; outcome: string; remoteAddress: string; detail: unknown }[] }).events;
    assert.deepEqual(events.map((e) => [e.actor, e.target, e.outcome, e.remoteAddress, e.detail]), [['admin', 'alice', 'success', '127.0.0.1', { user: 'alice', address: null, cleared: 1 }]]);
  });

  it('clears by address, or all; bad parameters are BERTH_INVALID', async () => {
    for (let i = 0; i < 10; i++) await login(i % 2 ? two : one, '127.0.0.4', `wrong-${i}`);
    assert.equal((await login(two, '127.0.0.4', 'alice-password')).status, 429);
    const cleared = await request(two, 'DELETE', '/api/v1/lockouts?address=127.0.0.4', '127.0.0.1', ADMIN);
    assert.equal(cleared.status, 200);
    assert.equal((JSON.parse(cleared.body) as { cleared: number }).cleared, 1);
    assert.equal((await login(one, '127.0.0.4', 'alice-password')).status, 200);

    for (const q of ['?user=', '?user=a&user=b', '?who=alice']) {
      const r = await request(one, 'DELETE', `/api/v1/lockouts${q}`, '127.0.0.1', ADMIN);
      assert.equal(r.status, 400, q);
      assert.equal(code(r), 'BERTH_INVALID', q);
    }
    const all = await request(one, 'DELETE', '/api/v1/lockouts', '127.0.0.1', ADMIN);
    assert.equal(all.status, 200);
    assert.deepEqual(JSON.parse(all.body), { cleared: 0, lockouts: [] }, 'alice\'s failures below the limit go too, but are no lockouts');
  });

  it('refuses the lockout routes to a user who is not an administrator (403 DENIED) and to anonymous clients (401)', async () => {
    const alice = basic('alice', 'alice-password');
    for (const method of ['GET', 'DELETE']) {
      const r = await request(one, method, '/api/v1/lockouts', '127.0.0.5', alice);
      assert.equal(r.status, 403, method);
      assert.equal(code(r), 'DENIED', method);
      const anonymous = await request(two, method, '/api/v1/lockouts', '127.0.0.5', '');
      assert.equal(anonymous.status, 401, method);
      assert.equal(code(anonymous), 'UNAUTHORIZED', method);
    }
  });
});
