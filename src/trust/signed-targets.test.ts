import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { TrustFileRecord } from '../metadata/index.js';
import { signedTargets } from './signed-targets.js';
import { generateEcdsaKey } from './tuf/index.js';
import { TestRepo, dockerTarget, signDoc } from './tuf/testkit.js';

const NOW = new Date('2026-12-03T12:00:00Z');

function files(entries: Record<string, Buffer>): Map<string, TrustFileRecord> {
  return new Map(Object.entries(entries).map(([role, data]) => [role, { repository: 'app', role, version: 1, sha256: '', data, createdAt: 0 }]));
}

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('signedTargets: who signed which tag, from the trust data in force', () => {
  const repo = new TestRepo('registry.example.com/app');
  const m1 = Buffer.from('{"manifest":1}');
  const m2 = Buffer.from('{"manifest":2}');
  const alice = generateEcdsaKey();
  const bob = generateEcdsaKey();

  it('no trust data, nothing signed', () => {
    assert.deepEqual(signedTargets(new Map(), NOW), []);
  });

  it('a tag in the top-level targets is signed by "targets" (the repository key)', () => {
    const targets = repo.targets(2, { targets: { v1: dockerTarget(m1) } });
    assert.deepEqual(signedTargets(files({ targets }), NOW), [{ tag: 'v1', digest: digestOf(m1), size: m1.length, signers: ['targets'], expired: false }]);
  });

  it('targets/releases names the signers whose keys made its signatures (as docker trust inspect does)', () => {
    const delegations = [
      { name: 'targets/releases', keys: [alice.publicKey, bob.publicKey] },
      { name: 'targets/alice', keys: [alice.publicKey] },
      { name: 'targets/bob', keys: [bob.publicKey] },
    ];
    const targets = repo.targets(3, { delegations });
    const releases = signDoc(repo.targetsSigned(1, { targets: { v1: dockerTarget(m1) } }), [alice]);
    const bobs = signDoc(repo.targetsSigned(1, { targets: { v2: dockerTarget(m2) } }), [bob]);
    assert.deepEqual(signedTargets(files({ targets, 'targets/releases': releases, 'targets/bob': bobs }), NOW), [
      { tag: 'v1', digest: digestOf(m1), size: m1.length, signers: ['alice', 'releases'], expired: false },
      { tag: 'v2', digest: digestOf(m2), size: m2.length, signers: ['bob'], expired: false },
    ]);
  });

  it('a delegation file signed by a key its parent does not list signs nothing', () => {
    const targets = repo.targets(3, { delegations: [{ name: 'targets/releases', keys: [alice.publicKey] }] });
    const forged = signDoc(repo.targetsSigned(1, { targets: { v1: dockerTarget(m1) } }), [bob]);
    assert.deepEqual(signedTargets(files({ targets, 'targets/releases': forged }), NOW), []);
  });

  it('a delegation file that is not declared by its parent signs nothing', () => {
    const targets = repo.targets(3);
    const undeclared = signDoc(repo.targetsSigned(1, { targets: { v1: dockerTarget(m1) } }), [alice]);
    assert.deepEqual(signedTargets(files({ targets, 'targets/alice': undeclared }), NOW), []);
  });

  it('expired metadata is listed as expired, and so is what it delegates to; a live signature of the same tag and digest wins', () => {
    const delegations = [{ name: 'targets/releases', keys: [alice.publicKey] }, { name: 'targets/alice', keys: [alice.publicKey] }];
    const past = new Date('2026-01-01T00:00:00Z');
    const releases = signDoc(repo.targetsSigned(1, { targets: { v1: dockerTarget(m1) } }), [alice]);
    const expiredTop = repo.targets(3, { delegations, targets: { v1: dockerTarget(m1) }, expires: past });
    assert.deepEqual(signedTargets(files({ targets: expiredTop, 'targets/releases': releases }), NOW), [
      { tag: 'v1', digest: digestOf(m1), size: m1.length, signers: ['alice', 'releases', 'targets'], expired: true },
    ]);
    const liveTop = repo.targets(3, { delegations, targets: { v1: dockerTarget(m1) } });
    const expiredReleases = signDoc(repo.targetsSigned(1, { targets: { v1: dockerTarget(m1) }, expires: past }), [alice]);
    assert.deepEqual(signedTargets(files({ targets: liveTop, 'targets/releases': expiredReleases }), NOW), [
      { tag: 'v1', digest: digestOf(m1), size: m1.length, signers: ['targets'], expired: false },
    ]);
  });

  it('one tag signed for two digests by different roles gives two entries', () => {
    const targets = repo.targets(3, { delegations: [{ name: 'targets/releases', keys: [alice.publicKey] }], targets: { v1: dockerTarget(m1) } });
    const releases = signDoc(repo.targetsSigned(1, { targets: { v1: dockerTarget(m2) } }), [alice]);
    const expected = [
      { tag: 'v1', digest: digestOf(m1), size: m1.length, signers: ['targets'], expired: false },
      { tag: 'v1', digest: digestOf(m2), size: m2.length, signers: ['releases'], expired: false },
    ].sort((a, b) => a.digest.localeCompare(b.digest));
    assert.deepEqual(signedTargets(files({ targets, 'targets/releases': releases }), NOW), expected);
  });

  it('unparsable metadata signs nothing and does not throw', () => {
    assert.deepEqual(signedTargets(files({ targets: Buffer.from('{not json') }), NOW), []);
  });
});
