import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pushBlob, sha256, startTestBerth, type TestBerth } from '../helpers/berth.js';

// OCI artifacts as ORAS pushes and attaches them (OCI 1.1): a manifest with
// its own `artifactType` and the empty config (`application/vnd.oci.empty.v1+json`,
// the two bytes `{}`, with its `data` inline as ORAS writes it), files as
// layers with a title annotation, and referrers that point at it with
// `subject`. The referrers list is checked exactly, filtered and not.

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';
const REPORT = 'application/vnd.example.berth.report.v1';
const SIGNATURE = 'application/vnd.example.berth.signature.v1';
const SBOM = 'application/vnd.example.berth.sbom.v1';

interface Descriptor { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string>; data?: string }

describe('OCI artifacts (ORAS style) and the referrers API', () => {
  let t: TestBerth;
  let emptyConfig: Descriptor;
  before(async () => {
    t = await startTestBerth();
    emptyConfig = { mediaType: EMPTY, digest: await pushBlob(t.url, 'oras/app', '{}'), size: 2, data: Buffer.from('{}').toString('base64') };
    assert.equal(emptyConfig.digest, 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', 'the empty descriptor\'s well-known digest');
  });
  after(async () => {
    await t.close();
  });

  /** Pushes `files` as blobs and an artifact manifest naming them; returns the manifest's bytes and descriptor. */
  const pushArtifact = async (ref: string | null, fields: { artifactType?: string; config?: Descriptor; subject?: Descriptor; annotations?: Record<string, string> }, files: Array<{ name: string; mediaType: string; content: string }>) => {
    const layers: Descriptor[] = [];
    for (const f of files) {
      layers.push({ mediaType: f.mediaType, digest: await pushBlob(t.url, 'oras/app', f.content), size: Buffer.byteLength(f.content), annotations: { 'org.opencontainers.image.title': f.name } });
    }
    const body = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      ...(fields.artifactType ? { artifactType: fields.artifactType } : {}),
      config: fields.config ?? emptyConfig,
      layers: layers.length > 0 ? layers : [{ mediaType: EMPTY, digest: emptyConfig.digest, size: 2, data: emptyConfig.data }],
      ...(fields.subject ? { subject: fields.subject } : {}),
      ...(fields.annotations ? { annotations: fields.annotations } : {}),
    }));
    const digest = sha256(body);
    const res = await fetch(`${t.url}/v2/oras/app/manifests/${ref ?? digest}`, { method: 'PUT', body, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(res.status, 201, await res.text());
    assert.equal(res.headers.get('docker-content-digest'), digest);
    return { body, digest, descriptor: { mediaType: OCI_MANIFEST, digest, size: body.length } satisfies Descriptor, subjectHeader: res.headers.get('oci-subject') };
  };

  it('stores an artifact with a custom artifactType and the empty config, and serves its exact bytes and files', async () => {
    const report = await pushArtifact('report-1', { artifactType: REPORT, annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' } }, [
      { name: 'report.json', mediaType: 'application/vnd.example.berth.report.layer.v1+json', content: '{"findings":[]}' },
    ]);
    assert.equal(report.subjectHeader, null, 'no subject, no OCI-Subject');
    const got = await fetch(`${t.url}/v2/oras/app/manifests/report-1`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-type'), OCI_MANIFEST);
    assert.equal(got.headers.get('docker-content-digest'), report.digest);
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), report.body);
    const manifest = JSON.parse(report.body.toString('utf8')) as { layers: Descriptor[] };
    const file = await fetch(`${t.url}/v2/oras/app/blobs/${manifest.layers[0]?.digest}`);
    assert.equal(file.status, 200);
    assert.equal(await file.text(), '{"findings":[]}');
    const config = await fetch(`${t.url}/v2/oras/app/blobs/${emptyConfig.digest}`);
    assert.equal(await config.text(), '{}');
  });

  it('lists referrers with their artifactType, filters by artifactType exactly, and says so in OCI-Filters-Applied', async () => {
    const subject = await pushArtifact('report-2', { artifactType: REPORT }, [
      { name: 'report.json', mediaType: 'application/vnd.example.berth.report.layer.v1+json', content: '{"findings":["one"]}' },
    ]);
    const signature = await pushArtifact(null, { artifactType: SIGNATURE, subject: subject.descriptor, annotations: { 'org.example.signer': 'alice' } }, [
      { name: 'sig', mediaType: 'application/vnd.example.berth.signature.layer.v1', content: 'signature-bytes' },
    ]);
    const sbom = await pushArtifact(null, { artifactType: SBOM, subject: subject.descriptor }, [
      { name: 'sbom.spdx.json', mediaType: 'application/spdx+json', content: '{"spdxVersion":"SPDX-2.3"}' },
    ]);
    // No artifactType field: the spec has the referrers list take the config's media type.
    const legacyConfig = '{"tool":"example"}';
    const legacy = await pushArtifact(null, {
      subject: subject.descriptor,
      config: { mediaType: 'application/vnd.example.berth.legacy.config.v1+json', digest: await pushBlob(t.url, 'oras/app', legacyConfig), size: Buffer.byteLength(legacyConfig) },
    }, [{ name: 'legacy.txt', mediaType: 'text/plain', content: 'legacy' }]);
    for (const r of [signature, sbom, legacy]) assert.equal(r.subjectHeader, subject.digest, 'OCI-Subject names the subject on push');

    const entry = (r: typeof signature, artifactType: string, annotations?: Record<string, string>) => ({
      mediaType: OCI_MANIFEST, digest: r.digest, size: r.body.length, artifactType, ...(annotations ? { annotations } : {}),
    });
    const byDigest = (a: { digest: string }, b: { digest: string }) => a.digest.localeCompare(b.digest);

    const all = await fetch(`${t.url}/v2/oras/app/referrers/${subject.digest}`);
    assert.equal(all.status, 200);
    assert.equal(all.headers.get('content-type'), OCI_INDEX);
    assert.equal(all.headers.get('oci-filters-applied'), null, 'no filter asked, none applied');
    const index = (await all.json()) as { schemaVersion: number; mediaType: string; manifests: Descriptor[] };
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, OCI_INDEX);
    assert.deepEqual([...index.manifests].sort(byDigest), [
      entry(signature, SIGNATURE, { 'org.example.signer': 'alice' }),
      entry(sbom, SBOM),
      entry(legacy, 'application/vnd.example.berth.legacy.config.v1+json'),
    ].sort(byDigest));

    const filtered = await fetch(`${t.url}/v2/oras/app/referrers/${subject.digest}?artifactType=${encodeURIComponent(SIGNATURE)}`);
    assert.equal(filtered.status, 200);
    assert.equal(filtered.headers.get('content-type'), OCI_INDEX);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(((await filtered.json()) as { manifests: Descriptor[] }).manifests, [entry(signature, SIGNATURE, { 'org.example.signer': 'alice' })]);

    const byConfigType = await fetch(`${t.url}/v2/oras/app/referrers/${subject.digest}?artifactType=${encodeURIComponent('application/vnd.example.berth.legacy.config.v1+json')}`);
    assert.deepEqual(((await byConfigType.json()) as { manifests: Descriptor[] }).manifests, [entry(legacy, 'application/vnd.example.berth.legacy.config.v1+json')]);

    // A type nobody has: an empty list, still filtered; a prefix of a type is not that type.
    for (const type of ['application/vnd.example.berth.none.v1', 'application/vnd.example.berth.signature']) {
      const none = await fetch(`${t.url}/v2/oras/app/referrers/${subject.digest}?artifactType=${encodeURIComponent(type)}`);
      assert.equal(none.status, 200);
      assert.equal(none.headers.get('oci-filters-applied'), 'artifactType');
      assert.deepEqual(((await none.json()) as { manifests: Descriptor[] }).manifests, [], type);
    }

    // Referrers of a referrer: the signature of the signature.
    const countersign = await pushArtifact(null, { artifactType: SIGNATURE, subject: signature.descriptor }, [
      { name: 'sig', mediaType: 'application/vnd.example.berth.signature.layer.v1', content: 'counter-signature' },
    ]);
    const chain = await fetch(`${t.url}/v2/oras/app/referrers/${signature.digest}?artifactType=${encodeURIComponent(SIGNATURE)}`);
    assert.deepEqual(((await chain.json()) as { manifests: Descriptor[] }).manifests, [entry(countersign, SIGNATURE)]);
  });
});
