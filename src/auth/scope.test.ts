import { test } from 'node:test';
import assert from 'node:assert/strict';
import { covers, expandActions, formatScope, parseScope } from './scope.js';

test('parses repository and registry scopes, names with a host and port included', () => {
  assert.deepEqual(parseScope('repository:library/busybox:pull,push'), { type: 'repository', name: 'library/busybox', actions: ['pull', 'push'] });
  assert.deepEqual(parseScope('repository:localhost:5000/app:push,pull'), { type: 'repository', name: 'localhost:5000/app', actions: ['push', 'pull'] });
  assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['pull', 'push', 'delete'] });
  assert.deepEqual(parseScope('repository:app: pull , bogus'), { type: 'repository', name: 'app', actions: ['pull'] }, 'unknown actions are dropped');
});

test('refuses scopes that are not TYPE:NAME:ACTIONS', () => {
  for (const bad of ['', 'repository', 'repository:app', ':app:pull', 'repository::pull', 'repository:app:', 'user:alice:pull', 'repository:app:,']) {
    const parsed = parseScope(bad);
    assert.ok(parsed === null || parsed.actions.length === 0, bad);
  }
});

test('expands * and drops anything that is not an action', () => {
  assert.deepEqual(expandActions(['*']), ['pull', 'push', 'delete']);
  assert.deepEqual(expandActions(['pull', 'pull', 42, null, 'admin']), ['pull']);
});

test('a token covers a request only when every action on every resource is granted', () => {
  const granted = [{ type: 'repository' as const, name: 'a', actions: ['pull' as const, 'push' as const] }];
  assert.equal(covers(granted, [{ type: 'repository', name: 'a', actions: ['pull'] }]), true);
  assert.equal(covers(granted, [{ type: 'repository', name: 'a', actions: ['pull', 'delete'] }]), false);
  assert.equal(covers(granted, [{ type: 'repository', name: 'b', actions: ['pull'] }]), false);
  assert.equal(covers(granted, [{ type: 'registry', name: 'a', actions: ['pull'] }]), false, 'the type must match too');
  assert.equal(covers(granted, []), true, 'no access needed (the base route)');
  assert.equal(formatScope({ type: 'repository', name: 'a', actions: ['pull', 'push'] }), 'repository:a:pull,push');
});
