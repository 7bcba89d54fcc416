import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorCatalog } from './catalog.js';

/**
 * The OCI Distribution Spec v1.1 error code table (section "Error Codes").
 * The catalogue must contain every one of them with the spec's spelling, and
 * Berth's own codes must carry the BERTH_ prefix (or be Docker API codes).
 */
const SPEC_CODES = [
  'BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID', 'MANIFEST_UNKNOWN', 'NAME_INVALID', 'NAME_UNKNOWN', 'SIZE_INVALID', 'UNAUTHORIZED',
  'DENIED', 'UNSUPPORTED', 'TOOMANYREQUESTS',
];
const DOCKER_CODES = ['PAGINATION_NUMBER_INVALID', 'UNKNOWN', 'TAG_INVALID'];
/** Notary v1's codes (server/errors/errors.go), with its own messages, which its clients parse. */
const NOTARY_CODES = ['METADATA_NOT_FOUND', 'INVALID_UPDATE', 'VERSION', 'MALFORMED_UPLOAD', 'INVALID_ROLE', 'MALFORMED_JSON', 'NO_FILENAME'];

test('the catalogue holds every OCI error code', () => {
  for (const code of SPEC_CODES) assert.ok(code in errorCatalog, code);
});

test('every other code is Berth\'s own (BERTH_ prefix), from the Docker API, or Notary\'s', () => {
  for (const code of Object.keys(errorCatalog)) {
    assert.ok(SPEC_CODES.includes(code) || DOCKER_CODES.includes(code) || NOTARY_CODES.includes(code) || code.startsWith('BERTH_'), code);
  }
});

test('every entry has an HTTP error status, a lower-case message and a description', () => {
  for (const [code, e] of Object.entries(errorCatalog)) {
    assert.ok(e.status >= 400 && e.status <= 599, code);
    assert.match(e.message, NOTARY_CODES.includes(code) ? /^[A-Z]/ : /^[a-z]/, code);
    assert.ok(e.description.length > 10, code);
  }
  assert.equal(errorCatalog.UNAUTHORIZED.status, 401);
  assert.equal(errorCatalog.DENIED.status, 403);
  assert.equal(errorCatalog.TOOMANYREQUESTS.status, 429);
  assert.equal(errorCatalog.BLOB_UNKNOWN.status, 404);
});

test('an entry that is one case of a spec code names that code as its wire code', async () => {
  const { wireCode } = await import('./catalog.js');
  for (const [code, e] of Object.entries(errorCatalog)) {
    const wire = (e as { wire?: string }).wire;
    if (wire === undefined) {
      assert.equal(wireCode(code as keyof typeof errorCatalog), code);
      continue;
    }
    assert.ok(code.startsWith('BERTH_'), `${code}: a variant is Berth's own code`);
    assert.ok(SPEC_CODES.includes(wire), `${code}: wire code ${wire} is a spec code`);
    assert.notEqual(e.status, errorCatalog[wire as keyof typeof errorCatalog].status, `${code}: a variant exists for its different status`);
  }
});

test('a full disk or database anywhere is BERTH_STORAGE_FULL (507), found through causes', async () => {
  const { fromSystemError } = await import('./registry-error.js');
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  assert.equal(fromSystemError(enospc)?.code, 'BERTH_STORAGE_FULL');
  assert.equal(fromSystemError(enospc)?.status, 507);
  assert.equal(fromSystemError(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }))?.code, 'BERTH_STORAGE_FULL');
  assert.equal(fromSystemError(new Error('cannot rollback', { cause: enospc }))?.code, 'BERTH_STORAGE_FULL', 'a masking error keeps its cause');
  assert.equal(fromSystemError(Object.assign(new Error('x'), { code: 'EDQUOT' }))?.code, 'BERTH_STORAGE_FULL');
  assert.equal(fromSystemError(new Error('something else')), null);
});
