// The real notary CLI (Debian's notary 0.7) against Berth's own Notary API,
// over HTTPS verified with the private CA from `berth certs init`. Every
// command uses a fresh trust directory unless it means to reuse one: the
// client silently falls back to its cache and would hide a server failure.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTlsBerth, withRegistryLog, type RunningRegistry } from './registry-process.js';
import { run, runExpectFailure } from './util.js';

const NOTARY = '/usr/bin/notary';
const T = { timeout: 240_000 };
const required = process.env.E2E_REQUIRE_NOTARY === '1';
const skip = existsSync(NOTARY) ? false : required ? false : 'the notary client is not installed (Debian package notary); CI installs it';

describe('notary CLI against Berth', { skip }, () => {
  let work: string;
  let certs: string;
  let reg: RunningRegistry | undefined;
  let n = 0;
  const env = {
    NOTARY_ROOT_PASSPHRASE: 'root-passphrase-1',
    NOTARY_TARGETS_PASSPHRASE: 'targets-passphrase-1',
    NOTARY_SNAPSHOT_PASSPHRASE: 'snapshot-passphrase-1',
    NOTARY_DELEGATION_PASSPHRASE: 'delegation-passphrase-1',
  };
  before(async () => {
    if (required) assert.ok(existsSync(NOTARY), `E2E_REQUIRE_NOTARY=1 but ${NOTARY} is missing`);
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-notary-'));
    ({ reg, certs } = await startTlsBerth(work));
  }, T);
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** notary with a trust directory (fresh unless given) against Berth, verifying Berth's certificate. */
  const notary = (args: string[], dir = join(work, `trust-${n++}`)) =>
    run(NOTARY, ['-s', reg?.url ?? '', '-d', dir, '--tlscacert', join(certs, 'ca.crt'), ...args], { env: { ...process.env, ...env } });
  const notaryFails = (args: string[], dir = join(work, `trust-${n++}`)) =>
    runExpectFailure(NOTARY, ['-s', reg?.url ?? '', '-d', dir, '--tlscacert', join(certs, 'ca.crt'), ...args], { env: { ...process.env, ...env } });

  it('init, add, publish, list and lookup; a fresh client reads the same', T, () => withRegistryLog(reg, async () => {
    const gun = `${reg?.host}/e2e/ncli`;
    const dir = join(work, 'publisher');
    const init = await notary(['init', gun, '-p'], dir);
    assert.match(init.stdout + init.stderr, /Successfully published changes for repository/);
    const file = join(work, 'target1.txt');
    await writeFile(file, 'hello trust\n');
    await notary(['add', gun, 'v1', file], dir);
    const pub = await notary(['publish', gun], dir);
    assert.match(pub.stdout + pub.stderr, /Successfully published changes for repository/);
    const list = await notary(['list', gun]);
    assert.match(list.stdout, /^v1\s+[0-9a-f]{64}\s+12\s+targets\s*$/m);
    const lookup = await notary(['lookup', gun, 'v1']);
    assert.match(lookup.stdout, /^v1 sha256:[0-9a-f]{64} 12$/m);
  }));

  it('rotates the snapshot and timestamp keys to the server, then the targets key; clients still verify', T, () => withRegistryLog(reg, async () => {
    const gun = `${reg?.host}/e2e/rotate`;
    const dir = join(work, 'rotator');
    await notary(['init', gun, '-p'], dir);
    assert.match((await notary(['key', 'rotate', gun, 'snapshot', '-r'], dir)).stdout, /Successfully rotated snapshot key/);
    assert.match((await notary(['key', 'rotate', gun, 'timestamp', '-r'], dir)).stdout, /Successfully rotated timestamp key/);
    assert.match((await notary(['key', 'rotate', gun, 'targets'], dir)).stdout, /Successfully rotated targets key/);
    const file = join(work, 'target2.txt');
    await writeFile(file, 'after rotation\n');
    await notary(['add', gun, 'v2', file, '-p'], dir);
    assert.match((await notary(['list', gun])).stdout, /^v2\s+[0-9a-f]{64}\s+15\s+targets\s*$/m, 'published with the server now signing the snapshot');
  }));

  it('delegations: add targets/releases with a key, and list them', T, () => withRegistryLog(reg, async () => {
    const gun = `${reg?.host}/e2e/deleg`;
    const dir = join(work, 'delegator');
    await notary(['init', gun, '-p'], dir);
    const keyDir = join(work, 'deleg-key');
    await run('sh', ['-c', `mkdir -p ${keyDir} && cd ${keyDir} && openssl ecparam -name prime256v1 -genkey -noout -out d.key && openssl req -new -x509 -key d.key -out d.crt -days 30 -subj /CN=releases`]);
    await notary(['delegation', 'add', gun, 'targets/releases', join(keyDir, 'd.crt'), '--all-paths', '-p'], dir);
    const list = await notary(['delegation', 'list', gun]);
    assert.match(list.stdout, /targets\/releases\s+"" <all paths>\s+[0-9a-f]{64}\s+1/);
  }));

  it('delete --remote removes the trust data; a fresh client then finds none', T, () => withRegistryLog(reg, async () => {
    const gun = `${reg?.host}/e2e/gone`;
    const dir = join(work, 'deleter');
    await notary(['init', gun, '-p'], dir);
    const del = await notary(['delete', gun, '--remote'], dir);
    assert.match(del.stdout + del.stderr, /Successfully deleted local and remote trust data for repository/);
    const after = await notaryFails(['list', gun]);
    assert.match(after.stdout + after.stderr, /does not have trust data for/);
  }));
});
