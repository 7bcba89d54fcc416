// End-to-end: sigstore signatures with the real clients on this machine and
// a Berth process. skopeo writes and reads sigstore attachments (the
// `sha256-<hex>.sig` manifest, with `use-sigstore-attachments` in
// registries.d): it copies a signed image between repositories, writing the
// attachment itself; Berth lists it by API and it verifies with Berth's
// verifier against the public key; skopeo's own policy (`sigstoreSigned`)
// finds it and refuses an unsigned image.
//
// Signing with `skopeo copy` / `podman push --sign-by-sigstore-private-key`
// is tried with a key this test writes in cosign's encrypted format (a PEM
// block `ENCRYPTED COSIGN PRIVATE KEY`: JSON with scrypt parameters and salt,
// and the NaCl secretbox nonce and ciphertext of the PKCS#8 DER key). Debian's
// skopeo 1.9 and podman 4.3 are built with sigstore compiled out ("Debian-local
// change: sigstore disabled", for signing and for verifying): those tests then
// skip, saying so, and the signature in the attachment test is built by the
// test kit (src/signatures/testkit.ts) from the published format, as are
// cosign's and notation's, whose binaries are not installed here.
//
// skopeo or podman missing (or podman unable to run) skips these tests with
// the reason, unless E2E_REQUIRE_PODMAN=1 (as in CI), which fails them.

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, scryptSync, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it, type TestContext } from 'node:test';
import nacl from 'tweetnacl';
import { RegistryError } from '../../src/errors/index.js';
import type { BlobRecord, ManifestRecord } from '../../src/metadata/index.js';
import { verifySignatures, type SignatureFinding, type SignatureSource } from '../../src/signatures/index.js';
import { cosignArtifact, cosignPayload, cosignSign, descriptorOf } from '../../src/signatures/testkit.js';
import { PodmanEnv } from './docker-env.js';
import { startRegistry, type RunningRegistry, withRegistryLog as withLog } from './registry-process.js';
import { ALL_MANIFEST_TYPES, buildRootfsTar, http, run, runExpectFailure, writeMultiArchLayout, type MultiArchLayout } from './util.js';

const T = { timeout: 180_000 };
const PASSPHRASE = 'correct horse battery staple';
/** What Debian's skopeo 1.9 and podman 4.3 say: their sigstore signing and verification are patched out. */
const SIGSTORE_DISABLED = /Debian-local change: sigstore disabled/;

/** cosign's encrypted private key (go-securesystemslib "encrypted": scrypt N=32768 r=8 p=1, nacl/secretbox). */
function encryptCosignKey(pkcs8: Buffer, passphrase: string): string {
  const params = { N: 32768, r: 8, p: 1 };
  const salt = randomBytes(32);
  const key = scryptSync(passphrase, salt, 32, { ...params, maxmem: 64 * 1024 * 1024 });
  const nonce = randomBytes(24);
  const ciphertext = nacl.secretbox(new Uint8Array(pkcs8), new Uint8Array(nonce), new Uint8Array(key));
  const json = JSON.stringify({
    kdf: { name: 'scrypt', params, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(ciphertext).toString('base64'),
  });
  const body = Buffer.from(json).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n${body}\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n`;
}

const lastLine = (text: string): string => text.trim().split('\n').pop() ?? '';

/** The inverse of encryptCosignKey, on the JSON inside the PEM. */
function decryptSecret(json: string, passphrase: string): Buffer {
  const doc = JSON.parse(json) as { kdf: { params: { N: number; r: number; p: number }; salt: string }; cipher: { nonce: string }; ciphertext: string };
  const key = scryptSync(passphrase, Buffer.from(doc.kdf.salt, 'base64'), 32, { ...doc.kdf.params, maxmem: 64 * 1024 * 1024 });
  const opened = nacl.secretbox.open(new Uint8Array(Buffer.from(doc.ciphertext, 'base64')), new Uint8Array(Buffer.from(doc.cipher.nonce, 'base64')), new Uint8Array(key));
  assert.ok(opened, 'secretbox did not open');
  return Buffer.from(opened);
}

/** The verifier's view of a Berth process, over the registry API. */
function httpSource(url: string): SignatureSource {
  const unknown = (code: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN') => new RegistryError(code);
  return {
    async getManifest(repo: string, reference: string): Promise<ManifestRecord> {
      const r = await http(`${url}/v2/${repo}/manifests/${reference}`, { headers: { Accept: ALL_MANIFEST_TYPES } });
      if (r.status === 404) throw unknown('MANIFEST_UNKNOWN');
      assert.equal(r.status, 200, `GET manifest ${repo}:${reference}`);
      const doc = JSON.parse(r.body.toString()) as { artifactType?: string; config?: { mediaType?: string }; subject?: { digest: string } };
      return {
        repository: repo, digest: r.headers.get('docker-content-digest') ?? '', mediaType: r.headers.get('content-type') ?? '', size: r.body.length, content: r.body,
        artifactType: doc.artifactType ?? doc.config?.mediaType ?? null, subject: doc.subject?.digest ?? null, annotations: null, createdAt: 0,
      };
    },
    async referrers(repo: string, digest: string): Promise<Record<string, unknown>> {
      const r = await http(`${url}/v2/${repo}/referrers/${digest}`);
      assert.equal(r.status, 200);
      return JSON.parse(r.body.toString()) as Record<string, unknown>;
    },
    async statBlob(repo: string, digest: string): Promise<BlobRecord & { repo: string }> {
      const r = await http(`${url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
      if (r.status === 404) throw unknown('BLOB_UNKNOWN');
      return { digest, size: Number(r.headers.get('content-length')), repo };
    },
    async openBlob(blob: BlobRecord): Promise<Readable> {
      const r = await http(`${url}/v2/${(blob as BlobRecord & { repo: string }).repo}/blobs/${blob.digest}`);
      assert.equal(r.status, 200);
      return Readable.from([r.body]);
    },
  };
}

/** Polls until `check` is true (the registry deletes signatures in a listener after answering the DELETE). */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe(`sigstore signatures from skopeo and podman (E2E_TARGET=${process.env.E2E_TARGET ?? 'berth'})`, () => {
  const required = process.env.E2E_REQUIRE_PODMAN === '1';
  let reg: RunningRegistry | undefined;
  let work = '';
  let layout: MultiArchLayout;
  let skipSkopeo: string | undefined;
  let pm: PodmanEnv | undefined;
  let skipPodman: string | undefined;
  let publicKeyPem = '';
  let privateKey: KeyObject;
  let keyFile = '';
  let passFile = '';
  let registriesD = '';
  let policyFile = '';
  let authFile = '';

  before(async () => {
    const version = await run('skopeo', ['--version'], { allowFailure: true }).catch((e: Error) => e);
    if (version instanceof Error) {
      if (required) throw new Error(`E2E_REQUIRE_PODMAN=1 but skopeo is missing: ${version.message}; install the Debian package skopeo`);
      skipSkopeo = `skopeo is not installed: ${version.message.split('\n')[0]}`;
    }
    const started = await PodmanEnv.tryStart();
    if ('reason' in started) {
      if (required) throw new Error(`E2E_REQUIRE_PODMAN=1 but ${started.reason}`);
      skipPodman = started.reason;
    } else {
      pm = started.env;
    }
    if (skipSkopeo && skipPodman) return;
    reg = await startRegistry();
    // Lower-case path only: podman derives an image name from an oci: layout's path.
    work = join('/tmp', `berth-e2e-sigstore-${randomBytes(6).toString('hex')}`);
    await mkdir(work);
    layout = await writeMultiArchLayout(join(work, 'layout'), await buildRootfsTar(work), ['amd64']);
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    publicKeyPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    privateKey = pair.privateKey;
    keyFile = join(work, 'cosign.key');
    passFile = join(work, 'passphrase');
    await writeFile(keyFile, encryptCosignKey(pair.privateKey.export({ type: 'pkcs8', format: 'der' }), PASSPHRASE), { mode: 0o600 });
    await writeFile(passFile, `${PASSPHRASE}\n`, { mode: 0o600 });
    await writeFile(join(work, 'cosign.pub'), publicKeyPem);
    // Sigstore attachments (the .sig manifests) are written and read only where registries.d says so.
    registriesD = join(work, 'home', '.config', 'containers', 'registries.d');
    await mkdir(registriesD, { recursive: true });
    await writeFile(join(registriesD, 'berth.yaml'), `docker:\n  ${reg.host}:\n    use-sigstore-attachments: true\n`);
    policyFile = join(work, 'policy.json');
    await writeFile(policyFile, JSON.stringify({
      default: [{ type: 'reject' }],
      transports: {
        docker: { [reg.host]: [{ type: 'sigstoreSigned', keyPath: join(work, 'cosign.pub'), signedIdentity: { type: 'matchRepoDigestOrExact' } }] },
        oci: { '': [{ type: 'insecureAcceptAnything' }] },
        dir: { '': [{ type: 'insecureAcceptAnything' }] },
      },
    }));
    authFile = join(work, 'auth.json');
    await writeFile(authFile, '{"auths":{}}\n');
  }, T);

  after(async () => {
    await pm?.stop();
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const withRegistryLog = <R>(fn: () => Promise<R>): Promise<R> => withLog(reg, fn);

  /** skopeo with this test's policy, registries.d and an empty auth file. */
  const skopeoArgs = (args: readonly string[]) => ['--policy', policyFile, '--registries.d', registriesD, ...args];
  const skopeoEnv = () => ({ ...process.env, REGISTRY_AUTH_FILE: authFile });

  async function digestOf(repo: string, reference: string): Promise<string> {
    const r = await http(`${reg?.url}/v2/${repo}/manifests/${reference}`, { method: 'HEAD', headers: { Accept: ALL_MANIFEST_TYPES } });
    assert.equal(r.status, 200, `HEAD ${repo}:${reference}`);
    return r.headers.get('docker-content-digest') ?? '';
  }

  async function listed(repo: string, reference: string): Promise<{ repository: string; reference: string; digest: string; signatures: SignatureFinding[] }> {
    const r = await http(`${reg?.url}/api/v1/repositories/${repo}/signatures/${reference}`);
    assert.equal(r.status, 200, r.body.toString());
    return JSON.parse(r.body.toString()) as { repository: string; reference: string; digest: string; signatures: SignatureFinding[] };
  }

  /** What Berth's verifier concludes with the test's public key trusted. */
  async function verdicts(repo: string, digest: string) {
    const findings = await verifySignatures(httpSource(reg?.url ?? ''), repo, digest, [{ name: 'e2e', kind: 'cosign', pem: publicKeyPem }]);
    return findings.map((f) => ({ format: f.format, via: f.via, index: f.index, verified: f.verified, keyName: f.keyName, problem: f.problem, signer: f.signer }));
  }

  function skopeoReady(t: TestContext): RunningRegistry | null {
    if (skipSkopeo) {
      t.skip(skipSkopeo);
      return null;
    }
    assert.ok(reg, 'registry not started');
    return reg;
  }

  /** Pushes the test kit's signature of repo:tag as a sigstore attachment (the `.sig` manifest), over the registry API. */
  async function attachSignature(r: RunningRegistry, repo: string, tag: string, reference: string): Promise<string> {
    const digest = await digestOf(repo, tag);
    const payload = cosignPayload({ digest, reference, timestamp: 1_767_323_045, creator: 'berth test kit' });
    const a = cosignArtifact([{ payload, signature: cosignSign(payload, privateKey) }]);
    for (const b of a.blobs) {
      const up = await http(`${r.url}/v2/${repo}/blobs/uploads/?digest=${descriptorOf('', b).digest}`, { method: 'POST', body: new Uint8Array(b) });
      assert.equal(up.status, 201);
    }
    const put = await http(`${r.url}/v2/${repo}/manifests/${digest.replace(':', '-')}.sig`, { method: 'PUT', body: new Uint8Array(a.manifest), headers: { 'Content-Type': a.mediaType } });
    assert.equal(put.status, 201);
    return digest;
  }

  it('the key file is cosign\'s encrypted format (decrypts go-securesystemslib\'s published test vector)', () => {
    // The vector of go-securesystemslib's encrypted package (passphrase "supersecret").
    const vector = '{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"N9a7x5JFGbrtB2uBR81jPwp0eiLR4A7FV3mjVAQrg1g="},"cipher":{"name":"nacl/secretbox","nonce":"2h8HxMmgRfuYdpswZBQaU3xJ1nkA/5Ik"},"ciphertext":"SEW6sUh0jf2wfdjJGPNS9+bkk2uB+Cxamf32zR8XkQ=="}';
    assert.equal(decryptSecret(vector, 'supersecret').toString(), 'reallyimportant');
    const pem = encryptCosignKey(Buffer.from('a PKCS#8 key'), 'pass');
    const json = Buffer.from(pem.replace(/-----[A-Z ]+-----|\n/g, ''), 'base64').toString();
    assert.equal(decryptSecret(json, 'pass').toString(), 'a PKCS#8 key');
  });

  it('skopeo reads and writes sigstore attachments in Berth: copied between repositories, listed, verified, required by policy', T, (t) =>
    withRegistryLog(async () => {
      const r = skopeoReady(t);
      if (!r) return;
      await run('skopeo', skopeoArgs(['copy', '--dest-tls-verify=false', `oci:${layout.dir}:amd64`, `docker://${r.host}/att/src:1`]), { env: skopeoEnv() });
      const digest = await attachSignature(r, 'att/src', '1', `${r.host}/att/src:1`);
      // skopeo fetches the attachment from one repository and writes it (its own .sig manifest) to the other.
      await run('skopeo', ['--insecure-policy', '--registries.d', registriesD, 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${r.host}/att/src:1`, `docker://${r.host}/att/dst:1`], { env: skopeoEnv() });
      assert.equal(await digestOf('att/dst', '1'), digest);
      const sig = await digestOf('att/dst', `${digest.replace(':', '-')}.sig`);
      const api = await listed('att/dst', '1');
      assert.deepEqual({ ...api, signatures: api.signatures.map((f) => [f.format, f.artifactDigest, f.via, f.index, f.verified, f.keyName, f.problem, f.signer]) }, {
        repository: 'att/dst', reference: '1', digest,
        // No trust policy for the repository: the API has no key to verify against.
        signatures: [['cosign', sig, 'tag', 0, false, null, 'unknown-key', `${r.host}/att/src:1`]],
      });
      assert.deepEqual(await verdicts('att/dst', digest), [{ format: 'cosign', via: 'tag', index: 0, verified: true, keyName: 'e2e', problem: null, signer: `${r.host}/att/src:1` }]);

      // skopeo's policy (sigstoreSigned): an unsigned image has no signature in Berth...
      await run('skopeo', skopeoArgs(['copy', '--dest-tls-verify=false', `oci:${layout.dir}:amd64`, `docker://${r.host}/att/unsigned:1`]), { env: skopeoEnv() });
      const unsigned = await runExpectFailure('skopeo', skopeoArgs(['copy', '--src-tls-verify=false', `docker://${r.host}/att/unsigned:1`, `dir:${join(work, 'out-unsigned')}`]), { env: skopeoEnv() });
      assert.match(unsigned.stderr, /A signature was required, but no signature exists/);
      // ...the signed one has, and is accepted, except by a build with sigstore compiled out (Debian's), which says so.
      const signed = await run('skopeo', skopeoArgs(['copy', '--src-tls-verify=false', `docker://${r.host}/att/src:1`, `dir:${join(work, 'out-signed')}`]), { env: skopeoEnv(), allowFailure: true });
      if (signed.code !== 0) assert.match(signed.stderr, SIGSTORE_DISABLED, signed.stderr);

      // Deleting the image by digest takes its .sig manifest along.
      await run('skopeo', skopeoArgs(['delete', '--tls-verify=false', `docker://${r.host}/att/dst@${digest}`]), { env: skopeoEnv() });
      await eventually('the .sig manifest to be deleted with its image', async () =>
        (await http(`${r.url}/v2/att/dst/manifests/${sig}`, { method: 'HEAD', headers: { Accept: ALL_MANIFEST_TYPES } })).status === 404);
      assert.equal((await http(`${r.url}/v2/att/src/manifests/${digest.replace(':', '-')}.sig`, { method: 'HEAD', headers: { Accept: ALL_MANIFEST_TYPES } })).status, 200);
    }));

  it('skopeo copy --sign-by-sigstore-private-key: listed by the API, verified by Berth and by skopeo\'s policy', T, (t) =>
    withRegistryLog(async () => {
      const r = skopeoReady(t);
      if (!r) return;
      const sign = (tag: string) => run('skopeo', skopeoArgs(['copy', '--dest-tls-verify=false', '--sign-by-sigstore-private-key', keyFile, '--sign-passphrase-file', passFile, `oci:${layout.dir}:amd64`, `docker://${r.host}/sig/skopeo:${tag}`]), { env: skopeoEnv(), allowFailure: true });
      const first = await sign('1');
      if (first.code !== 0 && SIGSTORE_DISABLED.test(first.stderr)) {
        t.skip(`this skopeo cannot sign: ${lastLine(first.stderr)} (Debian builds skopeo 1.9 and podman 4.3 with sigstore compiled out; the attachment test above covers what they still do)`);
        return;
      }
      assert.equal(first.code, 0, first.stderr);
      assert.equal((await sign('2')).code, 0);
      const digest = await digestOf('sig/skopeo', '1');
      const sig = await digestOf('sig/skopeo', `${digest.replace(':', '-')}.sig`);
      const api = await listed('sig/skopeo', '1');
      assert.deepEqual(api.signatures.map((f) => [f.format, f.artifactDigest, f.via, f.index, f.problem]), [['cosign', sig, 'tag', 0, 'unknown-key'], ['cosign', sig, 'tag', 1, 'unknown-key']]);
      assert.deepEqual((await verdicts('sig/skopeo', digest)).map((v) => [v.index, v.verified, v.keyName, v.signer]), [[0, true, 'e2e', `${r.host}/sig/skopeo:1`], [1, true, 'e2e', `${r.host}/sig/skopeo:2`]]);
      await run('skopeo', skopeoArgs(['copy', '--src-tls-verify=false', `docker://${r.host}/sig/skopeo:1`, `dir:${join(work, 'out-skopeo')}`]), { env: skopeoEnv() });
    }));

  it('podman push --sign-by-sigstore-private-key: listed and verified', T, (t) =>
    withRegistryLog(async () => {
      if (!pm || skipPodman) {
        t.skip(skipPodman ?? 'podman environment was not set up');
        return;
      }
      assert.ok(reg);
      const p = pm;
      // Lower-case path only: podman derives an image name from an oci: layout's path.
      const pulled = await p.podman(['pull', '-q', '--arch', 'amd64', `oci:${layout.dir}:amd64`]);
      const id = pulled.stdout.trim().split('\n').pop() ?? '';
      assert.match(id, /^[0-9a-f]{64}$/);
      const ref = `${reg.host}/sig/podman:1`;
      await p.podman(['tag', id, ref]);
      const digestFile = join(work, 'podman-digest');
      // podman reads registries.d from $HOME/.config/containers/registries.d.
      const push = await p.podman(['push', '--tls-verify=false', '--digestfile', digestFile, '--sign-by-sigstore-private-key', keyFile, '--sign-passphrase-file', passFile, ref], { env: { HOME: join(work, 'home') }, allowFailure: true });
      if (push.code !== 0 && SIGSTORE_DISABLED.test(push.stderr)) {
        t.skip(`this podman cannot sign: ${lastLine(push.stderr)} (Debian builds podman 4.3 with sigstore compiled out)`);
        return;
      }
      assert.equal(push.code, 0, push.stderr);
      const digest = (await readFile(digestFile, 'utf8')).trim();
      assert.equal(await digestOf('sig/podman', '1'), digest);
      const sig = await digestOf('sig/podman', `${digest.replace(':', '-')}.sig`);
      const api = await listed('sig/podman', '1');
      assert.deepEqual(api.signatures.map((f) => [f.format, f.artifactDigest, f.via, f.problem]), [['cosign', sig, 'tag', 'unknown-key']]);
      assert.deepEqual(await verdicts('sig/podman', digest), [
        { format: 'cosign', via: 'tag', index: 0, verified: true, keyName: 'e2e', problem: null, signer: ref },
      ]);
    }));
});
