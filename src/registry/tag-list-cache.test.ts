import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageOf, TagListCache } from './tag-list-cache.js';

test('a cached list is served only for its version', () => {
  const c = new TagListCache(2);
  c.set('a', 1, ['x']);
  assert.deepEqual(c.get('a', 1), ['x']);
  assert.equal(c.get('a', 2), null);
  c.set('b', 1, ['y']);
  c.get('a', 1);
  c.set('c', 1, ['z']);
  assert.equal(c.get('b', 1), null, 'least recently used dropped');
  assert.deepEqual(c.get('a', 1), ['x']);
});

test('pages follow byte order with last and limit', () => {
  const sorted = ['C', '_z', 'a', 'a1', 'b', 'c'];
  assert.deepEqual(pageOf(sorted, undefined, undefined), { items: sorted, more: false });
  assert.deepEqual(pageOf(sorted, undefined, 2), { items: ['C', '_z'], more: true });
  assert.deepEqual(pageOf(sorted, '_z', 2), { items: ['a', 'a1'], more: true });
  assert.deepEqual(pageOf(sorted, 'a0', 10), { items: ['a1', 'b', 'c'], more: false }, 'last need not be a tag');
  assert.deepEqual(pageOf(sorted, 'c', 2), { items: [], more: false });
  assert.deepEqual(pageOf(sorted, 'b', 1), { items: ['c'], more: false });
});
