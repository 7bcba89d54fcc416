// End-to-end: the trust policy with a real client. With a policy that needs
// a cosign key (set with the berth CLI on the server's database), skopeo's
// copy of an unsigned image fails with Berth's DENIED message in its output,
// and succeeds once a signature by that key is pushed. cosign is not on this
// machine: the signature is built by the signatures testkit from the
// published simple-signing format (test/e2e/sigstore.test.ts has skopeo sign
// for real).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { cosignArtifact, cosignKeyPair, cosignPayload, cosignSign, type Artifact } from '../../src/signatures/testkit.js';
import { BERTH_CLI, startRegistry, withRegistryLog, type RunningRegistry } from './registry-process.js';
import { run, runExpectFailure } from './util.js';

const T = { timeout: 120_000 };
const OCI = 'application/vnd.oci.image.manifest.v1+json';
const sha256 = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('trust policy with skopeo', { skip: (process.env.E2E_TARGET ?? 'berth') !== 'berth' ? 'a Berth feature' : false }, () => {
  let reg: RunningRegistry;
  let work: string;
  const release = cosignKeyPair('ecdsa-p256');

  async function put(path: string, body: Buffer, contentType?: string): Promise<void> {
    const res = await fetch(`${reg.url}${path}`, { method: path.includes('/manifests/') ? 'PUT' : 'POST', body: new Uint8Array(body), headers: contentType ? { 'Content-Type': contentType } : {} });
    assert.equal(res.status, 201, `${path}: ${res.status} ${await res.text()}`);
  }
  const blob = (repo: string, b: Buffer) => put(`/v2/${repo}/blobs/uploads/?digest=${sha256(b)}`, b);

  /** A real (tiny) image: an empty tar layer, gzipped, and its config. */
  async function pushImage(repo: string, tag: string): Promise<{ digest: string; size: number }> {
    const tar = Buffer.alloc(1024);
    const layer = gzipSync(tar);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(tar)] } }));
    await blob(repo, layer);
    await blob(repo, config);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }));
    await put(`/v2/${repo}/manifests/${tag}`, manifest, OCI);
    return { digest: sha256(manifest), size: manifest.length };
  }

  async function pushArtifact(repo: string, a: Artifact, reference: string): Promise<void> {
    for (const b of a.blobs) await blob(repo, b);
    await put(`/v2/${repo}/manifests/${reference}`, a.manifest, a.mediaType);
  }

  const copy = (ref: string, dest: string) => ['copy', '--src-tls-verify=false', `docker://${reg.host}/${ref}`, `oci:${dest}:x`];

  before(async () => {
    reg = await startRegistry({ target: 'berth' });
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-policy-'));
    await writeFile(join(work, 'release.pub'), release.publicKeyPem);
    const set = await run('node', [BERTH_CLI, 'trust', 'policy', 'set', 'namespace:signed', '--key', `release=${join(work, 'release.pub')}`, '--data-dir', reg.dataDir, '--json']);
    assert.equal((JSON.parse(set.stdout) as { scope: string }).scope, 'namespace:signed');
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('skopeo copy of an unsigned image fails with the DENIED message; once signed by the key it succeeds', T, () => withRegistryLog(reg, async () => {
    const img = await pushImage('signed/app', 'v1');
    const refused = await runExpectFailure('skopeo', copy('signed/app:v1', join(work, 'unsigned')));
    const expected = `pull of signed/app:v1 refused by the trust policy of namespace:signed: unsigned (no signature of ${img.digest} was found; the policy trusts key release)`;
    assert.ok(refused.stderr.includes(expected), `skopeo's output shows why:\n${refused.stderr}`);
    assert.match(refused.stderr, /denied/i);

    // A signature by another key does not do.
    const other = cosignKeyPair('ecdsa-p256');
    const payload = cosignPayload({ digest: img.digest, reference: `${reg.host}/signed/app` });
    const sigTag = `sha256-${img.digest.slice(7)}.sig`;
    await pushArtifact('signed/app', cosignArtifact([{ payload, signature: cosignSign(payload, other.privateKey) }]), sigTag);
    const stranger = await runExpectFailure('skopeo', copy('signed/app:v1', join(work, 'stranger')));
    assert.match(stranger.stderr, /refused by the trust policy of namespace:signed: unknown key/);

    await pushArtifact('signed/app', cosignArtifact([{ payload, signature: cosignSign(payload, release.privateKey) }]), sigTag);
    await run('skopeo', copy('signed/app:v1', join(work, 'signed')));
    await run('skopeo', copy(`signed/app@${img.digest}`, join(work, 'by-digest')));
    // Outside the policy's namespace nothing changes.
    await pushImage('free/app', 'v1');
    await run('skopeo', copy('free/app:v1', join(work, 'free')));
  }));
});
