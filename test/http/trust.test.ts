import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { generateEcdsaKey, keyId, parseMetadata, verifySignatures, signingRole, decodeEnvelope, type TufKey } from '../../src/trust/tuf/index.js';
import { TestRepo, dockerTarget, makeRootKey, signDoc, inYears } from '../../src/trust/tuf/testkit.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';

/**
 * Berth's Notary v1 API, spoken as the docker and notary clients speak it
 * (shared notes: docker-content-trust-trace.md), with repositories built and
 * signed here: publish, reads by role/version/checksum, server keys, error
 * bodies byte for byte, delete, changefeed, and a race between publishers.
 */

const BOUNDARY = '7d8f2a2e6c30c75684bb6d3f0d67b9d11e2c2e4bd0786e6a9852496ca67c';

function multipart(parts: [string | null, Uint8Array | string][]): Buffer {
  const chunks: Buffer[] = [];
  for (const [filename, data] of parts) {
    const fn = filename === null ? '' : `; filename="${filename}"`;
    chunks.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"${fn}\r\nContent-Type: application/octet-stream\r\n\r\n`), Buffer.from(data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('Docker Content Trust: the Notary API on Berth', () => {
  let t: TestBerth;
  let host: string;
  before(async () => {
    t = await startTestBerth();
    host = new URL(t.url).host;
  });
  after(async () => {
    await t?.close();
  });

  const tuf = (gun: string, file: string) => `${t.url}/v2/${gun}/_trust/tuf/${file}`;
  const publish = (gun: string, parts: [string | null, Uint8Array | string][]) =>
    fetch(tuf(gun, ''), { method: 'POST', body: new Uint8Array(multipart(parts)), headers: { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` } });
  const serverKey = async (gun: string, role: 'timestamp' | 'snapshot'): Promise<TufKey> => {
    const res = await fetch(tuf(gun, `${role}.key`));
    assert.equal(res.status, 200);
    return (await res.json()) as TufKey;
  };

  /** A repository whose root lists the server's timestamp and snapshot keys, as docker trust makes it. */
  async function initialised(repo: TestRepo, gun: string): Promise<{ root: Buffer; targets: Buffer; ts: TufKey; sn: TufKey }> {
    const ts = await serverKey(gun, 'timestamp');
    const sn = await serverKey(gun, 'snapshot');
    const signed = repo.rootSigned(1, { extraKeys: [ts, sn] });
    const roles = signed.roles as Record<string, unknown>;
    roles.timestamp = { keyids: [keyId(ts)], threshold: 1 };
    roles.snapshot = { keyids: [keyId(sn)], threshold: 1 };
    const root = signDoc(signed, repo.rootKeys);
    const targets = repo.targets(2);
    const res = await publish(gun, [['root', root], ['targets', targets]]);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(await res.text(), '');
    return { root, targets, ts, sn };
  }

  it('a repository without trust data: root.json is 404 METADATA_NOT_FOUND, with Notary\'s exact body', async () => {
    const res = await fetch(tuf(`${host}/dct/none`, 'root.json'));
    assert.equal(res.status, 404);
    assert.equal(await res.text(), '{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist.","detail":{}}]}');
  });

  it('hands out one pending timestamp key until a root lists it; snapshot keys too', async () => {
    const gun = `${host}/dct/keys`;
    const a = await serverKey(gun, 'timestamp');
    const b = await serverKey(gun, 'timestamp');
    assert.deepEqual(a, b);
    assert.equal(a.keytype, 'ecdsa');
    assert.notDeepEqual(await serverKey(gun, 'snapshot'), a);
    assert.equal((await fetch(tuf(gun, 'targets.key'))).status, 404, 'the server holds no targets key');
  });

  it('publishes root and targets (as docker trust signer add does), then serves everything by role, version and checksum', async () => {
    const gun = `${host}/dct/app`;
    const repo = new TestRepo(gun);
    const { root, targets, ts } = await initialised(repo, gun);
    const got = await fetch(tuf(gun, 'root.json'));
    assert.equal(got.status, 200);
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), root, 'byte for byte');
    assert.match(got.headers.get('cache-control') ?? '', /max-age=300/);
    assert.deepEqual(Buffer.from(await (await fetch(tuf(gun, '1.root.json'))).arrayBuffer()), root);
    const byChecksum = await fetch(tuf(gun, `targets.${sha256(targets)}.json`));
    assert.deepEqual(Buffer.from(await byChecksum.arrayBuffer()), targets);
    assert.match(byChecksum.headers.get('cache-control') ?? '', /max-age=31536000/);

    // The server signed a snapshot (it holds the key) and a timestamp over it.
    const tsBytes = Buffer.from(await (await fetch(tuf(gun, 'timestamp.json'))).arrayBuffer());
    const timestamp = parseMetadata(tsBytes, 'timestamp');
    verifySignatures(decodeEnvelope(tsBytes), signingRole('timestamp', { keyids: [keyId(ts)], threshold: 1 }, new Map([[keyId(ts), ts]])));
    assert.equal(timestamp.version, 1);
    const snapHash = Buffer.from(timestamp.meta.get('snapshot')?.hashes.sha256 ?? '', 'base64').toString('hex');
    const snapBytes = Buffer.from(await (await fetch(tuf(gun, `snapshot.${snapHash}.json`))).arrayBuffer());
    const snapshot = parseMetadata(snapBytes, 'snapshot');
    assert.equal(Buffer.from(snapshot.meta.get('targets')?.hashes.sha256 ?? '', 'base64').toString('hex'), sha256(targets), 'the snapshot covers the stored targets bytes');
    assert.deepEqual(Buffer.from(await (await fetch(tuf(gun, 'snapshot.json'))).arrayBuffer()), snapBytes, 'snapshot.json is the one the timestamp names');
    for (const missing of ['99.root.json', `root.${'0'.repeat(64)}.json`, `root.${'a'.repeat(128)}.json`, 'bogus.json', 'root.txt']) {
      assert.equal((await fetch(tuf(gun, missing))).status, 404, missing);
    }

    // A tag signed in targets (docker push with DCT on a repository without delegations).
    const manifest = Buffer.from('{"schemaVersion":2}');
    const v3 = repo.targets(3, { targets: { v1: dockerTarget(manifest) } });
    assert.equal((await publish(gun, [['targets', v3]])).status, 200);
    assert.equal(parseMetadata(Buffer.from(await (await fetch(tuf(gun, 'timestamp.json'))).arrayBuffer()), 'timestamp').version, 2);
    assert.deepEqual(Buffer.from(await (await fetch(tuf(gun, 'targets.json'))).arrayBuffer()), v3);
  });

  it('the GUN with this registry\'s host and the plain repository name are one repository', async () => {
    const gun = `${host}/dct/same`;
    const { root } = await initialised(new TestRepo(gun), gun);
    assert.deepEqual(Buffer.from(await (await fetch(tuf('dct/same', 'root.json'))).arrayBuffer()), root);
    assert.equal((await fetch(tuf('elsewhere.example:5000/dct/same', 'root.json'))).status, 400, 'another registry\'s host is not a name here');
  });

  it('delegations: targets/releases and a signer role, signed by their own keys (docker trust signer add + push)', async () => {
    const gun = `${host}/dct/deleg`;
    const repo = new TestRepo(gun);
    await initialised(repo, gun);
    const alice = generateEcdsaKey();
    const delegations = [{ name: 'targets/releases', keys: [alice.publicKey] }, { name: 'targets/alice', keys: [alice.publicKey] }];
    assert.equal((await publish(gun, [['targets', repo.targets(3, { delegations })]])).status, 200);
    const target = { signed: dockerTarget(Buffer.from('manifest bytes')) };
    const releases = signDoc(repo.targetsSigned(1, { targets: target }), [alice]);
    const mine = signDoc(repo.targetsSigned(1, { targets: target }), [alice]);
    assert.equal((await publish(gun, [['targets/alice', mine], ['targets/releases', releases]])).status, 200);
    assert.deepEqual(Buffer.from(await (await fetch(tuf(gun, 'targets/releases.json'))).arrayBuffer()), releases);
    assert.deepEqual(Buffer.from(await (await fetch(tuf(gun, `targets/releases.${sha256(releases)}.json`))).arrayBuffer()), releases);
    const undeclared = await publish(gun, [['targets/bob', signDoc(repo.targetsSigned(1), [alice])]]);
    assert.equal(await undeclared.text(), '{"errors":[{"code":"INVALID_UPDATE","message":"Update sent by the client is invalid.","detail":{"Name":"ErrBadTargets","Error":{"Msg":"tuf: invalid role targets/bob. delegation does not exist"}}}]}');
  });

  it('refuses bad publishes with Notary\'s status, code and detail (nothing stored)', async () => {
    const gun = `${host}/dct/bad`;
    const repo = new TestRepo(gun);
    const first = await publish(gun, [['targets', repo.targets(2)]]);
    assert.equal(first.status, 400);
    assert.equal(await first.text(), '{"errors":[{"code":"INVALID_UPDATE","message":"Update sent by the client is invalid.","detail":{"Name":"ErrValidation","Error":{"Msg":"no pre-existing root and no root provided in update."}}}]}');
    await initialised(repo, gun);
    const cases: [string, () => Promise<Response>, string][] = [
      ['not multipart', () => fetch(tuf(gun, ''), { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } }),
        '{"errors":[{"code":"MALFORMED_UPLOAD","message":"The body of your request is malformed."}]}'],
      ['an invalid role', () => publish(gun, [['bogus', '{}']]),
        '{"errors":[{"code":"INVALID_ROLE","message":"The role you are attempting to operate on is invalid.","detail":"bogus"}]}'],
      ['malformed JSON', () => publish(gun, [['targets', '{not json']]),
        '{"errors":[{"code":"MALFORMED_JSON","message":"JSON sent by the client could not be parsed by the server"}]}'],
      ['a part without a filename', () => publish(gun, [['', repo.targets(5)]]),
        '{"errors":[{"code":"NO_FILENAME","message":"No file/role name provided."}]}'],
      ['the stored version again', () => publish(gun, [['targets', repo.targets(2)]]),
        '{"errors":[{"code":"VERSION","message":"A newer version of metadata is already available.","detail":{}}]}'],
      ['a wrong signature', () => publish(gun, [['targets', repo.targets(4, { signers: [generateEcdsaKey()] })]]),
        '{"errors":[{"code":"INVALID_UPDATE","message":"Update sent by the client is invalid.","detail":{"Name":"ErrBadTargets","Error":{"Msg":"valid signatures did not meet threshold for targets"}}}]}'],
      ['a root version jump', () => publish(gun, [['root', repo.root(3)]]),
        '{"errors":[{"code":"INVALID_UPDATE","message":"Update sent by the client is invalid.","detail":{"Name":"ErrBadRoot","Error":{"Msg":"Root modifications must increment the version. Current 1, new 3"}}}]}'],
    ];
    for (const [what, send, body] of cases) {
      const res = await send();
      assert.equal(res.status, 400, what);
      assert.equal(await res.text(), body, what);
    }
    assert.equal(parseMetadata(Buffer.from(await (await fetch(tuf(gun, 'timestamp.json'))).arrayBuffer()), 'timestamp').version, 1, 'no refused publish stored anything');
  });

  it('refuses a root whose certificate names another GUN', async () => {
    const gun = `${host}/dct/cn`;
    const repo = new TestRepo(gun, makeRootKey(`${host}/dct/other`));
    const ts = await serverKey(gun, 'timestamp');
    const signed = repo.rootSigned(1, { extraKeys: [ts, await serverKey(gun, 'snapshot')] });
    (signed.roles as Record<string, unknown>).timestamp = { keyids: [keyId(ts)], threshold: 1 };
    (signed.roles as Record<string, unknown>).snapshot = { keyids: [keyId(await serverKey(gun, 'snapshot'))], threshold: 1 };
    const res = await publish(gun, [['root', signDoc(signed, repo.rootKeys)], ['targets', repo.targets(2)]]);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /"Name":"ErrBadRoot","Error":\{"Msg":"could not validate the path to a trusted root: unable to retrieve valid leaf certificates"\}/);
  });

  it('of two racing publishes to one repository exactly one wins; the other gets VERSION', async () => {
    const gun = `${host}/dct/race`;
    const repo = new TestRepo(gun);
    await initialised(repo, gun);
    const statuses = await Promise.all([
      publish(gun, [['targets', repo.targets(3, { targets: { a: dockerTarget(Buffer.from('a')) } })]]),
      publish(gun, [['targets', repo.targets(4, { targets: { b: dockerTarget(Buffer.from('b')) } })]]),
    ]).then((rs) => Promise.all(rs.map(async (r) => [r.status, await r.text()] as const)));
    const won = statuses.filter(([s]) => s === 200);
    const lost = statuses.filter(([s]) => s !== 200);
    // Both may succeed in turn if one commits before the other reads; never both at one timestamp version.
    assert.ok(won.length >= 1);
    for (const [s, body] of lost) {
      assert.equal(s, 400);
      assert.match(body, /"code":"VERSION"/);
    }
    const ts = parseMetadata(Buffer.from(await (await fetch(tuf(gun, 'timestamp.json'))).arrayBuffer()), 'timestamp');
    assert.equal(ts.version, 1 + won.length, 'one timestamp version per winning publish');
  });

  it('rotates a server key; delete removes everything (200 also for an unknown GUN); the changefeed records it', async () => {
    const gun = `${host}/dct/gone`;
    const repo = new TestRepo(gun);
    const { ts } = await initialised(repo, gun);
    const rotated = await fetch(tuf(gun, 'timestamp.key'), { method: 'POST' });
    assert.equal(rotated.status, 200);
    assert.notDeepEqual(await rotated.json(), ts);
    assert.deepEqual(await serverKey(gun, 'timestamp'), ts, 'the root still lists the old key, which keeps signing');
    assert.equal((await fetch(tuf(gun, ''), { method: 'DELETE' })).status, 200);
    assert.equal((await fetch(tuf(gun, 'root.json'))).status, 404);
    assert.equal((await fetch(tuf(`${host}/dct/never`, ''), { method: 'DELETE' })).status, 200);
    const feed = (await (await fetch(`${t.url}/v2/${gun}/_trust/changefeed?change_id=0&records=10`)).json()) as { count: number; records: { Category: string; GUN: string; Version: number }[] };
    assert.deepEqual(feed.records.map((r) => [r.Category, r.GUN, r.Version]), [['update', gun, 1], ['deletion', gun, 0]]);
    assert.equal(feed.count, 2);
  });

  it('keeps expiry honest: a targets file that expired is refused', async () => {
    const gun = `${host}/dct/expired`;
    const repo = new TestRepo(gun);
    await initialised(repo, gun);
    const res = await publish(gun, [['targets', repo.targets(3, { expires: inYears(-1) })]]);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /"Name":"ErrBadTargets","Error":\{"Msg":"targets expired at /);
  });

  it('a publish over 16 MiB gets 413 BERTH_TOO_LARGE and stores nothing, time after time', async () => {
    const gun = `${host}/dct/huge`;
    for (let i = 0; i < 3; i++) {
      const res = await publish(gun, [['targets', Buffer.alloc(20 * 1024 * 1024, 0x20)]]);
      assert.equal(res.status, 413);
      assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code, 'BERTH_TOO_LARGE');
    }
    assert.equal((await fetch(tuf(gun, 'root.json'))).status, 404, 'nothing stored');
  });
});
