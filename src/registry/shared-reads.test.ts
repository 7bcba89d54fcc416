import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SharedReads } from './shared-reads.js';

describe('SharedReads', () => {
  it('callers of one turn share one read per key; every one gets its value', async () => {
    const reads: string[] = [];
    const shared = new SharedReads<string>();
    const read = (key: string) => {
      reads.push(key);
      return Promise.resolve(`value of ${key}`);
    };
    const got = await Promise.all([shared.get('a', read), shared.get('a', read), shared.get('b', read), shared.get('a', read)]);
    assert.deepEqual(got, ['value of a', 'value of a', 'value of b', 'value of a']);
    assert.deepEqual(reads.sort(), ['a', 'b']);
  });

  it('never answers with a value read before the caller asked: a caller after the read went out gets a read of its own', async () => {
    let stored = 1;
    let sent = 0;
    const shared = new SharedReads<number>();
    let late = null as Promise<number> | null;
    const read = async () => {
      sent++;
      const value = stored; // what the database holds as the statement runs
      if (sent === 1) {
        // A change commits while the first read is in flight, then a new request asks.
        stored = 2;
        late = shared.get('k', read);
      }
      await new Promise((r) => setImmediate(r));
      return value;
    };
    const early = await shared.get('k', read);
    assert.equal(early, 1);
    assert.ok(late);
    assert.equal(await late, 2);
    assert.equal(sent, 2);
  });

  it('a failed read fails every caller that shared it, and the next caller reads again', async () => {
    let fail = true;
    const shared = new SharedReads<number>();
    const read = () => (fail ? Promise.reject(new Error('database unreachable')) : Promise.resolve(7));
    const results = await Promise.allSettled([shared.get('k', read), shared.get('k', read)]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    fail = false;
    assert.equal(await shared.get('k', read), 7);
  });
});
