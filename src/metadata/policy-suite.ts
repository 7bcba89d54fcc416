import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { NewPolicy, PolicyStore } from './policy-store.js';
import { openedStore, type MetadataSuiteOptions } from './store-suite.js';

const d = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const manifest = (repository: string, digest: string, subject: string | null = null) => ({
  repository, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 2, content: Buffer.from('{}'),
  artifactType: subject ? 'application/vnd.dev.cosign.artifact.sig.v1+json' : null, subject, annotations: null,
});
const policy = (kind: NewPolicy['kind'], name: string, extra: Partial<NewPolicy> = {}): NewPolicy => ({
  kind, name, mode: 'enforce', keys: [{ name: 'release', kind: 'cosign', pem: '-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n' }],
  dctSigners: ['alice'], updatedAt: 1000, updatedBy: 'admin', ...extra,
});

/** The contract suite of the policy store (policy-store.ts), run by every metadata backend. */
export function runPolicySuite(options: MetadataSuiteOptions): void {
  describe(`policy store: ${options.name}`, { skip: options.skipReason ?? false }, () => {
    const opened = openedStore(options);
    let policies: PolicyStore;
    before(() => {
      policies = opened.store.policies;
    });

    it('creates, replaces, lists and deletes one policy per scope, bumping the revision with every write', async () => {
      assert.deepEqual(await policies.list(), { revision: 0, policies: [] });
      assert.equal(await policies.revision(), 0);
      const a = await policies.put(policy('namespace', 'acme'));
      assert.deepEqual(a, { ...policy('namespace', 'acme'), revision: 1 });
      const b = await policies.put(policy('registry', '', { mode: 'audit', keys: [], dctSigners: [], updatedBy: null }));
      assert.equal(b.revision, 2);
      const c = await policies.put(policy('namespace', 'acme', { dctSigners: ['alice', 'releases'] }));
      assert.equal(c.revision, 3);
      assert.deepEqual((await policies.get('namespace', 'acme'))?.dctSigners, ['alice', 'releases']);
      assert.equal(await policies.get('repository', 'acme'), null);
      const listed = await policies.list();
      assert.equal(listed.revision, 3);
      assert.deepEqual(listed.policies.map((p) => [p.kind, p.name, p.mode, p.revision, p.updatedBy]), [['namespace', 'acme', 'enforce', 3, 'admin'], ['registry', '', 'audit', 2, null]]);
      assert.equal(await policies.delete('namespace', 'acme'), true);
      assert.equal(await policies.revision(), 4);
      assert.equal(await policies.delete('namespace', 'acme'), false);
      assert.equal(await policies.revision(), 4, 'deleting nothing changes nothing');
      const again = await policies.put(policy('namespace', 'acme'));
      assert.equal(again.revision, 5, 'written again: a new revision, never an old one');
    });

    it('gives concurrent writers distinct revisions', async () => {
      const before = await policies.revision();
      const written = await Promise.all(Array.from({ length: 8 }, (_, i) => policies.put(policy('repository', `race/${i}`))));
      assert.deepEqual(written.map((p) => p.revision).sort((x, y) => x - y), Array.from({ length: 8 }, (_, i) => before + i + 1));
      assert.equal(await policies.revision(), before + 8);
    });

    it('reads what a pull\'s verdict depends on in one call: revision, referrers, the .sig tag, the DCT timestamp', async () => {
      const content = opened.store.content;
      const sigTag = `sha256-${d(100).slice(7)}.sig`;
      const empty = await policies.pullFacts('facts/a', d(100), sigTag);
      assert.deepEqual(empty, { revision: await policies.revision(), referrers: [], sigTag: null, dct: null });
      await content.putManifest({ manifest: manifest('facts/a', d(100)), references: [], tag: 'v1' });
      await content.putManifest({ manifest: manifest('facts/a', d(102), d(100)), references: [] });
      await content.putManifest({ manifest: manifest('facts/a', d(101), d(100)), references: [] });
      await content.putManifest({ manifest: manifest('facts/b', d(103), d(100)), references: [] });
      await content.putManifest({ manifest: manifest('facts/a', d(104)), references: [], tag: sigTag });
      await opened.store.trust.publish('facts/a', [{ role: 'timestamp', version: 1, sha256: 'aa'.repeat(32), data: Buffer.from('t1') }], { gun: 'facts/a', version: 1, sha256: 'aa'.repeat(32), time: 1 });
      await opened.store.trust.publish('facts/a', [{ role: 'timestamp', version: 2, sha256: 'bb'.repeat(32), data: Buffer.from('t2') }], { gun: 'facts/a', version: 2, sha256: 'bb'.repeat(32), time: 2 });
      await policies.put(policy('repository', 'facts/a'));
      const facts = await policies.pullFacts('facts/a', d(100), sigTag);
      assert.deepEqual(facts, { revision: await policies.revision(), referrers: [d(101), d(102)], sigTag: d(104), dct: 'bb'.repeat(32) });
      assert.deepEqual(await policies.pullFacts('facts/b', d(100), sigTag), { revision: facts.revision, referrers: [d(103)], sigTag: null, dct: null });
    });
  });
}
