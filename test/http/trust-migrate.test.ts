import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { TrustFileRecord } from '../../src/metadata/index.js';
import { verifySignatures } from '../../src/signatures/index.js';
import { migrateTrust } from '../../src/trust/index.js';
import { generateEcdsaKey } from '../../src/trust/tuf/index.js';
import { TestRepo, dockerTarget, signDoc } from '../../src/trust/tuf/testkit.js';
import { pushImage, startTestBerth, type TestBerth } from '../helpers/berth.js';

/**
 * berth trust migrate's core on a real registry: DCT-signed digests become
 * cosign signatures under `sha256-<hex>.sig`, signed by the operator's key,
 * that the signature verifier accepts; expired and missing ones are skipped;
 * a second run adds nothing.
 */
describe('trust migrate: DCT signatures become OCI signatures', () => {
  let t: TestBerth;
  before(async () => {
    t = await startTestBerth();
  });
  after(async () => {
    await t?.close();
  });

  function files(entries: Record<string, Buffer>): Map<string, TrustFileRecord> {
    return new Map(Object.entries(entries).map(([role, data]) => [role, { repository: 'mig/app', role, version: 1, sha256: '', data, createdAt: 0 }]));
  }

  it('signs every DCT-signed digest once, naming its tags and signers; skips expired and missing ones; idempotent', async () => {
    const repo = 'mig/app';
    const one = await pushImage(t.url, repo, '1.0');
    const two = await pushImage(t.url, repo, '2.0');
    const old = await pushImage(t.url, repo, '0.9');
    const dct = new TestRepo(`registry.example.com/${repo}`);
    const alice = generateEcdsaKey();
    const delegations = [{ name: 'targets/releases', keys: [alice.publicKey] }, { name: 'targets/alice', keys: [alice.publicKey] }];
    const gone = Buffer.from('{"not":"pushed"}');
    const targets = dct.targets(2, { delegations, targets: { '1.0': dockerTarget(one.manifest), latest: dockerTarget(one.manifest), gone: dockerTarget(gone) } });
    const releases = signDoc(dct.targetsSigned(1, { targets: { '2.0': dockerTarget(two.manifest) } }), [alice]);
    const stale = signDoc(dct.targetsSigned(1, { targets: { '0.9': dockerTarget(old.manifest) }, expires: new Date(Date.now() - 86_400_000) }), [alice]);
    const trust = files({ root: dct.root(1), targets, 'targets/releases': releases, 'targets/alice': stale });

    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keys = [{ name: 'release-key', kind: 'cosign' as const, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }];
    const registry = t.berth.registry;
    const signedByKey = async (digest: string) => (await verifySignatures(registry, repo, digest, keys)).some((f) => f.verified);
    const run = () => migrateTrust({ registry, trust, repository: repo, reference: `registry.example.com/${repo}`, privateKey, signedByKey });

    const first = await run();
    const by = new Map(first.map((r) => [r.digest, r]));
    assert.equal(first.length, 4);
    assert.deepEqual({ ...by.get(one.digest), signatureDigest: null }, { digest: one.digest, tags: ['1.0', 'latest'], signers: ['targets'], outcome: 'signed', signatureDigest: null });
    assert.equal(by.get(two.digest)?.outcome, 'signed');
    assert.deepEqual(by.get(two.digest)?.signers, ['alice', 'releases']);
    assert.equal(by.get(old.digest)?.outcome, 'expired');
    assert.equal([...by.values()].find((r) => r.tags.includes('gone'))?.outcome, 'missing-manifest');

    for (const image of [one, two]) {
      const findings = await verifySignatures(registry, repo, image.digest, keys);
      assert.deepEqual(findings.map((f) => [f.format, f.via, f.verified, f.keyName, f.signer]), [['cosign', 'tag', true, 'release-key', `registry.example.com/${repo}`]]);
      const sigTag = `sha256-${image.digest.slice(7)}.sig`;
      const res = await fetch(`${t.url}/v2/${repo}/manifests/${sigTag}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-content-digest'), by.get(image.digest)?.signatureDigest);
    }
    assert.deepEqual(await verifySignatures(registry, repo, old.digest, keys), [], 'nothing written for an expired signature');

    const again = await run();
    assert.deepEqual(again.map((r) => r.outcome).sort(), ['already-signed', 'already-signed', 'expired', 'missing-manifest']);
    assert.equal((await verifySignatures(registry, repo, one.digest, keys)).length, 1, 'no second signature');
  });

  it('appends to a .sig manifest another signer made, keeping its signature', async () => {
    const repo = 'mig/shared';
    const image = await pushImage(t.url, repo, '1');
    const dct = new TestRepo(`registry.example.com/${repo}`);
    const trust = files({ root: dct.root(1), targets: dct.targets(2, { targets: { '1': dockerTarget(image.manifest) } }) });
    const first = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const second = generateKeyPairSync('ed25519');
    const pem = (k: typeof first.publicKey) => k.export({ type: 'spki', format: 'pem' }).toString();
    const keys = [{ name: 'first', kind: 'cosign' as const, pem: pem(first.publicKey) }, { name: 'second', kind: 'cosign' as const, pem: pem(second.publicKey) }];
    const registry = t.berth.registry;
    for (const [name, pair] of [['first', first], ['second', second]] as const) {
      const own = [{ name, kind: 'cosign' as const, pem: pem(pair.publicKey) }];
      const [r] = await migrateTrust({
        registry, trust, repository: repo, reference: repo, privateKey: pair.privateKey,
        signedByKey: async (d) => (await verifySignatures(registry, repo, d, own)).some((f) => f.verified),
      });
      assert.equal(r?.outcome, 'signed', name);
    }
    const findings = await verifySignatures(registry, repo, image.digest, keys);
    assert.deepEqual(findings.map((f) => [f.index, f.verified, f.keyName]), [[0, true, 'first'], [1, true, 'second']]);
  });
});
