import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestBerth, sha256, type TestBerth } from '../helpers/berth.js';
import { readBundle, verifyBundle } from '../../src/airgap/bundle.js';

/**
 * GET /api/v1/export: the bundle as a browser download, with token
 * authentication and users from Berth's database. A caller gets the tar
 * only for repositories it may pull: anonymous is challenged (401), a user
 * who may pull one repository but not the other gets 403 DENIED and no
 * byte of a tar, and the tar it does get is a bundle that verifies.
 */

const ADMIN_PASSWORD = 'admin-password-1';
const OCI = 'application/vnd.oci.image.manifest.v1+json';

interface Creds { user: string; password: string }
const basic = (c: Creds) => `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;

describe('GET /api/v1/export', () => {
  let t: TestBerth;
  let work: string;
  const admin: Creds = { user: 'admin', password: ADMIN_PASSWORD };
  const alice: Creds = { user: 'alice', password: 'alice-password' };
  const digests: Record<string, string> = {};

  /** A token for these scopes, as docker gets one. */
  async function token(creds: Creds | null, scopes: string[]): Promise<string> {
    const q = new URLSearchParams({ service: 'berth' });
    for (const s of scopes) q.append('scope', s);
    const res = await fetch(`${t.url}/auth/token?${q}`, { headers: creds ? { Authorization: basic(creds) } : {} });
    assert.equal(res.status, 200);
    return ((await res.json()) as { token: string }).token;
  }

  async function push(repo: string, tag: string): Promise<string> {
    const bearer = `Bearer ${await token(admin, [`repository:${repo}:pull,push`])}`;
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', seed: Math.random() });
    const layer = `layer-${Math.random()}`;
    for (const data of [config, layer]) {
      const res = await fetch(`${t.url}/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { method: 'POST', body: data, headers: { Authorization: bearer } });
      assert.equal(res.status, 201);
    }
    const manifest = JSON.stringify({
      schemaVersion: 2, mediaType: OCI,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: Buffer.byteLength(config) },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: Buffer.byteLength(layer) }],
    });
    const res = await fetch(`${t.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'Content-Type': OCI, Authorization: bearer } });
    assert.equal(res.status, 201);
    return sha256(manifest);
  }

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'berth-export-api-'));
    t = await startTestBerth({ REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD });
    await t.berth.identity.createUser({ name: alice.user, password: alice.password });
    await t.berth.identity.grant({ subjectKind: 'user', subject: 'alice', resourceKind: 'repository', resource: 'team/open', role: 'read' });
    digests.open = await push('team/open', 'v1');
    digests.closed = await push('team/closed', 'v1');
  });
  after(async () => {
    await t?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const exportUrl = (...refs: string[]) => `${t.url}/api/v1/export?${refs.map((r) => `ref=${encodeURIComponent(r)}`).join('&')}`;

  it('anonymous: 401 UNAUTHORIZED with a Bearer challenge, no tar', async () => {
    const res = await fetch(exportUrl('team/open:v1'));
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
    assert.match(res.headers.get('content-type') ?? '', /json/);
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code, 'UNAUTHORIZED');
  });

  it('a user who may pull one repository and not the other: 403 DENIED and no byte of a tar; the one it may pull downloads as a bundle that verifies', async () => {
    const bearer = `Bearer ${await token(alice, ['repository:team/open:pull', 'repository:team/closed:pull'])}`;
    let res = await fetch(exportUrl('team/open:v1', 'team/closed:v1'), { headers: { Authorization: bearer } });
    assert.equal(res.status, 403);
    assert.match(res.headers.get('content-type') ?? '', /json/);
    assert.equal(res.headers.get('content-disposition'), null);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(((JSON.parse(body.toString()) as { errors: { code: string }[] }).errors[0]?.code), 'DENIED');
    assert.ok(!body.includes(Buffer.from('berth-bundle.json')));
    // Alone, the closed one: 403 too.
    res = await fetch(exportUrl('team/closed:v1'), { headers: { Authorization: bearer } });
    assert.equal(res.status, 403);
    await res.arrayBuffer();

    res = await fetch(exportUrl('team/open:v1'), { headers: { Authorization: bearer } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-tar');
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename="team_open-v1.tar"');
    const tarBytes = Buffer.from(await res.arrayBuffer());
    const file = path.join(work, 'download.tar');
    await writeFile(file, tarBytes);
    const bundle = await readBundle(file);
    assert.ok(bundle);
    try {
      const verified = await verifyBundle(bundle, { store: null, hostNames: [] });
      assert.deepEqual(bundle.manifest.images.map((i) => [i.repository, i.tag, i.digest]), [['team/open', 'v1', digests.open]]);
      assert.equal(bundle.manifest.source, new URL(t.url).host);
      assert.deepEqual(verified.trust, []);
    } finally {
      await bundle.close();
    }
  });

  it('a token scoped to a repository the user may pull but not named in the token: 401 insufficient_scope naming every scope', async () => {
    const bearer = `Bearer ${await token(alice, ['repository:team/other:pull'])}`;
    const res = await fetch(exportUrl('team/open:v1'), { headers: { Authorization: bearer } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /scope="repository:team\/open:pull".*error="insufficient_scope"/);
    await res.arrayBuffer();
  });

  it('bad references: 400 BERTH_INVALID; an unknown tag: 404 MANIFEST_UNKNOWN, never a 200 with a cut tar', async () => {
    const bearer = `Bearer ${await token(admin, ['repository:team/open:pull'])}`;
    for (const url of [`${t.url}/api/v1/export`, exportUrl('team/open'), exportUrl('Team/Open:v1'), exportUrl('team/open@sha256:nothex')]) {
      const res = await fetch(url, { headers: { Authorization: bearer } });
      assert.equal(res.status, 400, url);
      assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code, 'BERTH_INVALID', url);
    }
    const res = await fetch(exportUrl('team/open:nope'), { headers: { Authorization: bearer } });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code, 'MANIFEST_UNKNOWN');
  });
});
