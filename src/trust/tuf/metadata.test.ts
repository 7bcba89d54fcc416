import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { goDateString, goTime, parseGoTime } from './go-time.js';
import { MetadataError, checkHashes, decodeEnvelope, fileMeta, parseMetadata } from './metadata.js';
import { isDelegationRole, isUploadableRole, isValidRole, parentRole, roleFromFilename } from './roles.js';
import { TestRepo, signDoc } from './testkit.js';

const GUN = 'localhost:5002/test/bb';

function doc(signed: unknown, signatures: unknown = []): Buffer {
  return Buffer.from(JSON.stringify({ signed, signatures }));
}

function invalid(bytes: Buffer, role: string, message: string): void {
  assert.throws(
    () => parseMetadata(bytes, role),
    (e: unknown) => e instanceof MetadataError && e.kind === 'invalid' && e.message === message,
    message,
  );
}

test('role names: base roles and clean delegations of [-a-z0-9_/] under 256 characters', () => {
  for (const ok of ['root', 'targets', 'snapshot', 'timestamp', 'targets/releases', 'targets/a/b-c_d', 'targets/0']) assert.equal(isValidRole(ok), true, ok);
  for (const bad of ['', 'bogus', 'Root', 'targets/', 'targets//a', 'targets/a/', 'targets/A', 'targets/a.b', 'targets/../root', 'targets/a b', 'targetsx/a', 'snapshot/a', `targets/${'a'.repeat(248)}`]) {
    assert.equal(isValidRole(bad), false, bad);
  }
  assert.equal(isDelegationRole(`targets/${'a'.repeat(247)}`), true, '255 characters');
  assert.equal(isUploadableRole('timestamp'), false);
  assert.equal(isUploadableRole('snapshot'), true);
  assert.equal(roleFromFilename('targets/releases.json'), 'targets/releases');
  assert.equal(roleFromFilename('targets'), 'targets');
  assert.equal(parentRole('targets/a/b'), 'targets/a');
  assert.equal(parentRole('targets/a'), 'targets');
});

test('goTime writes RFC3339Nano in UTC with the fraction\'s trailing zeros trimmed', () => {
  assert.equal(goTime(new Date(Date.UTC(2029, 10, 21, 23, 1, 16, 370))), '2029-11-21T23:01:16.37Z');
  assert.equal(goTime(new Date(Date.UTC(2029, 10, 21, 23, 1, 16, 0))), '2029-11-21T23:01:16Z');
  assert.equal(goTime(new Date(Date.UTC(2029, 0, 2, 3, 4, 5, 6))), '2029-01-02T03:04:05.006Z');
  const early = new Date(0);
  early.setUTCFullYear(5, 0, 1);
  assert.equal(goTime(early), '0005-01-01T00:00:00Z');
  assert.throws(() => goTime(new Date(Date.UTC(10000, 0, 1))), RangeError);
  assert.throws(() => goTime(new Date(NaN)), RangeError);
});

test('parseGoTime reads what Go\'s time.Parse(RFC3339) reads, and nothing else', () => {
  const t = parseGoTime('2029-11-21T23:01:16.378816143Z');
  assert.equal(t?.date.toISOString(), '2029-11-21T23:01:16.378Z');
  assert.equal(t?.nanos, 378816143);
  const off = parseGoTime('2116-07-03T17:56:36.027379879-05:00');
  assert.equal(off?.date.toISOString(), '2116-07-03T22:56:36.027Z');
  assert.equal(off?.offsetMinutes, -300);
  assert.equal(parseGoTime('2024-02-29T00:00:00Z')?.date.toISOString(), '2024-02-29T00:00:00.000Z');
  assert.equal(parseGoTime('2029-11-21T23:01:16.1234567891234Z')?.nanos, 123456789, 'extra digits are truncated');
  for (const bad of [
    '2029-11-21t23:01:16Z',
    '2029-11-21T23:01:16z',
    '2029-11-21 23:01:16Z',
    '2029-11-21T23:01:16',
    '2029-11-21T23:01Z',
    '29-11-21T23:01:16Z',
    '2029-04-31T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '2029-13-01T00:00:00Z',
    '2029-11-21T24:00:00Z',
    '2029-11-21T23:60:00Z',
    '2029-11-21T23:59:60Z',
    '2029-11-21T23:01:16.Z',
    '2029-11-21T23:01:16+0100',
  ]) {
    assert.equal(parseGoTime(bad), undefined, bad);
  }
});

test('goDateString is Go\'s "Mon Jan 2 15:04:05 MST 2006"', () => {
  assert.equal(goDateString(new Date(Date.UTC(2026, 10, 21, 23, 4, 51))), 'Sat Nov 21 23:04:51 UTC 2026');
  assert.equal(goDateString(new Date(Date.UTC(2026, 0, 5, 1, 2, 3))), 'Mon Jan 5 01:02:03 UTC 2026');
  const off = parseGoTime('2116-07-03T17:56:36.027379879-05:00');
  assert.equal(goDateString(off?.date as Date, off?.offsetMinutes), 'Fri Jul 3 17:56:36 -0500 2116');
});

test('the envelope must be the JSON notary\'s upload handler decodes, or it is malformed', () => {
  const good = { _type: 'Targets', version: 2, expires: '2029-11-21T23:01:16Z' };
  const env = decodeEnvelope(doc(good, [{ keyid: 'ab', method: 'ECDSA', sig: 'AAAA' }]));
  assert.deepEqual(env.signatures, [{ keyid: 'ab', method: 'ecdsa', sig: 'AAAA' }], 'method lower-cased');
  assert.deepEqual(env.signed, good);
  assert.deepEqual(decodeEnvelope(Buffer.from('{"signed":{}}')).signatures, []);
  const cases: Array<[string, Buffer]> = [
    ['not JSON', Buffer.from('{not json')],
    ['trailing garbage', Buffer.from('{"signed":{}} x')],
    ['array', Buffer.from('[]')],
    ['signed missing', doc(undefined)],
    ['signed array', doc([])],
    ['version string', doc({ version: '1' })],
    ['version fraction', doc({ version: 1.5 })],
    ['expires not RFC 3339', doc({ expires: 'tomorrow' })],
    ['expires number', doc({ expires: 1 })],
    ['_type number', doc({ _type: 1 })],
    ['signatures object', doc({}, {})],
    ['signature not object', doc({}, ['x'])],
    ['sig not base64', doc({}, [{ keyid: 'a', method: 'ecdsa', sig: 'not base64!' }])],
    ['sig unpadded', doc({}, [{ keyid: 'a', method: 'ecdsa', sig: 'AAA' }])],
    ['keyid number', doc({}, [{ keyid: 1, method: 'ecdsa', sig: 'AAAA' }])],
    ['invalid UTF-8', Buffer.concat([Buffer.from('{"signed":{"_type":"'), Buffer.from([0xe2, 0x82]), Buffer.from('"}}')])],
  ];
  for (const [what, bytes] of cases) {
    assert.throws(() => decodeEnvelope(bytes), (e: unknown) => e instanceof MetadataError && e.kind === 'malformed', what);
  }
});

test('a root parses into keys and roles, and each structural rule gives notary\'s message', () => {
  const repo = new TestRepo(GUN);
  const bytes = repo.root(1);
  const root = parseMetadata(bytes, 'root');
  assert.equal(root.type, 'Root');
  assert.equal(root.version, 1);
  assert.deepEqual(root.raw, bytes);
  assert.equal(root.keys.size, 4);
  assert.deepEqual(root.roles.get('targets'), { keyids: [repo.targetsKey.keyId], threshold: 1 });
  assert.equal(root.consistentSnapshot, false);

  const signed = repo.rootSigned(1);
  const variant = (change: (s: Record<string, any>) => void): Buffer => {
    const s = structuredClone(signed) as Record<string, any>;
    change(s);
    return signDoc(s, repo.rootKeys);
  };
  invalid(variant((s) => (s._type = 'Targets')), 'root', 'root type metadata invalid: expected type Root, not Targets');
  invalid(variant((s) => delete s._type), 'root', 'root type metadata invalid: expected type Root, not ');
  invalid(variant((s) => (s.version = 0)), 'root', 'root type metadata invalid: version cannot be less than 1');
  invalid(variant((s) => delete s.roles.snapshot), 'root', 'root type metadata invalid: missing snapshot role specification');
  invalid(variant((s) => (s.roles.targets.threshold = 0)), 'root', 'root type metadata invalid: invalid threshold specified for targets: 0 ');
  invalid(
    variant((s) => s.roles.timestamp.keyids.push('f'.repeat(64))),
    'root',
    `root type metadata invalid: key ID ${'f'.repeat(64)} specified in timestamp without corresponding key`,
  );
  invalid(variant((s) => (s.keys = [])), 'root', 'root type metadata invalid: keys is not an object');
  // A root parsed as targets is refused by its type.
  invalid(bytes, 'targets', 'targets type metadata invalid: expected type Targets, not Root');
});

test('targets and delegations: target entries, delegation keys, direct children only', () => {
  const repo = new TestRepo(GUN);
  const alice = repo.targetsKey.publicKey;
  const bytes = repo.targets(2, {
    targets: { signed: { hashes: { sha256: fileMeta(Buffer.from('m')).hashes.sha256 }, length: 527 } },
    delegations: [{ name: 'targets/releases', keys: [alice] }],
  });
  const t = parseMetadata(bytes, 'targets');
  assert.equal(t.type, 'Targets');
  assert.equal(t.targets.get('signed')?.length, 527);
  assert.deepEqual(t.delegations.roles, [{ name: 'targets/releases', keyids: [repo.targetsKey.keyId], threshold: 1, paths: [''] }]);
  assert.equal(t.delegations.keys.size, 1);

  invalid(repo.targets(2, { delegations: [{ name: 'targets/a/b', keys: [alice] }] }), 'targets', 'targets type metadata invalid: delegation role targets/a/b invalid');
  invalid(repo.targets(2, { delegations: [{ name: 'targets/Bad', keys: [alice] }] }), 'targets', 'targets type metadata invalid: delegation role targets/Bad invalid');
  invalid(repo.targets(2, { delegations: [{ name: 'targets/a', keys: [alice], threshold: 0 }] }), 'targets', 'targets type metadata invalid: invalid threshold specified for targets/a: 0 ');
  // In a delegation file, children are one level further down.
  assert.equal(parseMetadata(repo.targets(1, { delegations: [{ name: 'targets/a/b', keys: [alice] }] }), 'targets/a').role, 'targets/a');
  invalid(repo.targets(1, { delegations: [{ name: 'targets/b', keys: [alice] }] }), 'targets/a', 'targets/a type metadata invalid: delegation role targets/b invalid');
  invalid(repo.targets(0), 'targets/a', 'targets/a type metadata invalid: version cannot be less than one');
  const s = repo.targetsSigned(2);
  s.targets = { t: { length: 'x', hashes: {} } };
  invalid(signDoc(s, [repo.targetsKey]), 'targets', 'targets type metadata invalid: targets t length is not an integer');
  const s2 = repo.targetsSigned(2);
  (s2.delegations as Record<string, unknown>).roles = [{ name: 'targets/a', keyids: ['0'.repeat(64)], threshold: 1 }];
  invalid(signDoc(s2, [repo.targetsKey]), 'targets', `targets type metadata invalid: key ID ${'0'.repeat(64)} specified in targets/a without corresponding key`);
});

test('snapshot must carry sha256 of root and targets; timestamp of snapshot', () => {
  const repo = new TestRepo(GUN);
  const files = new Map([['root', Buffer.from('r')], ['targets', Buffer.from('t')]]);
  const snap = parseMetadata(repo.snapshot(2, files), 'snapshot');
  assert.deepEqual(snap.meta.get('root'), fileMeta(Buffer.from('r')));
  invalid(repo.snapshot(2, new Map([['root', Buffer.from('r')]])), 'snapshot', 'snapshot type metadata invalid: missing targets sha256 checksum information');
  const bad = { _type: 'Snapshot', version: 1, expires: '2030-01-01T00:00:00Z', meta: { root: { hashes: { sha256: 'AAAA' }, length: 1 }, targets: fileMeta(Buffer.from('t')) } };
  invalid(doc(bad), 'snapshot', 'snapshot type metadata invalid: invalid root checksum information, sha256 checksum invalid');
  const ts = { _type: 'Timestamp', version: 1, expires: '2030-01-01T00:00:00Z', meta: { snapshot: { hashes: { sha512: fileMeta(Buffer.from('s')).hashes.sha512 }, length: 1 } } };
  invalid(doc(ts), 'timestamp', 'timestamp type metadata invalid: missing snapshot sha256 checksum information');
  ts.meta.snapshot = fileMeta(Buffer.from('s'));
  assert.equal(parseMetadata(doc(ts), 'timestamp').type, 'Timestamp');
});

test('expires: kept with its written offset; absent reads as Go\'s zero time', () => {
  const t = parseMetadata(doc({ _type: 'Targets', version: 1, expires: '2116-07-03T17:56:36.5-05:00' }), 'targets');
  assert.equal(t.expires.toISOString(), '2116-07-03T22:56:36.500Z');
  assert.equal(t.expiresOffsetMinutes, -300);
  const zero = parseMetadata(doc({ _type: 'Targets', version: 1 }), 'targets');
  assert.equal(goDateString(zero.expires), 'Mon Jan 1 00:00:00 UTC 0001');
});

test('fileMeta hashes exact bytes (base64 of raw digests); checkHashes reports notary\'s messages', () => {
  const bytes = Buffer.from('{"signed":{}}');
  const m = fileMeta(bytes);
  assert.equal(m.length, bytes.length);
  assert.equal(m.hashes.sha256, createHash('sha256').update(bytes).digest('base64'));
  assert.equal(m.hashes.sha512, createHash('sha512').update(bytes).digest('base64'));
  assert.equal(checkHashes(bytes, 'targets', m.hashes), undefined);
  assert.equal(checkHashes(bytes, 'targets', { sha512: m.hashes.sha512 }), undefined);
  const other = fileMeta(Buffer.from('other'));
  assert.equal(
    checkHashes(bytes, 'targets', other.hashes),
    `sha256 checksum for targets did not match: expected ${Buffer.from(other.hashes.sha256, 'base64').toString('hex')}`,
  );
  assert.equal(checkHashes(bytes, 'targets/a', {}), 'no checksums for supported algorithms were provided for targets/a');
  assert.equal(checkHashes(bytes, 'targets/a', undefined), 'no checksums for supported algorithms were provided for targets/a');
});
