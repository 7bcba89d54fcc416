import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';

const OCI = 'application/vnd.oci.image.manifest.v1+json';
const sha256 = (data: Uint8Array | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const ADMIN = `Basic ${Buffer.from('admin:admin-password-1').toString('base64')}`;

interface OciError { code: string; message: string; detail?: Record<string, unknown> }
interface RuleView { id: string; kind: string; scope: string; tags: string; keepLast: number | null; keepWithin: string | null; createdAt: string; createdBy: string | null }

/**
 * Immutable tags and retention through HTTP, as an administrator sets them
 * up by API and a client pushes and deletes: each refusal with its exact
 * status, code and message; the same content pushed again; retention's
 * dry run and real run; the audit log of every rule change.
 */
describe('lifecycle rules: immutable tags and retention (HTTP)', () => {
  let t: TestBerth;
  let token = '';
  const REPOS = ['acme/app', 'acme/ret', 'other/app'];

  const api = (method: string, path: string, body?: unknown) => fetch(`${t.url}/api/v1${path}`, {
    method,
    headers: { Authorization: ADMIN, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const v2 = (method: string, path: string, init: { body?: Buffer; headers?: Record<string, string> } = {}) => fetch(`${t.url}/v2/${path}`, {
    method, headers: { Authorization: `Bearer ${token}`, ...init.headers }, ...(init.body ? { body: new Uint8Array(init.body) } : {}),
  });

  async function addRule(body: Record<string, unknown>): Promise<RuleView> {
    const res = await api('POST', '/lifecycle/rules', body);
    assert.equal(res.status, 201, await res.clone().text());
    return (await res.json()) as RuleView;
  }

  async function putBlob(repo: string, data: Buffer): Promise<void> {
    const res = await v2('POST', `${repo}/blobs/uploads/?digest=${sha256(data)}`, { body: data });
    assert.equal(res.status, 201, await res.text());
  }

  /** Pushes a fresh image under `reference`; returns its status and digest. */
  async function pushImage(repo: string, reference: string, manifest?: Buffer): Promise<{ res: Response; digest: string; manifest: Buffer }> {
    if (!manifest) {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed: Math.random() }));
      await putBlob(repo, config);
      manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length }, layers: [] }));
    }
    const res = await v2('PUT', `${repo}/manifests/${reference}`, { body: manifest, headers: { 'Content-Type': OCI } });
    return { res, digest: sha256(manifest), manifest };
  }

  async function pushed(repo: string, tag: string): Promise<string> {
    const r = await pushImage(repo, tag);
    assert.equal(r.res.status, 201, await r.res.text());
    return r.digest;
  }

  async function refusal(res: Response, status: number): Promise<OciError> {
    assert.equal(res.status, status);
    const body = (await res.json()) as { errors: OciError[] };
    assert.equal(body.errors.length, 1);
    return body.errors[0] as OciError;
  }

  const digestOf = async (repo: string, tag: string) => (await v2('HEAD', `${repo}/manifests/${tag}`, { headers: { Accept: OCI } })).headers.get('docker-content-digest');
  const tagsOf = async (repo: string) => ((await (await v2('GET', `${repo}/tags/list`)).json()) as { tags: string[] }).tags;

  before(async () => {
    t = await startTestBerth({ REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: 'admin-password-1' });
    const q = new URLSearchParams({ service: 'berth' });
    for (const r of REPOS) q.append('scope', `repository:${r}:pull,push,delete`);
    const res = await fetch(`${t.url}/auth/token?${q}`, { headers: { Authorization: ADMIN } });
    assert.equal(res.status, 200);
    token = ((await res.json()) as { token: string }).token;
  });
  after(async () => {
    await t?.close();
  });

  it('refuses overwriting, deleting, and deleting by digest a protected tag, naming the rule; the same content again is fine', async () => {
    const rule = await addRule({ kind: 'immutable', scope: 'namespace:acme', tags: 'v*' });
    const { id, createdAt, ...rest } = rule;
    assert.deepEqual(rest, { kind: 'immutable', scope: 'namespace:acme', tags: 'v*', keepLast: null, keepWithin: null, createdBy: 'admin' });
    assert.match(id, /^[0-9a-f]{12}$/);
    assert.ok(Math.abs(Date.parse(createdAt) - Date.now()) < 60_000);
    const first = await pushImage('acme/app', 'v1');
    assert.equal(first.res.status, 201);
    const again = await pushImage('acme/app', 'v1', first.manifest);
    assert.equal(again.res.status, 201, 'pushing the same content under the tag again is allowed');

    const other = await pushImage('acme/app', 'v1');
    const err = await refusal(other.res, 409);
    assert.deepEqual(err, {
      code: 'DENIED',
      message: `tag acme/app:v1 is immutable under rule ${rule.id} (immutable v* in namespace:acme): it names ${first.digest} and cannot be pushed with other content (${other.digest}); push under a new tag`,
      detail: { repository: 'acme/app', tag: 'v1', digest: first.digest, pushed: other.digest, rule: rule.id, pattern: 'v*', scope: 'namespace:acme' },
    });
    assert.equal(await digestOf('acme/app', 'v1'), first.digest, 'the tag still names the first content');

    const del = await refusal(await v2('DELETE', 'acme/app/manifests/v1'), 409);
    assert.equal(del.code, 'DENIED');
    assert.equal(del.message, `tag acme/app:v1 is immutable under rule ${rule.id} (immutable v* in namespace:acme): it cannot be deleted`);
    const byDigest = await refusal(await v2('DELETE', `acme/app/manifests/${first.digest}`), 409);
    assert.equal(byDigest.code, 'DENIED');
    assert.equal(byDigest.message, `manifest acme/app@${first.digest} has the immutable tag v1 under rule ${rule.id} (immutable v* in namespace:acme): it cannot be deleted`);
    assert.equal(await digestOf('acme/app', 'v1'), first.digest);

    // Tags the pattern does not match, and repositories outside the scope, stay mutable.
    await pushed('acme/app', 'latest');
    await pushed('acme/app', 'latest');
    assert.equal((await v2('DELETE', 'acme/app/manifests/latest')).status, 202);
    await pushed('other/app', 'v1');
    await pushed('other/app', 'v1');

    // Without the rule, the tag moves again.
    assert.equal((await api('DELETE', `/lifecycle/rules/${rule.id}`)).status, 204);
    const moved = await pushImage('acme/app', 'v1');
    assert.equal(moved.res.status, 201);
    assert.equal(await digestOf('acme/app', 'v1'), moved.digest);
  });

  it('a rule added while a push is under way (its blobs uploaded, its manifest not yet) refuses that manifest; one removed meanwhile lets it in', async () => {
    const first = await pushed('acme/app', 'rc1');
    // The client uploads its blobs; then an administrator protects rc*; then the manifest arrives.
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed: Math.random() }));
    await putBlob('acme/app', config);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length }, layers: [] }));
    const rule = await addRule({ kind: 'immutable', scope: 'repository:acme/app', tags: 'rc*' });
    const refused = await refusal((await pushImage('acme/app', 'rc1', manifest)).res, 409);
    assert.equal(refused.code, 'DENIED');
    assert.equal((refused.detail as { rule: string }).rule, rule.id);
    assert.equal(await digestOf('acme/app', 'rc1'), first, 'the tag still names what it named before the push');
    // The same push again once the rule is gone: nothing of the refused attempt is in the way.
    assert.equal((await api('DELETE', `/lifecycle/rules/${rule.id}`)).status, 204);
    const retried = await pushImage('acme/app', 'rc1', manifest);
    assert.equal(retried.res.status, 201, await retried.res.text());
    assert.equal(await digestOf('acme/app', 'rc1'), sha256(manifest));
  });

  it('holds for every tag of a push by digest with OCI tag parameters (?tag=): one protected tag refuses the whole push', async () => {
    const rule = await addRule({ kind: 'immutable', scope: 'repository:acme/app', tags: 'stable' });
    const first = await pushed('acme/app', 'stable');
    const next = await pushImage('acme/app', 'unused');
    const res = await v2('PUT', `acme/app/manifests/${next.digest}?tag=fresh&tag=stable`, { body: next.manifest, headers: { 'Content-Type': OCI } });
    const err = await refusal(res, 409);
    assert.deepEqual([err.code, err.message], ['DENIED', `tag acme/app:stable is immutable under rule ${rule.id} (immutable stable in repository:acme/app): it names ${first} and cannot be pushed with other content (${next.digest}); push under a new tag`]);
    assert.equal(await digestOf('acme/app', 'stable'), first);
    assert.equal((await v2('HEAD', 'acme/app/manifests/fresh', { headers: { Accept: OCI } })).status, 404, 'no tag of the refused push was written');
    assert.equal((await v2('PUT', `acme/app/manifests/${next.digest}?tag=fresh`, { body: next.manifest, headers: { 'Content-Type': OCI } })).status, 201);
    assert.equal((await api('DELETE', `/lifecycle/rules/${rule.id}`)).status, 204);
  });

  it('validates rules with BERTH_INVALID naming the field, and answers BERTH_NOT_FOUND for unknown ids', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ kind: 'immutable', scope: 'acme' }, 'scope: "acme" is not a scope; write registry, namespace:NAME or repository:NAME (e.g. namespace:acme, repository:acme/app)'],
      [{ kind: 'immutable', scope: 'namespace:acme', tags: 'v[0-9]' }, 'tags: "v[0-9]" is not a tag pattern; use tag characters with * (any run) and ? (one character), e.g. *, v*, release-?.?'],
      [{ kind: 'immutable', scope: 'namespace:acme', keepLast: 3 }, 'keepLast: only a retention rule keeps; an immutable rule takes kind, scope and tags'],
      [{ kind: 'retention', scope: 'namespace:acme' }, 'keepLast: a retention rule needs keepLast, keepWithin or both (a tag is kept when either keeps it)'],
      [{ kind: 'retention', scope: 'namespace:acme', keepWithin: '30 days' }, 'keepWithin: "30 days" is not an age; write a whole number with m, h, d or w (e.g. 30d, 12h)'],
    ];
    for (const [body, message] of cases) {
      const err = await refusal(await api('POST', '/lifecycle/rules', body), 400);
      assert.deepEqual([err.code, err.message], ['BERTH_INVALID', message]);
    }
    const err = await refusal(await api('DELETE', '/lifecycle/rules/000000000000'), 404);
    assert.equal(err.code, 'BERTH_NOT_FOUND');
    assert.equal((await fetch(`${t.url}/api/v1/lifecycle/rules`)).status, 401, 'administrators only');
  });

  it('retention: a dry run lists what would go and changes nothing; a run removes exactly that, never an immutable tag', async () => {
    const keep2 = await addRule({ kind: 'retention', scope: 'repository:acme/ret', tags: 'build-*', keepLast: 2 });
    const pin = await addRule({ kind: 'immutable', scope: 'repository:acme/ret', tags: 'build-1' });
    const digests: Record<string, string> = {};
    for (const tag of ['build-1', 'build-2', 'build-3', 'build-4', 'build-5', 'release']) digests[tag] = await pushed('acme/ret', tag);

    const planRes = await api('GET', '/lifecycle/retention/plan');
    assert.equal(planRes.status, 200);
    const plan = (await planRes.json()) as { dryRun: boolean; rules: number; matched: number; protected: number; removed: { repository: string; tag: string; digest: string; rules: string[] }[]; failed: unknown[] };
    assert.deepEqual({ ...plan, removed: plan.removed.map((r) => [r.repository, r.tag, r.digest, r.rules]) }, {
      ...plan, dryRun: true, rules: 1, matched: 5, protected: 1, failed: [],
      removed: [['acme/ret', 'build-2', digests['build-2'], [keep2.id]], ['acme/ret', 'build-3', digests['build-3'], [keep2.id]]],
    });
    assert.deepEqual(await tagsOf('acme/ret'), ['build-1', 'build-2', 'build-3', 'build-4', 'build-5', 'release'], 'a dry run removes nothing');

    const runRes = await api('POST', '/lifecycle/retention/run');
    assert.equal(runRes.status, 200);
    const run = (await runRes.json()) as typeof plan;
    assert.equal(run.dryRun, false);
    assert.deepEqual(run.removed.map((r) => r.tag), ['build-2', 'build-3']);
    assert.deepEqual(await tagsOf('acme/ret'), ['build-1', 'build-4', 'build-5', 'release']);
    // Only the tags go: the manifests stay, by digest, until garbage collection.
    assert.equal((await v2('HEAD', `acme/ret/manifests/${digests['build-2']}`, { headers: { Accept: OCI } })).status, 200);
    const second = (await (await api('GET', '/lifecycle/retention/plan')).json()) as typeof plan;
    assert.deepEqual(second.removed, [], 'a second plan finds nothing more');
    for (const r of [keep2, pin]) assert.equal((await api('DELETE', `/lifecycle/rules/${r.id}`)).status, 204);
  });

  it('records every rule change and retention run in the audit log, with author and outcome', async () => {
    const audit = async (action: string) => ((await (await api('GET', `/audit?action=${action}`)).json()) as { events: { actor: string; action: string; target: string; outcome: string; detail: Record<string, unknown> }[] }).events;
    const added = await audit('lifecycle.rule.add');
    // Sorted: events written in the same millisecond have no order.
    const sorted = <T>(rows: T[]) => rows.map((r) => JSON.stringify(r)).sort();
    assert.deepEqual(sorted(added.map((e) => [e.actor, e.target, e.outcome, e.detail.kind ?? e.detail.code])), sorted([
      ['admin', 'namespace:acme', 'success', 'immutable'],
      ['admin', 'repository:acme/app', 'success', 'immutable'],
      ['admin', 'repository:acme/app', 'success', 'immutable'],
      ['admin', 'acme', 'failure', 'BERTH_INVALID'],
      ['admin', 'namespace:acme', 'failure', 'BERTH_INVALID'],
      ['admin', 'namespace:acme', 'failure', 'BERTH_INVALID'],
      ['admin', 'namespace:acme', 'failure', 'BERTH_INVALID'],
      ['admin', 'namespace:acme', 'failure', 'BERTH_INVALID'],
      ['admin', 'repository:acme/ret', 'success', 'retention'],
      ['admin', 'repository:acme/ret', 'success', 'immutable'],
    ]));
    const deleted = await audit('lifecycle.rule.delete');
    assert.deepEqual(sorted(deleted.map((e) => [e.outcome, e.detail.code ?? e.detail.scope])), sorted([
      ['success', 'namespace:acme'], ['success', 'repository:acme/app'], ['success', 'repository:acme/app'], ['failure', 'BERTH_NOT_FOUND'], ['success', 'repository:acme/ret'], ['success', 'repository:acme/ret'],
    ]));
    const runs = await audit('lifecycle.retention.run');
    assert.deepEqual(sorted(runs.map((e) => [e.actor, e.detail.dryRun, e.detail.removed])), sorted([['admin', true, 2], ['admin', false, 2], ['admin', true, 0]]));
  });
});
