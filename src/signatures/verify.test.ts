import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { checkTrustedKey, signatureCleanupListener, verifySignatures, listSignatures, type SignatureFinding, type TrustedKey } from './index.js';
import {
  MemorySignatureSource, cosignArtifact, cosignKeyPair, cosignPayload, cosignSign, descriptorOf, notationArtifact, notationCertificate, notationEnvelope,
  type CosignKeyPair, type Descriptor, type TestCertificate,
} from './testkit.js';

/** The verdict fields every test asserts exactly. */
const verdict = (f: SignatureFinding | undefined) => f && { format: f.format, via: f.via, index: f.index, verified: f.verified, keyName: f.keyName, problem: f.problem };

const cosignKey = (name: string, pair: CosignKeyPair): TrustedKey => ({ name, kind: 'cosign', pem: pair.publicKeyPem });
const notationKey = (name: string, cert: TestCertificate): TrustedKey => ({ name, kind: 'notation', pem: cert.pem });

const sigTag = (d: Descriptor) => d.digest.replace(':', '-') + '.sig';

/** A cosign .sig manifest (as skopeo pushes it) with one signature of `subject` by `pair`. */
function signByTag(src: MemorySignatureSource, subject: Descriptor, pair: CosignKeyPair, payload = cosignPayload({ digest: subject.digest, reference: 'registry.test/app', timestamp: 1_700_000_000 })): string {
  return src.push(cosignArtifact([{ payload, signature: cosignSign(payload, pair.privateKey) }]), sigTag(subject)).digest;
}

describe('OCI signatures: cosign simple signing', () => {
  let release: CosignKeyPair;
  let other: CosignKeyPair;
  before(() => {
    release = cosignKeyPair();
    other = cosignKeyPair();
  });

  it('verifies a signature under the .sig tag with the trusted key, naming key, signer and time', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage('1.0');
    const sig = signByTag(src, image, release);
    const findings = await verifySignatures(src, 'app', image.digest, [cosignKey('other', other), cosignKey('release', release)]);
    assert.deepEqual(findings, [{
      format: 'cosign', artifactDigest: sig, via: 'tag', index: 0, verified: true, keyName: 'release', problem: null,
      detail: 'signed by cosign key release', signer: 'registry.test/app', signedAt: '2023-11-14T22:13:20.000Z',
    }]);
  });

  it('verifies Ed25519, P-384 and RSA keys', async () => {
    for (const type of ['ed25519', 'ecdsa-p384', 'rsa'] as const) {
      const src = new MemorySignatureSource();
      const image = src.pushImage();
      const pair = cosignKeyPair(type);
      signByTag(src, image, pair);
      assert.deepEqual((await verifySignatures(src, 'app', image.digest, [cosignKey(type, pair)])).map(verdict),
        [{ format: 'cosign', via: 'tag', index: 0, verified: true, keyName: type, problem: null }], type);
    }
  });

  it('finds signatures as referrers and by the .sig tag, each once, referrers first', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage('1.0');
    const payload = cosignPayload({ digest: image.digest, reference: 'registry.test/app' });
    const referrer = src.push(cosignArtifact([{ payload, signature: cosignSign(payload, release.privateKey) }], { subject: image }));
    const tagged = signByTag(src, image, other);
    // An SBOM referrer is not a signature.
    src.putManifest(sbom(src, image).manifest);
    const findings = await verifySignatures(src, 'app', image.digest, [cosignKey('release', release)]);
    assert.deepEqual(findings.map((f) => ({ ...verdict(f), artifactDigest: f.artifactDigest })), [
      { format: 'cosign', via: 'referrer', index: 0, verified: true, keyName: 'release', problem: null, artifactDigest: referrer.digest },
      { format: 'cosign', via: 'tag', index: 0, verified: false, keyName: null, problem: 'unknown-key', artifactDigest: tagged },
    ]);
  });

  it('reports each layer of a .sig manifest (skopeo appends one per signing)', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage();
    const p1 = cosignPayload({ digest: image.digest, reference: 'a' });
    const p2 = cosignPayload({ digest: image.digest, reference: 'b' });
    src.push(cosignArtifact([{ payload: p1, signature: cosignSign(p1, other.privateKey) }, { payload: p2, signature: cosignSign(p2, release.privateKey) }]), sigTag(image));
    const findings = await verifySignatures(src, 'app', image.digest, [cosignKey('release', release)]);
    assert.deepEqual(findings.map((f) => [f.index, f.verified, f.problem, f.signer]), [[0, false, 'unknown-key', 'a'], [1, true, null, 'b']]);
  });

  it('unknown key: no trusted key, or only another one', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage();
    signByTag(src, image, release);
    const none = await verifySignatures(src, 'app', image.digest, []);
    assert.deepEqual(none.map(verdict), [{ format: 'cosign', via: 'tag', index: 0, verified: false, keyName: null, problem: 'unknown-key' }]);
    assert.equal(none[0]?.detail, 'no cosign key is trusted for this repository');
    const wrong = await verifySignatures(src, 'app', image.digest, [cosignKey('other', other)]);
    assert.deepEqual(wrong.map(verdict), [{ format: 'cosign', via: 'tag', index: 0, verified: false, keyName: null, problem: 'unknown-key' }]);
    // A notation certificate is no cosign key.
    const cert = notationCertificate({ commonName: 'ca', ca: true });
    assert.equal((await verifySignatures(src, 'app', image.digest, [notationKey('ca', cert)]))[0]?.problem, 'unknown-key');
  });

  it('bad signature: an RSA signature over other bytes names the key that made it; a flipped ECDSA byte reads as unknown key', async () => {
    const rsa = cosignKeyPair('rsa');
    const src = new MemorySignatureSource();
    const image = src.pushImage();
    const payload = cosignPayload({ digest: image.digest, reference: 'registry.test/app' });
    const signature = cosignSign(payload, rsa.privateKey);
    const tampered = cosignPayload({ digest: image.digest, reference: 'registry.test/evil' });
    src.push(cosignArtifact([{ payload: tampered, signature }]), sigTag(image));
    assert.deepEqual((await verifySignatures(src, 'app', image.digest, [cosignKey('rsa', rsa)])).map(verdict),
      [{ format: 'cosign', via: 'tag', index: 0, verified: false, keyName: 'rsa', problem: 'bad-signature' }]);

    const src2 = new MemorySignatureSource();
    const image2 = src2.pushImage();
    const payload2 = cosignPayload({ digest: image2.digest, reference: 'registry.test/app' });
    const sig = Buffer.from(cosignSign(payload2, release.privateKey), 'base64');
    sig.writeUInt8(sig.readUInt8(sig.length - 3) ^ 0x01, sig.length - 3);
    src2.push(cosignArtifact([{ payload: payload2, signature: sig.toString('base64') }]), sigTag(image2));
    const [f] = await verifySignatures(src2, 'app', image2.digest, [cosignKey('release', release)]);
    assert.deepEqual(verdict(f), { format: 'cosign', via: 'tag', index: 0, verified: false, keyName: null, problem: 'unknown-key' });
    assert.match(f?.detail ?? '', /does not name its key/);
  });

  it('digest mismatch: the signature of another image under this image\'s tag', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage();
    const another = src.pushImage();
    signByTag(src, image, release, cosignPayload({ digest: another.digest, reference: 'registry.test/app' }));
    const [f] = await verifySignatures(src, 'app', image.digest, [cosignKey('release', release)]);
    assert.deepEqual(verdict(f), { format: 'cosign', via: 'tag', index: 0, verified: false, keyName: null, problem: 'digest-mismatch' });
    assert.equal(f?.detail, `the payload signs ${another.digest}, not this image`);
  });

  it('bad payload: not JSON, missing fields, wrong type, huge, no signature, bytes not matching the digest, another layer type', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage();
    const good = cosignPayload({ digest: image.digest, reference: 'r' });
    const payloads: [Buffer, string | undefined, string?][] = [
      [Buffer.from('not json'), 'AAAA'],
      [Buffer.from(JSON.stringify({ critical: { type: 'cosign container image signature', identity: { 'docker-reference': 'r' } } })), 'AAAA'],
      [cosignPayload({ digest: image.digest, reference: 'r', type: 'atomic container signature' }), 'AAAA'],
      [Buffer.alloc(64 * 1024 + 1, 0x20), 'AAAA'],
      [good, undefined],
      [good, 'not base64!'],
      [good, cosignSign(good, release.privateKey), 'application/vnd.oci.image.layer.v1.tar'],
    ];
    src.push(cosignArtifact(payloads.map(([payload, signature, mediaType]) => ({ payload, signature, ...(mediaType ? { mediaType } : {}) }))), sigTag(image));
    const findings = await verifySignatures(src, 'app', image.digest, [cosignKey('release', release)]);
    assert.deepEqual(findings.map((f) => [f.index, f.verified, f.problem]), payloads.map((_, i) => [i, false, 'bad-payload']));
    assert.deepEqual(findings.map((f) => f.detail), [
      'the payload is not JSON: not a simple-signing payload',
      'critical.image.docker-manifest-digest is missing: not a simple-signing payload',
      'critical.type is not "cosign container image signature": not a simple-signing payload',
      'the layer is 65537 bytes, more than the 65536 read',
      'the layer has no base64 signature in its dev.cosignproject.cosign/signature annotation',
      'the layer has no base64 signature in its dev.cosignproject.cosign/signature annotation',
      'layer 6 is not a simple-signing payload (application/vnd.dev.cosign.simplesigning.v1+json)',
    ]);
  });

  it('bad payload: a stored blob whose bytes do not match its digest is never verified', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage();
    const payload = cosignPayload({ digest: image.digest, reference: 'r' });
    signByTag(src, image, release, payload);
    src.blobs.set(descriptorOf('x', payload).digest, cosignPayload({ digest: image.digest, reference: 'evil' }));
    const [f] = await verifySignatures(src, 'app', image.digest, [cosignKey('release', release)]);
    assert.deepEqual([f?.problem, f?.verified, f?.detail], ['bad-payload', false, 'the layer\'s bytes do not match its digest']);
  });

  it('reports at most 256 signatures of an image', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage();
    const layers = Array.from({ length: 300 }, (_, i) => {
      const payload = cosignPayload({ digest: image.digest, reference: `r${i}` });
      return { payload, signature: 'AAAA' };
    });
    src.push(cosignArtifact(layers), sigTag(image));
    const findings = await verifySignatures(src, 'app', image.digest, []);
    assert.equal(findings.length, 256);
    assert.deepEqual(new Set(findings.map((f) => f.problem)), new Set(['unknown-key']));
  });
});

/** An SBOM referrer of `subject` (blobs stored), to show it is neither listed nor deleted. */
function sbom(src: MemorySignatureSource, subject: Descriptor): { manifest: Buffer; digest: string; blobs: Buffer[] } {
  const config = Buffer.from('{}');
  const layer = Buffer.from(`{"spdxVersion":"SPDX-2.3","seed":"${randomBytes(4).toString('hex')}"}`);
  src.putBlob(config);
  src.putBlob(layer);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/spdx+json',
    config: descriptorOf('application/vnd.oci.empty.v1+json', config), layers: [descriptorOf('application/spdx+json', layer)], subject,
  }));
  return { manifest, digest: descriptorOf('x', manifest).digest, blobs: [config, layer] };
}

describe('OCI signatures: notation JWS', () => {
  let root: TestCertificate;
  let intermediate: TestCertificate;
  let leaf: TestCertificate;
  let otherCa: TestCertificate;
  before(() => {
    root = notationCertificate({ commonName: 'Berth Test Root', ca: true });
    intermediate = notationCertificate({ commonName: 'Berth Test Intermediate', ca: true, issuer: root });
    leaf = notationCertificate({ commonName: 'release signer', issuer: intermediate });
    otherCa = notationCertificate({ commonName: 'Someone Else', ca: true });
  });

  function signed(src: MemorySignatureSource, subject: Descriptor, o: Partial<Parameters<typeof notationEnvelope>[0]> = {}, mediaType?: string): string {
    const envelope = notationEnvelope({ target: subject, chain: [leaf, intermediate, root], signingTime: new Date('2026-01-02T03:04:05Z'), ...o });
    return src.push(notationArtifact(envelope, subject, mediaType ? { mediaType } : {})).digest;
  }

  it('verifies a chain leaf → intermediate → trusted root, naming signer and signing time', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage('1.0');
    const sig = signed(src, image);
    assert.deepEqual(await verifySignatures(src, 'app', image.digest, [notationKey('corp-root', root)]), [{
      format: 'notation', artifactDigest: sig, via: 'referrer', index: 0, verified: true, keyName: 'corp-root', problem: null,
      detail: `signed by ${leaf.subject}, chained to notation certificate corp-root`, signer: 'CN=release signer, O=Berth tests', signedAt: '2026-01-02T03:04:05.000Z',
    }]);
    // Trusting the intermediate, or the leaf itself, works too; a chain sent without its root also verifies.
    assert.equal((await verifySignatures(src, 'app', image.digest, [notationKey('mid', intermediate)]))[0]?.keyName, 'mid');
    assert.equal((await verifySignatures(src, 'app', image.digest, [notationKey('leaf', leaf)]))[0]?.keyName, 'leaf');
    const src2 = new MemorySignatureSource();
    const image2 = src2.pushImage();
    signed(src2, image2, { chain: [leaf, intermediate] });
    assert.deepEqual(verdict((await verifySignatures(src2, 'app', image2.digest, [notationKey('corp-root', root)]))[0]),
      { format: 'notation', via: 'referrer', index: 0, verified: true, keyName: 'corp-root', problem: null });
  });

  it('unknown key: a chain to another CA, or no certificate trusted', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage();
    signed(src, image);
    const expected = [{ format: 'notation', via: 'referrer', index: 0, verified: false, keyName: null, problem: 'unknown-key' }];
    assert.deepEqual((await verifySignatures(src, 'app', image.digest, [notationKey('else', otherCa)])).map(verdict), expected);
    assert.deepEqual((await verifySignatures(src, 'app', image.digest, [])).map(verdict), expected);
    assert.deepEqual((await verifySignatures(src, 'app', image.digest, [cosignKey('k', cosignKeyPair())])).map(verdict), expected);
  });

  it('bad signature: one flipped byte of the JWS signature', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage();
    const env = JSON.parse(notationEnvelope({ target: image, chain: [leaf, intermediate, root] }).toString()) as { signature: string };
    const sig = Buffer.from(env.signature, 'base64url');
    sig.writeUInt8(sig.readUInt8(10) ^ 0x80, 10);
    env.signature = sig.toString('base64url');
    src.push(notationArtifact(Buffer.from(JSON.stringify(env)), image));
    const [f] = await verifySignatures(src, 'app', image.digest, [notationKey('corp-root', root)]);
    assert.deepEqual(verdict(f), { format: 'notation', via: 'referrer', index: 0, verified: false, keyName: 'corp-root', problem: 'bad-signature' });
    assert.equal(f?.detail, `the JWS signature does not verify under the key of ${leaf.subject}`);
  });

  it('bad signature: a leaf that is not for code signing, or a chain link not signed by its issuer', async () => {
    const serverLeaf = notationCertificate({ commonName: 'tls', issuer: intermediate, extKeyUsage: 'serverAuth' });
    const src = new MemorySignatureSource();
    const image = src.pushImage();
    src.push(notationArtifact(notationEnvelope({ target: image, chain: [serverLeaf, intermediate, root] }), image));
    assert.deepEqual(verdict((await verifySignatures(src, 'app', image.digest, [notationKey('corp-root', root)]))[0]),
      { format: 'notation', via: 'referrer', index: 0, verified: false, keyName: 'corp-root', problem: 'bad-signature' });
    // The same names, another key: the intermediate claims to be issued by the root but is not signed by it.
    const impostor = notationCertificate({ commonName: 'Berth Test Root', ca: true });
    const fakeMid = notationCertificate({ commonName: 'Berth Test Intermediate', ca: true, issuer: impostor });
    const fakeLeaf = notationCertificate({ commonName: 'release signer', issuer: fakeMid });
    const src2 = new MemorySignatureSource();
    const image2 = src2.pushImage();
    src2.push(notationArtifact(notationEnvelope({ target: image2, chain: [fakeLeaf, fakeMid] }), image2));
    const [f] = await verifySignatures(src2, 'app', image2.digest, [notationKey('corp-root', root)]);
    assert.deepEqual(verdict(f), { format: 'notation', via: 'referrer', index: 0, verified: false, keyName: 'corp-root', problem: 'bad-signature' });
    assert.equal(f?.detail, 'certificate 1 of the chain is not signed by the certificate after it');
  });

  it('digest mismatch: a signature of another image attached to this one', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage();
    const another = src.pushImage();
    src.push(notationArtifact(notationEnvelope({ target: another, chain: [leaf, intermediate, root] }), image));
    const [f] = await verifySignatures(src, 'app', image.digest, [notationKey('corp-root', root)]);
    assert.deepEqual(verdict(f), { format: 'notation', via: 'referrer', index: 0, verified: false, keyName: null, problem: 'digest-mismatch' });
  });

  it('expired: the signature\'s expiry has passed, or the signing certificate has', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage();
    signed(src, image, { expiry: new Date(Date.now() - 60_000) });
    const [f] = await verifySignatures(src, 'app', image.digest, [notationKey('corp-root', root)]);
    assert.deepEqual(verdict(f), { format: 'notation', via: 'referrer', index: 0, verified: false, keyName: 'corp-root', problem: 'expired' });
    assert.match(f?.detail ?? '', /^the signature expired at /);

    const oldLeaf = notationCertificate({ commonName: 'old signer', issuer: intermediate, notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    const src2 = new MemorySignatureSource();
    const image2 = src2.pushImage();
    src2.push(notationArtifact(notationEnvelope({ target: image2, chain: [oldLeaf, intermediate, root] }), image2));
    const [g] = await verifySignatures(src2, 'app', image2.digest, [notationKey('corp-root', root)]);
    assert.deepEqual(verdict(g), { format: 'notation', via: 'referrer', index: 0, verified: false, keyName: 'corp-root', problem: 'expired' });
    assert.match(g?.detail ?? '', /^certificate 0 of the chain \(CN=old signer, O=Berth tests\) is valid from /);

    // A signature in date now is expired at a `now` past its expiry.
    const src3 = new MemorySignatureSource();
    const image3 = src3.pushImage();
    signed(src3, image3, { expiry: new Date(Date.now() + 86_400_000) });
    assert.equal((await verifySignatures(src3, 'app', image3.digest, [notationKey('r', root)]))[0]?.verified, true);
    assert.equal((await verifySignatures(src3, 'app', image3.digest, [notationKey('r', root)], Date.now() + 2 * 86_400_000))[0]?.problem, 'expired');
  });

  it('bad payload: not JSON, no x5c, wrong cty, missing signing time, alg not matching the key, huge', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage();
    const good = JSON.parse(notationEnvelope({ target: image, chain: [leaf, intermediate, root] }).toString()) as Record<string, unknown>;
    const cases: [string, Buffer][] = [
      ['not json', Buffer.from('{')],
      ['no x5c', Buffer.from(JSON.stringify({ ...good, header: {} }))],
      ['extra field', Buffer.from(JSON.stringify({ ...good, signatures: [] }))],
      ['wrong cty', notationEnvelope({ target: image, chain: [leaf], protectedHeader: { cty: 'application/json' } })],
      ['no signing time', notationEnvelope({ target: image, chain: [leaf], protectedHeader: { 'io.cncf.notary.signingTime': undefined } })],
      ['expiry not critical', notationEnvelope({ target: image, chain: [leaf], protectedHeader: { 'io.cncf.notary.expiry': '2030-01-01T00:00:00Z' } })],
      ['alg', notationEnvelope({ target: image, chain: [leaf], protectedHeader: { alg: 'PS512' } })],
      ['no target', Buffer.from(JSON.stringify({ ...good, payload: Buffer.from('{"targetArtifact":{"digest":1}}').toString('base64url') }))],
      ['huge', Buffer.alloc(128 * 1024 + 1, 0x20)],
    ];
    for (const [, envelope] of cases) src.push(notationArtifact(envelope, image));
    const findings = await verifySignatures(src, 'app', image.digest, [notationKey('corp-root', root)]);
    assert.equal(findings.length, cases.length);
    for (const f of findings) assert.deepEqual([f.format, f.verified, f.problem, f.keyName], ['notation', false, 'bad-payload', null], f.detail);
  });

  it('a critical header Berth does not process is unsupported; so is a COSE envelope', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage();
    const plugin = notationEnvelope({ target: image, chain: [leaf, intermediate, root], protectedHeader: { crit: ['io.cncf.notary.signingScheme', 'io.cncf.notary.verificationPlugin'], 'io.cncf.notary.verificationPlugin': 'x' } });
    const a = src.push(notationArtifact(plugin, image)).digest;
    const b = src.push(notationArtifact(Buffer.from([0xd2, 0x84, 0x40, 0xa0, 0xf6, 0x40]), image, { mediaType: 'application/cose' })).digest;
    const findings = await verifySignatures(src, 'app', image.digest, [notationKey('corp-root', root)]);
    const byDigest = new Map(findings.map((f) => [f.artifactDigest, verdict(f)]));
    assert.deepEqual(byDigest.get(a), { format: 'notation', via: 'referrer', index: 0, verified: false, keyName: null, problem: 'unsupported' });
    assert.deepEqual(byDigest.get(b), { format: 'unsupported', via: 'referrer', index: 0, verified: false, keyName: null, problem: 'unsupported' });
  });
});

describe('OCI signatures: listing, keys and clean-up', () => {
  it('listSignatures resolves a tag; an unknown reference is MANIFEST_UNKNOWN', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage('1.0');
    const pair = cosignKeyPair();
    signByTag(src, image, pair);
    const listed = await listSignatures(src, 'app', '1.0', [cosignKey('k', pair)]);
    assert.equal(listed.digest, image.digest);
    assert.deepEqual(listed.signatures.map((f) => f.verified), [true]);
    await assert.rejects(listSignatures(src, 'app', '2.0', []), { code: 'MANIFEST_UNKNOWN' });
  });

  it('checkTrustedKey names the key and the fix; unusable keys match nothing', async () => {
    assert.equal(checkTrustedKey({ name: 'k', kind: 'cosign', pem: cosignKeyPair().publicKeyPem }), null);
    assert.equal(checkTrustedKey({ name: 'k', kind: 'cosign', pem: 'nonsense' }), 'key "k": a cosign key must be a PEM public key (BEGIN PUBLIC KEY)');
    assert.equal(checkTrustedKey({ name: 'c', kind: 'notation', pem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }), 'key "c": not a readable PEM certificate');
    const dsa = cosignKeyPair().publicKeyPem.replace('MFkw', 'MFow');
    assert.match(checkTrustedKey({ name: 'd', kind: 'cosign', pem: dsa }) ?? '', /^key "d": /);
  });

  it('a deleted subject takes its .sig manifest and signature referrers along, not other referrers', async () => {
    const src = new MemorySignatureSource();
    const image = src.pushImage('1.0');
    const pair = cosignKeyPair();
    const tagged = signByTag(src, image, pair);
    const payload = cosignPayload({ digest: image.digest, reference: 'r' });
    const referrer = src.push(cosignArtifact([{ payload, signature: cosignSign(payload, pair.privateKey) }], { subject: image })).digest;
    const root = notationCertificate({ commonName: 'root', ca: true });
    const notation = src.push(notationArtifact(notationEnvelope({ target: image, chain: [notationCertificate({ commonName: 'l', issuer: root })] }), image)).digest;
    const bom = sbom(src, image);
    src.putManifest(bom.manifest);
    const other = src.pushImage('2.0');
    const otherSig = signByTag(src, other, pair);
    const listener = signatureCleanupListener(src);

    // Deleting the tag: nothing goes.
    src.tags.delete('1.0');
    await listener({ type: 'tag.deleted', repository: 'app', digest: image.digest });
    assert.equal((await verifySignatures(src, 'app', image.digest, [])).length, 3);

    // Re-pushed before the listener ran: its signatures stay.
    await listener({ type: 'manifest.deleted', repository: 'app', digest: image.digest });
    assert.equal(src.manifests.size, 7);

    await src.deleteManifest('app', image.digest);
    await listener({ type: 'manifest.deleted', repository: 'app', digest: image.digest });
    assert.deepEqual([tagged, referrer, notation].map((d) => src.manifests.has(d)), [false, false, false]);
    assert.equal(src.tags.has(sigTag(image)), false);
    assert.deepEqual([bom.digest, other.digest, otherSig].map((d) => src.manifests.has(d)), [true, true, true]);
  });
});
