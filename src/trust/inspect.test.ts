import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import type { TrustFileRecord } from '../metadata/index.js';
import { canonicalKeyId, inspectTrust, prettyTrust } from './inspect.js';
import { generateEcdsaKey, keyId, x509Key } from './tuf/index.js';
import { TestRepo, dockerTarget, makeCertificate, signDoc } from './tuf/testkit.js';
import { generateKeyPairSync } from 'node:crypto';

const NOW = new Date('2026-12-03T12:00:00Z');
const GUN = 'registry.example.com/app';

function files(entries: Record<string, Buffer>): Map<string, TrustFileRecord> {
  return new Map(Object.entries(entries).map(([role, data]) => [role, { repository: 'app', role, version: 1, sha256: '', data, createdAt: 0 }]));
}
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('berth trust inspect: docker trust inspect from the server\'s data', () => {
  const repo = new TestRepo(GUN);
  const root = repo.root(1);
  const m1 = Buffer.from('{"one":1}');
  const m2 = Buffer.from('{"two":2}');
  const m10 = Buffer.from('{"ten":10}');

  it('no trust data: null', () => {
    assert.equal(inspectTrust(new Map(), GUN, null, NOW), null);
  });

  it('tags signed by the repository key are "Repo Admin"; tags sort naturally; the pretty text is docker\'s', () => {
    const targets = repo.targets(2, { targets: { v10: dockerTarget(m10), v2: dockerTarget(m2), v1: dockerTarget(m1) } });
    const doc = inspectTrust(files({ root, targets }), GUN, null, NOW);
    assert.deepEqual(doc, {
      Name: GUN,
      SignedTags: [
        { SignedTag: 'v1', Digest: hex(m1), Signers: ['Repo Admin'] },
        { SignedTag: 'v2', Digest: hex(m2), Signers: ['Repo Admin'] },
        { SignedTag: 'v10', Digest: hex(m10), Signers: ['Repo Admin'] },
      ],
      Signers: [],
      AdministrativeKeys: [
        { Name: 'Root', Keys: [{ ID: repo.rootKeys[0]?.keyId }] },
        { Name: 'Repository', Keys: [{ ID: repo.targetsKey.keyId }] },
      ],
    });
    assert.equal(prettyTrust(doc as NonNullable<typeof doc>), [
      '',
      `Signatures for ${GUN}`,
      '',
      `SIGNED TAG   DIGEST${' '.repeat(61)}SIGNERS`,
      `v1           ${hex(m1)}   (Repo Admin)`,
      `v2           ${hex(m2)}   (Repo Admin)`,
      `v10          ${hex(m10)}   (Repo Admin)`,
      '',
      `Administrative keys for ${GUN}`,
      '',
      `  Repository Key:\t${repo.targetsKey.keyId}`,
      `  Root Key:\t${repo.rootKeys[0]?.keyId}`,
      '',
    ].join('\n'));
  });

  it('signers of targets/releases are the delegations that signed the same tag and digest; keys are canonical IDs, truncated in the text', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const aliceCert = x509Key(makeCertificate({ commonName: 'alice', publicKey, privateKey }));
    const alice = { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), keyId: keyId(aliceCert) };
    const bob = generateEcdsaKey();
    const delegations = [
      { name: 'targets/releases', keys: [aliceCert, bob.publicKey] },
      { name: 'targets/alice', keys: [aliceCert] },
      { name: 'targets/bob', keys: [bob.publicKey] },
    ];
    const targets = repo.targets(3, { delegations });
    const releases = signDoc(repo.targetsSigned(1, { targets: { v1: dockerTarget(m1), v2: dockerTarget(m2) } }), [alice]);
    const alices = signDoc(repo.targetsSigned(1, { targets: { v1: dockerTarget(m1) } }), [alice]);
    const bobs = signDoc(repo.targetsSigned(1, { targets: { v1: dockerTarget(m1), v9: dockerTarget(m10) } }), [bob]);
    const doc = inspectTrust(files({ root, targets, 'targets/releases': releases, 'targets/alice': alices, 'targets/bob': bobs }), GUN, null, NOW);
    const aliceCanonical = keyId({ keytype: 'ecdsa', keyval: { public: createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).toString('base64'), private: null } });
    assert.equal(canonicalKeyId(aliceCert), aliceCanonical);
    assert.notEqual(aliceCanonical, keyId(aliceCert), 'a certificate key is named by its public key');
    assert.deepEqual(doc?.SignedTags, [
      { SignedTag: 'v1', Digest: hex(m1), Signers: ['alice', 'bob'] },
      { SignedTag: 'v2', Digest: hex(m2), Signers: ['Repo Admin'] },
    ], 'v9 is only in targets/bob: not released, not listed');
    assert.deepEqual(doc?.Signers, [
      { Name: 'bob', Keys: [{ ID: bob.keyId }] },
      { Name: 'alice', Keys: [{ ID: aliceCanonical }] },
    ]);
    const text = prettyTrust(doc as NonNullable<typeof doc>);
    assert.match(text, new RegExp(`^v1 {11}${hex(m1)} {3}alice, bob$`, 'm'));
    assert.match(text, /\nList of signers and their keys for registry\.example\.com\/app\n\nSIGNER {4}KEYS\n/);
    assert.match(text, new RegExp(`^alice {5}${aliceCanonical.slice(0, 12)}$`, 'm'));
    assert.match(text, new RegExp(`^bob {7}${bob.keyId.slice(0, 12)}$`, 'm'));
  });

  it('one tag asked: only its rows; a repository with trust data but no signed tags says "No signatures"', () => {
    const targets = repo.targets(2, { targets: { v1: dockerTarget(m1), v2: dockerTarget(m2) } });
    assert.deepEqual(inspectTrust(files({ root, targets }), GUN, 'v2', NOW)?.SignedTags, [{ SignedTag: 'v2', Digest: hex(m2), Signers: ['Repo Admin'] }]);
    const empty = inspectTrust(files({ root, targets: repo.targets(2) }), GUN, null, NOW);
    assert.match(prettyTrust(empty as NonNullable<typeof empty>), /^\nNo signatures for registry\.example\.com\/app\n\n\nAdministrative keys for/);
  });
});
