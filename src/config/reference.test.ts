import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSection } from '../cli/generated-docs.js';
import { loadConfig } from './load.js';
import { configKeys, configReference, referenceProblems } from './reference.js';

test('every schema key has a documented default and a description, and nothing documents a key that is gone', () => {
  const p = referenceProblems();
  assert.deepEqual(p.missingDefaults, [], 'schema keys without a default: add them to CONFIG_DEFAULTS in src/config/reference.ts ("none" when there is none)');
  assert.deepEqual(p.staleDefaults, [], 'defaults of keys the schema no longer has: remove them from CONFIG_DEFAULTS in src/config/reference.ts');
  assert.deepEqual(p.missingDescriptions, [], 'schema keys without a description: add .describe() in src/config/schema.ts');
  assert.deepEqual(p.staleDescriptions, [], 'FALLBACK_DESCRIPTIONS entries no longer needed (the schema describes the key, or it is gone): remove them from src/config/reference.ts');
});

test('docs/configuration.md holds the reference generated from the schema and the loader', async () => {
  const documented = await readSection('docs/configuration.md', 'config');
  assert.ok(documented !== null, 'docs/configuration.md has lost its <!-- BEGIN GENERATED: config --> / <!-- END GENERATED: config --> markers');
  assert.equal(documented, await configReference(), 'docs/configuration.md is out of date with src/config: run `npm run docs` and commit the result');
});

test('every documented REGISTRY_* form reaches its key through the loader', async () => {
  for (const key of configKeys()) {
    for (const form of key.env?.split(', ') ?? []) {
      const [name, selected] = form.replace('<NAME>', 'sample').split('=') as [string, string | undefined];
      const { errors, warnings } = await loadConfig({ env: { [name]: selected ?? 'sample' }, cwd: '/berth' });
      assert.deepEqual(warnings.filter((w) => w.startsWith(name)), [], `${key.path}: ${name} is not understood by the loader`);
      // A sample value of the wrong kind is fine (the error proves the key was reached); text where only a list or mapping fits is not.
      assert.deepEqual(errors.filter((e) => e.startsWith(key.path) && /expected (array|object|record)/.test(e)), [], `${key.path}: ${name} cannot set this key from the environment`);
    }
  }
});

test('Berth\'s own variables set their keys', async () => {
  const { config } = await loadConfig({ env: { BERTH_DATA_DIR: '/d', BERTH_LOG_LEVEL: 'debug', BERTH_DATABASE_URL: 'postgres://berth@db.example/berth' }, cwd: '/berth' });
  assert.equal(config?.dataDir, '/d');
  assert.equal(config?.log.level, 'debug');
  assert.equal(config?.database.kind, 'postgres');
  const documented = new Map(configKeys().map((k) => [k.path, k.env]));
  assert.match(documented.get('datadir') ?? '', /BERTH_DATA_DIR/);
  assert.match(documented.get('log.level') ?? '', /BERTH_LOG_LEVEL/);
  assert.match(documented.get('database.url') ?? '', /BERTH_DATABASE_URL/);
});
