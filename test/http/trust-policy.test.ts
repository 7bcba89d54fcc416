import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  cosignArtifact, cosignKeyPair, cosignPayload, cosignSign, notationArtifact, notationCertificate, notationEnvelope, type Artifact, type Descriptor,
} from '../../src/signatures/testkit.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';

const OCI = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const sha256 = (data: Uint8Array | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ADMIN = basic('admin', 'admin-password-1');
const DEV = basic('dev', 'dev-password-1');

interface OciError { code: string; message: string; detail?: unknown }

/**
 * The trust policy through HTTP: pulls refused with DENIED and the reason
 * (unsigned, unknown key, bad signature, expired), verified pulls by tag and
 * digest, children of a verified index, signatures readable, audit mode,
 * cache invalidation, and the management API. Signatures are built by the
 * signatures testkit from the published formats (no cosign or notation
 * binary on this machine).
 */
describe('trust policy (HTTP)', () => {
  let t: TestBerth;
  const tokens = new Map<string, string>();

  /** A registry request the way docker makes it: on a 401, a token for the challenge's scope (admin credentials unless given), then again. */
  async function call(method: string, path: string, init: { body?: Buffer | string; headers?: Record<string, string>; auth?: string } = {}): Promise<Response> {
    const auth = init.auth ?? ADMIN;
    const send = (token?: string) => fetch(`${t.url}${path}`, { method, body: init.body === undefined ? null : typeof init.body === 'string' ? init.body : new Uint8Array(init.body), headers: { ...init.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) } });
    const scopeKey = `${auth}\n${path.split('/').slice(2, -2).join('/')}`;
    const cached = tokens.get(scopeKey);
    const first = await send(cached);
    if (first.status !== 401) return first;
    const scope = /scope="([^"]*)"/.exec(first.headers.get('www-authenticate') ?? '')?.[1];
    const q = new URLSearchParams({ service: 'berth', ...(scope ? { scope: scope.replace(/:[a-z,]+$/, ':pull,push,delete') } : {}) });
    const tr = await fetch(`${t.url}/auth/token?${q}`, { headers: { Authorization: auth } });
    assert.equal(tr.status, 200, `token for ${scope ?? '(no scope)'}`);
    const { token } = (await tr.json()) as { token: string };
    tokens.set(scopeKey, token);
    return send(token);
  }

  const api = (method: string, path: string, auth: string | null, body?: unknown) => fetch(`${t.url}/api/v1${path}`, {
    method,
    headers: { ...(auth ? { Authorization: auth } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });

  async function putBlob(repo: string, data: Buffer): Promise<void> {
    const res = await call('POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { body: data });
    assert.equal(res.status, 201, `blob push: ${res.status} ${await res.text()}`);
  }

  async function putManifest(repo: string, reference: string, bytes: Buffer, mediaType = OCI): Promise<Descriptor> {
    const res = await call('PUT', `/v2/${repo}/manifests/${reference}`, { body: bytes, headers: { 'Content-Type': mediaType } });
    assert.equal(res.status, 201, `manifest push: ${res.status} ${await res.text()}`);
    return { mediaType, digest: sha256(bytes), size: bytes.length };
  }

  async function pushImage(repo: string, tag: string | null): Promise<Descriptor> {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed: Math.random() }));
    const layer = Buffer.from(`layer-${Math.random()}`);
    await putBlob(repo, config);
    await putBlob(repo, layer);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }));
    return putManifest(repo, tag ?? sha256(manifest), manifest);
  }

  async function pushArtifact(repo: string, a: Artifact, tag?: string): Promise<string> {
    for (const b of a.blobs) await putBlob(repo, b);
    await putManifest(repo, tag ?? a.digest, a.manifest, a.mediaType);
    return a.digest;
  }

  const release = cosignKeyPair('rsa');
  const stranger = cosignKeyPair('ecdsa-p256');
  const notaryCa = notationCertificate({ commonName: 'Berth test CA', ca: true });

  /** A cosign signature of `image` by `key`, as the `.sig` tag (default) or a referrer. */
  function cosign(repo: string, image: Descriptor, key: typeof release, options: { referrer?: boolean; tamper?: boolean } = {}): Artifact {
    const payload = cosignPayload({ digest: image.digest, reference: `localhost/${repo}` });
    const signature = cosignSign(payload, key.privateKey);
    const signed = options.tamper ? Buffer.from(payload.toString().replace('"optional":null', '"optional":{"creator":"mallory"}')) : payload;
    return cosignArtifact([{ payload: signed, signature }], options.referrer ? { subject: image } : {});
  }
  const sigTag = (d: Descriptor) => `sha256-${d.digest.slice(7)}.sig`;

  async function refusal(res: Response): Promise<OciError> {
    assert.equal(res.status, 403);
    const body = (await res.json()) as { errors: OciError[] };
    assert.equal(body.errors.length, 1);
    assert.equal(body.errors[0]?.code, 'DENIED');
    return body.errors[0] as OciError;
  }

  const pull = (repo: string, reference: string, method = 'GET') => call(method, `/v2/${repo}/manifests/${reference}`, { headers: { Accept: `${OCI}, ${INDEX}` } });
  const trusts = 'the policy trusts keys release, notary';

  before(async () => {
    t = await startTestBerth({ REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: 'admin-password-1' });
    assert.equal((await api('POST', '/users', ADMIN, { name: 'dev', password: 'dev-password-1' })).status, 201);
    assert.equal((await api('POST', '/grants', ADMIN, { subjectKind: 'user', subject: 'dev', resourceKind: 'namespace', resource: 'acme', role: 'write' })).status, 200);
    const res = await api('PUT', '/trust/policies/repository:acme/app', ADMIN, {
      keys: [{ name: 'release', pem: release.publicKeyPem }, { name: 'notary', pem: notaryCa.pem }],
    });
    assert.equal(res.status, 200, await res.clone().text());
    const view = (await res.json()) as { scope: string; mode: string; keys: { name: string; kind: string }[]; updatedBy: string };
    assert.deepEqual([view.scope, view.mode, view.keys.map((k) => `${k.kind}:${k.name}`), view.updatedBy], ['repository:acme/app', 'enforce', ['cosign:release', 'notation:notary'], 'admin']);
  });
  after(async () => {
    await t?.close();
  });

  it('refuses an unsigned image by tag and by digest (GET and HEAD), naming repository, reference, reason and scope', async () => {
    const img = await pushImage('acme/app', 'unsigned');
    const byTag = await refusal(await pull('acme/app', 'unsigned'));
    assert.deepEqual(byTag, {
      code: 'DENIED',
      message: `pull of acme/app:unsigned refused by the trust policy of repository:acme/app: unsigned (no signature of ${img.digest} was found; ${trusts})`,
      detail: { repository: 'acme/app', reference: 'unsigned', digest: img.digest, scope: 'repository:acme/app', reason: 'unsigned' },
    });
    const byDigest = await refusal(await pull('acme/app', img.digest));
    assert.equal(byDigest.message, `pull of acme/app@${img.digest} refused by the trust policy of repository:acme/app: unsigned (no signature of ${img.digest} was found; ${trusts})`);
    assert.equal((await pull('acme/app', 'unsigned', 'HEAD')).status, 403);
  });

  it('refuses a signature by a key the policy does not trust: unknown key', async () => {
    const img = await pushImage('acme/app', 'stranger');
    const sig = await pushArtifact('acme/app', cosign('acme/app', img, stranger), sigTag(img));
    assert.equal((await refusal(await pull('acme/app', 'stranger'))).message,
      `pull of acme/app:stranger refused by the trust policy of repository:acme/app: unknown key (the cosign signature ${sig} is not made with a key the policy trusts; ${trusts})`);
  });

  it('refuses an expired notation signature: expired (over an unknown key also found)', async () => {
    const img = await pushImage('acme/app', 'expired');
    await pushArtifact('acme/app', cosign('acme/app', img, stranger), sigTag(img));
    const leaf = notationCertificate({ commonName: 'release signer', issuer: notaryCa });
    const envelope = notationEnvelope({ target: img, chain: [leaf, notaryCa], signingTime: new Date(Date.now() - 7_200_000), expiry: new Date(Date.now() - 3_600_000) });
    const sig = await pushArtifact('acme/app', notationArtifact(envelope, img));
    assert.equal((await refusal(await pull('acme/app', 'expired'))).message,
      `pull of acme/app:expired refused by the trust policy of repository:acme/app: expired (the notation signature ${sig} made with key "notary" has expired or is not yet valid; ${trusts})`);
  });

  it('refuses a trusted key\'s signature over changed bytes: bad signature (the most telling problem)', async () => {
    const img = await pushImage('acme/app', 'tampered');
    await pushArtifact('acme/app', cosign('acme/app', img, stranger), sigTag(img));
    const sig = await pushArtifact('acme/app', cosign('acme/app', img, release, { referrer: true, tamper: true }));
    assert.equal((await refusal(await pull('acme/app', 'tampered'))).message,
      `pull of acme/app:tampered refused by the trust policy of repository:acme/app: bad signature (the cosign signature ${sig} made with key "release" does not verify against ${img.digest}; ${trusts})`);
  });

  it('serves an image signed by a trusted key, by tag and by digest, and its signatures to whoever verifies', async () => {
    const img = await pushImage('acme/app', 'v1');
    const sig = cosign('acme/app', img, release);
    await pushArtifact('acme/app', sig, sigTag(img));
    for (const ref of ['v1', img.digest]) {
      const res = await pull('acme/app', ref);
      assert.equal(res.status, 200, ref);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), img.digest);
      assert.equal((await pull('acme/app', ref, 'HEAD')).status, 200);
    }
    // The signature artifacts themselves (unsigned as they are) and their blobs are readable.
    assert.equal((await pull('acme/app', sigTag(img))).status, 200);
    assert.equal((await pull('acme/app', sig.digest)).status, 200);
    for (const blob of sig.blobs) assert.equal((await call('GET', `/v2/acme/app/blobs/${sha256(blob)}`)).status, 200);
    const notation = notationArtifact(notationEnvelope({ target: img, chain: [notationCertificate({ commonName: 'x', issuer: notaryCa }), notaryCa] }), img);
    await pushArtifact('acme/app', notation);
    assert.equal((await pull('acme/app', notation.digest)).status, 200, 'a notation referrer is readable');
  });

  it('allows a child of a verified index pulled by digest, not one of an unsigned index', async () => {
    const children = [await pushImage('acme/app', null), await pushImage('acme/app', null)];
    const indexBytes = (c: Descriptor[]) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: c.map((d, i) => ({ ...d, platform: { architecture: i ? 'arm64' : 'amd64', os: 'linux' } })) }));
    const index = await putManifest('acme/app', 'multi', indexBytes(children), INDEX);
    assert.equal((await pull('acme/app', children[0]?.digest as string)).status, 403, 'before the index is signed');
    await pushArtifact('acme/app', cosign('acme/app', index, release), sigTag(index));
    assert.equal((await pull('acme/app', 'multi')).status, 200);
    for (const c of children) assert.equal((await pull('acme/app', c.digest)).status, 200, c.digest);
    const loner = await pushImage('acme/app', null);
    await putManifest('acme/app', 'unsigned-multi', indexBytes([loner]), INDEX);
    assert.equal((await refusal(await pull('acme/app', loner.digest))).message,
      `pull of acme/app@${loner.digest} refused by the trust policy of repository:acme/app: unsigned (no signature of ${loner.digest} was found; ${trusts})`);
  });

  it('leaves pushes alone, and other repositories without a policy', async () => {
    const img = await pushImage('acme/app', 'pushed-anyway');
    assert.equal((await pull('acme/app', 'pushed-anyway')).status, 403);
    await pushImage('other/app', 'v1');
    assert.equal((await pull('other/app', 'v1')).status, 200);
    assert.ok(img.digest);
  });

  it('audit mode allows the pull and records what it would have refused', async () => {
    assert.equal((await api('PUT', '/trust/policies/namespace:audited', ADMIN, { mode: 'audit', keys: [{ name: 'release', pem: release.publicKeyPem }] })).status, 200);
    const img = await pushImage('audited/app', 'v1');
    assert.equal((await pull('audited/app', 'v1')).status, 200);
    const res = await api('GET', '/audit?action=trust.policy.verdict', ADMIN);
    const { events } = (await res.json()) as { events: { actor: string; target: string; outcome: string; detail: Record<string, unknown> }[] };
    const mine = events.filter((e) => e.target === `audited/app@${img.digest}`);
    assert.equal(mine.length, 1);
    assert.deepEqual([mine[0]?.actor, mine[0]?.outcome, mine[0]?.detail.reason, mine[0]?.detail.scope, mine[0]?.detail.mode], ['admin', 'failure', 'unsigned', 'namespace:audited', 'audit']);
  });

  it('changes the next pull\'s verdict at once: a signature added, removed, the keys changed, the policy deleted', async () => {
    assert.equal((await api('PUT', '/trust/policies/repository:acme/cache', ADMIN, { keys: [{ name: 'release', pem: release.publicKeyPem }] })).status, 200);
    const img = await pushImage('acme/cache', 'v1');
    assert.equal((await pull('acme/cache', 'v1')).status, 403);
    const sig = await pushArtifact('acme/cache', cosign('acme/cache', img, release, { referrer: true }));
    assert.equal((await pull('acme/cache', 'v1')).status, 200, 'signature added');
    assert.equal((await call('DELETE', `/v2/acme/cache/manifests/${sig}`)).status, 202);
    assert.equal(((await refusal(await pull('acme/cache', 'v1'))).detail as { reason: string }).reason, 'unsigned', 'signature removed');
    await pushArtifact('acme/cache', cosign('acme/cache', img, release), sigTag(img));
    assert.equal((await pull('acme/cache', 'v1')).status, 200, 'signed again (.sig tag)');
    assert.equal((await api('PUT', '/trust/policies/repository:acme/cache', ADMIN, { keys: [{ name: 'stranger', pem: stranger.publicKeyPem }] })).status, 200);
    const changed = await refusal(await pull('acme/cache', 'v1'));
    assert.match(changed.message, /: unknown key \(.*the policy trusts key stranger\)$/, 'keys changed');
    assert.equal((await api('DELETE', '/trust/policies/repository:acme/cache', ADMIN)).status, 204);
    assert.equal((await pull('acme/cache', 'v1')).status, 200, 'policy deleted');
  });

  it('shows each tag\'s trust state to whoever may pull', async () => {
    assert.equal((await fetch(`${t.url}/api/v1/repositories/acme/app/trust`)).status, 401, 'pull access, as the registry asks for it');
    const res = await call('GET', '/api/v1/repositories/acme/app/trust', { auth: DEV });
    assert.equal(res.status, 200);
    const state = (await res.json()) as { policy: unknown; tags: { tag: string; state: string; reason: string; by: unknown }[] };
    assert.deepEqual(state.policy, { scope: 'repository:acme/app', mode: 'enforce', revision: 1 });
    const of = (tag: string) => state.tags.find((x) => x.tag === tag);
    assert.deepEqual(of('v1'), { ...of('v1'), state: 'verified', reason: 'verified', by: { keys: ['notary', 'release'], dctSigners: [] } }, 'v1 has a cosign and a notation signature');
    assert.deepEqual([of('unsigned')?.state, of('unsigned')?.reason], ['unsigned', 'unsigned']);
    assert.deepEqual([of('stranger')?.state, of('stranger')?.reason], ['invalid', 'unknown key']);
    assert.deepEqual([of('tampered')?.state, of('tampered')?.reason], ['invalid', 'bad signature']);
    assert.ok(!state.tags.some((x) => x.tag.endsWith('.sig')), 'cosign\'s own tags are left out');
    const unknown = await call('GET', '/api/v1/repositories/acme/none/trust');
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { errors: OciError[] }).errors[0]?.code, 'NAME_UNKNOWN');
  });

  it('manages policies: administrators only, bad PEM and bad scopes are 400 BERTH_INVALID naming the field', async () => {
    const denied = await api('PUT', '/trust/policies/namespace:acme', DEV, { keys: [{ name: 'k', pem: release.publicKeyPem }] });
    assert.equal(denied.status, 403);
    assert.equal(((await denied.json()) as { errors: OciError[] }).errors[0]?.code, 'DENIED');
    assert.equal((await api('GET', '/trust/policies', DEV)).status, 403);
    assert.equal((await api('DELETE', '/trust/policies/repository:acme/app', DEV)).status, 403);
    assert.equal((await api('GET', '/trust/policies', null)).status, 401);

    const cases: [string, unknown, string, string][] = [
      ['namespace:acme', { keys: [{ name: 'bad', pem: '-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n' }] }, 'keys[0].pem', 'keys[0].pem: key "bad": not a readable PEM public key'],
      ['namespace:acme', { keys: [{ name: 'ok', pem: release.publicKeyPem }, { name: 'cert', kind: 'notation', pem: release.publicKeyPem }] }, 'keys[1].pem', 'keys[1].pem: key "cert": a notation key must be a PEM X.509 certificate (BEGIN CERTIFICATE)'],
      ['namespace:acme', { keys: [{ name: 'x', pem: 'hello' }] }, 'keys[0].pem', 'keys[0].pem: key "x": not PEM; expected a public key (-----BEGIN PUBLIC KEY-----, cosign) or a certificate (-----BEGIN CERTIFICATE-----, notation)'],
      ['namespace:acme', { mode: 'enforce' }, 'keys', 'keys: a policy needs at least one key or DCT signer (a policy that trusts nobody would refuse every pull)'],
      ['team:acme', { dctSigners: ['alice'] }, 'scope', 'scope: "team:acme" is not a scope; write registry, namespace:NAME or repository:NAME (e.g. namespace:acme, repository:acme/app)'],
    ];
    for (const [scope, body, field, message] of cases) {
      const res = await api('PUT', `/trust/policies/${scope}`, ADMIN, body);
      assert.equal(res.status, 400, message);
      const err = ((await res.json()) as { errors: (OciError & { detail: { field: string }[] })[] }).errors[0];
      assert.deepEqual([err?.code, err?.message, err?.detail[0]?.field], ['BERTH_INVALID', message, field]);
    }
    assert.equal((await api('GET', '/trust/policies/namespace:acme', ADMIN)).status, 404, 'nothing was written');
    const listed = (await (await api('GET', '/trust/policies', ADMIN)).json()) as { policies: { scope: string }[] };
    assert.deepEqual(listed.policies.map((p) => p.scope), ['namespace:audited', 'repository:acme/app']);
    const deleted = await api('DELETE', '/trust/policies/namespace:nothing', ADMIN);
    assert.equal(deleted.status, 404);
    assert.equal(((await deleted.json()) as { errors: OciError[] }).errors[0]?.code, 'BERTH_NOT_FOUND');
    const audit = (await (await api('GET', '/audit?action=trust.policy.put', ADMIN)).json()) as { events: { outcome: string; target: string }[] };
    assert.ok(audit.events.some((e) => e.outcome === 'success' && e.target === 'repository:acme/app'));
    assert.ok(audit.events.some((e) => e.outcome === 'failure' && e.target === 'namespace:acme'));
  });
});
