import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryError } from '../errors/index.js';
import { formatScope, parseScope, resolvePolicy, type PolicyScope } from './scope.js';

describe('trust policy scopes', () => {
  it('parses and formats registry, namespace:NAME and repository:NAME', () => {
    assert.deepEqual(parseScope('registry'), { kind: 'registry', name: '' });
    assert.deepEqual(parseScope('namespace:acme'), { kind: 'namespace', name: 'acme' });
    assert.deepEqual(parseScope('repository:acme/app'), { kind: 'repository', name: 'acme/app' });
    for (const text of ['registry', 'namespace:acme/team', 'repository:acme/app']) assert.equal(formatScope(parseScope(text)), text);
  });

  it('refuses anything else with BERTH_INVALID naming the field and the spelling', () => {
    for (const bad of ['', 'registry:', 'namespace:', 'namespace:Acme', 'repo:acme/app', 'repository:acme//app', ':acme', 'team:acme']) {
      assert.throws(() => parseScope(bad), (err: unknown) => {
        assert.ok(err instanceof RegistryError);
        assert.equal(err.code, 'BERTH_INVALID');
        assert.match(err.message, /^scope: .* write registry, namespace:NAME or repository:NAME/);
        return true;
      }, bad);
    }
  });

  it('picks the most specific policy: repository, then the longest namespace, then the registry', () => {
    const p = (text: string): PolicyScope & { text: string } => ({ ...parseScope(text), text });
    const all = [p('registry'), p('namespace:acme'), p('namespace:acme/team'), p('repository:acme/team/app')];
    const pick = (repo: string, set = all) => resolvePolicy(set, repo)?.text ?? null;
    assert.equal(pick('acme/team/app'), 'repository:acme/team/app');
    assert.equal(pick('acme/team/other'), 'namespace:acme/team');
    assert.equal(pick('acme/team/x/y'), 'namespace:acme/team');
    assert.equal(pick('acme/app'), 'namespace:acme');
    assert.equal(pick('acme'), 'registry', 'a namespace covers what is under it, not a repository of its name');
    assert.equal(pick('acmecorp/app'), 'registry', 'a namespace is a path prefix, not a string prefix');
    assert.equal(pick('other/app'), 'registry');
    assert.equal(pick('other/app', all.slice(1)), null);
    // Order of the list does not matter.
    assert.equal(pick('acme/team/other', [...all].reverse()), 'namespace:acme/team');
  });
});
