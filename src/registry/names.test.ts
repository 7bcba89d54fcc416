import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidRepositoryName, isValidTag, parseDigest, parseReference } from './names.js';
import { RegistryError } from '../errors/index.js';

test('repository names follow the OCI grammar', () => {
  for (const ok of ['a', 'library/busybox', 'a/b/c/d', 'my-app', 'my__app', 'x.y', 'a--b', '0abc']) {
    assert.equal(isValidRepositoryName(ok), true, ok);
  }
  for (const bad of ['', 'A', '../etc', 'a/../b', '/a', 'a/', 'a//b', '.a', 'a.', 'a_', 'a___b', 'a b', 'a%2fb', 'x'.repeat(256), 'a/./b']) {
    assert.equal(isValidRepositoryName(bad), false, bad);
  }
});

test('tags follow the OCI grammar', () => {
  assert.equal(isValidTag('latest'), true);
  assert.equal(isValidTag('_v1.0-rc'), true);
  assert.equal(isValidTag('t'.repeat(128)), true);
  assert.equal(isValidTag('t'.repeat(129)), false);
  assert.equal(isValidTag('-x'), false);
  assert.equal(isValidTag('.x'), false);
  assert.equal(isValidTag('a/b'), false);
});

test('digests: sha256 and sha512 accepted, others refused with DIGEST_INVALID', () => {
  const h256 = 'a'.repeat(64);
  assert.deepEqual(parseDigest(`sha256:${h256}`), { algorithm: 'sha256', hex: h256, digest: `sha256:${h256}` });
  assert.equal(parseDigest(`sha512:${'b'.repeat(128)}`).algorithm, 'sha512');
  for (const bad of ['sha256:abc', `sha256:${'A'.repeat(64)}`, `md5:${'a'.repeat(32)}`, 'sha256', `sha512:${h256}`, ':', `sha256:${h256}x`]) {
    assert.throws(() => parseDigest(bad), (e: unknown) => e instanceof RegistryError && e.code === 'DIGEST_INVALID', bad);
  }
});

test('references are tags or digests', () => {
  assert.equal(parseReference('v1').kind, 'tag');
  assert.equal(parseReference(`sha256:${'c'.repeat(64)}`).kind, 'digest');
  assert.throws(() => parseReference('bad tag'), (e: unknown) => e instanceof RegistryError && e.code === 'MANIFEST_INVALID');
  assert.throws(() => parseReference('.bad', 'lookup'), (e: unknown) => e instanceof RegistryError && e.code === 'MANIFEST_UNKNOWN' && e.status === 404);
});
