import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MultipartError, multipartBoundary, parseMultipart } from './multipart.js';

const B = '7d8f2a2e6c30c75684bb6d3f0d67b9d11e2c2e4bd0786e6a9852496ca67c';

function body(parts: { filename?: string | null; data: string }[], boundary = B): Buffer {
  let s = '';
  for (const p of parts) {
    const fn = p.filename === null ? '' : `; filename="${p.filename ?? ''}"`;
    s += `--${boundary}\r\nContent-Disposition: form-data; name="files"${fn}\r\nContent-Type: application/octet-stream\r\n\r\n${p.data}\r\n`;
  }
  return Buffer.from(`${s}--${boundary}--\r\n`);
}

test('reads the boundary of multipart/form-data only', () => {
  assert.equal(multipartBoundary(`multipart/form-data; boundary=${B}`), B);
  assert.equal(multipartBoundary('multipart/form-data; boundary="a b"'), 'a b');
  assert.equal(multipartBoundary('application/json'), null);
  assert.equal(multipartBoundary('multipart/form-data'), null);
  assert.equal(multipartBoundary(undefined), null);
  assert.equal(multipartBoundary(`multipart/form-data; boundary=${'x'.repeat(71)}`), null);
});

test('keeps filenames with / raw and part bytes exact, in any order', () => {
  const root = '{"signed":{"_type":"Root"},"signatures":[]}';
  const releases = '{"signed":{"_type":"Targets","x":"\\r\\n--not a boundary"},"signatures":[]}';
  const parts = parseMultipart(body([{ filename: 'targets/releases', data: releases }, { filename: 'root', data: root }]), B);
  assert.deepEqual(parts.map((p) => [p.name, p.filename, p.data.toString()]), [['files', 'targets/releases', releases], ['files', 'root', root]]);
});

test('tells an absent filename from an empty one', () => {
  const parts = parseMultipart(body([{ filename: null, data: '{}' }, { filename: '', data: '{}' }]), B);
  assert.deepEqual(parts.map((p) => p.filename), [null, '']);
});

test('refuses bodies that are not well-formed multipart', () => {
  assert.throws(() => parseMultipart(Buffer.from('{"not":"multipart"}'), B), MultipartError);
  assert.throws(() => parseMultipart(Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="files"; filename="root"\r\n\r\n{}`), B), /not closed/);
  assert.throws(() => parseMultipart(Buffer.from(`--${B}\r\nContent-Disposition: form-data`), B), /headers do not end/);
  assert.throws(() => parseMultipart(body(Array.from({ length: 5 }, () => ({ filename: 'root', data: '{}' }))), B, 4), /more than 4 parts/);
});
