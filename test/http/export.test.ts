import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import tar from 'tar-stream';
import { startTestBerth, pushBlob, pushImage, sha256, type TestBerth } from '../helpers/berth.js';
import { planExport, writeBundle, type ExportRef } from '../../src/airgap/export.js';
import { importBundle, readBundle, verifyBundle, type OpenedBundle } from '../../src/airgap/bundle.js';
import { bundleJson, type BundleManifest } from '../../src/airgap/bundle-format.js';
import type { ImportCore } from '../../src/airgap/import.js';
import { EventedRegistry } from '../../src/events/index.js';
import { RegistryError } from '../../src/errors/index.js';
import { signedTargets } from '../../src/trust/index.js';
import { TestRepo, dockerTarget, signDoc } from '../../src/trust/tuf/testkit.js';
import { keyId, type TufKey } from '../../src/trust/tuf/index.js';

/**
 * `berth export` and the Berth bundle, in process: what the tar holds
 * (every manifest byte for byte, an index's children and its absent child,
 * a referrer, a cosign .sig tag, the DCT files, checksums), that exporting
 * twice gives the same bytes, an import into a second Berth that shares
 * nothing (same digests, same trust data, idempotent), and the refusals:
 * a byte flipped in a blob, a manifest, trust metadata or the checksum
 * file, a member added or removed, trust data re-signed for another
 * digest, a registry under another name, conflicting trust data; each
 * leaves the target registry without a manifest, tag or trust file.
 */

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const BOUNDARY = 'b0undary';
const SPARSE = { REGISTRY_MANIFESTS_SPARSE_NAMESPACES: 'rel' };

interface Member { name: string; data: Buffer; mtime: Date | undefined; mode: number | undefined }

async function untar(bytes: Buffer): Promise<Member[]> {
  const out: Member[] = [];
  const extract = tar.extract();
  const src = new PassThrough();
  src.end(bytes);
  src.pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    out.push({ name: entry.header.name, data: Buffer.concat(chunks), mtime: entry.header.mtime, mode: entry.header.mode });
  }
  return out;
}

async function retar(members: Member[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const m of members) {
    await new Promise<void>((resolve, reject) => pack.entry({ name: m.name, size: m.data.length, mtime: m.mtime ?? new Date(0), mode: m.mode ?? 0o644 }, m.data, (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function multipart(parts: [string, Uint8Array][]): Buffer {
  const chunks: Buffer[] = [];
  for (const [filename, data] of parts) {
    chunks.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`), Buffer.from(data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('berth export: the Berth bundle', () => {
  let a: TestBerth;
  let work: string;
  let hostA: string;
  let gun: string;
  let repo: TestRepo;
  const content: { index: Buffer; indexDigest: string; children: Buffer[]; absent: string; referrer: Buffer; sig: Buffer; v2: Buffer } = {} as never;
  const refs: ExportRef[] = [{ repository: 'rel/app', tag: 'v1', digest: null }, { repository: 'rel/app', tag: 'v2', digest: null }];

  const exportBundle = async (b: TestBerth = a, r: ExportRef[] = refs): Promise<{ bytes: Buffer; sha: string }> => {
    const plan = await planExport({ refs: r, source: b.berth.registry, trust: b.berth.metadata.trust, sourceName: hostA });
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    const sha = await writeBundle(plan, sink, b.berth.registry);
    return { bytes: Buffer.concat(chunks), sha };
  };
  const coreOf = (b: TestBerth): ImportCore => ({
    registry: b.berth.registry,
    registryFor: (context) => new EventedRegistry(b.berth.registry, b.berth.events, context),
  });
  const context = { actor: { kind: 'system' as const, name: 'test-import' }, requestId: 'test', remoteAddress: null };
  const save = async (name: string, bytes: Buffer) => {
    const file = path.join(work, name);
    await writeFile(file, bytes);
    return file;
  };

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'berth-export-test-'));
    a = await startTestBerth(SPARSE);
    hostA = new URL(a.url).host;
    gun = `${hostA}/rel/app`;
    // An index of two present children and one that was never pushed (a sparse index).
    const c1 = await pushImage(a.url, 'rel/app', 'tmp-c1');
    const c2 = await pushImage(a.url, 'rel/app', 'tmp-c2', { layers: ['arm layer', 'second arm layer'] });
    content.children = [c1.manifest, c2.manifest];
    content.absent = sha256('never pushed');
    content.index = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: c1.digest, size: c1.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: OCI_MANIFEST, digest: c2.digest, size: c2.manifest.length, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: OCI_MANIFEST, digest: content.absent, size: 999, platform: { os: 'linux', architecture: 's390x' } },
      ],
    }, null, 1));
    content.indexDigest = sha256(content.index);
    let res = await fetch(`${a.url}/v2/rel/app/manifests/v1`, { method: 'PUT', body: new Uint8Array(content.index), headers: { 'Content-Type': OCI_INDEX } });
    assert.equal(res.status, 201, await res.text());
    for (const t of ['tmp-c1', 'tmp-c2']) assert.equal((await fetch(`${a.url}/v2/rel/app/manifests/${t}`, { method: 'DELETE' })).status, 202);
    // A referrer of the first child (an SBOM-like artifact), and a cosign signature tag of the index.
    const emptyConfig = await pushBlob(a.url, 'rel/app', '{}');
    const sbom = await pushBlob(a.url, 'rel/app', 'an sbom');
    content.referrer = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/spdx+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyConfig, size: 2 },
      layers: [{ mediaType: 'application/spdx+json', digest: sbom, size: 7 }],
      subject: { mediaType: OCI_MANIFEST, digest: c1.digest, size: c1.manifest.length },
    }));
    res = await fetch(`${a.url}/v2/rel/app/manifests/${sha256(content.referrer)}`, { method: 'PUT', body: new Uint8Array(content.referrer), headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(res.status, 201, await res.text());
    const sigLayer = await pushBlob(a.url, 'rel/app', '{"critical":{}}');
    content.sig = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: emptyConfig, size: 2 },
      layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: sigLayer, size: 15, annotations: { 'dev.cosignproject.cosign/signature': 'c2ln' } }],
    }));
    const sigTag = `sha256-${content.indexDigest.slice(7)}.sig`;
    res = await fetch(`${a.url}/v2/rel/app/manifests/${sigTag}`, { method: 'PUT', body: new Uint8Array(content.sig), headers: { 'Content-Type': OCI_MANIFEST } });
    assert.equal(res.status, 201, await res.text());
    content.v2 = (await pushImage(a.url, 'rel/app', 'v2', { mediaType: 'application/vnd.docker.distribution.manifest.v2+json' })).manifest;

    // DCT data as docker makes it: root listing the server's keys, targets signing v1 and v2.
    repo = new TestRepo(gun);
    const key = async (role: string) => (await (await fetch(`${a.url}/v2/${gun}/_trust/tuf/${role}.key`)).json()) as TufKey;
    const ts = await key('timestamp');
    const sn = await key('snapshot');
    const signed = repo.rootSigned(1, { extraKeys: [ts, sn] });
    const roles = signed.roles as Record<string, unknown>;
    roles.timestamp = { keyids: [keyId(ts)], threshold: 1 };
    roles.snapshot = { keyids: [keyId(sn)], threshold: 1 };
    const root = signDoc(signed, repo.rootKeys);
    const targets = repo.targets(2, { targets: { v1: dockerTarget(content.index), v2: dockerTarget(content.v2) } });
    res = await fetch(`${a.url}/v2/${gun}/_trust/tuf/`, { method: 'POST', body: new Uint8Array(multipart([['root', root], ['targets', targets]])), headers: { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` } });
    assert.equal(res.status, 200, await res.text());
  });
  after(async () => {
    await a?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('holds every manifest byte for byte, the children (absent one listed), the referrer, the .sig tag, the trust files and their checksums, sorted with one mtime', async () => {
    const { bytes } = await exportBundle();
    const members = await untar(bytes);
    const names = members.map((m) => m.name);
    assert.deepEqual(names, [...names].sort(), 'members sorted by path');
    assert.equal(names[0], 'berth-bundle.json');
    assert.ok(names.includes('oci-layout') && names.includes('index.json'));
    const byName = new Map(members.map((m) => [m.name, m.data]));
    const blob = (digest: string) => byName.get(`blobs/sha256/${digest.slice(7)}`);
    for (const m of [content.index, ...content.children, content.referrer, content.sig, content.v2]) {
      assert.deepEqual(blob(sha256(m)), m, `manifest ${sha256(m)} byte for byte`);
    }
    assert.equal(blob(content.absent), undefined, 'the absent child is not in the bundle');
    // Every config and layer of every manifest is there, and is what its digest says.
    for (const m of [...content.children, content.referrer, content.v2]) {
      const doc = JSON.parse(m.toString()) as { config: { digest: string }; layers: { digest: string }[] };
      for (const d of [doc.config, ...doc.layers]) assert.equal(sha256(blob(d.digest) as Buffer), d.digest);
    }
    assert.equal(new Set(members.map((m) => m.mtime?.getTime())).size, 1, 'one mtime');
    assert.ok(members.every((m) => m.mode === 0o644));

    const manifest = JSON.parse((byName.get('berth-bundle.json') as Buffer).toString()) as BundleManifest;
    assert.equal(manifest.format, 'berth-bundle/v1');
    assert.equal(manifest.source, hostA);
    const v1 = manifest.images.find((i) => i.tag === 'v1');
    assert.deepEqual(v1?.children, content.children.map((c) => sha256(c)).sort());
    assert.deepEqual(v1?.absentChildren, [{ digest: content.absent, mediaType: OCI_MANIFEST, platform: { os: 'linux', architecture: 's390x' } }]);
    assert.deepEqual(v1?.referrers, [{ digest: sha256(content.referrer), artifactType: 'application/spdx+json', subject: sha256(content.children[0] as Buffer) }]);
    assert.deepEqual(v1?.signatureTags, [`sha256-${content.indexDigest.slice(7)}.sig`]);
    // The checksum manifest lists every other member exactly, with its digest.
    assert.deepEqual(manifest.files.map((f) => f.path), names.slice(1));
    for (const f of manifest.files) {
      const data = byName.get(f.path) as Buffer;
      assert.equal(f.size, data.length, f.path);
      assert.equal(f.digest, `sha256:${hex(data)}`, f.path);
    }
    // index.json: the tags as repo:tag, the .sig tag, the referrer by digest.
    const index = JSON.parse((byName.get('index.json') as Buffer).toString()) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    const named = index.manifests.map((d) => [d.annotations['org.opencontainers.image.ref.name'] ?? null, d.digest]);
    assert.deepEqual(named, [
      ['rel/app:v1', content.indexDigest],
      ['rel/app:v2', sha256(content.v2)],
      [`rel/app:sha256-${content.indexDigest.slice(7)}.sig`, sha256(content.sig)],
      [null, sha256(content.referrer)],
    ]);
    assert.ok(index.manifests.every((d) => d.annotations['io.berth.repository'] === 'rel/app'));
    // The trust files: A's stored bytes, every role.
    const trust = manifest.trust[0];
    assert.equal(trust?.gun, gun);
    assert.deepEqual(trust?.files.map((f) => `${f.role}.${f.version}`), ['root.1', 'targets.2', 'snapshot.1', 'timestamp.1']);
    for (const f of trust?.files ?? []) {
      const stored = await a.berth.metadata.trust.byVersion('rel/app', f.role, f.version);
      assert.deepEqual(byName.get(f.path), stored?.data, f.path);
    }
  });

  it('exporting twice writes the same bytes', async () => {
    const one = await exportBundle();
    const two = await exportBundle();
    assert.equal(one.sha, two.sha);
    assert.ok(one.bytes.equals(two.bytes));
    assert.equal(one.sha, hex(one.bytes), 'the reported sha256 is the tar\'s');
  });

  it('imports into a Berth that shares nothing: same digests, bytes, referrers, tags and trust data; a second import stores nothing', async () => {
    const b = await startTestBerth(SPARSE);
    try {
      const file = await save('good.tar', (await exportBundle()).bytes);
      const bundle = await readBundle(file) as OpenedBundle;
      assert.ok(bundle, 'recognised as a bundle');
      let verified;
      try {
        verified = await verifyBundle(bundle, { store: b.berth.metadata.trust, hostNames: [hostA] });
        const report = await importBundle(verified, coreOf(b), { context, trustStore: b.berth.metadata.trust });
        assert.deepEqual(report.trust, [{ repository: 'rel/app', gun, stored: 4, alreadyPresent: 0 }]);
      } finally {
        await bundle.close();
      }
      for (const [ref, bytes] of [['v1', content.index], ['v2', content.v2], [sha256(content.children[1] as Buffer), content.children[1]], [`sha256-${content.indexDigest.slice(7)}.sig`, content.sig], [sha256(content.referrer), content.referrer]] as const) {
        const res = await fetch(`${b.url}/v2/rel/app/manifests/${ref}`, { headers: { Accept: `${OCI_INDEX}, ${OCI_MANIFEST}, application/vnd.docker.distribution.manifest.v2+json` } });
        assert.equal(res.status, 200, ref);
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes as Buffer), `${ref} byte for byte`);
        assert.equal(res.headers.get('docker-content-digest'), sha256(bytes as Buffer));
      }
      const referrers = (await (await fetch(`${b.url}/v2/rel/app/referrers/${sha256(content.children[0] as Buffer)}`)).json()) as { manifests: { digest: string }[] };
      assert.deepEqual(referrers.manifests.map((m) => m.digest), [sha256(content.referrer)]);
      // The same trust files, so the same signed tags and signers, served under B's name for the GUN's repository.
      const current = async (t: TestBerth) => signedTargets(await t.berth.metadata.trust.current('rel/app'), new Date());
      assert.deepEqual(await current(b), await current(a));
      assert.equal((await current(b)).length, 2);
      const gunB = `${new URL(b.url).host}/rel/app`;
      for (const file of ['root.json', 'timestamp.json', 'targets.json']) {
        const fromA = Buffer.from(await (await fetch(`${a.url}/v2/${gun}/_trust/tuf/${file}`)).arrayBuffer());
        const fromB = Buffer.from(await (await fetch(`${b.url}/v2/${gunB}/_trust/tuf/${file}`)).arrayBuffer());
        assert.ok(fromA.equals(fromB), file);
      }
      // Again: nothing stored twice.
      const again = await readBundle(file) as OpenedBundle;
      try {
        const report = await importBundle(await verifyBundle(again, { store: b.berth.metadata.trust, hostNames: [hostA] }), coreOf(b), { context, trustStore: b.berth.metadata.trust });
        assert.deepEqual(report.trust, [{ repository: 'rel/app', gun, stored: 0, alreadyPresent: 4 }]);
        assert.equal(report.images.manifests.stored, 0);
        assert.equal(report.images.blobs.stored, 0);
      } finally {
        await again.close();
      }
    } finally {
      await b.close();
    }
  });

  describe('refusals: the target registry is left without anything', () => {
    let c: TestBerth;
    let good: Member[];
    before(async () => {
      c = await startTestBerth(SPARSE);
      good = await untar((await exportBundle()).bytes);
    });
    after(async () => {
      await c?.close();
    });

    const nothingImported = async () => {
      const catalog = (await (await fetch(`${c.url}/v2/_catalog`)).json()) as { repositories: string[] };
      assert.deepEqual(catalog.repositories, [], 'no repository');
      assert.equal((await c.berth.metadata.trust.current('rel/app')).size, 0, 'no trust file');
    };
    /** Imports `members` as a tar into C; returns the error it was refused with. */
    const attempt = async (name: string, members: Member[], hostNames: string[] = [hostA]): Promise<RegistryError> => {
      const file = await save(`${name}.tar`, await retar(members));
      let bundle: OpenedBundle | null = null;
      try {
        bundle = await readBundle(file);
        assert.ok(bundle);
        const verified = await verifyBundle(bundle, { store: c.berth.metadata.trust, hostNames });
        await importBundle(verified, coreOf(c), { context, trustStore: c.berth.metadata.trust });
      } catch (err) {
        assert.ok(err instanceof RegistryError, `${name}: ${String(err)}`);
        return err;
      } finally {
        await bundle?.close();
      }
      assert.fail(`${name}: the bundle was accepted`);
    };
    const flip = (data: Buffer, at = Math.floor(data.length / 2)) => {
      const copy = Buffer.from(data);
      copy[at] = (copy[at] as number) ^ 0x01;
      return copy;
    };
    const layerOf = () => `blobs/sha256/${(JSON.parse(content.v2.toString()) as { layers: { digest: string }[] }).layers[0]?.digest.slice(7)}`;
    const edit = (name: string, fn: (d: Buffer) => Buffer) => good.map((m) => (m.name === name ? { ...m, data: fn(m.data) } : m));
    /** Rewrites berth-bundle.json's checksums for the edited members, as an attacker who can edit it would. */
    const reseal = (members: Member[]) => {
      const manifest = JSON.parse((members.find((m) => m.name === 'berth-bundle.json') as Member).data.toString()) as BundleManifest;
      for (const f of manifest.files) {
        const data = (members.find((m) => m.name === f.path) as Member).data;
        f.size = data.length;
        if (!f.path.startsWith('blobs/')) f.digest = `sha256:${hex(data)}`;
        for (const t of manifest.trust) for (const tf of t.files) if (tf.path === f.path) tf.sha256 = hex(data);
      }
      return members.map((m) => (m.name === 'berth-bundle.json' ? { ...m, data: bundleJson(manifest) } : m));
    };

    it('a byte flipped in a layer blob, a manifest, trust metadata or the checksum file; a member added or removed: BERTH_IMPORT_INVALID', async () => {
      const layer = `blobs/sha256/${(JSON.parse(content.v2.toString()) as { layers: { digest: string }[] }).layers[0]?.digest.slice(7)}`;
      const manifest = `blobs/sha256/${content.indexDigest.slice(7)}`;
      const trustFile = good.find((m) => m.name.startsWith('trust/') && m.name.endsWith('/targets.2.json'))?.name as string;
      const cases: [string, Member[], RegExp][] = [
        ['layer', edit(layer, flip), /its sha256 is/],
        ['manifest', edit(manifest, flip), /its sha256 is/],
        ['trust', edit(trustFile, flip), /its sha256 is/],
        ['checksums', edit('berth-bundle.json', (d) => Buffer.from(d.toString().replace(/"size": (\d+)/, (_m, n: string) => `"size": ${Number(n) + 1}`))), /does not match its own checksum/],
        ['checksums-json', edit('berth-bundle.json', (d) => flip(d, 0)), /not valid JSON/],
        ['checksums-resealed-size', reseal(edit(layerOf(), (d) => Buffer.concat([d, Buffer.from('x')]))), /its sha256 is .* as berth-bundle.json lists/],
        ['added', [...good, { name: 'blobs/sha256/extra', data: Buffer.from('extra'), mtime: undefined, mode: undefined }], /does not list was added/],
        ['removed', good.filter((m) => m.name !== layer), /missing from the tar/],
      ];
      for (const [name, members, message] of cases) {
        const err = await attempt(name, members);
        assert.equal(err.code, 'BERTH_IMPORT_INVALID', name);
        assert.equal(err.status, 400);
        assert.match(err.message, message, name);
        assert.match(err.message, /nothing was imported/);
        await nothingImported();
      }
    });

    it('trust metadata changed and the checksums rewritten: its signature fails; re-signed targets for another digest: refused', async () => {
      const trustFile = good.find((m) => m.name.endsWith('/targets.2.json'))?.name as string;
      const tampered = reseal(edit(trustFile, (d) => Buffer.from(d.toString().replace('"v2":', '"v9":'))));
      let err = await attempt('trust-resealed', tampered);
      assert.equal(err.code, 'BERTH_IMPORT_INVALID');
      assert.match(err.message, /trust data does not verify/);
      await nothingImported();
      // A layer changed with its checksums rewritten: a blob's name is its digest, which cannot be rewritten.
      const layer = `blobs/sha256/${(JSON.parse(content.v2.toString()) as { layers: { digest: string }[] }).layers[0]?.digest.slice(7)}`;
      err = await attempt('layer-resealed', reseal(edit(layer, flip)));
      assert.equal(err.code, 'BERTH_IMPORT_INVALID');
      assert.match(err.message, /its sha256 is .* as berth-bundle.json lists/);
      await nothingImported();
      // Targets validly signed (the test holds the key) for v1 = v2's digest: the bundle's v1 is not what its trust data signs.
      const resigned = repo.targets(2, { targets: { v1: dockerTarget(content.v2), v2: dockerTarget(content.v2) } });
      const withResigned = reseal(edit(trustFile, () => resigned));
      // The snapshot no longer covers the new targets: refused before the tag check.
      err = await attempt('targets-resigned', withResigned);
      assert.match(err.message, /trust data does not verify/);
      await nothingImported();
      // The trust data intact, but index.json and berth-bundle.json (resealed) point v2 at v1's index: not what the trust data signs.
      const moved = good.map((m) => {
        if (m.name === 'index.json') return { ...m, data: Buffer.from(m.data.toString().replace(`"digest": "${sha256(content.v2)}"`, `"digest": "${content.indexDigest}"`)) };
        if (m.name === 'berth-bundle.json') {
          const doc = JSON.parse(m.data.toString()) as BundleManifest;
          for (const i of doc.images) if (i.tag === 'v2') Object.assign(i, { digest: content.indexDigest, size: content.index.length });
          return { ...m, data: Buffer.from(JSON.stringify(doc)) };
        }
        return m;
      });
      err = await attempt('tag-moved', reseal(moved));
      assert.equal(err.code, 'BERTH_IMPORT_INVALID');
      assert.match(err.message, new RegExp(`rel/app:v2 points at ${content.indexDigest}, but its trust data signs ${sha256(content.v2)}`));
      await nothingImported();
    });

    it('a registry under another name than the GUN\'s: BERTH_CONFLICT naming the fix; with no configured name: imported with a warning', async () => {
      const err = await attempt('other-name', good, ['registry.example.com:5000']);
      assert.equal(err.code, 'BERTH_CONFLICT');
      assert.equal(err.status, 409);
      assert.match(err.message, new RegExp(`docker verifies it only on a registry reached as ${hostA.replace(/\./g, '\\.')}`));
      assert.match(err.message, /http\.aliases.*--skip-trust/);
      await nothingImported();
      const bundle = await readBundle(await save('unnamed.tar', await retar(good))) as OpenedBundle;
      try {
        const verified = await verifyBundle(bundle, { store: c.berth.metadata.trust, hostNames: [] });
        assert.ok(verified.warnings.some((w) => w.includes('cannot tell whether clients reach it as')));
      } finally {
        await bundle.close();
      }
      await nothingImported();
    });

    it('trust data the registry already holds that differs: BERTH_CONFLICT, nothing imported', async () => {
      const other = new TestRepo(gun);
      const key = async (role: string) => (await (await fetch(`${c.url}/v2/${new URL(c.url).host}/rel/app/_trust/tuf/${role}.key`)).json()) as TufKey;
      const ts = await key('timestamp');
      const sn = await key('snapshot');
      const signed = other.rootSigned(1, { extraKeys: [ts, sn] });
      (signed.roles as Record<string, unknown>).timestamp = { keyids: [keyId(ts)], threshold: 1 };
      (signed.roles as Record<string, unknown>).snapshot = { keyids: [keyId(sn)], threshold: 1 };
      // Stored directly: C's own GUN differs from A's, and the store keys by repository.
      await c.berth.metadata.trust.publish('rel/app', [{ role: 'root', version: 1, sha256: hex(signDoc(signed, other.rootKeys)), data: signDoc(signed, other.rootKeys) }], { gun, version: 0, sha256: '', time: Date.now() });
      try {
        const err = await attempt('conflict', good);
        assert.equal(err.code, 'BERTH_CONFLICT');
        assert.match(err.message, /holds other trust data for rel\/app \(root version 1 differs\)/);
        const catalog = (await (await fetch(`${c.url}/v2/_catalog`)).json()) as { repositories: string[] };
        assert.deepEqual(catalog.repositories, []);
      } finally {
        await c.berth.metadata.trust.deleteRepository('rel/app', { gun, time: Date.now() });
      }
    });
  });

  it('a tag whose trust data signs another digest is refused at export (BERTH_CONFLICT), naming the fix', async () => {
    await pushImage(a.url, 'rel/app', 'v2');
    const err = await exportBundle().then(() => null, (e: unknown) => e);
    assert.ok(err instanceof RegistryError);
    assert.equal(err.code, 'BERTH_CONFLICT');
    assert.match(err.message, /rel\/app:v2 points at .* but its Docker Content Trust data signs .*docker trust sign/);
    // Re-pointing the tag at the signed manifest makes it exportable again.
    const res = await fetch(`${a.url}/v2/rel/app/manifests/v2`, { method: 'PUT', body: new Uint8Array(content.v2), headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(res.status, 201);
    await exportBundle();
  });

  it('refuses an unknown reference before writing anything', async () => {
    const err = await planExport({ refs: [{ repository: 'rel/app', tag: 'nope', digest: null }], source: a.berth.registry, trust: null, sourceName: null }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof RegistryError);
    assert.equal(err.code, 'MANIFEST_UNKNOWN');
    // (a read of the staged file is never reached: nothing to clean up)
    assert.ok(await readFile(path.join(work, 'good.tar')).then(() => true, () => true));
  });
});
