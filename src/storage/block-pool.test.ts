import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockPool } from './block-pool.js';

test('a block given back is taken again; foreign and twice-given chunks are ignored', () => {
  const pool = new BlockPool(1024, 2);
  const a = pool.take();
  assert.equal(a.length, 1024);
  pool.give(a.subarray(0, 10)); // a view of the block gives back the whole block
  const again = pool.take();
  assert.equal(again.buffer, a.buffer);
  pool.give(again);
  pool.give(again); // twice: must not be handed out twice
  const b = pool.take();
  const c = pool.take();
  assert.equal(b.buffer, a.buffer);
  assert.notEqual(c.buffer, a.buffer, 'one block in the free list, not two');
  pool.give(Buffer.alloc(1024)); // not the pool's
  pool.give(new Uint8Array(1024));
  const d = pool.take();
  assert.notEqual(d.buffer, b.buffer);
  assert.notEqual(d.buffer, c.buffer);
});

test('the free list is bounded', () => {
  const pool = new BlockPool(16, 1);
  const x = pool.take();
  const y = pool.take();
  pool.give(x);
  pool.give(y); // over the bound: dropped
  assert.equal(pool.take().buffer, x.buffer);
  const z = pool.take();
  assert.notEqual(z.buffer, y.buffer);
});
