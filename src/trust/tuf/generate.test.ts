import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CanonicalJsonError, canonicalJson } from './canonical-json.js';
import {
  SNAPSHOT_EXPIRY_MS,
  TIMESTAMP_EXPIRY_MS,
  buildSnapshot,
  buildTimestamp,
  isExpired,
  serializeSigned,
  snapshotExpiry,
  timestampExpiry,
  timestampIsStale,
} from './generate.js';
import { generateEcdsaKey } from './keys.js';
import { fileMeta, parseMetadata } from './metadata.js';
import { signingRole, verifySignatures } from './verify.js';
import { TestRepo } from './testkit.js';

const GUN = 'localhost:5002/test/bb';
const DAY = 86_400_000;

test('expiry defaults are notary\'s: snapshot 3 × 365 days, timestamp 14 days', () => {
  assert.equal(SNAPSHOT_EXPIRY_MS, 3 * 365 * DAY);
  assert.equal(TIMESTAMP_EXPIRY_MS, 14 * DAY);
  const now = new Date(Date.UTC(2026, 10, 21, 23, 1, 16, 378));
  assert.equal(snapshotExpiry(now).toISOString(), '2029-11-20T23:01:16.378Z');
  assert.equal(timestampExpiry(now).toISOString(), '2026-12-05T23:01:16.378Z');
});

test('a server snapshot is in Go\'s layout, signed by the snapshot key, hashing the exact stored bytes', () => {
  const repo = new TestRepo(GUN);
  const root = repo.root(1);
  const targets = repo.targets(2);
  // A delegation stored in a non-Go layout (sorted keys, whitespace): hashed as stored, not re-serialised.
  const releases = Buffer.from(`{ "signatures": [], "signed": ${JSON.stringify(repo.targetsSigned(1))} }`);
  const expires = new Date(Date.UTC(2029, 10, 21, 23, 2, 15, 490));
  const snap = buildSnapshot({ version: 1, expires, files: new Map([['root', root], ['targets', targets], ['targets/releases', releases]]), key: repo.snapshotKey });
  const text = snap.bytes.toString();
  const parsed = parseMetadata(snap.bytes, 'snapshot');
  assert.equal(snap.version, 1);
  assert.match(snap.sha256hex, /^[0-9a-f]{64}$/);
  assert.ok(text.startsWith(`{"signed":{"_type":"Snapshot","expires":"2029-11-21T23:02:15.49Z","meta":{"root":{"hashes":{"sha256":"`));
  assert.match(text, /,"version":1},"signatures":\[\{"keyid":"[0-9a-f]{64}","method":"ecdsa","sig":"[A-Za-z0-9+/]+={0,2}"\}\]\}$/);
  assert.deepEqual([...parsed.meta.keys()], ['root', 'targets', 'targets/releases']);
  assert.deepEqual(parsed.meta.get('targets/releases'), fileMeta(releases));
  assert.deepEqual(parsed.meta.get('root'), fileMeta(root));
  assert.equal(parsed.signatures[0]?.keyid, repo.snapshotKey.keyId);
  verifySignatures(parsed, signingRole('snapshot', { keyids: [repo.snapshotKey.keyId], threshold: 1 }, new Map([[repo.snapshotKey.keyId, repo.snapshotKey.publicKey]])));
});

test('a new snapshot keeps the previous entries of roles it is not given and replaces the others', () => {
  const repo = new TestRepo(GUN);
  const key = repo.snapshotKey;
  const first = buildSnapshot({
    version: 1,
    expires: snapshotExpiry(new Date()),
    files: new Map([['root', repo.root(1)], ['targets', repo.targets(2)], ['targets/alice', Buffer.from('alice v1')]]),
    key,
  });
  const previous = parseMetadata(first.bytes, 'snapshot');
  const targets3 = repo.targets(3);
  const second = parseMetadata(buildSnapshot({ previous, version: 2, expires: snapshotExpiry(new Date()), files: new Map([['targets', targets3]]), key }).bytes, 'snapshot');
  assert.equal(second.version, 2);
  assert.deepEqual(second.meta.get('targets'), fileMeta(targets3));
  assert.deepEqual(second.meta.get('root'), previous.meta.get('root'));
  assert.deepEqual(second.meta.get('targets/alice'), fileMeta(Buffer.from('alice v1')));
});

test('buildSnapshot refuses a snapshot without root or targets, and versions below 1', () => {
  const key = generateEcdsaKey();
  assert.throws(() => buildSnapshot({ version: 1, expires: new Date(), files: new Map([['root', Buffer.from('r')]]), key }), /missing targets sha256/);
  const files = new Map([['root', Buffer.from('r')], ['targets', Buffer.from('t')]]);
  assert.throws(() => buildSnapshot({ version: 0, expires: new Date(), files, key }), RangeError);
  assert.throws(() => buildTimestamp({ version: 1.5, expires: new Date(), snapshotBytes: Buffer.from('s'), key }), RangeError);
});

test('a timestamp points at the exact snapshot bytes', () => {
  const key = generateEcdsaKey();
  const snapshotBytes = Buffer.from('{"signed":{"_type":"Snapshot"},"signatures":[]}');
  const ts = buildTimestamp({ version: 4, expires: new Date(Date.UTC(2026, 11, 6, 23, 2, 15, 496)), snapshotBytes, key });
  const parsed = parseMetadata(ts.bytes, 'timestamp');
  assert.equal(parsed.version, 4);
  assert.deepEqual(parsed.meta.get('snapshot'), fileMeta(snapshotBytes));
  assert.equal(ts.bytes.toString().slice(0, 60), '{"signed":{"_type":"Timestamp","expires":"2026-12-06T23:02:1');
  verifySignatures(parsed, { name: 'timestamp', keys: new Map([[key.keyId, key.publicKey]]), threshold: 1 });
});

test('re-serialising a parsed document canonically reproduces the generated Go layout byte for byte', () => {
  const repo = new TestRepo(GUN);
  const files = new Map([['root', repo.root(1)], ['targets', repo.targets(2)]]);
  const snap = buildSnapshot({ version: 7, expires: snapshotExpiry(new Date()), files, key: repo.snapshotKey });
  const ts = buildTimestamp({ version: 9, expires: timestampExpiry(new Date()), snapshotBytes: snap.bytes, key: repo.timestampKey });
  for (const [role, bytes] of [['snapshot', snap.bytes], ['timestamp', ts.bytes], ['root', files.get('root')], ['targets', files.get('targets')]] as const) {
    const parsed = parseMetadata(bytes as Buffer, role);
    assert.deepEqual(serializeSigned(parsed.signed, parsed.signatures), bytes, role);
    assert.equal((bytes as Buffer).toString().slice('{"signed":'.length, '{"signed":'.length + canonicalJson(parsed.signed).length), canonicalJson(parsed.signed));
  }
});

test('HTML characters are escaped in the envelope as Go embeds raw JSON; signatures still verify', () => {
  const repo = new TestRepo(GUN);
  const bytes = repo.targets(2, { targets: { 'a<b>&c\u2028': { hashes: { sha256: fileMeta(Buffer.from('m')).hashes.sha256 }, length: 1 } } });
  assert.match(bytes.toString(), /"a\\u003cb\\u003e\\u0026c\\u2028"/);
  const parsed = parseMetadata(bytes, 'targets');
  assert.ok(parsed.targets.has('a<b>&c\u2028'));
  verifySignatures(parsed, { name: 'targets', keys: new Map([[repo.targetsKey.keyId, repo.targetsKey.publicKey]]), threshold: 1 });
  assert.deepEqual(serializeSigned(parsed.signed, parsed.signatures), bytes);
  // A control character has a canonical form (raw) but Go cannot embed it: refused the same way.
  assert.throws(() => serializeSigned({ t: 'a\nb' }, []), CanonicalJsonError);
});

test('a stored timestamp is stale once expired or once the current snapshot is another file', () => {
  const key = generateEcdsaKey();
  const snapshotBytes = Buffer.from('{"signed":{"_type":"Snapshot","version":1},"signatures":[]}');
  const now = new Date();
  const ts = parseMetadata(buildTimestamp({ version: 1, expires: timestampExpiry(now), snapshotBytes, key }).bytes, 'timestamp');
  assert.equal(timestampIsStale(ts, snapshotBytes, now), false);
  assert.equal(timestampIsStale(ts, Buffer.from('{"signed":{"_type":"Snapshot","version":2},"signatures":[]}'), now), true);
  assert.equal(timestampIsStale(ts, snapshotBytes, new Date(now.getTime() + TIMESTAMP_EXPIRY_MS + 1)), true);
  assert.equal(isExpired(ts, new Date(now.getTime() + TIMESTAMP_EXPIRY_MS)), false, 'expiring exactly now is not yet expired');
});
