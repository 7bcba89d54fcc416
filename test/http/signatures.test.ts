import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { verifySignatures, type SignatureFinding, type TrustedKey } from '../../src/signatures/index.js';
import {
  cosignArtifact, cosignKeyPair, cosignPayload, cosignSign, descriptorOf, notationArtifact, notationCertificate, notationEnvelope,
  type Artifact, type CosignKeyPair, type Descriptor, type TestCertificate,
} from '../../src/signatures/testkit.js';
import { errorCode, pushBlob, pushImage, startTestBerth, type TestBerth } from '../helpers/berth.js';

/**
 * OCI signatures through Berth: images pushed with a cosign-style `.sig`
 * manifest (as skopeo and podman push it) and a notation JWS referrer, both
 * built by the test kit from the published formats; the listing API, its
 * errors, and signatures going with their subject on delete.
 */

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

async function pushArtifact(url: string, repo: string, a: Artifact, reference = a.digest): Promise<void> {
  for (const b of a.blobs) await pushBlob(url, repo, new Uint8Array(b));
  const res = await fetch(`${url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: new Uint8Array(a.manifest), headers: { 'Content-Type': a.mediaType } });
  assert.equal(res.status, 201, await res.text());
}

const sigTag = (digest: string) => `${digest.replace(':', '-')}.sig`;

describe('OCI signatures: the listing API and deletes', () => {
  let t: TestBerth;
  let cosign: CosignKeyPair;
  let root: TestCertificate;
  let leaf: TestCertificate;
  before(async () => {
    t = await startTestBerth();
    cosign = cosignKeyPair();
    root = notationCertificate({ commonName: 'Berth Test Root', ca: true });
    leaf = notationCertificate({ commonName: 'release signer', issuer: root });
  });
  after(async () => {
    await t?.close();
  });

  const list = (repo: string, reference: string) => fetch(`${t.url}/api/v1/repositories/${repo}/signatures/${reference}`);

  /** Pushes an image tagged `tag` with a cosign .sig manifest, a notation referrer and an SBOM referrer. */
  async function signedImage(repo: string, tag: string): Promise<{ image: Descriptor; cosignSig: string; notationSig: string; sbom: string }> {
    const pushed = await pushImage(t.url, repo, tag);
    const image = { mediaType: MANIFEST, digest: pushed.digest, size: pushed.manifest.length };
    const payload = cosignPayload({ digest: image.digest, reference: `registry.test/${repo}`, timestamp: 1_767_323_045, creator: 'berth test' });
    const cosignSig = cosignArtifact([{ payload, signature: cosignSign(payload, cosign.privateKey) }]);
    await pushArtifact(t.url, repo, cosignSig, sigTag(image.digest));
    const notationSig = notationArtifact(notationEnvelope({ target: image, chain: [leaf, root], signingTime: new Date('2026-01-02T03:04:05Z') }), image);
    await pushArtifact(t.url, repo, notationSig);
    const config = Buffer.from('{}');
    const layer = Buffer.from(`{"spdxVersion":"SPDX-2.3","name":"${tag}"}`);
    const sbomManifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MANIFEST, artifactType: 'application/spdx+json', config: descriptorOf('application/vnd.oci.empty.v1+json', config),
      layers: [descriptorOf('application/spdx+json', layer)], subject: image,
    }));
    const sbom = { manifest: sbomManifest, mediaType: MANIFEST, digest: descriptorOf(MANIFEST, sbomManifest).digest, blobs: [config, layer] };
    await pushArtifact(t.url, repo, sbom);
    return { image, cosignSig: cosignSig.digest, notationSig: notationSig.digest, sbom: sbom.digest };
  }

  it('lists the cosign .sig signature and the notation referrer of a tag, each unverified without trusted keys', async () => {
    const s = await signedImage('team/app', '1.0');
    const expected: SignatureFinding[] = [
      {
        format: 'notation', artifactDigest: s.notationSig, via: 'referrer', index: 0, verified: false, keyName: null, problem: 'unknown-key',
        detail: 'no notation certificate is trusted for this repository', signer: 'CN=release signer, O=Berth tests', signedAt: '2026-01-02T03:04:05.000Z',
      },
      {
        format: 'cosign', artifactDigest: s.cosignSig, via: 'tag', index: 0, verified: false, keyName: null, problem: 'unknown-key',
        detail: 'no cosign key is trusted for this repository', signer: 'registry.test/team/app', signedAt: '2026-01-02T03:04:05.000Z',
      },
    ];
    const res = await list('team/app', '1.0');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), { repository: 'team/app', reference: '1.0', digest: s.image.digest, signatures: expected });
    const byDigest = await list('team/app', s.image.digest);
    assert.deepEqual(await byDigest.json(), { repository: 'team/app', reference: s.image.digest, digest: s.image.digest, signatures: expected });
    // The host-prefixed name (a Notary GUN's spelling) is the same repository.
    const host = new URL(t.url).host;
    const prefixed = await list(`${host}/team/app`, '1.0');
    assert.equal(prefixed.status, 200);
    assert.equal(((await prefixed.json()) as { repository: string }).repository, 'team/app');
  });

  it('verifies what is stored against trusted keys (the trust policy\'s call, on the registry core)', async () => {
    const s = await signedImage('verify/app', '1.0');
    const keys: TrustedKey[] = [{ name: 'release', kind: 'cosign', pem: cosign.publicKeyPem }, { name: 'corp-root', kind: 'notation', pem: root.pem }];
    const findings = await verifySignatures(t.berth.registry, 'verify/app', s.image.digest, keys);
    assert.deepEqual(findings.map((f) => [f.format, f.via, f.verified, f.keyName, f.problem]), [
      ['notation', 'referrer', true, 'corp-root', null],
      ['cosign', 'tag', true, 'release', null],
    ]);
  });

  it('an image without signatures lists none', async () => {
    const pushed = await pushImage(t.url, 'plain/app', 'latest');
    assert.deepEqual(await (await list('plain/app', 'latest')).json(), { repository: 'plain/app', reference: 'latest', digest: pushed.digest, signatures: [] });
  });

  it('bad references answer the catalogue\'s codes, never 500', async () => {
    await pushImage(t.url, 'bad/app', '1.0');
    const cases: [string, string, number, string][] = [
      ['bad/app', '2.0', 404, 'MANIFEST_UNKNOWN'],
      ['bad/app', `sha256:${'0'.repeat(64)}`, 404, 'MANIFEST_UNKNOWN'],
      ['bad/app', '-not-a-tag', 404, 'MANIFEST_UNKNOWN'],
      ['bad/app', 'sha256:xyz', 400, 'DIGEST_INVALID'],
      ['nosuch/app', '1.0', 404, 'MANIFEST_UNKNOWN'],
      ['Bad/App', '1.0', 400, 'NAME_INVALID'],
      ['bad/a..b', '1.0', 400, 'NAME_INVALID'],
    ];
    for (const [repo, reference, status, code] of cases) {
      const res = await list(repo, reference);
      assert.deepEqual([res.status, await errorCode(res)], [status, code], `${repo} ${reference}`);
    }
    const post = await fetch(`${t.url}/api/v1/repositories/bad/app/signatures/1.0`, { method: 'POST' });
    assert.deepEqual([post.status, await errorCode(post)], [405, 'BERTH_METHOD_NOT_ALLOWED']);
  });

  it('signatures stay when a tag is deleted, and go with the subject deleted by digest (other referrers stay)', async () => {
    const s = await signedImage('del/app', '1.0');
    const tagDelete = await fetch(`${t.url}/v2/del/app/manifests/1.0`, { method: 'DELETE' });
    assert.equal(tagDelete.status, 202);
    await t.berth.events.idle();
    assert.equal((await list('del/app', '1.0')).status, 404);
    const byDigest = (await (await list('del/app', s.image.digest)).json()) as { signatures: SignatureFinding[] };
    assert.deepEqual(byDigest.signatures.map((f) => f.artifactDigest), [s.notationSig, s.cosignSig]);

    const res = await fetch(`${t.url}/v2/del/app/manifests/${s.image.digest}`, { method: 'DELETE' });
    assert.equal(res.status, 202);
    await t.berth.events.idle();
    const status = async (ref: string) => (await fetch(`${t.url}/v2/del/app/manifests/${ref}`, { method: 'HEAD' })).status;
    assert.deepEqual([await status(sigTag(s.image.digest)), await status(s.cosignSig), await status(s.notationSig), await status(s.sbom)], [404, 404, 404, 200]);
    const referrers = (await (await fetch(`${t.url}/v2/del/app/referrers/${s.image.digest}`)).json()) as { manifests: { digest: string }[] };
    assert.deepEqual(referrers.manifests.map((m) => m.digest), [s.sbom]);
  });

  it('deleting one image leaves another image\'s signatures alone', async () => {
    const a = await signedImage('two/app', 'a');
    const b = await signedImage('two/app', 'b');
    assert.equal((await fetch(`${t.url}/v2/two/app/manifests/${a.image.digest}`, { method: 'DELETE' })).status, 202);
    await t.berth.events.idle();
    const listed = (await (await list('two/app', 'b')).json()) as { signatures: SignatureFinding[] };
    assert.deepEqual(listed.signatures.map((f) => f.artifactDigest), [b.notationSig, b.cosignSig]);
  });
});

describe('OCI signatures: the listing needs pull access', () => {
  let t: TestBerth;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-sig-auth-'));
    const file = path.join(dir, 'htpasswd');
    await writeFile(file, `alice:${bcrypt.hashSync('wonderland', 5).replace(/^\$2b\$/, '$2y$')}\n`);
    t = await startTestBerth({ REGISTRY_AUTH: 'htpasswd', REGISTRY_AUTH_HTPASSWD_REALM: 'Registry Realm', REGISTRY_AUTH_HTPASSWD_PATH: file });
  });
  after(async () => {
    await t?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('anonymous: 401 UNAUTHORIZED; with credentials: the listing', async () => {
    const basic = { Authorization: `Basic ${Buffer.from('alice:wonderland').toString('base64')}` };
    const anonymous = await fetch(`${t.url}/api/v1/repositories/auth/app/signatures/1.0`);
    assert.deepEqual([anonymous.status, await errorCode(anonymous)], [401, 'UNAUTHORIZED']);
    const signedIn = await fetch(`${t.url}/api/v1/repositories/auth/app/signatures/1.0`, { headers: basic });
    assert.deepEqual([signedIn.status, await errorCode(signedIn)], [404, 'MANIFEST_UNKNOWN']);
  });
});
