import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SignatureFinding } from '../signatures/index.js';
import type { DctTarget } from '../trust/index.js';
import { decide } from './verdict.js';

const D = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;
const target = (o: Partial<DctTarget>): DctTarget => ({ tag: 'v1', digest: D, size: 10, signers: ['alice'], expired: false, ...o });
const finding = (o: Partial<SignatureFinding>): SignatureFinding => ({
  format: 'cosign', artifactDigest: OTHER, via: 'tag', index: 0, verified: false, keyName: null, problem: 'unknown-key', detail: '', signer: null, signedAt: null, ...o,
});
const policy = { keys: [], dctSigners: ['alice', 'releases'] };

describe('trust policy verdicts', () => {
  it('DCT: a listed signer\'s target for the digest passes, by tag only for that tag', () => {
    assert.deepEqual(decide(policy, D, 'v1', [], [target({})]).by, { keys: [], dctSigners: ['alice'] });
    assert.equal(decide(policy, D, null, [], [target({ tag: 'any' })]).allowed, true, 'by digest: any tag signed for it');
    const v = decide(policy, D, 'v2', [], [target({})]);
    assert.deepEqual([v.allowed, v.reason], [false, 'unsigned'], 'by tag: another tag\'s signature does not count');
  });

  it('DCT: the tag signed for other content is a bad signature; an unlisted signer an unknown key; expired metadata expired', () => {
    const moved = decide(policy, D, 'v1', [], [target({ digest: OTHER })]);
    assert.deepEqual([moved.allowed, moved.reason, moved.detail], [false, 'bad signature', `the DCT signature of tag v1 is for ${OTHER}, not ${D}`]);
    assert.equal(decide(policy, D, null, [], [target({ digest: OTHER })]).reason, 'unsigned', 'by digest, other digests are not about this image');
    const bob = decide(policy, D, 'v1', [], [target({ signers: ['bob'] })]);
    assert.deepEqual([bob.allowed, bob.reason, bob.signed], [false, 'unknown key', true]);
    const old = decide(policy, D, 'v1', [], [target({ expired: true })]);
    assert.deepEqual([old.allowed, old.reason, old.detail], [false, 'expired', 'the DCT signature of v1 by alice has expired']);
  });

  it('ANY trusted key or signer suffices; otherwise the most telling problem wins', () => {
    const ok = decide({ keys: [{ name: 'release', kind: 'cosign', pem: '' }], dctSigners: ['alice'] }, D, 'v1',
      [finding({ problem: 'bad-signature', keyName: 'release' }), finding({ verified: true, problem: null, keyName: 'release' })], [target({ signers: ['bob'] })]);
    assert.deepEqual([ok.allowed, ok.reason, ok.by], [true, 'verified', { keys: ['release'], dctSigners: [] }]);
    const ranks: [SignatureFinding['problem'][], string][] = [
      [['unknown-key', 'expired', 'bad-signature'], 'bad signature'],
      [['unknown-key', 'expired'], 'expired'],
      [['unsupported', 'unknown-key'], 'unknown key'],
      [['digest-mismatch'], 'bad signature'],
      [['bad-payload'], 'bad signature'],
      [[], 'unsigned'],
    ];
    for (const [problems, reason] of ranks) assert.equal(decide(policy, D, 'v1', problems.map((problem) => finding({ problem })), []).reason, reason, problems.join(','));
  });
});
