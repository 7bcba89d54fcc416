import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseContentRange, parseRangeHeader } from './range.js';

test('Range of a blob GET', () => {
  assert.equal(parseRangeHeader(undefined, 10), null);
  assert.deepEqual(parseRangeHeader('bytes=0-4', 10), { start: 0, end: 4 });
  assert.deepEqual(parseRangeHeader('bytes=5-', 10), { start: 5, end: 9 });
  assert.deepEqual(parseRangeHeader('bytes=-3', 10), { start: 7, end: 9 });
  assert.deepEqual(parseRangeHeader('bytes=-30', 10), { start: 0, end: 9 });
  assert.deepEqual(parseRangeHeader('bytes=8-100', 10), { start: 8, end: 9 });
  assert.equal(parseRangeHeader('bytes=10-', 10), 'unsatisfiable');
  assert.equal(parseRangeHeader('bytes=10-20', 10), 'unsatisfiable');
  assert.equal(parseRangeHeader('bytes=-0', 10), 'unsatisfiable');
  assert.equal(parseRangeHeader('bytes=0-1,3-4', 10), null, 'several ranges: serve all');
  assert.equal(parseRangeHeader('items=0-1', 10), null);
  assert.equal(parseRangeHeader('bytes=5-2', 10), null);
});

test('Content-Range of an upload PATCH', () => {
  assert.equal(parseContentRange(undefined), undefined);
  assert.deepEqual(parseContentRange('0-99'), { start: 0, end: 99 });
  assert.deepEqual(parseContentRange('bytes 100-199/*'), { start: 100, end: 199 });
  assert.equal(parseContentRange('5-4'), 'invalid');
  assert.equal(parseContentRange('abc'), 'invalid');
  assert.equal(parseContentRange('-1-5'), 'invalid');
  assert.equal(parseContentRange('0-9/5'), 'invalid', 'a total smaller than the range');
  assert.deepEqual(parseContentRange('0-9/10'), { start: 0, end: 9 });
  assert.equal(parseContentRange('0-9/9'), 'invalid', 'the end is past the total');
});
