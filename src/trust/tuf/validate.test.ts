import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { buildSnapshot, buildTimestamp, snapshotExpiry, timestampExpiry } from './generate.js';
import { goTime } from './go-time.js';
import { generateEcdsaKey, type GeneratedKey } from './keys.js';
import { fileMeta, parseMetadata } from './metadata.js';
import { TestRepo, dockerTarget, inYears, makeRootKey, signDoc, type RootKey } from './testkit.js';
import { validateUpdate, type UpdateAccepted, type UpdateError, type UpdateResult, type ValidationErrorName } from './validate.js';

const GUN = 'localhost:5002/test/bb';
const DAY = 86_400_000;

type Files = Array<[string, Buffer]>;

function run(repo: TestRepo, uploads: Files, current: Files = [], o: { now?: Date; serverKeys?: { snapshot: string | null; timestamp: string | null } } = {}): UpdateResult {
  return validateUpdate({
    gun: repo.gun,
    now: o.now ?? new Date(),
    current: new Map(current),
    uploads: new Map(uploads),
    serverKeys: o.serverKeys ?? repo.serverKeys,
  });
}

function accepted(result: UpdateResult): UpdateAccepted {
  if (!result.ok) assert.fail(`refused: ${JSON.stringify(result.error)}`);
  return result;
}

function refusedWith(result: UpdateResult, code: UpdateError['code']): UpdateError {
  if (result.ok) assert.fail(`accepted, expected ${code}`);
  assert.equal(result.error.code, code, JSON.stringify(result.error));
  return result.error;
}

/** An INVALID_UPDATE with notary's detail body. */
function invalid(result: UpdateResult, name: ValidationErrorName, message: string, label?: string): void {
  const error = refusedWith(result, 'INVALID_UPDATE');
  assert.equal(error.name, name, label);
  assert.equal(error.message, message, label);
  const inner = name === 'ErrBadHierarchy' ? { Missing: 'snapshot', Msg: message } : { Msg: message };
  assert.deepEqual(error.detail, { Name: name, Error: inner });
}

const manifest = Buffer.from('{"schemaVersion":2}');

/** A published repository as stored after `docker trust signer add` + a push: root v1, targets v2 delegating releases, snapshot, timestamp. */
function published(repo: TestRepo, releasesKey: GeneratedKey): Files {
  const root = repo.root(1);
  const targets = repo.targets(2, { delegations: [{ name: 'targets/releases', keys: [releasesKey.publicKey] }] });
  const releases = repo.targets(1, { targets: { signed: dockerTarget(manifest) }, signers: [releasesKey] });
  const snapshot = buildSnapshot({
    version: 1,
    expires: snapshotExpiry(new Date()),
    files: new Map([['root', root], ['targets', targets], ['targets/releases', releases]]),
    key: repo.snapshotKey,
  }).bytes;
  const timestamp = buildTimestamp({ version: 1, expires: timestampExpiry(new Date()), snapshotBytes: snapshot, key: repo.timestampKey }).bytes;
  return [['root', root], ['targets', targets], ['targets/releases', releases], ['snapshot', snapshot], ['timestamp', timestamp]];
}

test('a new repository: root v1 and targets v2 are accepted, and the server must sign the snapshot', () => {
  const repo = new TestRepo(GUN);
  const root = repo.root(1);
  const targets = repo.targets(2, { targets: { latest: dockerTarget(manifest) } });
  const result = accepted(run(repo, [['targets', targets], ['root', root]]));
  assert.deepEqual([...result.files.keys()], ['root', 'targets'], 'root first, whatever the part order');
  assert.deepEqual(result.files.get('root'), { bytes: root, version: 1, sha256hex: createHash('sha256').update(root).digest('hex') });
  assert.equal(result.files.get('targets')?.version, 2);
  assert.equal(result.needsSnapshot, true);
  assert.equal(result.root.version, 1);
  assert.deepEqual(result.root.raw, root);
});

test('a new repository with a client-held snapshot key (notary init -p): root, targets and snapshot', () => {
  const repo = new TestRepo(GUN);
  const root = repo.root(1);
  const targets = repo.targets(2);
  const snapshot = repo.snapshot(2, new Map([['root', root], ['targets', targets]]));
  const result = accepted(run(repo, [['root', root], ['targets', targets], ['snapshot', snapshot]], [], { serverKeys: { snapshot: null, timestamp: repo.timestampKey.keyId } }));
  assert.deepEqual([...result.files.keys()], ['root', 'targets', 'snapshot']);
  assert.equal(result.needsSnapshot, false);
});

test('without any root: ErrValidation', () => {
  const repo = new TestRepo(GUN);
  invalid(run(repo, [['targets', repo.targets(2)]]), 'ErrValidation', 'no pre-existing root and no root provided in update.');
  invalid(run(repo, []), 'ErrValidation', 'no pre-existing root and no root provided in update.');
});

test('targets signed by a wrong key under the right key ID fail the threshold', () => {
  const repo = new TestRepo(GUN);
  const impostor = generateEcdsaKey();
  const targets = repo.targets(2, { signers: [{ privateKeyPem: impostor.privateKeyPem, keyId: repo.targetsKey.keyId }] });
  invalid(run(repo, [['root', repo.root(1)], ['targets', targets]]), 'ErrBadTargets', 'valid signatures did not meet threshold for targets');
  const unsigned = signDoc(repo.targetsSigned(2), []);
  invalid(run(repo, [['root', repo.root(1)], ['targets', unsigned]]), 'ErrBadTargets', 'tuf: data has no signatures');
  // A signature by an unlisted key does not count either.
  invalid(run(repo, [['root', repo.root(1)], ['targets', repo.targets(2, { signers: [impostor] })]]), 'ErrBadTargets', 'valid signatures did not meet threshold for targets');
});

test('a threshold of 2 needs two distinct valid signatures', () => {
  const repo = new TestRepo(GUN);
  const second = generateEcdsaKey();
  const signed = repo.rootSigned(1, { extraKeys: [second.publicKey] });
  (signed.roles as Record<string, { keyids: string[]; threshold: number }>).targets = { keyids: [repo.targetsKey.keyId, second.keyId], threshold: 2 };
  const root = signDoc(signed, repo.rootKeys);
  invalid(run(repo, [['root', root], ['targets', repo.targets(2)]]), 'ErrBadTargets', 'valid signatures did not meet threshold for targets');
  invalid(run(repo, [['root', root], ['targets', repo.targets(2, { signers: [repo.targetsKey, repo.targetsKey] })]]), 'ErrBadTargets', 'valid signatures did not meet threshold for targets');
  accepted(run(repo, [['root', root], ['targets', repo.targets(2, { signers: [repo.targetsKey, second] })]]));
});

test('a key listed under an ID that is not its own is an error when a signature uses it', () => {
  const repo = new TestRepo(GUN);
  const other = generateEcdsaKey();
  const signed = repo.rootSigned(1);
  // The targets key ID now maps to another key's content.
  (signed.keys as Record<string, unknown>)[repo.targetsKey.keyId] = other.publicKey;
  const root = signDoc(signed, repo.rootKeys);
  invalid(run(repo, [['root', root], ['targets', repo.targets(2)]]), 'ErrBadTargets', 'key ID is not valid for key content');
});

test('versions: every upload must be newer than what is stored (VERSION), gaps allowed', () => {
  const repo = new TestRepo(GUN);
  const releasesKey = generateEcdsaKey();
  const stored = published(repo, releasesKey);
  const declaring = { delegations: [{ name: 'targets/releases', keys: [releasesKey.publicKey] }] };
  for (const version of [2, 1]) {
    const error = refusedWith(run(repo, [['targets', repo.targets(version, declaring)]], stored), 'VERSION');
    assert.deepEqual(error.detail, {});
  }
  accepted(run(repo, [['targets', repo.targets(3, declaring)]], stored));
  accepted(run(repo, [['targets', repo.targets(10, declaring)]], stored));
  refusedWith(run(repo, [['targets/releases', repo.targets(1, { signers: [releasesKey] })]], stored), 'VERSION');
  // Validation errors come before the version check, as in notary.
  invalid(run(repo, [['targets', repo.targets(2, { ...declaring, signers: [releasesKey] })]], stored), 'ErrBadTargets', 'valid signatures did not meet threshold for targets');
});

test('root versions: the current one (then VERSION) or the next, never a jump', () => {
  const repo = new TestRepo(GUN);
  const stored = published(repo, generateEcdsaKey());
  invalid(run(repo, [['root', repo.root(3)]], stored), 'ErrBadRoot', 'Root modifications must increment the version. Current 1, new 3');
  refusedWith(run(repo, [['root', repo.root(1)]], stored), 'VERSION');
  accepted(run(repo, [['root', repo.root(2)]], stored));
  // Without a stored root notary counts the current version as 1: a first root may be v1 or v2.
  const fresh = new TestRepo(GUN);
  invalid(run(fresh, [['root', fresh.root(3)], ['targets', fresh.targets(2)]]), 'ErrBadRoot', 'Root modifications must increment the version. Current 1, new 3');
  accepted(run(fresh, [['root', fresh.root(2)], ['targets', fresh.targets(2)]]));
});

test('root rotation: cross-signed by the old and the new root key is accepted; new key alone, or old alone, is refused', () => {
  const repo = new TestRepo(GUN);
  const stored = published(repo, generateEcdsaKey());
  const oldKey = repo.rootKeys[0] as RootKey;
  const newKey = makeRootKey(GUN);
  const rotated = (signers: RootKey[]): Buffer => repo.root(2, { rootKeys: [newKey], signers });
  const result = accepted(run(repo, [['root', rotated([oldKey, newKey])]], stored));
  assert.deepEqual(result.root.roles.get('root')?.keyids, [newKey.keyId]);
  invalid(
    run(repo, [['root', rotated([newKey])]], stored),
    'ErrBadRoot',
    'could not rotate trust to a new trusted root: failed to validate data with current trusted certificates',
  );
  invalid(run(repo, [['root', rotated([oldKey])]], stored), 'ErrBadRoot', 'could not validate the path to a trusted root: failed to validate integrity of roots');
  // After the rotation the new key alone is enough for the next root.
  const afterRotation: Files = stored.map(([r, b]) => (r === 'root' ? [r, rotated([oldKey, newKey])] : [r, b]));
  accepted(run(repo, [['root', repo.root(3, { rootKeys: [newKey], signers: [newKey] })]], afterRotation));
});

test('a previous root whose certificate has expired still authorises a rotation away from it', () => {
  const repo = new TestRepo(GUN, makeRootKey(GUN, { notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() + 60_000) }));
  const stored = published(repo, generateEcdsaKey());
  const oldKey = repo.rootKeys[0] as RootKey;
  const newKey = makeRootKey(GUN);
  const later = new Date(Date.now() + 2 * DAY);
  const root = repo.root(2, { rootKeys: [newKey], signers: [oldKey, newKey] });
  accepted(run(repo, [['root', root]], stored, { now: later }));
});

test('root certificates: CN ≠ GUN, expired, not yet valid, SHA-1 or RSA < 2048 are ignored, leaving no valid leaf', () => {
  const unable = 'could not validate the path to a trusted root: unable to retrieve valid leaf certificates';
  const now = Date.now();
  const cases: Array<[string, RootKey]> = [
    ['CN is another GUN', makeRootKey(GUN, { commonName: 'localhost:5002/test/other' })],
    ['CN is a prefix without wildcard', makeRootKey(GUN, { commonName: 'localhost:5002/test' })],
    ['expired', makeRootKey(GUN, { notBefore: new Date(now - 400 * DAY), notAfter: new Date(now - DAY) })],
    ['valid from the day after tomorrow', makeRootKey(GUN, { notBefore: new Date(now + 2 * DAY) })],
    ['SHA-1 signed', makeRootKey(GUN, { hash: 'sha1' })],
    ['RSA 1024', makeRootKey(GUN, { rsaBits: 1024 })],
    ['a CA certificate is not a leaf', makeRootKey(GUN, { ca: true })],
    ['validity window inverted', makeRootKey(GUN, { notBefore: new Date(now + DAY), notAfter: new Date(now - DAY) })],
  ];
  for (const [what, rootKey] of cases) {
    const repo = new TestRepo(GUN, rootKey);
    invalid(run(repo, [['root', repo.root(1)], ['targets', repo.targets(2)]]), 'ErrBadRoot', unable, what);
  }
  // One usable certificate among ignored ones is enough.
  const good = makeRootKey(GUN);
  const repo = new TestRepo(GUN, good);
  repo.rootKeys = [good, cases[0]?.[1] as RootKey];
  accepted(run(repo, [['root', repo.root(1, { signers: [good] })], ['targets', repo.targets(2)]]));
});

test('root certificates that pass: a wildcard CN, RSA 2048, notBefore within the next day', () => {
  for (const rootKey of [
    makeRootKey(GUN, { commonName: 'localhost:5002/test/*' }),
    makeRootKey(GUN, { rsaBits: 2048 }),
    makeRootKey(GUN, { notBefore: new Date(Date.now() + 12 * 3_600_000) }),
  ]) {
    const repo = new TestRepo(GUN, rootKey);
    accepted(run(repo, [['root', repo.root(1)], ['targets', repo.targets(2)]]));
  }
});

test('a root must be signed by its own root key and must not be expired', () => {
  const repo = new TestRepo(GUN);
  invalid(
    run(repo, [['root', repo.root(1, { signers: [repo.targetsKey] })], ['targets', repo.targets(2)]]),
    'ErrBadRoot',
    'could not validate the path to a trusted root: failed to validate integrity of roots',
  );
  const expires = new Date(Date.UTC(2026, 10, 21, 23, 4, 51));
  invalid(run(repo, [['root', repo.root(1, { expires })], ['targets', repo.targets(2)]]), 'ErrBadRoot', 'root expired at Sat Nov 21 23:04:51 UTC 2026');
  invalid(run(repo, [['root', signDoc({ ...repo.rootSigned(1), _type: 'Targets' }, repo.rootKeys)]]), 'ErrBadRoot', 'root type metadata invalid: expected type Root, not Targets');
});

test('expired targets: notary\'s Go time format in the message', () => {
  const repo = new TestRepo(GUN);
  const targets = repo.targets(2, { expires: new Date(Date.UTC(2026, 10, 21, 23, 4, 51, 378)) });
  invalid(run(repo, [['root', repo.root(1)], ['targets', targets]]), 'ErrBadTargets', 'targets expired at Sat Nov 21 23:04:51 UTC 2026');
});

test('delegations: targets/releases signed by its delegated key, checked against the parent\'s delegations', () => {
  const repo = new TestRepo(GUN);
  const releasesKey = generateEcdsaKey();
  const stored = published(repo, releasesKey);
  const releases = repo.targets(2, { targets: { v2: dockerTarget(manifest) }, signers: [releasesKey] });
  const result = accepted(run(repo, [['targets/releases', releases]], stored));
  assert.deepEqual([...result.files.keys()], ['targets/releases']);
  assert.equal(result.needsSnapshot, true);
  invalid(
    run(repo, [['targets/releases', repo.targets(2, { signers: [repo.targetsKey] })]], stored),
    'ErrBadTargets',
    'valid signatures did not meet threshold for targets/releases',
  );
  invalid(
    run(repo, [['targets/releases', repo.targets(2, { signers: [releasesKey], expires: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)) })]], stored),
    'ErrBadTargets',
    'targets/releases expired at Fri Jan 2 03:04:05 UTC 2026',
  );
});

test('a delegation and the targets declaring it in one update: parents are validated first', () => {
  const repo = new TestRepo(GUN);
  const alice = generateEcdsaKey();
  const targets = repo.targets(2, { delegations: [{ name: 'targets/alice', keys: [alice.publicKey] }, { name: 'targets/releases', keys: [alice.publicKey] }] });
  const uploads: Files = [
    ['targets/releases', repo.targets(1, { targets: { signed: dockerTarget(manifest) }, signers: [alice] })],
    ['targets/alice', repo.targets(1, { signers: [alice] })],
    ['targets', targets],
    ['root', repo.root(1)],
  ];
  const result = accepted(run(repo, uploads));
  assert.deepEqual([...result.files.keys()], ['root', 'targets', 'targets/alice', 'targets/releases']);
});

test('an undeclared delegation does not exist; without any targets it cannot be loaded', () => {
  const repo = new TestRepo(GUN);
  const releasesKey = generateEcdsaKey();
  const stored = published(repo, releasesKey);
  invalid(
    run(repo, [['targets/undeclared', repo.targets(1, { signers: [releasesKey] })]], stored),
    'ErrBadTargets',
    'tuf: invalid role targets/undeclared. delegation does not exist',
  );
  // Declared in the stored targets, but the uploaded targets removes it: the upload wins.
  invalid(
    run(repo, [['targets', repo.targets(3)], ['targets/releases', repo.targets(2, { signers: [releasesKey] })]], stored),
    'ErrBadTargets',
    'tuf: invalid role targets/releases. delegation does not exist',
  );
  invalid(run(repo, [['root', repo.root(1)], ['targets/releases', repo.targets(1, { signers: [releasesKey] })]]), 'ErrBadTargets', 'targets must be loaded first');
});

test('nested delegations walk the stored chain: targets → targets/a → targets/a/b', () => {
  const repo = new TestRepo(GUN);
  const aKey = generateEcdsaKey();
  const bKey = generateEcdsaKey();
  const root = repo.root(1);
  const targets = repo.targets(2, { delegations: [{ name: 'targets/a', keys: [aKey.publicKey] }] });
  const a = repo.targets(1, { delegations: [{ name: 'targets/a/b', keys: [bKey.publicKey] }], signers: [aKey] });
  const b = repo.targets(1, { signers: [bKey] });
  accepted(run(repo, [['targets/a/b', b]], [['root', root], ['targets', targets], ['targets/a', a]]));
  invalid(run(repo, [['targets/a/b', b]], [['root', root], ['targets', targets]]), 'ErrBadTargets', 'tuf: invalid role targets/a/b. delegation does not exist');
  invalid(
    run(repo, [['targets/a/b', repo.targets(1, { signers: [aKey] })]], [['root', root], ['targets', targets], ['targets/a', a]]),
    'ErrBadTargets',
    'valid signatures did not meet threshold for targets/a/b',
  );
});

test('a stored parent that no longer verifies under the current root fails the delegation', () => {
  const repo = new TestRepo(GUN);
  const releasesKey = generateEcdsaKey();
  const stored = published(repo, releasesKey);
  // Root v2 replaces the targets key, but targets (signed with the old key) is not re-uploaded.
  const newTargetsKey = generateEcdsaKey();
  const signed = repo.rootSigned(2, { extraKeys: [newTargetsKey.publicKey] });
  (signed.roles as Record<string, unknown>).targets = { keyids: [newTargetsKey.keyId], threshold: 1 };
  const root2 = signDoc(signed, repo.rootKeys);
  invalid(
    run(repo, [['root', root2], ['targets/releases', repo.targets(2, { signers: [releasesKey] })]], stored),
    'ErrBadTargets',
    'valid signatures did not meet threshold for targets',
  );
  // Re-signing targets with the new key in the same update is how clients rotate it.
  const targets3 = signDoc(repo.targetsSigned(3, { delegations: [{ name: 'targets/releases', keys: [releasesKey.publicKey] }] }), [newTargetsKey]);
  accepted(run(repo, [['root', root2], ['targets', targets3], ['targets/releases', repo.targets(2, { signers: [releasesKey] })]], stored));
});

test('role names: invalid ones are INVALID_ROLE with the name as detail; timestamp is never accepted; empty is NO_FILENAME', () => {
  const repo = new TestRepo(GUN);
  for (const role of ['bogus', 'timestamp', 'targets/Bad', 'targets/', 'root.json', 'Targets']) {
    const error = refusedWith(run(repo, [['root', repo.root(1)], [role, repo.targets(2)]]), 'INVALID_ROLE');
    assert.equal(error.detail, role);
  }
  refusedWith(run(repo, [['', repo.targets(2)]]), 'NO_FILENAME');
});

test('malformed JSON is MALFORMED_JSON without detail, checked part by part before validation', () => {
  const repo = new TestRepo(GUN);
  for (const body of ['{not json', '{"signed":{"version":"2"},"signatures":[]}', '[]', '{"signed":{},"signatures":[{"sig":"!"}]}']) {
    const error = refusedWith(run(repo, [['root', repo.root(1)], ['targets', Buffer.from(body)]]), 'MALFORMED_JSON');
    assert.equal(error.detail, undefined);
  }
  // An invalid role name in an earlier part wins, as parts are read in order.
  refusedWith(run(repo, [['bogus', repo.targets(2)], ['targets', Buffer.from('{')]]), 'INVALID_ROLE');
  refusedWith(run(repo, [['targets', Buffer.from('{')], ['bogus', repo.targets(2)]]), 'MALFORMED_JSON');
});

test('an uploaded snapshot: signed by the root\'s snapshot key, not expired, hashes of this update\'s root and targets', () => {
  const repo = new TestRepo(GUN);
  const serverKeys = { snapshot: null, timestamp: repo.timestampKey.keyId };
  const root = repo.root(1);
  const targets = repo.targets(2);
  const good = repo.snapshot(2, new Map([['root', root], ['targets', targets]]));
  accepted(run(repo, [['root', root], ['targets', targets], ['snapshot', good]], [], { serverKeys }));

  const otherTargets = repo.targets(2, { targets: { x: dockerTarget(manifest) } });
  const mismatched = repo.snapshot(2, new Map([['root', root], ['targets', otherTargets]]));
  const expected = Buffer.from(fileMeta(otherTargets).hashes.sha256, 'base64').toString('hex');
  invalid(run(repo, [['root', root], ['targets', targets], ['snapshot', mismatched]], [], { serverKeys }), 'ErrBadSnapshot', `sha256 checksum for targets did not match: expected ${expected}`);

  const wrongRoot = repo.snapshot(2, new Map([['root', repo.root(1)], ['targets', targets]]));
  assert.match(
    (refusedWith(run(repo, [['root', root], ['targets', targets], ['snapshot', wrongRoot]], [], { serverKeys }), 'INVALID_UPDATE').message ?? ''),
    /^sha256 checksum for root did not match: expected [0-9a-f]{64}$/,
  );
  const byTargetsKey = repo.snapshot(2, new Map([['root', root], ['targets', targets]]), { signers: [repo.targetsKey] });
  invalid(run(repo, [['root', root], ['targets', targets], ['snapshot', byTargetsKey]], [], { serverKeys }), 'ErrBadSnapshot', 'valid signatures did not meet threshold for snapshot');
  const expired = repo.snapshot(2, new Map([['root', root], ['targets', targets]]), { expires: new Date(Date.UTC(2026, 10, 21, 23, 4, 51)) });
  invalid(run(repo, [['root', root], ['targets', targets], ['snapshot', expired]], [], { serverKeys }), 'ErrBadSnapshot', 'snapshot expired at Sat Nov 21 23:04:51 UTC 2026');
});

test('an uploaded snapshot must list the lengths of root and targets too (notary checks only hashes; Berth refuses)', () => {
  const repo = new TestRepo(GUN);
  const serverKeys = { snapshot: null, timestamp: repo.timestampKey.keyId };
  const root = repo.root(1);
  const targets = repo.targets(2);
  for (const delta of [-1, 1]) {
    const meta = { root: fileMeta(root), targets: { ...fileMeta(targets), length: targets.length + delta } };
    const snapshot = signDoc({ _type: 'Snapshot', expires: goTime(inYears(3)), meta, version: 2 }, [repo.snapshotKey]);
    invalid(run(repo, [['root', root], ['targets', targets], ['snapshot', snapshot]], [], { serverKeys }), 'ErrBadSnapshot', `snapshot lists ${targets.length + delta} bytes for targets, but targets is ${targets.length} bytes`);
  }
});

test('an uploaded snapshot is checked against stored root and targets, and must list uploaded delegations', () => {
  const repo = new TestRepo(GUN);
  const releasesKey = generateEcdsaKey();
  const stored = published(repo, releasesKey);
  const get = (role: string): Buffer => stored.find(([r]) => r === role)?.[1] as Buffer;
  const targets3 = repo.targets(3, { delegations: [{ name: 'targets/releases', keys: [releasesKey.publicKey] }] });
  // notary add -p: targets + snapshot; root comes from storage.
  accepted(run(repo, [['targets', targets3], ['snapshot', repo.snapshot(2, new Map([['root', get('root')], ['targets', targets3]]))]], stored));
  // A snapshot alone must match the stored targets.
  accepted(run(repo, [['snapshot', repo.snapshot(2, new Map([['root', get('root')], ['targets', get('targets')]]))]], stored));
  invalid(
    run(repo, [['snapshot', repo.snapshot(2, new Map([['root', get('root')], ['targets', targets3]]))]], stored),
    'ErrBadSnapshot',
    `sha256 checksum for targets did not match: expected ${Buffer.from(fileMeta(targets3).hashes.sha256, 'base64').toString('hex')}`,
  );
  const releases2 = repo.targets(2, { signers: [releasesKey] });
  invalid(
    run(repo, [['targets/releases', releases2], ['snapshot', repo.snapshot(2, new Map([['root', get('root')], ['targets', get('targets')]]))]], stored),
    'ErrBadSnapshot',
    'no checksums for supported algorithms were provided for targets/releases',
  );
  accepted(
    run(repo, [['targets/releases', releases2], ['snapshot', repo.snapshot(2, new Map([['root', get('root')], ['targets', get('targets')], ['targets/releases', releases2]]))]], stored),
  );
  refusedWith(run(repo, [['snapshot', repo.snapshot(1, new Map([['root', get('root')], ['targets', get('targets')]]))]], stored), 'VERSION');
});

test('no snapshot uploaded: the server must hold the root\'s snapshot key (ErrBadHierarchy)', () => {
  const repo = new TestRepo(GUN);
  const message = 'no snapshot was included in update and server does not hold current snapshot key for repository';
  const uploads: Files = [['root', repo.root(1)], ['targets', repo.targets(2)]];
  invalid(run(repo, uploads, [], { serverKeys: { snapshot: null, timestamp: repo.timestampKey.keyId } }), 'ErrBadHierarchy', message);
  invalid(run(repo, uploads, [], { serverKeys: { snapshot: generateEcdsaKey().keyId, timestamp: repo.timestampKey.keyId } }), 'ErrBadHierarchy', message);
  // A root-only first upload leaves nothing to snapshot.
  invalid(run(repo, [['root', repo.root(1)]]), 'ErrValidation', 'targets must be loaded first');
});

test('the server must hold the timestamp key the root lists', () => {
  const repo = new TestRepo(GUN);
  const uploads: Files = [['root', repo.root(1)], ['targets', repo.targets(2)]];
  for (const timestamp of [null, generateEcdsaKey().keyId]) {
    invalid(run(repo, uploads, [], { serverKeys: { snapshot: repo.snapshotKey.keyId, timestamp } }), 'ErrBadRoot', 'no  timestamp keys exist on the server');
  }
});

test('rotating a server key: a new root listing the new snapshot key (notary key rotate snapshot -r)', () => {
  const repo = new TestRepo(GUN);
  const stored = published(repo, generateEcdsaKey());
  const newSnapshotKey = generateEcdsaKey();
  const signed = repo.rootSigned(2, { extraKeys: [newSnapshotKey.publicKey] });
  (signed.roles as Record<string, unknown>).snapshot = { keyids: [newSnapshotKey.keyId], threshold: 1 };
  const root2 = signDoc(signed, repo.rootKeys);
  invalid(run(repo, [['root', root2]], stored), 'ErrBadHierarchy', 'no snapshot was included in update and server does not hold current snapshot key for repository');
  const result = accepted(run(repo, [['root', root2]], stored, { serverKeys: { snapshot: newSnapshotKey.keyId, timestamp: repo.timestampKey.keyId } }));
  assert.equal(result.needsSnapshot, true);
  assert.deepEqual(result.root.roles.get('snapshot')?.keyids, [newSnapshotKey.keyId]);
});

test('an empty update on a published repository is accepted: the server re-signs snapshot and timestamp', () => {
  const repo = new TestRepo(GUN);
  const result = accepted(run(repo, [], published(repo, generateEcdsaKey())));
  assert.equal(result.files.size, 0);
  assert.equal(result.needsSnapshot, true);
});

test('the full publish cycle: accepted files, then a server snapshot and timestamp a client can follow', () => {
  const repo = new TestRepo(GUN);
  const root = repo.root(1);
  const targets = repo.targets(2, { targets: { latest: dockerTarget(manifest) } });
  const result = accepted(run(repo, [['root', root], ['targets', targets]]));
  const files = new Map([...result.files].map(([r, f]) => [r, f.bytes]));
  const snapshot = buildSnapshot({ version: 1, expires: snapshotExpiry(new Date()), files, key: repo.snapshotKey });
  const timestamp = buildTimestamp({ version: 1, expires: timestampExpiry(new Date()), snapshotBytes: snapshot.bytes, key: repo.timestampKey });
  const stored: Files = [['root', root], ['targets', targets], ['snapshot', snapshot.bytes], ['timestamp', timestamp.bytes]];
  // The next publish validates against what was stored, including the server's own snapshot.
  const next = accepted(run(repo, [['targets', repo.targets(3)]], stored));
  assert.equal(next.files.get('targets')?.version, 3);
  const ts = parseMetadata(timestamp.bytes, 'timestamp');
  assert.equal(ts.meta.get('snapshot')?.hashes.sha256, fileMeta(snapshot.bytes).hashes.sha256);
  assert.ok(inYears(2).getTime() < parseMetadata(snapshot.bytes, 'snapshot').expires.getTime());
});

test('a stored file that cannot be read is a server fault, thrown rather than answered', () => {
  const repo = new TestRepo(GUN);
  assert.throws(() => run(repo, [['targets', repo.targets(2)]], [['root', Buffer.from('{garbage')]]), /stored root metadata of localhost:5002\/test\/bb cannot be read/);
});
