import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestBerth, sha256, errorCode, pushBlob, pushImage, type TestBerth } from '../helpers/berth.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

function put(url: string, repo: string, ref: string, body: string | Buffer<ArrayBuffer>, contentType?: string): Promise<Response> {
  return fetch(`${url}/v2/${repo}/manifests/${ref}`, { method: 'PUT', body, headers: contentType ? { 'Content-Type': contentType } : {} });
}

describe('manifests', () => {
  let t: TestBerth;
  before(async () => {
    t = await startTestBerth();
  });
  after(async () => {
    await t.close();
  });

  it('stores and serves the exact bytes pushed, by tag and by digest, with the spec headers', async () => {
    const img = await pushImage(t.url, 'img/a', 'v1');
    for (const ref of ['v1', img.digest]) {
      const res = await fetch(`${t.url}/v2/img/a/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), OCI_MANIFEST);
      assert.equal(res.headers.get('docker-content-digest'), img.digest);
      assert.equal(res.headers.get('content-length'), String(img.manifest.length));
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), img.manifest, 'byte for byte, whitespace included');
      const head = await fetch(`${t.url}/v2/img/a/manifests/${ref}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('docker-content-digest'), img.digest);
      assert.equal(head.headers.get('content-length'), String(img.manifest.length));
    }
  });

  it('answers PUT with 201, Location and Docker-Content-Digest', async () => {
    const config = await pushBlob(t.url, 'img/b', '{}');
    const body = JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: config, size: 2 }, layers: [] });
    const res = await put(t.url, 'img/b', 'latest', body, DOCKER_MANIFEST);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), sha256(body));
    assert.match(res.headers.get('location') ?? '', new RegExp(`/v2/img/b/manifests/${sha256(body)}$`));
    // PUT by digest must match the body.
    assert.equal((await put(t.url, 'img/b', sha256(body), body, DOCKER_MANIFEST)).status, 201);
    const wrong = await put(t.url, 'img/b', sha256('other'), body, DOCKER_MANIFEST);
    assert.equal(await errorCode(wrong), 'DIGEST_INVALID');
  });

  it('refuses manifests whose blobs or children are missing', async () => {
    const missing = sha256('not uploaded');
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: missing, size: 12 }, layers: [] });
    const res = await put(t.url, 'img/c', 'v1', body, OCI_MANIFEST);
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), 'MANIFEST_BLOB_UNKNOWN');
    const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: missing, size: 10 }] });
    const r2 = await put(t.url, 'img/c', 'idx', index, OCI_INDEX);
    assert.equal(await errorCode(r2), 'MANIFEST_BLOB_UNKNOWN');
    assert.equal((await fetch(`${t.url}/v2/img/c/manifests/v1`)).status, 404, 'nothing was stored');
  });

  it('accepts manifest lists and OCI indexes of images in the repository', async () => {
    const amd = await pushImage(t.url, 'multi/a', 'amd64');
    const arm = await pushImage(t.url, 'multi/a', 'arm64');
    for (const [type, childType] of [[OCI_INDEX, OCI_MANIFEST], [DOCKER_LIST, OCI_MANIFEST]] as const) {
      const body = JSON.stringify({ schemaVersion: 2, mediaType: type, manifests: [
        { mediaType: childType, digest: amd.digest, size: amd.manifest.length, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: childType, digest: arm.digest, size: arm.manifest.length, platform: { architecture: 'arm64', os: 'linux' } },
      ] });
      const res = await put(t.url, 'multi/a', 'multi', body, type);
      assert.equal(res.status, 201, type);
      const get = await fetch(`${t.url}/v2/multi/a/manifests/multi`, { headers: { Accept: `${OCI_INDEX}, ${DOCKER_LIST}` } });
      assert.equal(get.headers.get('content-type'), type);
      assert.equal(await get.text(), body);
    }
  });

  it('negotiates with Accept: a type the client does not accept is not served', async () => {
    const img = await pushImage(t.url, 'accept/a', 'v1');
    const refused = await fetch(`${t.url}/v2/accept/a/manifests/v1`, { headers: { Accept: DOCKER_MANIFEST } });
    assert.equal(refused.status, 404);
    assert.equal(await errorCode(refused), 'MANIFEST_UNKNOWN');
    const wildcard = await fetch(`${t.url}/v2/accept/a/manifests/v1`, { headers: { Accept: '*/*' } });
    assert.equal(wildcard.status, 200);
    const several = await fetch(`${t.url}/v2/accept/a/manifests/${img.digest}`, { headers: { Accept: `${DOCKER_MANIFEST};q=0.9, ${OCI_MANIFEST}` } });
    assert.equal(several.status, 200);
  });

  it('reads every Accept field a client repeats, and judges each Accept header per media type', async () => {
    const img = await pushImage(t.url, 'accept/b', 'v1');
    const fields = (values: string[]) => new Promise<{ status: number; digest: string | undefined }>((resolve, reject) => {
      // Separate Accept fields, as Go clients send them (fetch would join them into one).
      const req = http.request(`${t.url}/v2/accept/b/manifests/v1`, { headers: ['Host', new URL(t.url).host, ...values.flatMap((v) => ['Accept', v])] }, (res) => {
        res.resume();
        res.once('end', () => resolve({ status: res.statusCode ?? 0, digest: res.headers['docker-content-digest'] as string | undefined }));
      });
      req.once('error', reject);
      req.end();
    });
    assert.deepEqual(await fields([DOCKER_MANIFEST, OCI_MANIFEST]), { status: 200, digest: img.digest });
    assert.deepEqual(await fields([DOCKER_MANIFEST, DOCKER_LIST]), { status: 404, digest: undefined });
    // The same header, remembered as accepting the OCI image above, still refuses a Docker manifest.
    const docker = await pushImage(t.url, 'accept/b', 'docker', { mediaType: DOCKER_MANIFEST });
    const both = (ref: string) => fetch(`${t.url}/v2/accept/b/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal((await both('v1')).status, 200);
    const refused = await both(docker.digest);
    assert.equal(refused.status, 404);
    assert.equal(await errorCode(refused), 'MANIFEST_UNKNOWN');
  });

  it('answers bad manifests with MANIFEST_INVALID, never a 500', async () => {
    const config = await pushBlob(t.url, 'bad/a', '{"c":1}');
    const good = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 7 }, layers: [] };
    const cases: [string, string | Buffer<ArrayBuffer>, string | undefined][] = [
      ['malformed JSON', '{"schemaVersion": 2,', OCI_MANIFEST],
      ['not an object', '[1,2]', OCI_MANIFEST],
      ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), OCI_MANIFEST],
      ['unknown media type', JSON.stringify({ ...good, mediaType: 'application/x-unknown' }), 'application/x-unknown'],
      ['schema 1', JSON.stringify({ schemaVersion: 1 }), 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
      ['mediaType differs from Content-Type', JSON.stringify(good), DOCKER_MANIFEST],
      ['wrong schemaVersion', JSON.stringify({ ...good, schemaVersion: 3 }), OCI_MANIFEST],
      ['bad digest in a descriptor', JSON.stringify({ ...good, layers: [{ mediaType: 'x', digest: 'sha256:nope', size: 1 }] }), OCI_MANIFEST],
      ['negative size', JSON.stringify({ ...good, config: { ...good.config, size: -1 } }), OCI_MANIFEST],
      ['no content type, no mediaType, no shape', '{"a":1}', undefined],
      ['NUL in artifactType', JSON.stringify({ ...good, artifactType: 'application/x\u0000y' }), OCI_MANIFEST],
      ['not a media type in a descriptor', JSON.stringify({ ...good, config: { ...good.config, mediaType: 'nonsense' } }), OCI_MANIFEST],
      ['a UTF-8 byte order mark first', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(good))]), OCI_MANIFEST],
      ['arrays nested 1,000,000 deep', JSON.stringify({ ...good, annotations: undefined, x: 0 }).replace('"x":0', `"x":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`), OCI_MANIFEST],
      ['objects nested 65 deep', JSON.stringify({ ...good }).replace(/}$/, `,"x":${'{"a":'.repeat(64)}1${'}'.repeat(64)}}`), OCI_MANIFEST],
    ];
    for (const [what, body, type] of cases) {
      const res = await put(t.url, 'bad/a', 'v1', body, type);
      assert.equal(res.status, 400, what);
      assert.equal(await errorCode(res), 'MANIFEST_INVALID', what);
    }
    const badTag = await put(t.url, 'bad/a', '-notatag', JSON.stringify(good), OCI_MANIFEST);
    assert.equal(await errorCode(badTag), 'MANIFEST_INVALID');
  });

  it('refuses a manifest over 4 MiB with 413 before storing anything', async () => {
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const res = await put(t.url, 'big/a', 'v1', huge, OCI_MANIFEST);
    assert.equal(res.status, 413);
    assert.equal(await errorCode(res), 'SIZE_INVALID');
  });

  it('deletes by digest (with its tags) and by tag (only the tag); blobs used elsewhere survive', async () => {
    const shared = 'shared layer bytes';
    const a = await pushImage(t.url, 'del/a', 'v1', { layers: [shared] });
    await pushImage(t.url, 'del/b', 'v1', { layers: [shared] });
    await put(t.url, 'del/a', 'v2', a.manifest, OCI_MANIFEST);
    assert.equal((await fetch(`${t.url}/v2/del/a/manifests/v2`, { method: 'DELETE' })).status, 202);
    assert.equal((await fetch(`${t.url}/v2/del/a/manifests/v2`)).status, 404);
    assert.equal((await fetch(`${t.url}/v2/del/a/manifests/v1`)).status, 200, 'other tags stay');
    assert.equal((await fetch(`${t.url}/v2/del/a/manifests/${a.digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await fetch(`${t.url}/v2/del/a/manifests/v1`)).status, 404, 'deleting by digest removes its tags');
    const again = await fetch(`${t.url}/v2/del/a/manifests/${a.digest}`, { method: 'DELETE' });
    assert.equal(await errorCode(again), 'MANIFEST_UNKNOWN');
    const layer = await fetch(`${t.url}/v2/del/b/blobs/${sha256(shared)}`);
    assert.equal(await layer.text(), shared, 'the shared layer is still served by the other repository');
  });

  it('records subjects: OCI-Subject on push, referrers with the artifactType filter', async () => {
    const subject = await pushImage(t.url, 'ref/a', 'v1');
    const empty = await pushBlob(t.url, 'ref/a', '{}');
    const artifact = (artifactType: string, n: number) => JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 }],
      subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.manifest.length },
      annotations: { n: String(n) },
    });
    const sig = artifact('application/vnd.example.signature', 1);
    const sbom = artifact('application/vnd.example.sbom', 2);
    for (const body of [sig, sbom]) {
      const res = await put(t.url, 'ref/a', sha256(body), body, OCI_MANIFEST);
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('oci-subject'), subject.digest);
    }
    const all = await fetch(`${t.url}/v2/ref/a/referrers/${subject.digest}`);
    assert.equal(all.status, 200);
    assert.equal(all.headers.get('content-type'), OCI_INDEX);
    const index = (await all.json()) as { manifests: { digest: string; artifactType: string; annotations: Record<string, string> }[] };
    assert.deepEqual(index.manifests.map((m) => m.digest).sort(), [sha256(sig), sha256(sbom)].sort());
    assert.ok(index.manifests.every((m) => m.annotations.n));
    const filtered = await fetch(`${t.url}/v2/ref/a/referrers/${subject.digest}?artifactType=application/vnd.example.sbom`);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    const fi = (await filtered.json()) as { manifests: { digest: string }[] };
    assert.deepEqual(fi.manifests.map((m) => m.digest), [sha256(sbom)]);
    const none = (await (await fetch(`${t.url}/v2/ref/a/referrers/${sha256('nothing')}`)).json()) as { manifests: unknown[] };
    assert.deepEqual(none.manifests, []);
    assert.equal((await fetch(`${t.url}/v2/ref/a/referrers/sha256:bad`)).status, 400);
  });

  it('answers manifest reads of unknown repositories and references with 404', async () => {
    assert.equal(await errorCode(await fetch(`${t.url}/v2/nope/a/manifests/v1`)), 'MANIFEST_UNKNOWN');
    assert.equal((await fetch(`${t.url}/v2/nope/a/manifests/.INVALID`)).status, 404);
    assert.equal((await fetch(`${t.url}/v2/nope/a/manifests/sha256:totallywrong`)).status, 400);
  });
});

describe('tags and catalog', () => {
  let t: TestBerth;
  before(async () => {
    t = await startTestBerth();
  });
  after(async () => {
    await t.close();
  });

  it('lists tags in lexical order, paginated with n, last and Link', async () => {
    const img = await pushImage(t.url, 'tl/a', 'b');
    for (const tag of ['a', 'C', 'c', 'a1', '_z']) await put(t.url, 'tl/a', tag, img.manifest, OCI_MANIFEST);
    const all = (await (await fetch(`${t.url}/v2/tl/a/tags/list`)).json()) as { name: string; tags: string[] };
    assert.deepEqual(all, { name: 'tl/a', tags: ['C', '_z', 'a', 'a1', 'b', 'c'] });
    const first = await fetch(`${t.url}/v2/tl/a/tags/list?n=2`);
    assert.deepEqual(((await first.json()) as { tags: string[] }).tags, ['C', '_z']);
    const link = first.headers.get('link');
    assert.equal(link, '</v2/tl/a/tags/list?n=2&last=_z>; rel="next"');
    const pages: string[] = [];
    let next: string | null = '/v2/tl/a/tags/list?n=2';
    while (next) {
      const res: Response = await fetch(`${t.url}${next}`);
      pages.push(...((await res.json()) as { tags: string[] }).tags);
      next = /<([^>]+)>/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
    }
    assert.deepEqual(pages, all.tags);
    const zero = (await (await fetch(`${t.url}/v2/tl/a/tags/list?n=0`)).json()) as { tags: string[] };
    assert.deepEqual(zero.tags, []);
    for (const bad of ['-1', 'abc', '1.5']) {
      const res = await fetch(`${t.url}/v2/tl/a/tags/list?n=${bad}`);
      assert.equal(res.status, 400, bad);
      assert.equal(await errorCode(res), 'PAGINATION_NUMBER_INVALID');
    }
    assert.equal(await errorCode(await fetch(`${t.url}/v2/tl/none/tags/list`)), 'NAME_UNKNOWN');
  });

  it('lists repositories in the catalog, sorted and paginated', async () => {
    for (const r of ['cat/c', 'cat/a', 'cat/b/nested']) await pushImage(t.url, r, 'v1');
    const res = await fetch(`${t.url}/v2/_catalog?n=2`);
    const body = (await res.json()) as { repositories: string[] };
    assert.deepEqual(body.repositories, ['cat/a', 'cat/b/nested']);
    assert.equal(res.headers.get('link'), '</v2/_catalog?n=2&last=cat%2Fb%2Fnested>; rel="next"');
    const rest = (await (await fetch(`${t.url}/v2/_catalog?n=2&last=cat/b/nested`)).json()) as { repositories: string[] };
    assert.deepEqual(rest.repositories.filter((r) => r.startsWith('cat/')), ['cat/c']);
  });
});
