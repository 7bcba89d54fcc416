import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash, randomBytes } from 'node:crypto';
import { createScratchDatabase, postgresSkipReason } from '../helpers/postgres.js';
import bcrypt from 'bcryptjs';
import { SqliteStore } from '../../src/metadata/sqlite/sqlite-store.js';
import type { LoginFailureKey } from '../../src/metadata/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = path.join(root, 'dist/src/cli/main.js');

function berth(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 });
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

describe('berth CLI', () => {
  it('prints its version and help', () => {
    const v = berth(['--version']);
    assert.equal(v.status, 0);
    assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+$/);
    const h = berth(['--help']);
    assert.equal(h.status, 0);
    assert.match(h.stdout, /serve/);
    assert.match(h.stdout, /config/);
    const s = berth(['serve', '--help']);
    assert.match(s.stdout, /--config <file>/);
    assert.match(s.stdout, /--addr <host:port>/);
    assert.match(s.stdout, /--data-dir <dir>/);
  });

  it('exits 2 on an invalid configuration, naming the key and the fix', async () => {
    const r = berth(['config', 'check'], { REGISTRY_LOG_LEVEL: 'loud' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /log\.level: /);
    assert.match(r.stderr, /berth config check/);
    const s = berth(['serve', '--addr', 'nowhere']);
    assert.equal(s.status, 2);
    assert.match(s.stderr, /http\.addr: /);
  });

  it('names the key, the path and the problem for files the config names, in config check and serve alike', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-cli-'));
    try {
      const notAFolder = path.join(dir, 'plain-file');
      await writeFile(notAFolder, 'x');
      const file = path.join(dir, 'config.yml');
      // Debian's stock /etc/docker/registry/config.yml points htpasswd at a folder; here: a folder, and a missing certificate.
      await writeFile(file, `auth:\n  htpasswd:\n    realm: r\n    path: ${dir}\nhttp:\n  tls:\n    certificate: ${dir}/missing.crt\n    key: ${dir}/missing.key\n`);
      for (const command of [['config', 'check'], ['serve']]) {
        const r = berth([...command, '--config', file, '--data-dir', path.join(notAFolder, 'data')]);
        assert.equal(r.status, 2, `${command.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`auth\\.htpasswd\\.path: ${dir} is a folder, expected an htpasswd file`));
        assert.match(r.stderr, new RegExp(`http\\.tls\\.certificate: ${dir}/missing\\.crt does not exist; create one with: berth certs init`));
        assert.match(r.stderr, new RegExp(`datadir: ${notAFolder} exists and is not a folder`));
        assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, 'no stack trace');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('checks a config file and prints the resolved config as JSON', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-cli-'));
    try {
      const file = path.join(dir, 'config.yml');
      await writeFile(file, 'http:\n  addr: 127.0.0.1:5555\nunknownkey: 1\n');
      const strict = berth(['config', 'check', '--config', file, '--json']);
      assert.equal(strict.status, 2, 'an unknown key is an error');
      assert.match(strict.stderr, /unknownkey: unknown key \(run with --lenient to ignore unknown keys\)/);
      const r = berth(['config', 'check', '--config', file, '--json', '--lenient']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { http: { port: number } }).http.port, 5555);
      assert.match(r.stderr, /warning: unknownkey: unknown key/);
      const schema = berth(['config', 'schema']);
      assert.equal(schema.status, 0);
      assert.ok((JSON.parse(schema.stdout) as { properties: Record<string, unknown> }).properties.http);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('serves, logs where it listens and where the data is, and drains an in-flight upload on SIGTERM', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-cli-'));
    const port = await freePort();
    const child = spawn(process.execPath, [bin, 'serve', '--addr', `127.0.0.1:${port}`, '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    try {
      for (let i = 0; i < 100 && !out.includes('berth listening'); i++) await new Promise((r) => setTimeout(r, 100));
      const started = JSON.parse(out.split('\n').find((l) => l.includes('berth listening')) ?? '{}') as Record<string, unknown>;
      assert.equal(started.addr, `127.0.0.1:${port}`);
      assert.equal(started['data.dir'], dir);
      assert.equal(started['database.path'], path.join(dir, 'berth.db'));

      // A monolithic upload sent slowly; SIGTERM arrives halfway through.
      const data = randomBytes(2 * 1024 * 1024);
      const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `/v2/drain/a/blobs/uploads/?digest=${digest}`, headers: { 'Content-Length': data.length } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.write(data.subarray(0, 1024 * 1024), () => {
          child.kill('SIGTERM');
          setTimeout(() => req.end(data.subarray(1024 * 1024)), 300);
        });
      });
      assert.equal(status, 201, 'the in-flight upload finished');
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      assert.equal(code, 0);
      assert.match(out, /"msg":"shutting down"/);
      assert.match(out, /"msg":"stopped"/);
    } finally {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('berth CLI and PostgreSQL', () => {
  it('never prints the database password in the resolved config', () => {
    const r = berth(['config', 'check', '--json'], { BERTH_DATABASE_URL: 'postgres://berth:hunter2@db.internal:5432/berth' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { database: unknown }).database, { kind: 'postgres', url: 'postgres://berth:***@db.internal:5432/berth', poolSize: 10 });
    assert.doesNotMatch(r.stdout + r.stderr, /hunter2/);
  });

  it('serves on PostgreSQL, logging the URL without its password', { skip: postgresSkipReason() }, async () => {
    const db = await createScratchDatabase();
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-cli-'));
    const url = new URL(db.url);
    url.password = 'not-needed-with-trust';
    const port = await freePort();
    const child = spawn(process.execPath, [bin, 'serve', '--addr', `127.0.0.1:${port}`, '--data-dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', BERTH_DATABASE_URL: url.toString() },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    try {
      for (let i = 0; i < 100 && !out.includes('berth listening'); i++) await new Promise((r) => setTimeout(r, 100));
      const started = JSON.parse(out.split('\n').find((l) => l.includes('berth listening')) ?? '{}') as Record<string, unknown>;
      assert.equal(started['database.kind'], 'postgres');
      assert.equal(started['database.url'], db.url.replace('@', ':***@'));
      assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
      child.kill('SIGTERM');
      assert.equal(await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))), 0);
      assert.doesNotMatch(out, /not-needed-with-trust/);
    } finally {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      await db.drop();
    }
  });

  it('refuses to start on a database it cannot use, naming database.url', { skip: postgresSkipReason() }, async () => {
    const db = await createScratchDatabase();
    await db.drop();
    const r = berth(['serve', '--addr', '127.0.0.1:0'], { BERTH_DATABASE_URL: db.url });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^berth: cannot use the PostgreSQL database postgres:\/\/.*: database ".*" does not exist\. Check database\.url\.\n$/);
  });
});

describe('berth user|org|team|grant|token', () => {
  it('a management command never creates a database in a folder nobody named', async () => {
    const cwd = await mkdtemp(path.join(tmpdir(), 'berth-cli-cwd-'));
    try {
      const r = spawnSync(process.execPath, [bin, 'user', 'list'], { encoding: 'utf8', cwd, env: { PATH: process.env.PATH ?? '' }, timeout: 20_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`no Berth database at ${cwd}/data/berth\\.db \\(from the default data folder ./data of the working folder`));
      assert.match(r.stderr, /--config FILE \(or BERTH_CONFIG\), or --data-dir DIR/);
      assert.equal(existsSync(path.join(cwd, 'data')), false, 'nothing was created');
      const typo = spawnSync(process.execPath, [bin, 'user', 'list', '--data-dir', path.join(cwd, 'no-such-folder')], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 20_000 });
      assert.equal(typo.status, 2, 'a named folder that does not exist is a mistake too');
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  it('manages identities in the configured database, with --json and exit codes', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-cli-id-'));
    const run = (args: string[], input?: string) => spawnSync(process.execPath, [bin, ...args, '--data-dir', dir], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 20_000, input });
    try {
      const created = run(['user', 'create', 'alice', '--json']);
      assert.equal(created.status, 0, created.stderr);
      const alice = JSON.parse(created.stdout) as { name: string; password: string };
      assert.equal(alice.name, 'alice');
      assert.ok(alice.password.length >= 16, 'a generated password is shown once');
      assert.equal(run(['user', 'create', 'bob', '--password-stdin'], 'bob-password\n').status, 0);
      const dup = run(['user', 'create', 'bob', '--password-stdin'], 'bob-password\n');
      assert.equal(dup.status, 4);
      assert.match(dup.stderr, /already exists/);
      assert.equal(run(['org', 'create', 'acme']).status, 0);
      assert.equal(run(['team', 'create', 'acme/ci']).status, 0);
      assert.equal(run(['team', 'add', 'acme/ci', 'bob']).status, 0);
      assert.equal(run(['grant', 'add', 'team:acme/ci', 'namespace:acme', 'write']).status, 0);
      assert.equal(run(['grant', 'add', 'team:acme/ci', 'namespace:acme', 'owner']).status, 2);
      assert.equal(run(['grant', 'add', 'team:acme/nope', 'namespace:acme', 'read']).status, 3);
      const grants = JSON.parse(run(['grant', 'list', '--json']).stdout) as unknown[];
      assert.deepEqual(grants, [{ subjectKind: 'team', subject: 'acme/ci', resourceKind: 'namespace', resource: 'acme', role: 'write' }]);
      const tok = run(['token', 'create', 'bob', '--name', 'ci', '--scope', 'repository:acme/app:pull', '--json']);
      assert.equal(tok.status, 0, tok.stderr);
      const { id, secret } = JSON.parse(tok.stdout) as { id: string; secret: string };
      assert.match(secret, /^berth_/);
      const listed = run(['token', 'list', 'bob', '--json']).stdout;
      assert.ok(listed.includes(id) && !listed.includes(secret.slice(24)));
      assert.equal(run(['token', 'revoke', 'bob', id]).status, 0);
      assert.equal(run(['user', 'delete', 'nobody']).status, 3);
      const users = JSON.parse(run(['user', 'list', '--json']).stdout) as { name: string }[];
      assert.deepEqual(users.map((u) => u.name), ['alice', 'bob']);
      const audit = JSON.parse(run(['audit', 'list', '--action', 'grant.put', '--json']).stdout) as { actor: string; outcome: string }[];
      assert.deepEqual(audit.map((e) => e.outcome), ['failure', 'failure', 'success'], 'refused grants are recorded too');
      assert.match(audit[0]?.actor ?? '', /^cli/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('berth lockout', () => {
  it('lists and clears the lockouts in the configured database, with htpasswd users too, and audits the clear', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-cli-lockout-'));
    const htpasswd = path.join(dir, 'htpasswd');
    await writeFile(htpasswd, `alice:${bcrypt.hashSync('alice-password', 4)}\n`);
    const env = { PATH: process.env.PATH ?? '', REGISTRY_AUTH_HTPASSWD_PATH: htpasswd, REGISTRY_AUTH_LOGINLIMITS_PERADDRESS: '3' };
    const run = (args: string[], e: Record<string, string> = env) => spawnSync(process.execPath, [bin, 'lockout', ...args, '--data-dir', dir], { encoding: 'utf8', env: e, timeout: 20_000 });
    try {
      const empty = run(['list']);
      assert.equal(empty.status, 0, empty.stderr);
      assert.equal(empty.stdout, 'no lockouts\n');
      assert.equal(empty.stderr, '', 'no warning about database users: lockouts hold for htpasswd users too');

      // Failures as a server would have counted them, in windows that end on 2100-01-01.
      const store = new SqliteStore({ path: path.join(dir, 'berth.db') });
      await store.init();
      const windowMs = 15 * 60_000;
      const start = Date.parse('2100-01-01T00:00:00Z') - windowMs;
      const fail = (n: number, keys: LoginFailureKey[]) => Promise.all(Array.from({ length: n }, () => store.loginAttempts.recordFailure(keys, start, windowMs)));
      await fail(10, [{ kind: 'user-address', user: 'alice', address: '10.0.0.9' }]);
      await fail(3, [{ kind: 'address', user: null, address: '10.0.0.7' }]);
      await fail(2, [{ kind: 'user-address', user: 'bob', address: '10.0.0.8' }]);
      await store.close();

      const until = '2100-01-01T00:00:00.000Z';
      const listed = run(['list']);
      assert.equal(listed.status, 0, listed.stderr);
      assert.equal(listed.stdout, `address\t-\t10.0.0.7\t3\t${until}\nuser-address\talice\t10.0.0.9\t10\t${until}\n`);
      assert.deepEqual(JSON.parse(run(['list', '--json']).stdout), [
        { kind: 'address', user: null, address: '10.0.0.7', failures: 3, until },
        { kind: 'user-address', user: 'alice', address: '10.0.0.9', failures: 10, until },
      ]);

      for (const [args, message] of [
        [['clear'], 'berth: say what to clear: --user NAME, --address ADDRESS, both (that user at that address), or --all\n'],
        [['clear', '--all', '--user', 'alice'], 'berth: --all clears everything: give it alone, or --user and/or --address without it\n'],
      ] as const) {
        const r = run([...args]);
        assert.equal(r.status, 2, args.join(' '));
        assert.equal(r.stderr, message);
      }

      const alice = run(['clear', '--user', 'alice']);
      assert.equal(alice.status, 0, alice.stderr);
      assert.equal(alice.stdout, `cleared 1 lockout\nuser-address\talice\t10.0.0.9\t10\t${until}\n`);
      const all = run(['clear', '--all', '--json']);
      assert.deepEqual(JSON.parse(all.stdout), { cleared: 1, lockouts: [{ kind: 'address', user: null, address: '10.0.0.7', failures: 3, until }] }, 'bob\'s window goes too, but was no lockout');
      assert.equal(run(['list']).stdout, 'no lockouts\n');

      const audit = spawnSync(process.execPath, [bin, 'audit', 'list', '--action', 'lockout.clear', '--json', '--data-dir', dir], { encoding: 'utf8', env, timeout: 20_000 });
      const events = JSON.parse(audit.stdout) as { actor: string; target: string; detail: unknown }[];
      assert.deepEqual(events.map((e) => [e.target, e.detail]), [['*', { user: null, address: null, cleared: 1 }], ['alice', { user: 'alice', address: null, cleared: 1 }]]);
      for (const e of events) assert.match(e.actor, /^cli/);

      const open = run(['list'], { PATH: process.env.PATH ?? '' });
      assert.equal(open.status, 2);
      assert.match(open.stderr, /^berth: this configuration has no auth section, so logins are not limited and nobody is locked out; run the command with the server's configuration/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('berth trust inspect', () => {
  it('exits 3 naming the repository when it has no trust data, with no warning about users', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-cli-trust-'));
    try {
      assert.equal(berth(['user', 'create', 'someone', '--data-dir', dir]).status, 0, 'creates the database');
      const r = berth(['trust', 'inspect', '--data-dir', dir, 'localhost:5000/acme/app:v1']);
      assert.equal(r.status, 3);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'berth: no trust data for localhost:5000/acme/app (repository acme/app): nothing was signed there, or the name is not on this registry (its host must be http.host, one of http.aliases or localhost)\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
