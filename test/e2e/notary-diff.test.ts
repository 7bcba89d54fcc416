// Differential tests of Berth's Notary v1 server against the reference,
// Debian's notary-server 0.7 (memory store, local trust service, TLS, no
// auth), both started by this file over HTTPS with the same test CA.
//
// 1. The same scripted notary CLI flow (init, add, list, lookup, delegations,
//    every key rotation, remove, delete) runs against each server with fresh
//    trust directories; each step's exit code and normalised output must be
//    equal, step by step.
// 2. Rejected uploads, crafted with the TUF test kit and sent over HTTP to
//    each server at the same state: the status, the Notary error code and
//    the validation error's name must be equal. Where Berth deliberately
//    answers otherwise, the case lists both answers and the reason
//    (DIFFERENCES below, also in docs/trust.md "Compatibility with Notary").
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { startTlsBerth, withRegistryLog, type RunningRegistry } from './registry-process.js';
import { NOTARY_SERVER, httpsCall, startNotaryServer, waitForOk, type RunningNotaryServer } from './notary-server.js';
import { run, type RunResult } from './util.js';
import { TestRepo, inYears, makeRootKey, signDoc, type RootKey } from '../../src/trust/tuf/testkit.js';
import { fileMeta, generateEcdsaKey, goTime, keyId, type TufKey } from '../../src/trust/tuf/index.js';

const NOTARY = '/usr/bin/notary';
const T = { timeout: 240_000 };
const required = process.env.E2E_REQUIRE_NOTARY === '1';
const missing = [NOTARY, NOTARY_SERVER].filter((p) => !existsSync(p));
const skip = missing.length === 0 ? false : required ? false : `${missing.join(' and ')} not installed (Debian package notary); CI installs it`;

/** A trust server under test: Berth or the reference. */
interface Server {
  name: 'reference' | 'berth';
  url: string;
  /** host:port as the notary CLI prints it. */
  host: string;
}

interface StepRecord {
  step: string;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A connection closed with no HTTP answer at all. */
const NO_ANSWER = { status: 0, code: '(connection closed without an answer)' } as const;

/** What a server answered to a bad publish. */
interface Outcome {
  status: number;
  /** errors[0].code, or null without an error body. */
  code: string | null;
  /** errors[0].detail.Name for INVALID_UPDATE. */
  name?: string;
}

describe('Notary: Berth against the reference notary-server', { skip }, () => {
  let work: string;
  let certs: string;
  let ca: string;
  let berth: RunningRegistry | undefined;
  let reference: RunningNotaryServer | undefined;
  let servers: Server[] = [];
  const passphrases = {
    NOTARY_ROOT_PASSPHRASE: 'root-passphrase-1',
    NOTARY_TARGETS_PASSPHRASE: 'targets-passphrase-1',
    NOTARY_SNAPSHOT_PASSPHRASE: 'snapshot-passphrase-1',
    NOTARY_DELEGATION_PASSPHRASE: 'delegation-passphrase-1',
  };

  before(async () => {
    if (required) assert.deepEqual(missing, [], `E2E_REQUIRE_NOTARY=1 but ${missing.join(', ')} missing (apt-get install notary)`);
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-notary-diff-'));
    ({ reg: berth, certs } = await startTlsBerth(work));
    ca = await readFile(join(certs, 'ca.crt'), 'utf8');
    await waitForOk(`${berth.url}/readyz`, ca, 20_000);
    reference = await startNotaryServer({ dir: work, cert: join(certs, 'server.crt'), key: join(certs, 'server.key'), ca: join(certs, 'ca.crt') });
    servers = [
      { name: 'reference', url: reference.url, host: reference.host },
      { name: 'berth', url: berth.url, host: berth.host },
    ];
  }, T);
  after(async () => {
    await reference?.stop();
    await berth?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Runs `fn`; on failure appends the tails of both servers' logs. */
  const withLogs = <R>(fn: () => Promise<R>): Promise<R> => withRegistryLog(berth, async () => {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof Error && reference) e.message += `\n--- notary-server output (tail) ---\n${reference.logs().slice(-3000)}`;
      throw e;
    }
  });

  // ---- 1. the notary CLI flow ---------------------------------------------------

  /**
   * The scripted flow against one server, in its own folder: `publisher` is
   * the repository owner's trust directory, `reader` a client that caches
   * the first root and reads again after the root rotation (it must walk
   * the root chain), every other read a fresh directory.
   */
  async function notaryFlow(server: Server, gun: string, files: { target1: string; target2: string; delegationCert: string; delegationKey: string }): Promise<StepRecord[]> {
    const home = join(work, `flow-${server.name}`);
    await mkdir(home, { recursive: true });
    const publisher = join(home, 'publisher');
    const reader = join(home, 'reader');
    let fresh = 0;
    const records: StepRecord[] = [];
    const step = async (name: string, args: string[], o: { dir?: string; input?: string } = {}): Promise<void> => {
      const dir = o.dir ?? join(home, `fresh-${fresh++}`);
      const r: RunResult = await run(NOTARY, ['-s', server.url, '-d', dir, '--tlscacert', join(certs, 'ca.crt'), ...args], {
        env: { ...process.env, ...passphrases }, allowFailure: true, ...(o.input === undefined ? {} : { input: o.input }),
      });
      const norm = (s: string) => normalise(s, { gun, serverHost: server.host, paths: [home, work] });
      records.push({ step: name, code: r.code, stdout: norm(r.stdout), stderr: norm(r.stderr) });
    };
    await step('init -p', ['init', gun, '-p'], { dir: publisher });
    await step('add v1 -p', ['add', gun, 'v1', files.target1, '-p'], { dir: publisher });
    await step('list', ['list', gun]);
    await step('lookup v1', ['lookup', gun, 'v1']);
    await step('list (reader caches root v1)', ['list', gun], { dir: reader });
    await step('delegation add targets/releases -p', ['delegation', 'add', gun, 'targets/releases', files.delegationCert, '--all-paths', '-p'], { dir: publisher });
    await step('delegation list', ['delegation', 'list', gun]);
    await step('key import (delegation key)', ['key', 'import', files.delegationKey, '--role', 'targets/releases'], { dir: publisher });
    await step('add v2 --roles targets/releases -p', ['add', gun, 'v2', files.target2, '--roles', 'targets/releases', '-p'], { dir: publisher });
    await step('list (v1 in targets, v2 in targets/releases)', ['list', gun]);
    await step('key rotate snapshot -r', ['key', 'rotate', gun, 'snapshot', '-r'], { dir: publisher });
    await step('key rotate timestamp -r', ['key', 'rotate', gun, 'timestamp', '-r'], { dir: publisher });
    await step('key rotate targets', ['key', 'rotate', gun, 'targets'], { dir: publisher });
    await step('key rotate root', ['key', 'rotate', gun, 'root'], { dir: publisher, input: 'yes\n' });
    await step('list (reader walks the root rotation)', ['list', gun], { dir: reader });
    await step('list after the rotations', ['list', gun]);
    await step('remove v1 -p', ['remove', gun, 'v1', '-p'], { dir: publisher });
    await step('list after remove', ['list', gun]);
    await step('delete --remote', ['delete', gun, '--remote'], { dir: publisher });
    await step('list after delete', ['list', gun]);
    return records;
  }

  it('the same notary CLI flow gives the same exit codes and outputs on both servers', T, () => withLogs(async () => {
    const files = {
      target1: join(work, 'target1.txt'),
      target2: join(work, 'target2.txt'),
      delegationKey: join(work, 'releases.key'),
      delegationCert: join(work, 'releases.crt'),
    };
    await writeFile(files.target1, 'hello trust\n');
    await writeFile(files.target2, 'signed by the releases delegation\n');
    await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', files.delegationKey]);
    await run('openssl', ['req', '-new', '-x509', '-key', files.delegationKey, '-out', files.delegationCert, '-days', '3650', '-subj', '/CN=releases']);
    // One GUN for both: Berth needs its own host in it; the reference takes any name.
    const gun = `${berth?.host}/diff/flow`;
    const [ref, ours] = [await notaryFlow(servers[0] as Server, gun, files), await notaryFlow(servers[1] as Server, gun, files)] as [StepRecord[], StepRecord[]];

    // The reference itself behaves as scripted (a broken set-up must not pass as "equal").
    assert.deepEqual(ref.map((r) => [r.step, r.code]), ref.map((r) => [r.step, r.step === 'list after delete' ? 1 : 0]), `the reference flow:\n${show(ref)}`);
    assert.match(ref.find((r) => r.step === 'list (v1 in targets, v2 in targets/releases)')?.stdout ?? '', /^v2\s+<hex>\s+34\s+targets\/releases$/m);
    const gone = ref.find((r) => r.step === 'list after delete');
    assert.match(`${gone?.stdout}${gone?.stderr}`, /<server> does not have trust data for <gun>/);

    const diffs = ref.flatMap((r, i) => {
      const b = ours[i];
      return b && b.code === r.code && b.stdout === r.stdout && b.stderr === r.stderr ? [] : [`step ${i + 1} "${r.step}":\n  reference: ${oneLine(r)}\n  berth:     ${b ? oneLine(b) : '(missing)'}`];
    });
    assert.equal(ours.length, ref.length);
    assert.equal(diffs.join('\n'), '', `Berth differs from the reference:\n${diffs.join('\n')}`);
  }));

  // ---- 2. rejected uploads -----------------------------------------------------

  /** A repository initialised as `notary init -p` does (root v1, targets v2, client snapshot v2), with the server's timestamp key. */
  interface Seeded {
    server: Server;
    gun: string;
    repo: TestRepo;
    timestampKey: TufKey;
    root1: Buffer;
    targets2: Buffer;
  }

  const tufUrl = (server: Server, gun: string, file = '') => `${server.url}/v2/${gun}/_trust/tuf/${file}`;

  /** The root's `signed` with the server's timestamp key in place of the test kit's. */
  function rootSigned(s: Pick<Seeded, 'repo' | 'timestampKey'>, version: number, o: Parameters<TestRepo['rootSigned']>[1] = {}): Record<string, unknown> {
    const signed = s.repo.rootSigned(version, o);
    const keys = signed.keys as Record<string, TufKey>;
    delete keys[s.repo.timestampKey.keyId];
    keys[keyId(s.timestampKey)] = s.timestampKey;
    (signed.roles as Record<string, unknown>).timestamp = { keyids: [keyId(s.timestampKey)], threshold: 1 };
    return signed;
  }

  async function seed(server: Server, gun: string): Promise<Seeded> {
    const key = await httpsCall(tufUrl(server, gun, 'timestamp.key'), { ca });
    assert.equal(key.status, 200, `${server.name}: GET timestamp.key: ${key.body.toString('utf8')}`);
    const repo = new TestRepo(gun);
    const s = { server, gun, repo, timestampKey: JSON.parse(key.body.toString('utf8')) as TufKey };
    const root1 = signDoc(rootSigned(s, 1), repo.rootKeys);
    const targets2 = repo.targets(2);
    const snapshot2 = repo.snapshot(2, new Map([['root', root1], ['targets', targets2]]));
    const r = await publish(server, gun, multipart([{ filename: 'root', data: root1 }, { filename: 'targets', data: targets2 }, { filename: 'snapshot', data: snapshot2 }]));
    assert.deepEqual(r, { status: 200, code: null }, `${server.name}: the initial publish of ${gun}`);
    return { ...s, root1, targets2 };
  }

  async function publish(server: Server, gun: string, body: { contentType: string; body: Buffer }): Promise<Outcome> {
    let r;
    try {
      r = await httpsCall(tufUrl(server, gun), { ca, method: 'POST', headers: { 'Content-Type': body.contentType }, body: body.body, timeoutMs: 60_000 });
    } catch {
      return NO_ANSWER;
    }
    if (r.status === 200) return { status: 200, code: null };
    let parsed: { errors?: { code?: string; detail?: { Name?: string } }[] };
    try {
      parsed = JSON.parse(r.body.toString('utf8')) as typeof parsed;
    } catch {
      return { status: r.status, code: `(no JSON body: ${r.body.toString('utf8').slice(0, 80)})` };
    }
    const e = parsed.errors?.[0];
    return { status: r.status, code: e?.code ?? null, ...(e?.detail?.Name ? { name: e.detail.Name } : {}) };
  }

  /** The update `parts` with a client snapshot of `version` over them (root1 and targets2 when not in `parts`); `extra` parts are not listed in the snapshot. */
  function withSnapshot(s: Seeded, version: number, parts: Record<string, Buffer>, o: { meta?: (m: Record<string, unknown>) => void; extra?: Record<string, Buffer> } = {}): { contentType: string; body: Buffer } {
    const meta: Record<string, unknown> = { root: fileMeta(parts.root ?? s.root1), targets: fileMeta(parts.targets ?? s.targets2) };
    for (const [role, bytes] of Object.entries(parts)) meta[role] = fileMeta(bytes);
    o.meta?.(meta);
    const snapshot = signDoc({ _type: 'Snapshot', expires: goTime(inYears(3)), meta, version }, [s.repo.snapshotKey]);
    return multipart([...Object.entries({ ...parts, ...o.extra }).map(([filename, data]) => ({ filename, data })), { filename: 'snapshot', data: snapshot }]);
  }

  /** A root v2 listing `keys` as root keys, signed by `signers`, with a snapshot. */
  function rootUpdate(s: Seeded, version: number, keys: RootKey[], signers: RootKey[], rootThreshold = 1) {
    const root = signDoc(rootSigned(s, version, { rootKeys: keys, rootThreshold }), signers);
    return withSnapshot(s, 3, { root });
  }

  const dayAgo = () => new Date(Date.now() - 86_400_000);

  /** Each bad publish, built for one seeded repository. */
  const CASES: { name: string; expect: Outcome; build: (s: Seeded) => { contentType: string; body: Buffer } }[] = [
    {
      name: 'targets signed by a wrong key (the right key id)',
      expect: { status: 400, code: 'INVALID_UPDATE', name: 'ErrBadTargets' },
      build: (s) => withSnapshot(s, 3, { targets: s.repo.targets(3, { signers: [{ privateKeyPem: generateEcdsaKey().privateKeyPem, keyId: s.repo.targetsKey.keyId }] }) }),
    },
    {
      name: 'root threshold not met (2 of 2 root keys required, 1 signed)',
      expect: { status: 400, code: 'INVALID_UPDATE', name: 'ErrBadRoot' },
      build: (s) => {
        const second = makeRootKey(s.gun);
        return rootUpdate(s, 2, [s.repo.rootKeys[0] as RootKey, second], [s.repo.rootKeys[0] as RootKey], 2);
      },
    },
    {
      name: 'targets without any signature',
      expect: { status: 400, code: 'INVALID_UPDATE', name: 'ErrBadTargets' },
      build: (s) => withSnapshot(s, 3, { targets: s.repo.targets(3, { signers: [] }) }),
    },
    {
      name: 'stale targets version (1 < stored 2)',
      expect: { status: 400, code: 'VERSION' },
      build: (s) => withSnapshot(s, 3, { targets: s.repo.targets(1, { targets: { a: { hashes: { sha256: fileMeta(Buffer.from('a')).hashes.sha256 }, length: 1 } } }) }),
    },
    {
      name: 'equal targets version (2 = stored 2, other content)',
      expect: { status: 400, code: 'VERSION' },
      build: (s) => withSnapshot(s, 3, { targets: s.repo.targets(2, { targets: { a: { hashes: { sha256: fileMeta(Buffer.from('a')).hashes.sha256 }, length: 1 } } }) }),
    },
    {
      name: 'root version jump (1 → 3)',
      expect: { status: 400, code: 'INVALID_UPDATE', name: 'ErrBadRoot' },
      build: (s) => rootUpdate(s, 3, s.repo.rootKeys, s.repo.rootKeys),
    },
    {
      name: 'new root not cross-signed by the old root key',
      expect: { status: 400, code: 'INVALID_UPDATE', name: 'ErrBadRoot' },
      build: (s) => {
        const next = makeRootKey(s.gun);
        return rootUpdate(s, 2, [next], [next]);
      },
    },
    {
      name: 'root certificate CN is not the GUN',
      expect: { status: 400, code: 'INVALID_UPDATE', name: 'ErrBadRoot' },
      build: (s) => {
        const other = makeRootKey(s.gun, { commonName: 'example.com/someone/else' });
        return rootUpdate(s, 2, [other], [s.repo.rootKeys[0] as RootKey, other]);
      },
    },
    {
      name: 'expired root certificate',
      expect: { status: 400, code: 'INVALID_UPDATE', name: 'ErrBadRoot' },
      build: (s) => {
        const expired = makeRootKey(s.gun, { notBefore: inYears(-2), notAfter: dayAgo() });
        return rootUpdate(s, 2, [expired], [s.repo.rootKeys[0] as RootKey, expired]);
      },
    },
    {
      name: 'expired targets metadata',
      expect: { status: 400, code: 'INVALID_UPDATE', name: 'ErrBadTargets' },
      build: (s) => withSnapshot(s, 3, { targets: s.repo.targets(3, { expires: dayAgo() }) }),
    },
    {
      name: 'expired root metadata',
      expect: { status: 400, code: 'INVALID_UPDATE', name: 'ErrBadRoot' },
      build: (s) => {
        const root = signDoc(rootSigned(s, 2, { expires: dayAgo() }), s.repo.rootKeys);
        return withSnapshot(s, 3, { root });
      },
    },
    {
      name: 'undeclared delegation (targets/undeclared)',
      expect: { status: 400, code: 'INVALID_UPDATE', name: 'ErrBadTargets' },
      build: (s) => {
        const k = generateEcdsaKey();
        return withSnapshot(s, 3, { 'targets/undeclared': signDoc(s.repo.targetsSigned(1), [k]) });
      },
    },
    {
      name: 'snapshot with a wrong hash of targets',
      expect: { status: 400, code: 'INVALID_UPDATE', name: 'ErrBadSnapshot' },
      build: (s) => withSnapshot(s, 3, { targets: s.repo.targets(3) }, {
        meta: (m) => {
          (m.targets as { hashes: Record<string, string> }).hashes = fileMeta(Buffer.from('other bytes')).hashes;
        },
      }),
    },
    {
      name: 'snapshot with a short length of targets (hashes right)',
      expect: { status: 400, code: 'INVALID_UPDATE', name: 'ErrBadSnapshot' },
      build: (s) => withSnapshot(s, 3, { targets: s.repo.targets(3) }, {
        meta: (m) => {
          (m.targets as { length: number }).length -= 1;
        },
      }),
    },
    {
      name: 'body not multipart',
      expect: { status: 400, code: 'MALFORMED_UPLOAD' },
      build: (s) => ({ contentType: 'application/json', body: s.repo.targets(3) }),
    },
    {
      name: 'part with an empty filename',
      expect: { status: 400, code: 'NO_FILENAME' },
      build: (s) => multipart([{ filename: '', data: s.repo.targets(3) }]),
    },
    {
      name: 'part without a filename parameter',
      expect: { status: 400, code: 'NO_FILENAME' },
      build: (s) => multipart([{ filename: null, data: s.repo.targets(3) }]),
    },
    {
      name: 'invalid role name',
      expect: { status: 400, code: 'INVALID_ROLE' },
      build: (s) => multipart([{ filename: 'bogus', data: s.repo.targets(3) }]),
    },
    {
      name: 'malformed JSON',
      expect: { status: 400, code: 'MALFORMED_JSON' },
      build: () => multipart([{ filename: 'targets', data: Buffer.from('{not json') }]),
    },
    {
      name: 'oversized metadata (a 22 MiB targets file)',
      expect: { status: 413, code: 'BERTH_TOO_LARGE' },
      build: (s) => {
        const targets: Record<string, unknown> = {};
        const meta = { hashes: { sha256: fileMeta(Buffer.from('x')).hashes.sha256 }, length: 1 };
        for (let i = 0; i < 210_000; i++) targets[`tag-${String(i).padStart(7, '0')}-${'x'.repeat(16)}`] = meta;
        return withSnapshot(s, 3, { targets: s.repo.targets(3, { targets }) });
      },
    },
    {
      name: 'multipart body cut off (no closing boundary)',
      expect: { status: 400, code: 'MALFORMED_UPLOAD' },
      build: (s) => {
        const m = multipart([{ filename: 'targets', data: s.repo.targets(3) }]);
        return { contentType: m.contentType, body: m.body.subarray(0, m.body.lastIndexOf('\r\n--')) };
      },
    },
    {
      name: 'multipart body without any part',
      expect: { status: 400, code: 'MALFORMED_UPLOAD' },
      build: () => multipart([]),
    },
    {
      name: 'a timestamp part',
      expect: { status: 400, code: 'INVALID_ROLE' },
      build: (s) => withSnapshot(s, 3, { targets: s.repo.targets(3) }, {
        extra: { timestamp: signDoc({ _type: 'Timestamp', expires: goTime(inYears(1)), meta: {}, version: 9 }, [s.repo.targetsKey]) },
      }),
    },
  ];

  /**
   * Where Berth answers otherwise than notary-server 0.7 on purpose: the
   * reference's answer, and why Berth's (the case's `expect`) is kept.
   */
  const DIFFERENCES: Record<string, { reference: Outcome; why: string }> = {
    'snapshot with a short length of targets (hashes right)': {
      reference: { status: 200, code: null },
      why: 'notary-server checks only the hashes of the files a snapshot lists; its clients download a role up to the listed length, so after this publish every reader fails. Berth refuses it (ErrBadSnapshot)',
    },
    'oversized metadata (a 22 MiB targets file)': {
      reference: { status: 200, code: null },
      why: 'notary-server reads a publish of any size into memory; Berth bounds a publish body at 16 MiB and answers 413 BERTH_TOO_LARGE (reading the rest and dropping it, so the client gets the answer)',
    },
    'multipart body cut off (no closing boundary)': {
      reference: NO_ANSWER,
      why: 'notary-server\'s handler dereferences the failed part (a Go panic) and drops the connection without an answer; Berth answers 400 MALFORMED_UPLOAD',
    },
    'multipart body without any part': {
      reference: { status: 400, code: 'INVALID_UPDATE', name: 'ErrBadHierarchy' },
      why: 'notary-server validates an empty update (it fails here only because the client holds the snapshot key; with a server-held one it re-signs and answers 200); Berth refuses an upload that holds no metadata with 400 MALFORMED_UPLOAD',
    },
    'a timestamp part': {
      reference: { status: 200, code: null },
      why: 'notary-server accepts a client timestamp part and silently replaces it with its own; Berth refuses it (INVALID_ROLE), since the server alone signs the timestamp',
    },
  };

  it('rejected uploads: the same status, Notary error code and validation error on both servers', T, (t) => withLogs(async () => {
    const rows: string[] = [];
    const failures: string[] = [];
    for (const [i, c] of CASES.entries()) {
      const gun = `${berth?.host}/diff/bad-${i}`;
      const got: Partial<Record<Server['name'], Outcome>> = {};
      for (const server of servers) {
        const s = await seed(server, gun);
        got[server.name] = await publish(server, gun, c.build(s));
      }
      const known = DIFFERENCES[c.name];
      const expected = { reference: known?.reference ?? c.expect, berth: c.expect };
      const ok = isDeepStrictEqual(got.reference, expected.reference) && isDeepStrictEqual(got.berth, expected.berth);
      const line = `${ok ? 'ok  ' : 'FAIL'} ${c.name}: reference ${fmt(got.reference)}, berth ${fmt(got.berth)}${known ? ` (documented difference: ${known.why})` : ''}`;
      rows.push(line);
      if (!ok) failures.push(`${line}\n      expected reference ${fmt(expected.reference)}, berth ${fmt(expected.berth)}`);
    }
    for (const row of rows) t.diagnostic(row);
    assert.equal(failures.join('\n'), '', `rejected uploads:\n${rows.join('\n')}\n\nfailures:\n${failures.join('\n')}`);
  }));
});

// ---- helpers ----------------------------------------------------------------------

/** A multipart/form-data body as the notary client sends it (`files` parts, the role in `filename`); `filename: null` leaves the parameter out. */
function multipart(parts: { filename: string | null; data: Buffer }[]): { contentType: string; body: Buffer } {
  const boundary = 'c0ffee'.repeat(10);
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = p.filename === null ? 'form-data; name="files"' : `form-data; name="files"; filename="${p.filename}"`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\nContent-Type: application/octet-stream\r\n\r\n`), p.data, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat(chunks) };
}

/**
 * A CLI output without what differs between two runs of the same flow: the
 * GUN and the server's host (different ports), temporary paths, key IDs and
 * hashes, log timestamps, trailing spaces.
 */
function normalise(text: string, o: { gun: string; serverHost: string; paths: string[] }): string {
  let s = text.split(o.gun).join('<gun>');
  for (const p of o.paths) s = s.split(p).join('<dir>');
  s = s.split(`https://${o.serverHost}`).join('<server>').split(o.serverHost).join('<server>');
  return s
    .replace(/\b[0-9a-f]{64}\b/g, '<hex>')
    .replace(/time="[^"]*"/g, 'time=<time>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)/g, '<date>')
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n');
}

function oneLine(r: StepRecord): string {
  return `exit ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`;
}

function show(records: StepRecord[]): string {
  return records.map((r, i) => `${i + 1}. ${r.step}: ${oneLine(r)}`).join('\n');
}

function fmt(o: Outcome | undefined): string {
  return o ? `${o.status} ${o.code ?? '-'}${o.name ? ` ${o.name}` : ''}` : '(none)';
}
