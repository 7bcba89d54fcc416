import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryError } from '../../src/errors/index.js';
import type { RegistryEvent } from '../../src/events/index.js';
import type { RegistryChange } from '../../src/registry/index.js';
import { errorCode, pushBlob, pushImage, sha256, startTestBerth, type TestBerth } from '../helpers/berth.js';

const OCI = 'application/vnd.oci.image.manifest.v1+json';

/**
 * The registry's seams, through HTTP: every content operation becomes a
 * typed event for listeners, and pre-hooks can refuse a change before
 * anything is committed.
 */
describe('registry events and pre-hooks', () => {
  let t: TestBerth;
  const events: RegistryEvent[] = [];
  const changes: RegistryChange[] = [];
  let refuse: ((c: RegistryChange) => RegistryError | null) | null = null;

  before(async () => {
    t = await startTestBerth();
    t.berth.events.addPreHook('test-policy', async (change) => {
      changes.push(change);
      const err = refuse?.(change);
      if (err) throw err;
    });
    t.berth.events.addListener('recorder', (e) => { events.push(e); });
  });
  after(async () => {
    await t?.close();
  });

  /** The events of one request, once the bus has delivered them. */
  async function eventsOf(requestId: string): Promise<RegistryEvent[]> {
    await t.berth.events.idle();
    return events.filter((e) => e.requestId === requestId);
  }

  const withId = (id: string, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...(init.headers as Record<string, string> | undefined), 'X-Request-Id': id } });

  it('a push, a pull by GET and HEAD, a tag move and deletes are each an event with the facts', async () => {
    const img = await pushImage(t.url, 'ev/app', 'v1');
    await t.berth.events.idle();
    const pushed = events.filter((e) => e.repository === 'ev/app').map((e) => e.type);
    assert.deepEqual(pushed, ['blob.pushed', 'blob.pushed', 'repository.created', 'manifest.pushed', 'tag.moved']);

    const get = await fetch(`${t.url}/v2/ev/app/manifests/v1`, withId('pull-get', { headers: { Accept: OCI } }));
    assert.equal(get.status, 200);
    const [pulled] = await eventsOf('pull-get');
    assert.deepEqual(pulled, {
      type: 'manifest.pulled', repository: 'ev/app', reference: 'v1', digest: img.digest, mediaType: OCI, size: img.manifest.length, method: 'GET',
      actor: { kind: 'anonymous', name: null }, requestId: 'pull-get', remoteAddress: pulled?.remoteAddress, userAgent: 'node', time: pulled?.time,
    });
    assert.equal(pulled?.remoteAddress, '127.0.0.1');

    assert.equal((await fetch(`${t.url}/v2/ev/app/manifests/v1`, withId('pull-head', { method: 'HEAD', headers: { Accept: OCI } }))).status, 200);
    assert.deepEqual((await eventsOf('pull-head')).map((e) => [e.type, 'method' in e ? e.method : null]), [['manifest.pulled', 'HEAD']]);
    const layer = img.layers[0] as string;
    assert.equal((await fetch(`${t.url}/v2/ev/app/blobs/${layer}`, withId('blob-get'))).status, 200);
    assert.equal((await fetch(`${t.url}/v2/ev/app/blobs/${layer}`, withId('blob-head', { method: 'HEAD' }))).status, 200);
    assert.deepEqual((await eventsOf('blob-get')).map((e) => [e.type, e.digest, 'method' in e ? e.method : null]), [['blob.pulled', layer, 'GET']]);
    assert.deepEqual((await eventsOf('blob-head')).map((e) => [e.type, e.digest, 'method' in e ? e.method : null]), [['blob.pulled', layer, 'HEAD']]);

    // Same manifest, same tag: no tag move. Another tag: a tag move from nothing.
    assert.equal((await fetch(`${t.url}/v2/ev/app/manifests/v1`, withId('same', { method: 'PUT', body: img.manifest, headers: { 'Content-Type': OCI } }))).status, 201);
    assert.deepEqual((await eventsOf('same')).map((e) => e.type), ['manifest.pushed']);
    assert.equal((await fetch(`${t.url}/v2/ev/app/manifests/v2`, withId('retag', { method: 'PUT', body: img.manifest, headers: { 'Content-Type': OCI } }))).status, 201);
    const moved = (await eventsOf('retag')).find((e) => e.type === 'tag.moved');
    assert.deepEqual(moved && 'tag' in moved ? [moved.tag, moved.digest, 'previous' in moved ? moved.previous : undefined] : null, ['v2', img.digest, null]);

    assert.equal((await fetch(`${t.url}/v2/ev/app/manifests/v2`, withId('del-tag', { method: 'DELETE' }))).status, 202);
    assert.deepEqual((await eventsOf('del-tag')).map((e) => [e.type, 'tag' in e ? e.tag : null, e.digest]), [['tag.deleted', 'v2', img.digest]]);
    assert.equal((await fetch(`${t.url}/v2/ev/app/manifests/${img.digest}`, withId('del-manifest', { method: 'DELETE' }))).status, 202);
    assert.deepEqual((await eventsOf('del-manifest')).map((e) => e.type), ['tag.deleted', 'manifest.deleted', 'repository.deleted']);
    assert.equal((await fetch(`${t.url}/v2/ev/app/blobs/${layer}`, withId('del-blob', { method: 'DELETE' }))).status, 202);
    assert.deepEqual((await eventsOf('del-blob')).map((e) => [e.type, e.digest]), [['blob.deleted', layer]]);
  });

  it('uploads: started, mounted, cancelled', async () => {
    const start = await fetch(`${t.url}/v2/ev/up/blobs/uploads/`, withId('start', { method: 'POST' }));
    assert.equal(start.status, 202);
    const id = start.headers.get('docker-upload-uuid');
    assert.deepEqual((await eventsOf('start')).map((e) => [e.type, 'uploadId' in e ? e.uploadId : null]), [['upload.started', id]]);
    assert.equal((await fetch(`${t.url}/v2/ev/up/blobs/uploads/${id}`, withId('cancel', { method: 'DELETE' }))).status, 204);
    assert.deepEqual((await eventsOf('cancel')).map((e) => e.type), ['upload.cancelled']);
    const digest = await pushBlob(t.url, 'ev/src', 'mount me');
    assert.equal((await fetch(`${t.url}/v2/ev/up/blobs/uploads/?mount=${digest}&from=ev/src`, withId('mount', { method: 'POST' }))).status, 201);
    assert.deepEqual((await eventsOf('mount')).map((e) => [e.type, e.digest, 'from' in e ? e.from : null, e.size]), [['blob.mounted', digest, 'ev/src', 8]]);
  });

  it('a refusing pre-hook: the client gets its catalogue error, nothing is committed, listeners hear of the refusal', async () => {
    await pushImage(t.url, 'ev/locked', 'v1');
    const other = await pushImage(t.url, 'ev/locked', 'other');
    refuse = (c) => (c.type === 'manifest.push' && c.tag === 'v1' ? new RegistryError('DENIED', 'tag v1 is immutable (rule: ev/locked:v1)') : null);
    try {
      const res = await fetch(`${t.url}/v2/ev/locked/manifests/v1`, withId('refused', { method: 'PUT', body: other.manifest, headers: { 'Content-Type': OCI } }));
      assert.equal(res.status, 403);
      const body = (await res.json()) as { errors: { code: string; message: string }[] };
      assert.deepEqual(body.errors.map((e) => [e.code, e.message]), [['DENIED', 'tag v1 is immutable (rule: ev/locked:v1)']]);
      const seen = changes.filter((c) => c.type === 'manifest.push' && c.repository === 'ev/locked' && c.tag === 'v1').at(-1);
      assert.equal(seen?.type === 'manifest.push' ? seen.digest : null, other.digest, 'the hook saw the validated digest');
      const head = await fetch(`${t.url}/v2/ev/locked/manifests/v1`, { method: 'HEAD', headers: { Accept: OCI } });
      assert.notEqual(head.headers.get('docker-content-digest'), other.digest, 'v1 did not move');
      const evs = await eventsOf('refused');
      assert.deepEqual(evs.map((e) => [e.type, 'hook' in e ? e.hook : null, 'code' in e ? e.code : null]), [['change.refused', 'test-policy', 'DENIED']]);
    } finally {
      refuse = null;
    }
  });

  it('a refused blob push keeps nothing: the digest stays unknown', async () => {
    refuse = (c) => (c.type === 'blob.push' ? new RegistryError('DENIED', 'quota exceeded') : null);
    const data = 'refused bytes';
    try {
      const mono = await fetch(`${t.url}/v2/ev/quota/blobs/uploads/?digest=${sha256(data)}`, { method: 'POST', body: data });
      assert.equal(mono.status, 403);
      assert.equal(await errorCode(mono), 'DENIED');
      const start = await fetch(`${t.url}/v2/ev/quota/blobs/uploads/`, { method: 'POST' });
      const loc = start.headers.get('location') as string;
      const put = await fetch(`${loc}${loc.includes('?') ? '&' : '?'}digest=${sha256(data)}`, { method: 'PUT', body: data });
      assert.equal(put.status, 403);
      assert.equal((await fetch(loc)).status, 404, 'the refused session is gone');
    } finally {
      refuse = null;
    }
    assert.equal((await fetch(`${t.url}/v2/ev/quota/blobs/${sha256(data)}`, { method: 'HEAD' })).status, 404);
  });

  it('a pre-hook can refuse a pull (the seam of the signature policy)', async () => {
    const img = await pushImage(t.url, 'ev/unsigned', 'v1');
    refuse = (c) => (c.type === 'manifest.pull' && c.repository === 'ev/unsigned' ? new RegistryError('DENIED', 'no signature verifies') : null);
    try {
      const res = await fetch(`${t.url}/v2/ev/unsigned/manifests/v1`, { headers: { Accept: OCI } });
      assert.equal(res.status, 403);
      assert.equal(await errorCode(res), 'DENIED');
      const pull = changes.filter((c) => c.type === 'manifest.pull' && c.repository === 'ev/unsigned').at(-1);
      assert.deepEqual(pull, { type: 'manifest.pull', repository: 'ev/unsigned', reference: 'v1', digest: img.digest, mediaType: OCI, size: img.manifest.length });
    } finally {
      refuse = null;
    }
  });

  it('a listener that throws or hangs never fails or slows a request', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    t.berth.events.addListener('throws', () => {
      throw new Error('listener bug');
    });
    t.berth.events.addListener('hangs', () => gate);
    try {
      await pushImage(t.url, 'ev/robust', 'v1');
      assert.equal((await fetch(`${t.url}/v2/ev/robust/manifests/v1`, { headers: { Accept: OCI } })).status, 200);
      // Observable: the throwing listener has been handed the events, and failed on each.
      for (let i = 0; i < 100 && (t.berth.events.stats().throws?.failed ?? 0) < 6; i++) await new Promise((r) => setTimeout(r, 10));
      const stats = t.berth.events.stats();
      assert.equal(stats.throws?.delivered, 0);
      assert.ok((stats.throws?.failed ?? 0) >= 6, JSON.stringify(stats.throws));
      assert.ok((stats.hangs?.queued ?? 0) > 0, 'the hanging listener still holds events, and the requests answered');
    } finally {
      release();
    }
  });
});
