import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestBerth, sha256, pushBlob, type TestBerth } from '../helpers/berth.js';
import { createScratchDatabase, postgresSkipReason, type ScratchDatabase } from '../helpers/postgres.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** A small image manifest whose config blob is already pushed (through `url`). */
async function prepare(url: string, repo: string, seed: string): Promise<{ body: string; digest: string }> {
  const configBlob = JSON.stringify({ architecture: 'amd64', os: 'linux', seed });
  const config = await pushBlob(url, repo, configBlob);
  const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: Buffer.byteLength(configBlob) }, layers: [] });
  return { body, digest: sha256(body) };
}

function putTag(url: string, repo: string, tag: string, body: string): Promise<Response> {
  return fetch(`${url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body, headers: { 'Content-Type': OCI_MANIFEST } });
}

/** Every view of the tag agrees, and it names one of the two pushes. */
async function assertOneResult(urls: string[], repo: string, tag: string, candidates: string[]): Promise<void> {
  const seen = new Set<string>();
  for (const url of urls) {
    const get = await fetch(`${url}/v2/${repo}/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(get.status, 200);
    const digest = get.headers.get('docker-content-digest') ?? '';
    assert.equal(sha256(Buffer.from(await get.arrayBuffer())), digest, 'the bytes served are the manifest the tag names');
    const head = await fetch(`${url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
    assert.equal(head.headers.get('docker-content-digest'), digest);
    assert.deepEqual(await (await fetch(`${url}/v2/${repo}/tags/list`)).json(), { name: repo, tags: [tag] });
    for (const d of candidates) assert.equal((await fetch(`${url}/v2/${repo}/manifests/${d}`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } })).status, 200, 'both manifests are stored');
    seen.add(digest);
  }
  assert.equal(seen.size, 1, 'every instance serves the same manifest for the tag');
  assert.ok(candidates.includes([...seen][0] as string));
}

describe('concurrent pushes', () => {
  let t: TestBerth;
  before(async () => {
    t = await startTestBerth();
  });
  after(async () => {
    await t.close();
  });

  it('two pushes of the same tag at once give one consistent result', async () => {
    for (let round = 0; round < 5; round++) {
      const repo = `race/r${round}`;
      const [a, b] = await Promise.all([prepare(t.url, repo, 'a'), prepare(t.url, repo, 'b')]);
      const [ra, rb] = await Promise.all([putTag(t.url, repo, 'latest', a.body), putTag(t.url, repo, 'latest', b.body)]);
      assert.equal(ra.status, 201);
      assert.equal(rb.status, 201);
      assert.equal(ra.headers.get('docker-content-digest'), a.digest);
      assert.equal(rb.headers.get('docker-content-digest'), b.digest);
      await assertOneResult([t.url], repo, 'latest', [a.digest, b.digest]);
    }
  });
});

/** Scale-out: two Berth instances on one PostgreSQL database and one blob folder. */
describe('two instances sharing one PostgreSQL database', { skip: postgresSkipReason() }, () => {
  let db: ScratchDatabase;
  let blobs: string;
  let one: TestBerth;
  let two: TestBerth;
  before(async () => {
    db = await createScratchDatabase();
    blobs = await mkdtemp(path.join(tmpdir(), 'berth-shared-'));
    // Started together on an empty database: they also race to migrate it.
    const env = { BERTH_DATABASE_URL: db.url, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: blobs };
    [one, two] = await Promise.all([startTestBerth(env), startTestBerth(env)]);
  });
  after(async () => {
    await one?.close();
    await two?.close();
    await db?.drop();
    await rm(blobs, { recursive: true, force: true });
  });

  it('agree on a tag both push at once', async () => {
    for (let round = 0; round < 5; round++) {
      const repo = `shared/r${round}`;
      const [a, b] = await Promise.all([prepare(one.url, repo, 'a'), prepare(two.url, repo, 'b')]);
      const [ra, rb] = await Promise.all([putTag(one.url, repo, 'latest', a.body), putTag(two.url, repo, 'latest', b.body)]);
      assert.equal(ra.status, 201);
      assert.equal(rb.status, 201);
      await assertOneResult([one.url, two.url], repo, 'latest', [a.digest, b.digest]);
    }
  });

  it('never serve a stale cached tag list after the other instance changes a tag', async () => {
    const repo = 'shared/cache';
    const tags = async (url: string) => ((await (await fetch(`${url}/v2/${repo}/tags/list`)).json()) as { tags: string[] }).tags;
    const img = await prepare(one.url, repo, 'c');
    assert.equal((await putTag(one.url, repo, 'v1', img.body)).status, 201);
    assert.deepEqual(await tags(two.url), ['v1']); // instance two caches the list
    assert.deepEqual(await tags(two.url), ['v1']);
    assert.equal((await putTag(one.url, repo, 'v2', img.body)).status, 201);
    assert.deepEqual(await tags(two.url), ['v1', 'v2'], 'a tag added through one instance');
    assert.equal((await fetch(`${one.url}/v2/${repo}/manifests/v1`, { method: 'DELETE' })).status, 202);
    assert.deepEqual(await tags(two.url), ['v2'], 'a tag deleted through one instance');
    assert.equal((await fetch(`${two.url}/v2/${repo}/manifests/v1`)).status, 404, 'tag resolution is never cached');
  });
});
