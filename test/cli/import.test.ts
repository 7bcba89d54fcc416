import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { BERTH_CLI, startRegistry, type RunningRegistry } from '../e2e/registry-process.js';
import { runBerth } from '../helpers/cli.js';
import {
  dockerSave, dockerSaveMembers, headerOffset, makeImage, makeTar, ociLayoutMembers, ociManifest, sha256, withDeclaredSize, writeMembers,
  type FakeImage, type TarMember,
} from './import-archives.js';

/**
 * `berth import` (issue 13 item 1, and item 5's refusals) against a Berth
 * process serving the same data folder: the import runs beside the server,
 * and what it stored is read back over HTTP. Every refused file must leave
 * the tags, the catalogue and the stored objects exactly as they were.
 */

const berth = runBerth;

interface ImportSummary {
  images: number;
  tags: string[];
  blobs: { stored: number; skipped: number; bytesStored: number; bytesSkipped: number };
  manifests: { stored: number; skipped: number };
  files: { format: string; images: { repository: string; tags: string[]; digest: string; id: string | null; status: string }[] }[];
}

/** The first item, which must be there. */
function one<T>(items: readonly T[]): T {
  const item = items[0];
  assert.ok(item !== undefined, 'expected an item');
  return item;
}

/** The one image of a one-file import. */
function only(summary: ImportSummary): ImportSummary['files'][number]['images'][number] {
  return one(one(summary.files).images);
}

describe('berth import', () => {
  let reg: RunningRegistry;
  let work: string;
  let staging: string;

  before(async () => {
    reg = await startRegistry();
    work = await mkdtemp(path.join(tmpdir(), 'berth-import-test-'));
    staging = path.join(work, 'staging');
    await mkdir(staging);
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const importFile = (files: string[], ...flags: string[]) => berth(['import', ...files, '--data-dir', reg.dataDir, '--tmp-dir', staging, ...flags]);

  async function importOk(files: string[], ...flags: string[]): Promise<ImportSummary> {
    const r = await importFile(files, '--json', ...flags);
    assert.equal(r.status, 0, `berth import failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout) as ImportSummary;
  }

  let fileNo = 0;
  async function save(bytes: Buffer, ext = 'tar'): Promise<string> {
    const file = path.join(work, `input-${++fileNo}.${ext}`);
    await writeFile(file, bytes);
    return file;
  }

  /** Every stored object (blob data) of the data folder, by path. */
  async function objects(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (!e.name.startsWith('berth.db')) out.push(path.relative(reg.dataDir, p));
      }
    };
    await walk(reg.dataDir);
    return out.sort();
  }

  async function tags(repo: string): Promise<string[]> {
    const res = await fetch(`${reg.url}/v2/${repo}/tags/list`);
    if (res.status === 404) return [];
    assert.equal(res.status, 200);
    return ((await res.json()) as { tags: string[] | null }).tags?.sort() ?? [];
  }

  async function catalog(): Promise<string[]> {
    const res = await fetch(`${reg.url}/v2/_catalog`);
    assert.equal(res.status, 200);
    return ((await res.json()) as { repositories: string[] }).repositories;
  }

  /** The image as a client pulls it: the manifest by tag, then the config and every layer, each checked. */
  async function pull(repo: string, tag: string, image: FakeImage, layerBytes?: Buffer[]): Promise<string> {
    const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(res.status, 200, `GET ${repo}:${tag}`);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(res.headers.get('docker-content-digest'), sha256(body));
    const manifest = JSON.parse(body.toString('utf8')) as { config: { digest: string }; layers: { digest: string; size: number }[] };
    assert.equal(manifest.config.digest, image.id, 'the image ID (config digest) is the one docker save wrote');
    const config = Buffer.from(await (await fetch(`${reg.url}/v2/${repo}/blobs/${image.id}`)).arrayBuffer());
    assert.deepEqual(config, image.config, 'the config bytes are the same, byte for byte');
    const expected = layerBytes ?? image.layers;
    assert.equal(manifest.layers.length, expected.length);
    for (const [i, layer] of manifest.layers.entries()) {
      const blob = await fetch(`${reg.url}/v2/${repo}/blobs/${layer.digest}`);
      assert.equal(blob.status, 200);
      const bytes = Buffer.from(await blob.arrayBuffer());
      assert.equal(sha256(bytes), layer.digest);
      assert.deepEqual(bytes, expected[i]);
    }
    return sha256(body);
  }

  it('imports a docker save tarball of one image under its RepoTags, with the image ID unchanged, and pulls it back', async () => {
    const image = await makeImage(['single/app:1.0', 'single/app:latest']);
    const summary = await importOk([await save(await dockerSave([image]))]);
    assert.equal(summary.images, 1);
    assert.deepEqual(summary.tags.sort(), ['single/app:1.0', 'single/app:latest']);
    assert.equal(summary.blobs.stored, 3);
    assert.equal(summary.blobs.skipped, 0);
    assert.equal(summary.blobs.bytesStored, image.config.length + image.layers.reduce((n, l) => n + l.length, 0));
    assert.equal(summary.manifests.stored, 1);
    assert.equal(one(summary.files).format, 'docker-archive');
    assert.equal(only(summary).id, image.id);
    assert.deepEqual(await tags('single/app'), ['1.0', 'latest']);
    const digest = await pull('single/app', '1.0', image);
    assert.equal(digest, only(summary).digest);
    // The core's listeners ran in the import: the server (whose index was reconciled at its start) finds the new repository.
    const search = await fetch(`${reg.url}/api/v1/search?q=single`);
    assert.equal(search.status, 200);
    assert.deepEqual(((await search.json()) as { results: { name: string }[] }).results.map((r) => r.name), ['single/app']);
  });

  it('follows docker save\'s own links between members (<id>/layer.tar -> ../<other>/layer.tar) without creating any', async () => {
    const image = await makeImage(['linked/app:1']);
    const members = dockerSaveMembers([image]);
    const layers = members.filter((m) => m.name.endsWith('/layer.tar'));
    const [first, second] = [one(layers), one(layers.slice(1))];
    // The second layer's bytes moved to a folder of their own, and its usual path made a link to them, as docker 25+ writes it.
    const linked = members.flatMap((m) => (m === second ? [{ name: 'blobs/sha256/x/layer.tar', data: m.data }, { name: m.name, type: 'symlink' as const, linkname: `../blobs/sha256/x/layer.tar` }] : [m]));
    assert.ok(first);
    const summary = await importOk([await save(await makeTar(linked))]);
    assert.equal(summary.blobs.stored, 3);
    await pull('linked/app', '1', image);
  });

  it('imports a docker save tarball of several images, each to its own tag; --to REPO keeps the tags; --to REPO:TAG is refused as ambiguous', async () => {
    const a = await makeImage(['multi/a:1']);
    const b = await makeImage(['multi/b:2', 'multi/b:stable']);
    const file = await save(await dockerSave([a, b]));
    const summary = await importOk([file]);
    assert.equal(summary.images, 2);
    assert.deepEqual(summary.tags.sort(), ['multi/a:1', 'multi/b:2', 'multi/b:stable']);
    assert.deepEqual(await tags('multi/a'), ['1']);
    assert.deepEqual(await tags('multi/b'), ['2', 'stable']);
    await pull('multi/a', '1', a);
    await pull('multi/b', 'stable', b);

    const moved = await importOk([file], '--to', 'multi/all');
    assert.deepEqual(moved.tags.sort(), ['multi/all:1', 'multi/all:2', 'multi/all:stable']);
    await pull('multi/all', '2', b);

    const before = await objects();
    const r = await importFile([file], '--to', 'multi/one:x');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /holds 2 images/);
    assert.match(r.stderr, /--to multi\/one to keep each image's tag/);
    assert.deepEqual(await tags('multi/one'), []);
    assert.deepEqual(await objects(), before);

    // Two images that would take the same tag: which one is meant?
    const c = await makeImage(['clash/x:1']);
    const d = await makeImage(['clash/y:1']);
    const clash = await importFile([await save(await dockerSave([c, d]))], '--to', 'clash/z');
    assert.equal(clash.status, 2);
    assert.match(clash.stderr, /two images would be clash\/z:1/);
    assert.deepEqual(await tags('clash/z'), []);
  });

  it('imports an OCI image layout as a folder (--to) and as a gzip-compressed tar (names from ref.name)', async () => {
    const image = await makeImage([]);
    const dir = path.join(work, 'layout');
    await writeMembers(dir, ociLayoutMembers([{ image, refName: 'v1' }]));
    const fromDir = await importOk([dir], '--to', 'oci/dir');
    assert.equal(one(fromDir.files).format, 'oci-layout');
    assert.deepEqual(fromDir.tags, ['oci/dir:v1'], 'the ref.name tag, under --to REPO');
    const gz = ociManifest(image).blobs.slice(1);
    const digest = await pull('oci/dir', 'v1', image, gz);
    assert.equal(digest, ociManifest(image).digest, 'the manifest digest survives: its bytes are imported as they are');

    const other = await makeImage([]);
    const tarFile = await save(gzipSync(await makeTar(ociLayoutMembers([{ image: other, refName: 'oci/tar:v2' }]))), 'tar.gz');
    const fromTar = await importOk([tarFile]);
    assert.deepEqual(fromTar.tags, ['oci/tar:v2']);
    await pull('oci/tar', 'v2', other, ociManifest(other).blobs.slice(1));

    // A tag-only ref.name and no --to: no repository to put it in.
    const nameless = await importFile([await save(await makeTar(ociLayoutMembers([{ image: other, refName: 'v3' }])))]);
    assert.equal(nameless.status, 2);
    assert.match(nameless.stderr, /carries no repository name; give one with --to REPO\[:TAG\]/);
  });

  it('--expect-id: the matching ID imports; another ID refuses the file with nothing stored', async () => {
    const image = await makeImage(['expect/app:1']);
    const file = await save(await dockerSave([image]));
    const before = await objects();
    const wrong = `sha256:${createHash('sha256').update('another image').digest('hex')}`;
    const r = await importFile([file], '--expect-id', wrong);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`has the ID ${image.id}, not the expected ${wrong}`));
    assert.deepEqual(await tags('expect/app'), []);
    assert.deepEqual(await objects(), before);
    const bad = await importFile([file], '--expect-id', 'fc254100c107');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--expect-id fc254100c107: expected the full image ID/);

    const ok = await importOk([file], '--expect-id', image.id);
    assert.equal(only(ok).id, image.id);
    assert.deepEqual(await tags('expect/app'), ['1']);
  });

  it('is idempotent: a second import stores no blob and no manifest, and the stored objects are the same', async () => {
    const image = await makeImage(['again/app:1']);
    const file = await save(await dockerSave([image]));
    const first = await importOk([file]);
    assert.equal(first.blobs.stored, 3);
    const objectsAfterFirst = await objects();
    const second = await importOk([file]);
    assert.equal(second.blobs.stored, 0);
    assert.equal(second.blobs.skipped, 3);
    assert.equal(second.manifests.stored, 0);
    assert.equal(only(second).status, 'already present');
    assert.equal(only(second).digest, only(first).digest, 'the built manifest is the same bytes');
    assert.deepEqual(await objects(), objectsAfterFirst);
    const text = await importFile([file]);
    assert.equal(text.status, 0);
    assert.match(text.stdout, /already present\tagain\/app:1/);
  });

  describe('refuses a whole file, with nothing imported', () => {
    /** A docker save tarball whose members are changed by `edit`, refused with exit 2 and a message matching `why`. */
    async function refused(bytes: Buffer, repo: string, why: RegExp): Promise<string> {
      const catalogBefore = await catalog();
      const objectsBefore = await objects();
      const r = await importFile([await save(bytes)]);
      assert.equal(r.status, 2, `exit ${r.status}: ${r.stderr}`);
      assert.match(r.stderr, why);
      assert.match(r.stderr, /nothing was imported/);
      assert.deepEqual(await tags(repo), []);
      assert.deepEqual(await catalog(), catalogBefore);
      assert.deepEqual(await objects(), objectsBefore);
      assert.deepEqual(await readdir(staging), [], 'the staging folder is removed');
      return r.stderr;
    }

    async function saveWith(repo: string, edit: (members: TarMember[], image: FakeImage) => TarMember[]): Promise<Buffer> {
      const image = await makeImage([`${repo}:1`]);
      return makeTar(edit(dockerSaveMembers([image]), image));
    }

    it('a blob whose bytes do not match its digest (OCI layout; docker save config)', async () => {
      const image = await makeImage([]);
      const members = ociLayoutMembers([{ image, refName: 'bad/digest:1' }]);
      const layer = one(ociManifest(image).blobs.slice(1));
      const name = `blobs/sha256/${sha256(layer).slice(7)}`;
      const changed = Buffer.from(layer);
      changed.writeUInt8(changed.readUInt8(changed.length - 1) ^ 0xff, changed.length - 1);
      const edited = members.map((m) => (m.name === name ? { ...m, data: changed } : m));
      await refused(await makeTar(edited), 'bad/digest', new RegExp(`${name}: its bytes do not match its digest`));

      const tampered = await saveWith('bad/config', (ms, img) => ms.map((m) => (m.name === `${img.id.slice(7)}.json` ? { ...m, data: Buffer.from(img.config.toString('utf8').replace('amd64', 'arm64')) } : m)));
      await refused(tampered, 'bad/config', /\.json: its bytes do not match the digest its name gives/);
    });

    it('a member with ../ in its path', async () => {
      const bytes = await saveWith('bad/traversal', (ms) => [...ms, { name: '../../escaped.txt', data: 'outside' }]);
      await refused(bytes, 'bad/traversal', /\.\.\/\.\.\/escaped\.txt: refused: a path that leaves the archive/);
    });

    it('a member with an absolute path', async () => {
      const bytes = await saveWith('bad/absolute', (ms) => [{ name: '/tmp/berth-import-absolute.txt', data: 'outside' }, ...ms]);
      await refused(bytes, 'bad/absolute', /\/tmp\/berth-import-absolute\.txt: refused: an absolute path/);
    });

    it('a symbolic link to an absolute path, out of the archive, to nothing, or in a loop', async () => {
      const absolute = await saveWith('bad/symlink', (ms) => [...ms, { name: 'link', type: 'symlink', linkname: '/etc/passwd' }]);
      await refused(absolute, 'bad/symlink', /link: refused: a symbolic link to an absolute path \(\/etc\/passwd\)/);
      const leaving = await saveWith('bad/symlink', (ms) => [...ms, { name: 'a/link', type: 'symlink', linkname: '../../etc/passwd' }]);
      await refused(leaving, 'bad/symlink', /a\/link: refused: a symbolic link that leaves the archive \(to \.\.\/\.\.\/etc\/passwd\)/);
      const dangling = await saveWith('bad/symlink', (ms) => [...ms, { name: 'a/link', type: 'symlink', linkname: '../nothing.json' }]);
      await refused(dangling, 'bad/symlink', /a\/link: refused: a symbolic link to nothing\.json, which the archive does not hold as a regular file/);
      const loop = await saveWith('bad/symlink', (ms) => [...ms, { name: 'x', type: 'symlink', linkname: 'y' }, { name: 'y', type: 'symlink', linkname: 'x' }]);
      await refused(loop, 'bad/symlink', /refused: a loop of symbolic links/);
      // A layer that is a link to a member outside the archive's files is never followed on disk either.
      const layerLink = await saveWith('bad/symlink', (ms) => ms.map((m) => (m.name.endsWith('/layer.tar') ? { name: m.name, type: 'symlink' as const, linkname: '../../../../etc/hostname' } : m)));
      await refused(layerLink, 'bad/symlink', /layer\.tar: refused: a symbolic link that leaves the archive/);
    });

    it('a hard link', async () => {
      const bytes = await saveWith('bad/hardlink', (ms) => [...ms, { name: 'hard', type: 'link', linkname: 'manifest.json' }]);
      await refused(bytes, 'bad/hardlink', /hard: refused: a hard link \(to manifest\.json\)/);
    });

    it('a huge declared size (beyond the file; beyond the limit inside a gzip)', async () => {
      const image = await makeImage(['bad/huge:1']);
      const plain = await dockerSave([image]);
      const layerName = one(dockerSaveMembers([image]).filter((m) => m.name.endsWith('/layer.tar'))).name;
      const huge = withDeclaredSize(plain, layerName, 0o77777777777);
      await refused(huge, 'bad/huge', new RegExp(`${layerName}: refused: it declares 8589934591 bytes, more than the whole file holds`));
      // Compressed, the file's size says nothing: the declared size still cannot run past the end.
      await refused(gzipSync(huge), 'bad/huge', /truncated archive/);
    });

    it('a truncated archive (inside a member, at a member\'s end, a cut gzip)', async () => {
      const image = await makeImage(['bad/truncated:1'], 2, 4096);
      const plain = await dockerSave([image]);
      // The second layer, so that what it declares is less than the file's size.
      const layerName = one(dockerSaveMembers([image]).filter((m) => m.name.endsWith('/layer.tar')).slice(1)).name;
      const inside = plain.subarray(0, headerOffset(plain, layerName) + 512 + 1000);
      await refused(inside, 'bad/truncated', /layer\.tar: truncated archive: it declares 10240 bytes, but the file ends 1000 bytes into them/);
      // Cut right after a member: every header is whole, but the two zero blocks that end a tar are missing.
      const members = dockerSaveMembers([image]);
      const whole = await makeTar(members);
      const last = one(members.slice(-1));
      const atEnd = whole.subarray(0, headerOffset(whole, last.name) + 512 + Math.ceil(Buffer.byteLength(last.data as string) / 512) * 512);
      await refused(atEnd, 'bad/truncated', /truncated archive: it ends without the two zero blocks/);
      const gz = gzipSync(plain);
      await refused(gz.subarray(0, Math.floor(gz.length / 2)), 'bad/truncated', /truncated archive/);
    });

    it('a file that is neither format, and a manifest.json naming a missing layer', async () => {
      await refused(await makeTar([{ name: 'hello.txt', data: 'hi' }]), 'bad/none', /neither an OCI image layout \(no index.json\) nor a docker save tarball/);
      const bytes = await saveWith('bad/missing', (ms) => ms.filter((m) => !m.name.endsWith('/layer.tar')));
      await refused(bytes, 'bad/missing', /layer\.tar: missing/);
    });
  });

  it('an immutable tag refuses an import of other content under it through the core (exit 4); the same content again is fine', async () => {
    const rule = await berth(['immutable', 'add', 'repository:immut/app', '--tags', 'v*', '--data-dir', reg.dataDir]);
    assert.equal(rule.status, 0, rule.stderr);
    const a = await makeImage([]);
    const b = await makeImage([]);
    const first = await importOk([await save(await dockerSave([a]))], '--to', 'immut/app:v1');
    const r = await importFile([await save(await dockerSave([b]))], '--to', 'immut/app:v1');
    assert.equal(r.status, 4, r.stderr);
    assert.match(r.stderr, /tag immut\/app:v1 is immutable/);
    await pull('immut/app', 'v1', a);
    assert.equal(only(first).digest, (await importOk([await save(await dockerSave([a]))], '--to', 'immut/app:v1')).files[0]?.images[0]?.digest);
  });

  it('a namespace quota smaller than the image refuses the import through the core (exit 3), with no tag and no object', async () => {
    const set = await berth(['quota', 'set', 'quota', '100', '--data-dir', reg.dataDir]);
    assert.equal(set.status, 0, set.stderr);
    const image = await makeImage(['quota/app:1']);
    const before = await objects();
    const r = await importFile([await save(await dockerSave([image]))]);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /would take namespace quota over its quota/);
    assert.deepEqual(await tags('quota/app'), []);
    assert.deepEqual(await objects(), before);
  });
});
