import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { IdentityStore } from './identity-store.js';
import { openedStore, type MetadataSuiteOptions } from './store-suite.js';

const user = (name: string, extra: Partial<{ isAdmin: boolean; disabled: boolean }> = {}) => ({
  name, passwordHash: '$2b$10$notarealhash', isAdmin: extra.isAdmin ?? false, disabled: extra.disabled ?? false, createdAt: 1000,
});

/**
 * The contract suite of the identity store (identity-store.ts), run by every
 * metadata backend. Each test uses its own names, so one store serves all.
 */
export function runIdentitySuite(options: MetadataSuiteOptions): void {
  describe(`identity store: ${options.name}`, { skip: options.skipReason ?? false }, () => {
    const opened = openedStore(options);
    let id: IdentityStore;
    before(() => {
      id = opened.store.identity;
    });

    it('creates, reads, updates and deletes users', async () => {
      assert.equal(await id.createUser(user('u-alice')), true);
      assert.equal(await id.createUser(user('u-alice', { isAdmin: true })), false, 'existing name');
      assert.deepEqual(await id.getUser('u-alice'), user('u-alice'));
      assert.equal(await id.getUser('u-nobody'), null);
      assert.equal(await id.updateUser('u-alice', { isAdmin: true, disabled: true, passwordHash: 'h2' }), true);
      assert.deepEqual(await id.getUser('u-alice'), { ...user('u-alice', { isAdmin: true, disabled: true }), passwordHash: 'h2' });
      assert.equal(await id.updateUser('u-nobody', { disabled: true }), false);
      assert.ok((await id.listUsers()).some((u) => u.name === 'u-alice'));
      assert.ok((await id.countUsers()) >= 1);
      assert.equal(await id.deleteUser('u-alice'), true);
      assert.equal(await id.deleteUser('u-alice'), false);
    });

    it('keeps organizations, teams and members, and cascades deletes', async () => {
      await id.createUser(user('o-bob'));
      assert.equal(await id.createOrganization('o-acme', 1), true);
      assert.equal(await id.createOrganization('o-acme', 1), false);
      assert.equal(await id.organizationExists('o-acme'), true);
      assert.equal(await id.createTeam('o-acme', 'ci', 1), true);
      assert.equal(await id.createTeam('o-acme', 'ci', 1), false);
      await id.createTeam('o-acme', 'devs', 1);
      assert.deepEqual(await id.listTeams('o-acme'), ['ci', 'devs']);
      assert.equal(await id.addTeamMember('o-acme', 'ci', 'o-bob'), true);
      assert.equal(await id.addTeamMember('o-acme', 'ci', 'o-bob'), false);
      await id.addTeamMember('o-acme', 'devs', 'o-bob');
      assert.deepEqual(await id.listTeamMembers('o-acme', 'ci'), ['o-bob']);
      assert.deepEqual(await id.teamsOfUser('o-bob'), ['o-acme/ci', 'o-acme/devs']);
      await id.putGrant({ subjectKind: 'team', subject: 'o-acme/ci', resourceKind: 'namespace', resource: 'o-acme', role: 'write' });
      assert.equal(await id.deleteTeam('o-acme', 'ci'), true);
      assert.deepEqual(await id.teamsOfUser('o-bob'), ['o-acme/devs']);
      assert.deepEqual(await id.listGrants({ subjectKind: 'team', subject: 'o-acme/ci' }), [], 'grants to a deleted team go');
      await id.putGrant({ subjectKind: 'team', subject: 'o-acme/devs', resourceKind: 'namespace', resource: 'o-acme', role: 'read' });
      assert.equal(await id.deleteOrganization('o-acme'), true);
      assert.deepEqual(await id.listTeams('o-acme'), []);
      assert.deepEqual(await id.teamsOfUser('o-bob'), []);
      assert.deepEqual(await id.listGrants({ subjectKind: 'team', subject: 'o-acme/devs' }), []);
      assert.ok(!(await id.listOrganizations()).includes('o-acme'));
      await id.deleteUser('o-bob');
    });

    it('upserts, finds and deletes grants', async () => {
      const g = { subjectKind: 'user', subject: 'g-carol', resourceKind: 'repository', resource: 'g-ns/app', role: 'read' } as const;
      await id.putGrant(g);
      await id.putGrant({ ...g, role: 'admin' });
      assert.deepEqual(await id.listGrants({ subjectKind: 'user', subject: 'g-carol' }), [{ ...g, role: 'admin' }]);
      await id.putGrant({ ...g, resourceKind: 'namespace', resource: 'g-ns', role: 'write' });
      const found = await id.findGrants([{ kind: 'user', name: 'g-carol' }, { kind: 'team', name: 'x/y' }], [{ kind: 'namespace', name: 'g-ns' }]);
      assert.deepEqual(found.map((x) => x.role), ['write']);
      assert.deepEqual(await id.findGrants([], [{ kind: 'namespace', name: 'g-ns' }]), []);
      assert.equal(await id.deleteGrant(g), true);
      assert.equal(await id.deleteGrant(g), false);
      await id.deleteGrant({ ...g, resourceKind: 'namespace', resource: 'g-ns' });
    });

    it('records visibility', async () => {
      assert.deepEqual(await id.findVisibility([{ kind: 'namespace', name: 'v-ns' }]), []);
      await id.setVisibility('namespace', 'v-ns', true);
      await id.setVisibility('repository', 'v-ns/secret', false);
      await id.setVisibility('repository', 'v-ns/secret', false);
      const v = await id.findVisibility([{ kind: 'namespace', name: 'v-ns' }, { kind: 'repository', name: 'v-ns/secret' }]);
      assert.deepEqual(v.sort((a, b) => a.kind.localeCompare(b.kind)), [
        { kind: 'namespace', resource: 'v-ns', isPublic: true },
        { kind: 'repository', resource: 'v-ns/secret', isPublic: false },
      ]);
    });

    it('stores access tokens, revokes once and records use', async () => {
      await id.createUser(user('t-dave'));
      const t = { id: 't0000001', name: 'ci', user: 't-dave', secretHash: 'ab'.repeat(32), scopes: [{ type: 'repository' as const, name: 'x/y', actions: ['pull' as const] }], expiresAt: 5000, revokedAt: null, lastUsedAt: null, createdAt: 1 };
      assert.equal(await id.createAccessToken(t), true);
      assert.equal(await id.createAccessToken(t), false);
      assert.deepEqual(await id.getAccessToken('t0000001'), t);
      await id.touchAccessToken('t0000001', 42);
      assert.equal((await id.getAccessToken('t0000001'))?.lastUsedAt, 42);
      assert.equal(await id.revokeAccessToken('t0000001', 7), true);
      assert.equal(await id.revokeAccessToken('t0000001', 8), false);
      assert.equal((await id.getAccessToken('t0000001'))?.revokedAt, 7);
      assert.equal((await id.listAccessTokens('t-dave')).length, 1);
      await id.deleteUser('t-dave');
      assert.equal(await id.getAccessToken('t0000001'), null, 'a deleted user\'s tokens go');
    });


    it('compares names byte by byte', async () => {
      await id.createUser(user('c-Zed'));
      await id.createUser(user('c-_a'));
      await id.createUser(user('c-a'));
      const names = (await id.listUsers()).map((u) => u.name).filter((n) => n.startsWith('c-'));
      assert.deepEqual(names, ['c-Zed', 'c-_a', 'c-a']);
      for (const n of names) await id.deleteUser(n);
    });
  });
}
