import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { BcryptPool } from './bcrypt-pool.js';
import { HtpasswdFile, type HtpasswdProblem } from './htpasswd.js';

/** The real pool, counting what it is asked to do. */
class CountingPool extends BcryptPool {
  compares = 0;
  hashCosts: number[] = [];
  override compare(password: string, hash: string): Promise<boolean> {
    this.compares++;
    return super.compare(password, hash);
  }
  override hash(password: string, cost: number): Promise<string> {
    this.hashCosts.push(cost);
    return super.hash(password, cost);
  }
}

const line = (user: string, password: string, cost = 4) => `${user}:${bcrypt.hashSync(password, cost).replace(/^\$2b\$/, '$2y$')}`;

describe('htpasswd files', () => {
  let dir: string;
  let pool: CountingPool;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-htpasswd-'));
    pool = new CountingPool(1);
  });
  after(async () => {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts bcrypt entries and names every weak or broken line with its user', async () => {
    const file = path.join(dir, 'mixed');
    await writeFile(file, [
      '# comment', line('alice', 'wonderland'),
      'bob:$apr1$Jb3Vb0V1$uRVQb0qRx3Yw4v0i0XtZf/', 'carol:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', 'dave:rqXexS6ZhobKA',
      'erin:plaintext', 'no-colon-here', '',
    ].join('\n'));
    const told: HtpasswdProblem[][] = [];
    const h = new HtpasswdFile(file, { pool, onProblems: (p) => told.push([...p]) });
    await h.load();
    assert.deepEqual(h.problems.map((p) => [p.line, p.user, p.message.split(' ')[0]]), [
      [3, 'bob', 'MD5'], [4, 'carol', 'SHA-1'], [5, 'dave', 'DES'], [6, 'erin', 'not'], [7, null, 'not'],
    ]);
    assert.equal(told.length, 1, 'reported at load');
    assert.equal(await h.verify('alice', 'wonderland'), true);
    assert.equal(await h.verify('bob', 'anything'), false);
    assert.match(await h.unusableReason('bob') ?? '', /line 3 of .* MD5 \(\$apr1\$\) hash, which Berth does not accept; re-create it with htpasswd -B/);
    assert.equal(await h.unusableReason('alice'), null);
  });

  it('remembers a successful check until the file changes, and never a failed one', async () => {
    const file = path.join(dir, 'cache');
    await writeFile(file, `${line('alice', 'wonderland')}\n`);
    const h = new HtpasswdFile(file, { pool, recheckMs: 0 });
    await h.load();
    const before = pool.compares;
    assert.equal(await h.verify('alice', 'wonderland'), true);
    assert.equal(await h.verify('alice', 'wonderland'), true);
    assert.equal(await h.verify('alice', 'wonderland'), true);
    assert.equal(pool.compares - before, 1, 'one bcrypt for three logins');
    assert.equal(await h.verify('alice', 'nope'), false);
    assert.equal(await h.verify('alice', 'nope'), false);
    assert.equal(pool.compares - before, 3, 'wrong passwords are checked every time');
    await writeFile(file, `${line('alice', 'changed-password')}\n\n`);
    assert.equal(await h.verify('alice', 'wonderland'), false, 'the old password stops working at once');
    assert.equal(await h.verify('alice', 'changed-password'), true);
  });

  it('an unknown user costs a bcrypt at the cost of the file\'s entries', async () => {
    const file = path.join(dir, 'cost');
    await writeFile(file, `${line('a', 'x', 6)}\n${line('b', 'y', 6)}\n${line('c', 'z', 4)}\n`);
    const h = new HtpasswdFile(file, { pool });
    await h.load();
    const compares = pool.compares;
    assert.equal(await h.verify('mallory', 'guess'), false);
    assert.equal(pool.compares - compares, 1, 'a real comparison, against a dummy hash');
    assert.equal(pool.hashCosts.at(-1), 6, 'the dummy hash has the most common cost (6), not a fixed 10');
  });
});
