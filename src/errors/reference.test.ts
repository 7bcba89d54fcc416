import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSection } from '../cli/generated-docs.js';
import { errorCatalog } from './catalog.js';
import { errorReference } from './reference.js';

test('docs/errors.md lists the catalogue as it is', async () => {
  const documented = await readSection('docs/errors.md', 'errors');
  assert.ok(documented !== null, 'docs/errors.md has lost its <!-- BEGIN GENERATED: errors --> / <!-- END GENERATED: errors --> markers');
  assert.equal(documented, errorReference(), 'docs/errors.md is out of date with src/errors/catalog.ts: run `npm run docs` and commit the result');
});

test('the reference has one row per code, with its status', () => {
  const table = errorReference();
  for (const [code, e] of Object.entries(errorCatalog)) {
    assert.match(table, new RegExp(`^\\| \`${code}\` \\| ${e.status} \\|`, 'm'), code);
  }
  assert.equal(table.split('\n').filter((l) => l.startsWith('| `')).length, Object.keys(errorCatalog).length);
});
