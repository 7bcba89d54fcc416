import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { formatSize as size } from '../../src/lifecycle/index.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';

const OCI = 'application/vnd.oci.image.manifest.v1+json';
const sha256 = (data: Uint8Array | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const ADMIN = `Basic ${Buffer.from('admin:admin-password-1').toString('base64')}`;
const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);
const FIX = 'delete content or raise the quota (berth quota set q SIZE)';

interface OciError { code: string; message: string; detail?: Record<string, unknown> }
interface Usage { namespace: string; bytes: number; blobs: number; blobBytes: number; manifests: number; manifestBytes: number }

/**
 * Namespace quotas through HTTP: a push over quota is refused with 413
 * DENIED (BERTH_QUOTA_EXCEEDED) before the bytes become a blob, for
 * monolithic and chunked uploads, mounts and manifests; content the
 * namespace already holds costs nothing; a quota changed in the middle of
 * a chunked push holds at its completion; usage is exact.
 */
describe('lifecycle: namespace quotas (HTTP)', () => {
  let t: TestBerth;
  let token = '';

  const api = (method: string, path: string, body?: unknown) => fetch(`${t.url}/api/v1${path}`, {
    method,
    headers: { Authorization: ADMIN, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const v2 = (method: string, path: string, init: { body?: Buffer; headers?: Record<string, string> } = {}) => fetch(path.startsWith('http') ? path : `${t.url}/v2/${path}`, {
    method, headers: { Authorization: `Bearer ${token}`, ...init.headers }, ...(init.body ? { body: new Uint8Array(init.body) } : {}),
  });
  const setQuota = async (limit: number | string) => {
    const res = await api('PUT', '/lifecycle/quotas/q', { limit });
    assert.equal(res.status, 200, await res.clone().text());
  };
  const usage = async (ns = 'q') => ((await (await api('GET', `/lifecycle/usage/${ns}`)).json()) as { usage: Usage }).usage;
  const monolithic = (repo: string, data: Buffer) => v2('POST', `${repo}/blobs/uploads/?digest=${sha256(data)}`, { body: data });
  const hasBlob = async (repo: string, data: Buffer) => (await v2('HEAD', `${repo}/blobs/${sha256(data)}`)).status;

  async function refusal(res: Response): Promise<OciError> {
    const body = (await res.json()) as { errors: OciError[] };
    assert.equal(res.status, 413, JSON.stringify(body));
    assert.equal(body.errors.length, 1);
    const err = body.errors[0] as OciError;
    assert.equal(err.code, 'DENIED');
    return err;
  }

  async function startUpload(repo: string): Promise<Response> {
    return v2('POST', `${repo}/blobs/uploads/`);
  }

  before(async () => {
    t = await startTestBerth({ REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: 'admin-password-1' });
    const q = new URLSearchParams({ service: 'berth' });
    for (const r of ['q/app', 'q/other', 'q/team/app', 'z/app', 'free/app']) q.append('scope', `repository:${r}:pull,push,delete`);
    const res = await fetch(`${t.url}/auth/token?${q}`, { headers: { Authorization: ADMIN } });
    assert.equal(res.status, 200);
    token = ((await res.json()) as { token: string }).token;
  });
  after(async () => {
    await t?.close();
  });

  it('refuses a monolithic blob that would go over, stores nothing of it, and lets shared content in for free', async () => {
    await setQuota(1000);
    const a = bytes(600, 1);
    assert.equal((await monolithic('q/app', a)).status, 201);
    const b = bytes(500, 2);
    const err = await refusal(await monolithic('q/app', b));
    assert.equal(err.message, `storing blob ${sha256(b)} (500 B) in q/app would take namespace q over its quota: it uses 600 B of 1000 B; ${FIX}`);
    assert.deepEqual(err.detail, { namespace: 'q', repository: 'q/app', usedBytes: 600, limitBytes: 1000, neededBytes: 500 });
    assert.equal(await hasBlob('q/app', b), 404, 'the refused blob is not there');
    // The same bytes again, in the same or another repository of the namespace (push or mount), cost nothing.
    assert.equal((await monolithic('q/app', a)).status, 201);
    assert.equal((await monolithic('q/other', a)).status, 201);
    assert.equal((await v2('POST', `q/team/app/blobs/uploads/?mount=${sha256(a)}&from=q/app`)).status, 201);
    assert.deepEqual(await usage(), { namespace: 'q', bytes: 600, blobs: 1, blobBytes: 600, manifests: 0, manifestBytes: 0 });
    // Repositories outside the namespace are not limited by it.
    assert.equal((await monolithic('free/app', b)).status, 201);
  });

  it('refuses a mount from another namespace that would go over', async () => {
    const big = bytes(450, 3);
    assert.equal((await monolithic('z/app', big)).status, 201);
    const err = await refusal(await v2('POST', `q/app/blobs/uploads/?mount=${sha256(big)}&from=z/app`));
    assert.equal(err.message, `storing blob ${sha256(big)} (450 B) in q/app would take namespace q over its quota: it uses 600 B of 1000 B; ${FIX}`);
    assert.equal(await hasBlob('q/app', big), 404);
  });

  it('refuses a manifest that would go over; a tag for a manifest the namespace holds costs nothing', async () => {
    const config = bytes(300, 4);
    assert.equal((await monolithic('q/app', config)).status, 201);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: 300 }, layers: [] }));
    await setQuota(900 + manifest.length - 1);
    const err = await refusal(await v2('PUT', 'q/app/manifests/v1', { body: manifest, headers: { 'Content-Type': OCI } }));
    assert.equal(err.message, `storing manifest ${sha256(manifest)} (${manifest.length} B) in q/app would take namespace q over its quota: it uses 900 B of ${size(899 + manifest.length)}; ${FIX}`);
    assert.equal((await v2('HEAD', 'q/app/manifests/v1', { headers: { Accept: OCI } })).status, 404);
    await setQuota(900 + manifest.length);
    assert.equal((await v2('PUT', 'q/app/manifests/v1', { body: manifest, headers: { 'Content-Type': OCI } })).status, 201);
    assert.equal((await v2('PUT', 'q/app/manifests/v2', { body: manifest, headers: { 'Content-Type': OCI } })).status, 201, 'the same manifest under another tag');
    assert.deepEqual(await usage(), { namespace: 'q', bytes: 900 + manifest.length, blobs: 2, blobBytes: 900, manifests: 1, manifestBytes: manifest.length });
  });

  it('refuses an upload\'s start when the namespace is already full', async () => {
    const full = (await usage()).bytes;
    await setQuota(full);
    const err = await refusal(await startUpload('q/team/app'));
    assert.equal(err.message, `namespace q is full: it uses ${size(full)} of its quota of ${size(full)}, so no upload to q/team/app can start; ${FIX}`);
    assert.deepEqual(err.detail, { namespace: 'q', repository: 'q/team/app', usedBytes: full, limitBytes: full, neededBytes: 0 });
  });

  it('a quota lowered between a chunked upload\'s start and its completion refuses the completion; nothing is half-kept', async () => {
    const before = await usage();
    await setQuota('1MiB');
    const start = await startUpload('q/app');
    assert.equal(start.status, 202);
    const location = new URL(start.headers.get('location') ?? '', t.url).toString();
    const chunk = bytes(700, 5);
    const patched = await v2('PATCH', location, { body: chunk, headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-699' } });
    assert.equal(patched.status, 202);
    // The administrator lowers the quota while the push is under way.
    await setQuota(before.bytes + 699);
    const done = new URL(location);
    done.searchParams.set('digest', sha256(chunk));
    const err = await refusal(await v2('PUT', done.toString()));
    assert.equal(err.message, `storing blob ${sha256(chunk)} (700 B) in q/app would take namespace q over its quota: it uses ${size(before.bytes)} of ${size(before.bytes + 699)}; ${FIX}`);
    assert.equal(await hasBlob('q/app', chunk), 404, 'not a blob');
    const status = await v2('GET', location);
    assert.equal(status.status, 404, 'the session is gone with its bytes');
    assert.equal(((await status.json()) as { errors: OciError[] }).errors[0]?.code, 'BLOB_UPLOAD_UNKNOWN');
    assert.deepEqual(await usage(), before);

    // Raised during the next push, the quota lets it complete.
    await setQuota(before.bytes);
    assert.equal((await startUpload('q/app')).status, 413, 'full: no start');
    await setQuota(before.bytes + 699);
    const again = await startUpload('q/app');
    assert.equal(again.status, 202);
    const loc2 = new URL(again.headers.get('location') ?? '', t.url).toString();
    assert.equal((await v2('PATCH', loc2, { body: chunk, headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-699' } })).status, 202);
    await setQuota(before.bytes + 700);
    const done2 = new URL(loc2);
    done2.searchParams.set('digest', sha256(chunk));
    assert.equal((await v2('PUT', done2.toString())).status, 201);
    assert.deepEqual(await usage(), { ...before, bytes: before.bytes + 700, blobs: before.blobs + 1, blobBytes: before.blobBytes + 700 });
  });

  it('manages quotas by API: sizes with units, usage and percent, BERTH_INVALID and BERTH_NOT_FOUND, audited', async () => {
    const res = await api('PUT', '/lifecycle/quotas/q', { limit: '2KiB' });
    const view = (await res.json()) as { namespace: string; limitBytes: number; percent: number; usage: Usage; updatedBy: string };
    assert.deepEqual([res.status, view.namespace, view.limitBytes, view.updatedBy, view.usage], [200, 'q', 2048, 'admin', await usage()]);
    assert.equal(view.percent, Math.round((view.usage.bytes / 2048) * 1000) / 10);
    assert.deepEqual(((await (await api('GET', '/lifecycle/quotas')).json()) as { quotas: { namespace: string }[] }).quotas.map((x) => x.namespace), ['q']);
    const bad = await api('PUT', '/lifecycle/quotas/q', { limit: '10 parsecs' });
    assert.equal(bad.status, 400);
    assert.deepEqual(((await bad.json()) as { errors: OciError[] }).errors.map((e) => [e.code, e.message]), [['BERTH_INVALID', 'limit: "10 parsecs" is not a size; write bytes or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (e.g. 10GiB)']]);
    const none = await api('GET', '/lifecycle/quotas/z');
    assert.equal(none.status, 404);
    assert.equal(((await none.json()) as { errors: OciError[] }).errors[0]?.code, 'BERTH_NOT_FOUND');
    assert.equal((await api('DELETE', '/lifecycle/quotas/q')).status, 204);
    assert.equal((await api('DELETE', '/lifecycle/quotas/q')).status, 404);
    assert.equal((await monolithic('q/app', bytes(5000, 6))).status, 201, 'without a quota, anything goes');
    const events = ((await (await api('GET', '/audit?action=lifecycle.quota.put&limit=1000')).json()) as { events: { actor: string; outcome: string; detail: Record<string, unknown> }[] }).events;
    assert.ok(events.length >= 10);
    assert.ok(events.every((e) => e.actor === 'admin'));
    assert.deepEqual(events.filter((e) => e.outcome === 'failure').map((e) => e.detail), [{ code: 'BERTH_INVALID' }]);
    const deletes = ((await (await api('GET', '/audit?action=lifecycle.quota.delete')).json()) as { events: { outcome: string; detail: Record<string, unknown> }[] }).events;
    assert.deepEqual(deletes.map((e) => e.outcome).sort(), ['failure', 'success']);
  });
});
