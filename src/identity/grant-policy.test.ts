import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../metadata/sqlite/sqlite-store.js';
import type { AccessRequest, Principal } from '../auth/index.js';
import { GrantPolicy } from './grant-policy.js';
import { IdentityService } from './service.js';

describe('GrantPolicy', () => {
  const store = new SqliteStore({ path: ':memory:' });
  let id: IdentityService;
  let policy: GrantPolicy;
  const user = (name: string, scopes?: Principal['scopes']): Principal => (scopes ? { kind: 'token', name, scopes } : { kind: 'user', name });
  const anonymous: Principal = { kind: 'anonymous', name: null };
  const repo = (name: string): AccessRequest => ({ type: 'repository', name, actions: ['pull', 'push', 'delete'] });

  before(async () => {
    await store.init();
    id = new IdentityService({ store: store.identity, bcryptCost: 4 });
    policy = new GrantPolicy({ store: store.identity, anonymous: true });
    for (const name of ['root', 'ann', 'ben', 'cat']) await id.createUser({ name, password: 'password-1', admin: name === 'root' });
    await id.createOrganization('acme');
    await id.createTeam('acme', 'ops');
    await id.addMember('acme', 'ops', 'ben');
    await id.grant({ subjectKind: 'user', subject: 'ann', resourceKind: 'namespace', resource: 'acme', role: 'read' });
    await id.grant({ subjectKind: 'user', subject: 'ann', resourceKind: 'namespace', resource: 'acme/ci', role: 'write' });
    await id.grant({ subjectKind: 'team', subject: 'acme/ops', resourceKind: 'repository', resource: 'acme/ci/tool', role: 'admin' });
    await id.setVisibility({ resourceKind: 'namespace', resource: 'open', public: true });
  });
  after(() => store.close());

  it('adds up roles over nested namespaces, repositories and teams', async () => {
    assert.deepEqual(await policy.grant(user('ann'), repo('acme/app')), ['pull']);
    assert.deepEqual(await policy.grant(user('ann'), repo('acme/ci/tool')), ['pull', 'push']);
    assert.deepEqual(await policy.grant(user('ben'), repo('acme/ci/tool')), ['pull', 'push', 'delete']);
    assert.deepEqual(await policy.grant(user('ben'), repo('acme/ci')), [], 'a repository grant is not a namespace grant');
    assert.deepEqual(await policy.grant(user('cat'), repo('acme/app')), []);
    assert.deepEqual(await policy.grant(user('acmeish'), repo('acme/app')), [], 'unknown users get nothing');
  });

  it('owners, administrators, the catalog, public repositories', async () => {
    assert.deepEqual(await policy.grant(user('cat'), repo('cat/x/y')), ['pull', 'push', 'delete']);
    assert.deepEqual(await policy.grant(user('root'), repo('anything')), ['pull', 'push', 'delete']);
    const catalog: AccessRequest = { type: 'registry', name: 'catalog', actions: ['pull'] };
    assert.deepEqual(await policy.grant(user('root'), catalog), ['pull']);
    assert.deepEqual(await policy.grant(user('ann'), catalog), []);
    assert.deepEqual(await policy.grant(anonymous, repo('open/x')), ['pull']);
    assert.deepEqual(await policy.grant(anonymous, repo('acme/app')), []);
    assert.deepEqual(await new GrantPolicy({ store: store.identity, anonymous: false }).grant(anonymous, repo('open/x')), [], 'auth.anonymous off');
  });

  it('limits token principals to their scopes', async () => {
    const scoped = user('root', [{ type: 'namespace', name: 'acme', actions: ['pull'] }]);
    assert.deepEqual(await policy.grant(scoped, repo('acme/app')), ['pull']);
    assert.deepEqual(await policy.grant(scoped, repo('acmex/app')), [], 'a namespace is a whole path component');
    assert.deepEqual(await policy.grant(scoped, { type: 'registry', name: 'catalog', actions: ['pull'] }), []);
    const wide = user('ann', [{ type: 'repository', name: 'acme/app', actions: ['pull', 'push', 'delete'] }]);
    assert.deepEqual(await policy.grant(wide, repo('acme/app')), ['pull'], 'scopes never add to the user\'s rights');
  });

  it('gives disabled users nothing', async () => {
    await id.updateUser('ann', { disabled: true });
    assert.deepEqual(await policy.grant(user('ann'), repo('acme/app')), []);
    await id.updateUser('ann', { disabled: false });
  });
});
