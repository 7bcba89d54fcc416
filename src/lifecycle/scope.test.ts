import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryError } from '../errors/index.js';
import { covers, formatAge, formatSize, parseAge, parseRuleScope, parseSize, tagMatches } from './scope.js';

test('tag globs: * any run (also none), ? one character, the rest literal', () => {
  const cases: [string, string, boolean][] = [
    ['*', 'latest', true], ['v*', 'v', true], ['v*', 'v1.2.3', true], ['v*', 'V1', false], ['v*', 'dev', false],
    ['release-?', 'release-1', true], ['release-?', 'release-12', false], ['1.0', '1x0', false], ['*-rc', 'v2-rc', true], ['a-b', 'a-b', true],
  ];
  for (const [pattern, tag, expected] of cases) assert.equal(tagMatches(pattern, tag), expected, `${pattern} ~ ${tag}`);
});

test('scopes: registry, namespace:NAME, repository:NAME; a namespace covers what is under it, not its own name', () => {
  assert.deepEqual(parseRuleScope('namespace:acme'), { kind: 'namespace', name: 'acme' });
  assert.deepEqual(parseRuleScope('registry'), { kind: 'registry', name: '' });
  for (const bad of ['acme', 'namespace:', 'namespace:ACME', 'team:acme']) assert.throws(() => parseRuleScope(bad), (e: unknown) => e instanceof RegistryError && e.code === 'BERTH_INVALID', bad);
  assert.equal(covers({ kind: 'namespace', name: 'acme' }, 'acme/app'), true);
  assert.equal(covers({ kind: 'namespace', name: 'acme' }, 'acme/team/app'), true);
  assert.equal(covers({ kind: 'namespace', name: 'acme' }, 'acme'), false);
  assert.equal(covers({ kind: 'namespace', name: 'acme' }, 'acmecorp/app'), false);
  assert.equal(covers({ kind: 'repository', name: 'acme/app' }, 'acme/app'), true);
  assert.equal(covers({ kind: 'registry', name: '' }, 'x'), true);
});

test('sizes with decimal and binary units, ages in m/h/d/w, and their text forms', () => {
  assert.equal(parseSize(1024), 1024);
  assert.equal(parseSize('10GiB'), 10 * 1024 ** 3);
  assert.equal(parseSize('500MB'), 500_000_000);
  assert.equal(parseSize('1.5 kib'), 1536);
  assert.equal(parseSize('0'), 0);
  for (const bad of [-1, 1.5, '10 parsecs', '', 'GiB', null]) assert.throws(() => parseSize(bad), (e: unknown) => e instanceof RegistryError && e.code === 'BERTH_INVALID', String(bad));
  assert.equal(formatSize(999), '999 B');
  assert.equal(formatSize(1536), '1.5 KiB');
  assert.equal(formatSize(10 * 1024 ** 3), '10 GiB');
  assert.equal(parseAge('30d'), 30 * 86_400_000);
  assert.equal(parseAge('2w'), 14 * 86_400_000);
  assert.equal(parseAge('90m'), 5_400_000);
  for (const bad of ['30', '1.5d', '30 days', 30]) assert.throws(() => parseAge(bad), (e: unknown) => e instanceof RegistryError && e.code === 'BERTH_INVALID', String(bad));
  assert.equal(formatAge(parseAge('14d')), '2w');
  assert.equal(formatAge(parseAge('36h')), '36h');
  assert.equal(formatAge(parseAge('90m')), '90m');
});
