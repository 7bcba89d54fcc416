import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startTestBerth, errorCode, pushBlob, sha256, type TestBerth } from '../helpers/berth.js';
import { RegistryError } from '../../src/errors/index.js';
import type { RegistryEvent } from '../../src/events/index.js';
import type { RegistryChange } from '../../src/registry/index.js';

/**
 * Tag parameters (distribution-spec main: PUT /v2/<name>/manifests/<digest>?tag=…):
 * every tag with the manifest in one transaction, one OCI-Tag header field
 * per accepted tag, and a bad or refused tag leaves nothing behind.
 */

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** A PUT whose raw header fields are kept (fetch joins repeated fields into one). */
function rawPut(url: string, path: string, body: Buffer, contentType: string): Promise<{ status: number; fields: [string, string][]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'PUT', headers: { 'Content-Type': contentType, 'Content-Length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const fields: [string, string][] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) fields.push([res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string]);
        resolve({ status: res.statusCode ?? 0, fields, body: Buffer.concat(chunks).toString() });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function manifestIn(url: string, repo: string): Promise<{ body: Buffer; digest: string }> {
  const config = await pushBlob(url, repo, JSON.stringify({ architecture: 'amd64', os: 'linux', seed: Math.random() }));
  const layer = `layer-${Math.random()}`;
  const layerDigest = await pushBlob(url, repo, layer);
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 0 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
  }));
  return { body, digest: sha256(body) };
}

const query = (tags: string[]) => tags.map((t) => `tag=${encodeURIComponent(t)}`).join('&');

async function tagsOf(url: string, repo: string): Promise<string[]> {
  const res = await fetch(`${url}/v2/${repo}/tags/list`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { tags: string[] }).tags;
}

describe('tag parameters on a manifest push by digest', () => {
  let t: TestBerth;
  const events: RegistryEvent[] = [];
  const changes: RegistryChange[] = [];
  let refuse: ((c: RegistryChange) => RegistryError | null) | null = null;

  before(async () => {
    t = await startTestBerth();
    t.berth.events.addPreHook('tag-test', async (change) => {
      changes.push(change);
      const err = refuse?.(change);
      if (err) throw err;
    });
    t.berth.events.addListener('tag-recorder', (e) => { events.push(e); });
  });
  after(async () => {
    await t?.close();
  });

  it('creates twelve tags at once, answers one OCI-Tag field per tag, and the pre-hook sees them all', async () => {
    const m = await manifestIn(t.url, 'tp/app');
    const tags = Array.from({ length: 12 }, (_, i) => `v1.${i}`);
    changes.length = 0;
    const res = await rawPut(t.url, `/v2/tp/app/manifests/${m.digest}?${query([...tags, 'v1.0'])}`, m.body, OCI_MANIFEST);
    assert.equal(res.status, 201, res.body);
    assert.deepEqual(res.fields.filter(([k]) => k.toLowerCase() === 'oci-tag').map(([, v]) => v), tags, 'one field per accepted tag, in request order, a repeated tag once');
    assert.deepEqual(res.fields.find(([k]) => k.toLowerCase() === 'docker-content-digest')?.[1], m.digest);
    assert.deepEqual(await tagsOf(t.url, 'tp/app'), [...tags].sort());
    for (const tag of ['v1.0', 'v1.11']) {
      const head = await fetch(`${t.url}/v2/tp/app/manifests/${tag}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('docker-content-digest'), m.digest);
    }
    const push = changes.find((c) => c.type === 'manifest.push');
    assert.ok(push?.type === 'manifest.push');
    assert.deepEqual(push.tags, tags);
    assert.equal(push.tag, 'v1.0', 'tag stays: the first one');
  });

  it('a tag.moved event for each tag that moved, none for one already there', async () => {
    const a = await manifestIn(t.url, 'tp/move');
    assert.equal((await rawPut(t.url, `/v2/tp/move/manifests/${a.digest}?${query(['stay', 'go'])}`, a.body, OCI_MANIFEST)).status, 201);
    const b = await manifestIn(t.url, 'tp/move');
    await t.berth.events.idle();
    events.length = 0;
    const res = await rawPut(t.url, `/v2/tp/move/manifests/${b.digest}?${query(['go', 'new'])}`, b.body, OCI_MANIFEST);
    assert.equal(res.status, 201);
    await t.berth.events.idle();
    const moved = events.filter((e) => e.type === 'tag.moved').map((e) => (e.type === 'tag.moved' ? [e.tag, e.digest, e.previous] : null));
    assert.deepEqual(moved, [['go', b.digest, a.digest], ['new', b.digest, null]]);
    // The same push again moves nothing.
    events.length = 0;
    assert.equal((await rawPut(t.url, `/v2/tp/move/manifests/${b.digest}?${query(['go', 'new'])}`, b.body, OCI_MANIFEST)).status, 201);
    await t.berth.events.idle();
    assert.deepEqual(events.filter((e) => e.type === 'tag.moved'), []);
    assert.deepEqual(await tagsOf(t.url, 'tp/move'), ['go', 'new', 'stay']);
  });

  it('one bad tag refuses the whole push with TAG_INVALID: no manifest, no tag', async () => {
    const m = await manifestIn(t.url, 'tp/bad');
    for (const bad of ['-dash-first', 'x'.repeat(129), 'sp ace', '']) {
      const res = await rawPut(t.url, `/v2/tp/bad/manifests/${m.digest}?${query(['good1', bad, 'good2'])}`, m.body, OCI_MANIFEST);
      assert.equal(res.status, 400, bad);
      assert.equal((JSON.parse(res.body) as { errors: { code: string }[] }).errors[0]?.code, 'TAG_INVALID');
      assert.equal(res.fields.some(([k]) => k.toLowerCase() === 'oci-tag'), false);
    }
    const get = await fetch(`${t.url}/v2/tp/bad/manifests/${m.digest}`);
    assert.equal(get.status, 404);
    assert.equal(await errorCode(get), 'MANIFEST_UNKNOWN');
    assert.deepEqual(await tagsOf(t.url, 'tp/bad'), []);
  });

  it('50 tags are accepted; 51 are 414 BERTH_TOO_MANY_TAGS and nothing is stored', async () => {
    const m = await manifestIn(t.url, 'tp/many');
    const tags = Array.from({ length: 51 }, (_, i) => `t${i}`);
    const over = await rawPut(t.url, `/v2/tp/many/manifests/${m.digest}?${query(tags)}`, m.body, OCI_MANIFEST);
    assert.equal(over.status, 414);
    assert.equal((JSON.parse(over.body) as { errors: { code: string }[] }).errors[0]?.code, 'BERTH_TOO_MANY_TAGS');
    assert.equal((await fetch(`${t.url}/v2/tp/many/manifests/${m.digest}`, { method: 'HEAD' })).status, 404);
    const ok = await rawPut(t.url, `/v2/tp/many/manifests/${m.digest}?${query(tags.slice(0, 50))}`, m.body, OCI_MANIFEST);
    assert.equal(ok.status, 201);
    assert.equal(ok.fields.filter(([k]) => k.toLowerCase() === 'oci-tag').length, 50);
    assert.equal((await tagsOf(t.url, 'tp/many')).length, 50);
  });

  it('a pre-hook refusing because of one tag refuses them all: nothing half-done', async () => {
    const m = await manifestIn(t.url, 'tp/guarded');
    refuse = (c) => (c.type === 'manifest.push' && c.tags.includes('locked') ? new RegistryError('DENIED', 'tag locked') : null);
    try {
      const res = await rawPut(t.url, `/v2/tp/guarded/manifests/${m.digest}?${query(['free', 'locked'])}`, m.body, OCI_MANIFEST);
      assert.equal(res.status, 403);
      assert.equal((JSON.parse(res.body) as { errors: { code: string }[] }).errors[0]?.code, 'DENIED');
    } finally {
      refuse = null;
    }
    assert.equal((await fetch(`${t.url}/v2/tp/guarded/manifests/${m.digest}`, { method: 'HEAD' })).status, 404);
    assert.deepEqual(await tagsOf(t.url, 'tp/guarded'), []);
  });

  it('a push by tag with tag parameters sets the reference\'s tag first, then the others; without parameters no OCI-Tag', async () => {
    const m = await manifestIn(t.url, 'tp/bytag');
    const res = await rawPut(t.url, `/v2/tp/bytag/manifests/main?${query(['extra'])}`, m.body, OCI_MANIFEST);
    assert.equal(res.status, 201);
    assert.deepEqual(res.fields.filter(([k]) => k.toLowerCase() === 'oci-tag').map(([, v]) => v), ['main', 'extra']);
    const plain = await rawPut(t.url, `/v2/tp/bytag/manifests/${m.digest}`, m.body, OCI_MANIFEST);
    assert.equal(plain.status, 201);
    assert.equal(plain.fields.some(([k]) => k.toLowerCase() === 'oci-tag'), false);
    assert.deepEqual(await tagsOf(t.url, 'tp/bytag'), ['extra', 'main']);
  });
});
