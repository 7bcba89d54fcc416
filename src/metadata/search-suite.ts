import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { MetadataStore } from './store.js';
import type { SearchVisibility } from './search-store.js';
import { openedStore, type MetadataSuiteOptions } from './store-suite.js';

let serial = 0;
const digest = () => `sha256:${(++serial).toString(16).padStart(64, '0')}`;

/** Pushes one manifest into `repository` (which then exists) and returns its digest. */
async function push(store: MetadataStore, repository: string): Promise<string> {
  const d = digest();
  await store.content.putManifest({
    manifest: {
      repository, digest: d, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 2, content: Buffer.from('{}'),
      artifactType: null, subject: null, annotations: null,
    },
    references: [],
  });
  return d;
}

const ALL: SearchVisibility = { kind: 'all' };

/**
 * The contract suite of the search store (search-store.ts), run on every
 * metadata backend (search-store.test.ts): exact results, pagination, the
 * index following the content store, and the visibility filter against the
 * rules of GrantPolicy.
 */
export function runSearchSuite(options: MetadataSuiteOptions): void {
  describe(`search store: ${options.name}`, { skip: options.skipReason ?? false }, () => {
    const opened = openedStore(options);
    let store: MetadataStore;
    const names = async (text: string, visibility: SearchVisibility = ALL, limit = 100, after?: string) =>
      (await store.search.search({ text, visibility, limit, after })).results.map((r) => r.name);

    before(async () => {
      store = opened.store;
      for (const r of ['tools/busybox', 'tools/alpine', 'acme/app', 'acme/ci/runner', 'acme/secret', 'bob/app', 'web_100%', 'web-1000']) {
        await push(store, r);
        await store.search.add(r);
      }
    });

    it('indexes only repositories with a manifest, idempotently, and removes them only when they have none', async () => {
      await store.search.add('nothing/here');
      assert.equal(await store.search.get('nothing/here'), null);
      await store.content.linkBlob('blobs/only', { digest: digest(), size: 1 });
      await store.search.add('blobs/only');
      assert.equal(await store.search.get('blobs/only'), null, 'a repository with blobs but no manifest is not in the catalog');
      await store.search.add('tools/busybox');
      assert.deepEqual(await store.search.get('tools/busybox'), { name: 'tools/busybox', description: '' });
      await store.search.remove('tools/busybox');
      assert.deepEqual(await store.search.get('tools/busybox'), { name: 'tools/busybox', description: '' }, 'it still has a manifest');
      const d = await push(store, 'gone/soon');
      await store.search.add('gone/soon');
      assert.deepEqual(await names('gone'), ['gone/soon']);
      await store.content.deleteManifest('gone/soon', d);
      assert.deepEqual(await names('gone'), [], 'never answered once its last manifest is gone, even before remove()');
      await store.search.remove('gone/soon');
      assert.deepEqual(await store.search.reconcile(), { added: 0, removed: 0 });
    });

    it('sets descriptions of existing repositories only', async () => {
      assert.equal(await store.search.setDescription('tools/alpine', 'A minimal Linux image with apk'), true);
      assert.equal(await store.search.setDescription('tools/alpine', 'A minimal Linux image, with apk'), true);
      assert.deepEqual(await store.search.get('tools/alpine'), { name: 'tools/alpine', description: 'A minimal Linux image, with apk' });
      assert.equal(await store.search.setDescription('no/such', 'x'), false);
      assert.equal(await store.search.get('no/such'), null);
    });

    it('finds by substring of name or description, case-insensitively, sorted by name', async () => {
      await store.search.setDescription('acme/app', 'The ACME storefront');
      assert.deepEqual(await names('app'), ['acme/app', 'bob/app']);
      assert.deepEqual(await names('ALPINE'), ['tools/alpine']);
      assert.deepEqual(await names('linux'), ['tools/alpine'], 'by description');
      assert.deepEqual(await names('storefront'), ['acme/app']);
      assert.deepEqual(await names('acme'), ['acme/app', 'acme/ci/runner', 'acme/secret'], 'name or description, each once');
      assert.deepEqual(await names('ci/run'), ['acme/ci/runner']);
      assert.deepEqual(await names('bo'), ['bob/app', 'tools/busybox'], 'two characters: below the trigram length');
      assert.deepEqual(await names('x'), ['tools/alpine', 'tools/busybox']);
      assert.deepEqual(await names('nomatch'), []);
      assert.deepEqual(await names('"'), []);
      assert.deepEqual(await names('" OR "'), []);
    });

    it('takes LIKE and FTS syntax in the text literally', async () => {
      assert.deepEqual(await names('%'), ['web_100%']);
      assert.deepEqual(await names('_'), ['web_100%']);
      assert.deepEqual(await names('b_1'), ['web_100%']);
      assert.deepEqual(await names('100%'), ['web_100%']);
      assert.deepEqual(await names('web'), ['web-1000', 'web_100%']);
      assert.deepEqual(await names('b-1000'), ['web-1000']);
      assert.deepEqual(await names('NEAR(web'), []);
      assert.deepEqual(await names('app*'), []);
    });

    it('pages by name with a cursor', async () => {
      const page1 = await store.search.search({ text: '', visibility: ALL, limit: 3 });
      assert.deepEqual(page1.results.map((r) => r.name), ['acme/app', 'acme/ci/runner', 'acme/secret']);
      assert.equal(page1.next, 'acme/secret');
      const page2 = await store.search.search({ text: '', visibility: ALL, limit: 3, after: 'acme/secret' });
      assert.deepEqual(page2.results.map((r) => r.name), ['bob/app', 'tools/alpine', 'tools/busybox']);
      assert.equal(page2.next, 'tools/busybox');
      const page3 = await store.search.search({ text: '', visibility: ALL, limit: 3, after: 'tools/busybox' });
      assert.deepEqual(page3.results.map((r) => r.name), ['web-1000', 'web_100%']);
      assert.equal(page3.next, null);
      const exact = await store.search.search({ text: 'acme', visibility: ALL, limit: 3 });
      assert.equal(exact.next, null, 'no next page when exactly `limit` match');
    });

    it('shows only what the visibility allows', async () => {
      const id = store.identity;
      await id.createUser({ name: 'carol', passwordHash: 'x', isAdmin: false, disabled: false, createdAt: 1 });
      await id.createOrganization('acme', 1);
      await id.createTeam('acme', 'ci', 1);
      await id.addTeamMember('acme', 'ci', 'carol');
      await id.putGrant({ subjectKind: 'team', subject: 'acme/ci', resourceKind: 'namespace', resource: 'acme/ci', role: 'read' });
      await id.putGrant({ subjectKind: 'user', subject: 'carol', resourceKind: 'repository', resource: 'tools/busybox', role: 'write' });
      await id.putGrant({ subjectKind: 'user', subject: 'dave', resourceKind: 'namespace', resource: 'tools', role: 'admin' });
      await id.putGrant({ subjectKind: 'user', subject: 'carol', resourceKind: 'namespace', resource: 'acm', role: 'read' });
      await id.setVisibility('namespace', 'acme', true);
      await id.setVisibility('repository', 'acme/secret', false);
      await id.setVisibility('namespace', 'tools', false);
      await id.setVisibility('repository', 'web-1000', true);

      const none = await names('', { kind: 'none' });
      assert.deepEqual(none, []);
      const anonymous: SearchVisibility = { kind: 'filtered', public: true, ownNamespace: null, subjects: [] };
      assert.deepEqual(await names('', anonymous), ['acme/app', 'acme/ci/runner', 'web-1000'], 'public: own flag, else the longest namespace flag');
      const carol: SearchVisibility = { kind: 'filtered', public: true, ownNamespace: 'bob', subjects: [{ kind: 'user', name: 'carol' }, { kind: 'team', name: 'acme/ci' }] };
      assert.deepEqual(await names('', carol), ['acme/app', 'acme/ci/runner', 'bob/app', 'tools/busybox', 'web-1000'],
        'own namespace, a user grant, a team grant, public; a grant on `acm` covers nothing under `acme`');
      assert.deepEqual(await names('', { ...carol, public: false }), ['acme/ci/runner', 'bob/app', 'tools/busybox']);
      assert.deepEqual(await names('', { kind: 'filtered', public: false, ownNamespace: null, subjects: [{ kind: 'user', name: 'dave' }] }), ['tools/alpine', 'tools/busybox']);
      assert.deepEqual(await names('', { kind: 'filtered', public: false, ownNamespace: 'acme/ci/runner', subjects: [] }), [], 'a namespace covers what is under it, not itself');
      const scoped: SearchVisibility = { ...carol, within: [{ kind: 'repository', name: 'tools/busybox' }, { kind: 'namespace', name: 'acme' }, { kind: 'repository', name: 'acme/secret' }] };
      assert.deepEqual(await names('', scoped), ['acme/app', 'acme/ci/runner', 'tools/busybox'], 'a token scope limits, never adds');
      assert.deepEqual(await names('', { ...carol, within: [] }), []);
      assert.deepEqual(await names('', { kind: 'all', within: [{ kind: 'namespace', name: 'acme' }, { kind: 'repository', name: 'bob/app' }] }), ['acme/app', 'acme/ci/runner', 'acme/secret', 'bob/app']);
      assert.deepEqual(await names('app', carol, 1), ['acme/app']);
      assert.deepEqual(await names('app', carol, 1, 'acme/app'), ['bob/app']);
    });

    it('reconciles the index with the repositories in SQL', async () => {
      await push(store, 'missed/created');
      const d = await push(store, 'missed/deleted');
      await store.search.add('missed/deleted');
      await store.search.setDescription('missed/deleted', 'goes');
      await store.content.deleteManifest('missed/deleted', d);
      assert.deepEqual(await store.search.reconcile(), { added: 1, removed: 1 });
      assert.deepEqual(await store.search.reconcile(), { added: 0, removed: 0 });
      assert.deepEqual(await names('missed'), ['missed/created']);
      await push(store, 'missed/deleted');
      assert.deepEqual(await store.search.reconcile(), { added: 1, removed: 0 });
      assert.deepEqual(await store.search.get('missed/deleted'), { name: 'missed/deleted', description: '' }, 'a description goes with its repository');
    });
  });
}
