import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestBerth, errorCode, type TestBerth } from '../helpers/berth.js';

/**
 * sha512 end to end: uploads with digest-algorithm (sessions and monolithic),
 * blobs served under their sha512 digest, manifests pushed by a sha512
 * digest with tag parameters and pulled by tag, referrers and mounts.
 */

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const sha512 = (data: Uint8Array | string) => `sha512:${createHash('sha512').update(data).digest('hex')}`;

describe('sha512 digests', () => {
  let t: TestBerth;
  before(async () => {
    t = await startTestBerth();
  });
  after(async () => {
    await t?.close();
  });

  async function monolithic(repo: string, data: string): Promise<string> {
    const digest = sha512(data);
    const res = await fetch(`${t.url}/v2/${repo}/blobs/uploads/?digest-algorithm=sha512&digest=${digest}`, { method: 'POST', body: data });
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(res.headers.get('docker-content-digest'), digest);
    return digest;
  }

  it('a chunked upload started with digest-algorithm=sha512 ends as a sha512 blob, served under that digest', async () => {
    const data = 'sha512 chunked blob '.repeat(100);
    const digest = sha512(data);
    const post = await fetch(`${t.url}/v2/s5/app/blobs/uploads/?digest-algorithm=sha512`, { method: 'POST' });
    assert.equal(post.status, 202);
    const loc = new URL(post.headers.get('location') as string, t.url);
    const half = data.length / 2;
    const p1 = await fetch(loc, { method: 'PATCH', body: data.slice(0, half), headers: { 'Content-Range': `0-${half - 1}`, 'Content-Type': 'application/octet-stream' } });
    assert.equal(p1.status, 202);
    const loc2 = new URL(p1.headers.get('location') as string, t.url);
    loc2.searchParams.set('digest', digest);
    const put = await fetch(loc2, { method: 'PUT', body: data.slice(half), headers: { 'Content-Range': `${half}-${data.length - 1}`, 'Content-Type': 'application/octet-stream' } });
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('docker-content-digest'), digest);
    assert.match(put.headers.get('location') ?? '', new RegExp(`/v2/s5/app/blobs/${digest}$`));
    const get = await fetch(`${t.url}/v2/s5/app/blobs/${digest}`);
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('docker-content-digest'), digest);
    assert.equal(await get.text(), data);
  });

  it('a session started for sha256 may still end with a sha512 digest (the bytes are re-read), and a wrong digest is DIGEST_INVALID', async () => {
    const data = 'finished with another algorithm';
    const post = await fetch(`${t.url}/v2/s5/app/blobs/uploads/`, { method: 'POST' });
    const loc = new URL(post.headers.get('location') as string, t.url);
    loc.searchParams.set('digest', sha512(data));
    const put = await fetch(loc, { method: 'PUT', body: data, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('docker-content-digest'), sha512(data));

    const post2 = await fetch(`${t.url}/v2/s5/app/blobs/uploads/?digest-algorithm=sha512`, { method: 'POST' });
    const loc2 = new URL(post2.headers.get('location') as string, t.url);
    loc2.searchParams.set('digest', sha512('something else'));
    const wrong = await fetch(loc2, { method: 'PUT', body: data, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(wrong.status, 400);
    assert.equal(await errorCode(wrong), 'DIGEST_INVALID');
    assert.equal((await fetch(`${t.url}/v2/s5/app/blobs/${sha512('something else')}`, { method: 'HEAD' })).status, 404);
  });

  it('digest-algorithm outside sha256 and sha512, or disagreeing with a monolithic digest, is 400 DIGEST_INVALID', async () => {
    const md5 = await fetch(`${t.url}/v2/s5/app/blobs/uploads/?digest-algorithm=md5`, { method: 'POST' });
    assert.equal(md5.status, 400);
    assert.equal(await errorCode(md5), 'DIGEST_INVALID');
    const data = 'monolithic';
    const mismatch = await fetch(`${t.url}/v2/s5/app/blobs/uploads/?digest-algorithm=sha256&digest=${sha512(data)}`, { method: 'POST', body: data });
    assert.equal(mismatch.status, 400);
    assert.equal(await errorCode(mismatch), 'DIGEST_INVALID');
    assert.equal((await fetch(`${t.url}/v2/s5/app/blobs/${sha512(data)}`, { method: 'HEAD' })).status, 404, 'nothing stored');
    await monolithic('s5/app', data);
  });

  it('a manifest pushed by its sha512 digest with tag parameters answers sha512, by digest and by tag; referrers and mount work with sha512', async () => {
    const configData = JSON.stringify({ architecture: 'amd64', os: 'linux' });
    const layerData = 'sha512 layer';
    const config = await monolithic('s5/img', configData);
    const layer = await monolithic('s5/img', layerData);
    const body = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: configData.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: layerData.length }],
    }));
    const digest = sha512(body);
    const put = await fetch(`${t.url}/v2/s5/img/manifests/${digest}?tag=v1&tag=latest`, { method: 'PUT', body, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(put.status, 201, await put.clone().text());
    assert.equal(put.headers.get('docker-content-digest'), digest);
    assert.equal(put.headers.get('oci-tag'), 'v1, latest');
    assert.match(put.headers.get('location') ?? '', new RegExp(`/v2/s5/img/manifests/${digest}$`));
    for (const ref of ['v1', 'latest', digest]) {
      for (const method of ['GET', 'HEAD']) {
        const res = await fetch(`${t.url}/v2/s5/img/manifests/${ref}`, { method, headers: { Accept: OCI_MANIFEST } });
        assert.equal(res.status, 200, `${method} ${ref}`);
        assert.equal(res.headers.get('docker-content-digest'), digest, `${method} ${ref}`);
        if (method === 'GET') assert.deepEqual(Buffer.from(await res.arrayBuffer()), body);
      }
    }
    // A wrong sha512 digest in the URL.
    const wrong = await fetch(`${t.url}/v2/s5/img/manifests/${sha512('other')}`, { method: 'PUT', body, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(wrong.status, 400);
    assert.equal(await errorCode(wrong), 'DIGEST_INVALID');

    // A referrer of the sha512 manifest, itself pushed by a sha512 digest.
    const empty = await monolithic('s5/img', '{}');
    const sig = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.example.sig',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 }],
      subject: { mediaType: OCI_MANIFEST, digest, size: body.length },
    }));
    const sigPut = await fetch(`${t.url}/v2/s5/img/manifests/${sha512(sig)}`, { method: 'PUT', body: sig, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(sigPut.status, 201);
    assert.equal(sigPut.headers.get('oci-subject'), digest);
    const refs = await fetch(`${t.url}/v2/s5/img/referrers/${digest}`);
    assert.equal(refs.status, 200);
    const index = (await refs.json()) as { manifests: { digest: string; artifactType: string; size: number }[] };
    assert.deepEqual(index.manifests, [{ mediaType: OCI_MANIFEST, digest: sha512(sig), size: sig.length, artifactType: 'application/vnd.example.sig' }]);

    // Cross-repository mount by a sha512 digest.
    const mount = await fetch(`${t.url}/v2/s5/other/blobs/uploads/?mount=${layer}&from=s5/img`, { method: 'POST' });
    assert.equal(mount.status, 201);
    assert.equal(mount.headers.get('docker-content-digest'), layer);
    const got = await fetch(`${t.url}/v2/s5/other/blobs/${layer}`);
    assert.equal(await got.text(), layerData);
  });

  it('a push by tag alone names sha256 (no digest to follow); the spec pushes sha512 tags with tag parameters', async () => {
    const config = await monolithic('s5/bytag', '{"os":"linux"}');
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 14 }, layers: [] }));
    const put = await fetch(`${t.url}/v2/s5/bytag/manifests/v1`, { method: 'PUT', body, headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('docker-content-digest'), `sha256:${createHash('sha256').update(body).digest('hex')}`);
  });
});
