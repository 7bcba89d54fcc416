// Every shell snippet of the docs runs (issue 9, new-user item 6).
//
// The fenced ```sh, ```bash and ```console blocks of README.md and docs/*.md
// are read from the files. Each one is either in RUN (run here, against a
// real Berth process, with the values the docs use, e.g. the admin password
// 'a long passphrase' quoted as the docs quote it) or in SKIP with the reason
// it cannot run here. A block is known by its file and its first line: a new
// block, or a block whose first line changed, is in neither list and fails
// the first test, so no snippet goes untested unnoticed.
//
// How a block runs:
// - with `sh -e`, in a fresh folder per document (the blocks of one document
//   run in order in it, as a reader would run them one after the other);
// - every `localhost:5000` becomes `localhost:PORT`, a free port, and
//   REGISTRY_HTTP_ADDR=127.0.0.1:PORT is in the environment, so a Berth the
//   snippet starts listens there. Nothing else in the text is changed;
// - `berth` is the built CLI (what `npm link` puts on PATH); `npm start` runs
//   `berth serve` (what the start script does, from this folder); `docker` is
//   a stand-in that does only `docker login`, with the registry's real
//   challenge and token flow, the password read from stdin as a terminal
//   prompt would (a Docker engine is the e2e suite's, test/e2e/docker.test.ts);
// - a block that starts the server (`npm start`) runs that part in the
//   background up to the line `# in another terminal…`, or its first line;
//   the test waits for /v2/ to answer before the rest runs;
// - a command's trailing comment that is JSON (`# {"repositories":[…]}`) is
//   the output the docs promise: the block's output must contain it;
// - a tool a block needs (skopeo, podman, curl, htpasswd) is checked first:
//   missing, the block is skipped with the reason, unless
//   BERTH_TEST_SNIPPETS_REQUIRED=1 (CI): then it fails.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it, type TestContext } from 'node:test';
import { digestOf, makeTar } from '../e2e/util.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BERTH_CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const DOCS = ['README.md', ...readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const ADMIN_PASSWORD = 'a long passphrase';
const required = process.env.BERTH_TEST_SNIPPETS_REQUIRED === '1';

interface Block { file: string; line: number; first: string; text: string }

function blocksOf(file: string): Block[] {
  const lines = readFileSync(join(REPO_ROOT, file), 'utf8').split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|console)\s*$/.test(lines[i] ?? '')) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end] ?? '')) end++;
    const body = lines.slice(start, end);
    out.push({ file, line: start, first: (body.find((l) => l.trim() !== '') ?? '').trim(), text: body.join('\n') });
    i = end;
  }
  return out;
}

interface Skip { file: string; first: string; reason: string }
interface Run {
  file: string;
  first: string;
  /** Commands that must be on PATH. */
  needs?: string[];
  /** Fed to the block's standard input (e.g. the password a prompt would ask for). */
  stdin?: string;
  /** Extra environment, as a reader would have set it before. */
  env?: Record<string, string>;
  /** Whether the block starts Berth itself (npm start): that part runs in the background. */
  starts?: boolean;
  /** Done before the block, as the docs say a reader has done. */
  setup?: (s: Sandbox) => Promise<void>;
  /** What must hold after the block (beyond its exit status). */
  check?: (s: Sandbox, out: string) => Promise<void>;
}

const SKIP: Skip[] = [
  { file: 'README.md', first: 'npm ci && npm start      # Berth on http://localhost:5000, data in ./data', reason: 'installs the packages and runs the whole unit suite (this test is part of it); CI runs exactly these (.ci/run); the blocks below start Berth as npm start does' },
  { file: 'README.md', first: 'docker pull busybox:1.36', reason: 'needs Docker Hub (the network) and a Docker engine' },
  { file: 'README.md', first: 'docker load -i busybox.tar', reason: 'needs a Docker engine and a tarball made elsewhere; the docker e2e tests build their images without network' },
  { file: 'README.md', first: 'docker tag busybox:1.36 localhost:5000/tools/busybox:1.36', reason: 'needs a Docker engine: docker tag, push, rmi and pull against Berth are test/e2e/docker.test.ts' },
  { file: 'README.md', first: 'npm test            # what every change must pass: build, lint (typescript-eslint, zero warnings), unit, HTTP, CLI, architecture', reason: 'the test commands themselves (this test is part of npm test); CI runs them (.ci/run)' },
  { file: 'docs/authentication.md', first: 'htpasswd -Bc /etc/berth/htpasswd alice', reason: 'writes to /etc/berth (a system path) and prompts for a password twice; htpasswd -B files with Berth are test/e2e/auth.test.ts' },
  { file: 'docs/authentication.md', first: 'printf %s "$PASSWORD" | berth user create alice --password-stdin   # without it: a generated password, shown once', reason: 'a command reference with placeholders (<id>, disable|enable|promote|demote|delete): each command is tested in test/cli/cli.test.ts' },
  { file: 'docs/authentication.md', first: 'curl -u alice -X POST -o bundle.tar.gz https://registry.example.com:5000/api/v1/bundle   # body (optional): {"scopes":[...],"expiresInDays":7}', reason: 'needs a real domain with its certificate (registry.example.com) and sudo on a client machine; bundles are test/http/bundle.test.ts' },
  { file: 'docs/deployment.md', first: 'docker build -t berth .', reason: 'needs a Docker engine and the base image: test/e2e/image.test.ts builds and runs the image' },
  { file: 'docs/deployment.md', first: 'cp deploy/compose/.env.example deploy/compose/.env          # then set the passwords in it', reason: 'needs docker compose with a Docker engine; test/deploy/compose.test.ts checks the Compose file' },
  { file: 'docs/deployment.md', first: 'helm install berth deploy/helm/berth \\', reason: 'needs a Kubernetes cluster; test/deploy/helm.test.ts renders the chart' },
  { file: 'docs/deployment.md', first: 'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out token-signing-key.pem', reason: 'needs a Kubernetes cluster, PostgreSQL and S3 credentials; test/deploy/helm.test.ts renders the chart with these values' },
  { file: 'docs/testing.md', first: 'npm test            # unit tests, the storage-driver and metadata contract suites, in-process HTTP tests, CLI, architecture and deployment-file tests', reason: 'the test commands themselves (this test is part of npm test); CI runs them (.ci/run)' },
  { file: 'docs/testing.md', first: 'eval "$(test/scripts/pg-throwaway.sh start)"   # throwaway cluster on 127.0.0.1; exports BERTH_TEST_POSTGRES_URL', reason: 'runs the test suites themselves on PostgreSQL; CI runs these steps (.ci/run)' },
  { file: 'docs/lifecycle.md', first: "berth immutable add namespace:acme --tags 'v*'", reason: 'a command reference on a server\'s database, with a placeholder rule id (1a2b3c4d5e6f); the same rules through the same LifecycleRules service are test/http/lifecycle-rules.test.ts' },
  { file: 'docs/lifecycle.md', first: "berth retention add repository:acme/app --tags 'build-*' --keep-last 10 --keep-within 30d", reason: 'a command reference on a server\'s database holding tagged images; retention plans and runs are test/http/lifecycle-rules.test.ts and src/lifecycle/retention.test.ts' },
  { file: 'docs/fsck.md', first: 'berth fsck --data-dir /var/lib/berth                    # check; exit 0 when clean, 1 when problems remain', reason: 'a command reference on a server\'s data folder (/var/lib/berth); checks, repairs, exit codes and the JSON summary on SQLite + filesystem and PostgreSQL + S3 are test/http/fsck.test.ts' },
  { file: 'docs/lifecycle.md', first: 'berth quota set acme 50GiB', reason: 'a command reference on a server\'s database; quotas, usage and refusals are test/http/lifecycle-quota.test.ts' },
  { file: 'docs/airgap.md', first: 'berth export --config /etc/berth/config.yml \\', reason: 'reads a server configuration at a system path (/etc/berth/config.yml) holding registry.example.com\'s images; test/cli/export.test.ts and test/e2e/airgap.test.ts run berth export' },
  { file: 'docs/airgap.md', first: 'curl -H "Authorization: Bearer $TOKEN" -OJ \\', reason: 'needs the HTTPS host registry.example.com and a token; test/http/export-api.test.ts downloads exports with and without the access' },
  { file: 'docs/airgap.md', first: 'berth import --config /etc/berth/config.yml hamonitor_v1.0.tar \\', reason: 'needs a docker save tarball made elsewhere and a server configuration at a system path; test/cli/import.test.ts imports synthesized docker save tarballs with --to and --expect-id, test/e2e/import.test.ts a real one' },
  { file: 'docs/airgap.md', first: 'REGISTRY_HTTP_ALIASES=registry.example.com:5000 berth import --config /etc/berth/config.yml release.tar', reason: 'needs a bundle of registry.example.com and a server configuration at a system path; test/e2e/airgap.test.ts imports a bundle under the source\'s name' },
  { file: 'docs/trust.md', first: 'export DOCKER_CONTENT_TRUST=1', reason: 'needs a Docker engine and a real domain (registry.example.com); test/e2e/docker-trust.test.ts runs these commands against Berth' },
  { file: 'docs/trust.md', first: 'berth trust inspect --config /etc/berth/config.yml registry.example.com:5000/tools/app', reason: 'reads a server configuration at a system path (/etc/berth/config.yml) holding signed tags of registry.example.com' },
  { file: 'docs/trust.md', first: 'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out release.key', reason: 'migrates signed tags of a server configured at a system path (/etc/berth/config.yml) for registry.example.com' },
  { file: 'docs/trust.md', first: 'curl -u alice https://registry.example.com/api/v1/repositories/tools/app/signatures/1.0', reason: 'needs the HTTPS host registry.example.com with signed tags in it' },
  { file: 'docs/trust.md', first: 'berth trust policy set namespace:acme --key release=cosign.pub --key notary=ca.crt --dct-signer alice', reason: 'needs key files made elsewhere (cosign.pub, ca.crt) and the HTTPS host registry.example.com' },
  { file: 'docs/backup.md', first: 'berth backup /srv/backups/berth --data-dir /var/lib/berth       # or --config /etc/berth/config.yml', reason: 'backs up and restores a server\'s data folder at system paths (/var/lib/berth, /srv/backups); backup while serving, incremental copies, restore and serve are test/cli/backup.test.ts' },
  { file: 'docs/backup.md', first: 'BERTH_DATABASE_URL=postgres://berth:PASSWORD@db.internal:5432/berth_restored \\', reason: 'needs a PostgreSQL server and an S3 bucket at real addresses (db.internal); the same restore on PostgreSQL + s3rver is test/cli/backup.test.ts' },
  { file: 'docs/search.md', first: 'docker search localhost:5000/busybox', reason: 'needs a Docker engine: docker search against Berth is test/e2e/search.test.ts' },
  { file: 'docs/search.md', first: 'curl -X PUT -H \'Content-Type: application/json\' -H "Authorization: Bearer $TOKEN" \\', reason: 'needs a real domain and a token (registry.example.com, $TOKEN); descriptions are test/http/search.test.ts' },
];

/** A tiny image (one real gzipped layer, so clients can unpack it) as `repo:tag`, pushed over HTTP. */
async function seedImage(url: string, repo: string, tag: string): Promise<string> {
  const tar = makeTar([{ name: 'hello', content: 'hello from the docs test\n' }]);
  const layer = gzipSync(tar);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [digestOf(tar)] } }));
  for (const blob of [layer, config]) {
    const r = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digestOf(blob)}`, { method: 'POST', body: blob as Uint8Array<ArrayBuffer> });
    assert.equal(r.status, 201, await r.text());
  }
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(layer), size: layer.length }],
  }));
  const r = await fetch(`${url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest as Uint8Array<ArrayBuffer>, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(r.status, 201, await r.text());
  return digestOf(manifest);
}

const adminAuth = { Authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` };
async function apiGet<T>(s: Sandbox, path: string): Promise<T> {
  const r = await fetch(`${s.url}/api/v1${path}`, { headers: adminAuth });
  const text = await r.text();
  assert.equal(r.status, 200, `GET /api/v1${path}: ${text}`);
  return JSON.parse(text) as T;
}
/** The names in a management API list (`{"users": [...]}`, `{"organizations": [...]}`). */
const names = (list: unknown, field: 'users' | 'organizations'): string[] => ((list as Record<string, Array<{ name?: string } | string> | undefined>)[field] ?? []).map((x) => (typeof x === 'string' ? x : x.name ?? ''));

const RUN: Run[] = [
  {
    file: 'README.md', first: 'curl http://localhost:5000/v2/_catalog                # {"repositories":["tools/busybox"]}', needs: ['curl', 'skopeo'],
    // Steps 1 and 2 (a Docker engine) leave tools/busybox:1.36 in Berth: the test pushes one.
    setup: async (s) => { await s.startBerth(); await seedImage(s.url, 'tools/busybox', '1.36'); },
    check: async (_s, out) => {
      assert.match(out, /"Tags":\s*\[\s*"1.36"\s*\]/, 'skopeo list-tags shows the tag');
      assert.match(out, /"Name":\s*"localhost:\d+\/tools\/busybox"/, 'skopeo inspect shows the image');
    },
  },
  {
    file: 'README.md', first: 'skopeo copy --dest-tls-verify=false docker-archive:busybox.tar docker://localhost:5000/tools/busybox:archive', needs: ['skopeo', 'podman'],
    // busybox.tar as `docker save` makes it (step 1): skopeo writes the same format.
    setup: async (s) => void await s.sh('skopeo copy --src-tls-verify=false docker://localhost:5000/tools/busybox:1.36 docker-archive:busybox.tar:busybox:1.36'),
    check: async (s) => {
      for (const [repo, tag] of [['tools/busybox', 'archive'], ['team/busybox', '1.36']] as const) {
        assert.equal((await fetch(`${s.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD' })).status, 200, `${repo}:${tag}`);
      }
    },
  },
  {
    file: 'README.md', first: 'skopeo delete --tls-verify=false docker://localhost:5000/team/busybox:1.36', needs: ['skopeo'],
    check: async (s) => {
      assert.equal((await fetch(`${s.url}/v2/team/busybox/manifests/1.36`, { method: 'HEAD' })).status, 404);
    },
  },
  {
    file: 'README.md', first: 'REGISTRY_AUTH=token BERTH_ADMIN_PASSWORD=\'a long passphrase\' npm start', starts: true,
    // "Stop Berth and start it with token authentication": the block starts it again.
    setup: (s) => s.stopBerth(),
    stdin: `${ADMIN_PASSWORD}\n`,
    check: async (s, out) => {
      assert.match(out, /Login Succeeded/);
      assert.ok(names(await apiGet(s, '/users'), 'users').includes('alice'), 'berth user create alice worked on the server\'s database');
      const grants = JSON.stringify(await apiGet(s, '/grants'));
      assert.match(grants, /alice/);
      assert.match(grants, /tools/);
    },
  },
  // The lockouts of the database of the Berth running in this folder (none yet), with the configuration of a server that limits logins.
  { file: 'docs/authentication.md', first: 'berth lockout list                    # kind, user, address, failures, until (--json for scripts)', env: { REGISTRY_AUTH: 'token' } },
  {
    file: 'docs/authentication.md', first: 'BERTH_ADMIN_PASSWORD=\'a long passphrase\' REGISTRY_AUTH=token npm start', starts: true, stdin: `${ADMIN_PASSWORD}\n`,
    check: async (_s, out) => { assert.match(out, /Login Succeeded/); },
  },
  {
    file: 'docs/authentication.md', first: 'api() { curl -sS --fail-with-body -u "admin:$ADMIN_PASSWORD" -H Content-Type:application/json "$@"; }   # quoted: a password with spaces stays one word', needs: ['curl'],
    env: { ADMIN_PASSWORD },
    check: async (s, out) => {
      const users = await apiGet(s, '/users');
      assert.ok(names(users, 'users').includes('alice'), `alice among the users: ${JSON.stringify(users)}`);
      const orgs = await apiGet(s, '/orgs');
      assert.ok(names(orgs, 'organizations').includes('acme'), `acme among the organizations: ${JSON.stringify(orgs)}`);
      assert.match(out, /"secret"/, 'alice\'s access token was created');
      assert.match(JSON.stringify(await apiGet(s, '/grants')), /acme\/ci/);
    },
  },
  { file: 'docs/configuration.md', first: 'berth config check                            # validate without starting; --config FILE for a file, --json prints the resolved config' },
  {
    file: 'docs/https.md', first: 'berth certs init --host registry.example.com --ip 10.0.0.5 --port 5000   # writes data/certs/{ca.crt,ca.key,server.crt,server.key}',
    check: async (s) => {
      for (const f of ['ca.crt', 'ca.key', 'server.crt', 'server.key']) assert.ok(existsSync(join(s.dir, 'data', 'certs', f)), `data/certs/${f}`);
    },
  },
];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const DOCKER_STANDIN = `#!/usr/bin/env node
// docker, as far as the docs test needs it: \`docker login HOST -u USER\`,
// the password from stdin, through the registry's own challenge (Bearer
// token or Basic). Anything else needs a real engine.
const [cmd, host, ...rest] = process.argv.slice(2);
if (cmd !== 'login' || !host) { console.error('docker stand-in: only "docker login HOST -u USER" runs in the docs test'); process.exit(127); }
const u = rest.indexOf('-u');
const user = u >= 0 ? rest[u + 1] : undefined;
if (!user) { console.error('docker stand-in: -u USER is needed'); process.exit(2); }
let input = '';
for await (const c of process.stdin) input += c;
const password = input.split('\\n')[0];
const basic = 'Basic ' + Buffer.from(user + ':' + password).toString('base64');
const challenge = (await fetch('http://' + host + '/v2/')).headers.get('www-authenticate') ?? '';
let auth = basic;
if (/^Bearer /i.test(challenge)) {
  const params = Object.fromEntries([...challenge.matchAll(/(\\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  const r = await fetch(params.realm + '?service=' + encodeURIComponent(params.service ?? '') + '&account=' + encodeURIComponent(user), { headers: { Authorization: basic } });
  if (r.status !== 200) { console.error('Error response from daemon: login attempt failed with status: ' + r.status); process.exit(1); }
  const body = await r.json();
  auth = 'Bearer ' + (body.token ?? body.access_token);
}
const ok = await fetch('http://' + host + '/v2/', { headers: { Authorization: auth } });
if (ok.status !== 200) { console.error('Error response from daemon: login attempt failed with status: ' + ok.status); process.exit(1); }
console.log('Login Succeeded');
`;

/** One document's folder, PATH and Berth. */
class Sandbox {
  url = '';
  private server: ChildProcess | null = null;
  private serverLog = '';
  private constructor(readonly dir: string, readonly port: number, readonly env: NodeJS.ProcessEnv) {}

  static async create(): Promise<Sandbox> {
    const dir = await mkdtemp(join(tmpdir(), 'berth-docs-'));
    const bin = join(dir, '.bin');
    await mkdir(bin);
    await writeFile(join(bin, 'berth'), `#!/bin/sh\nexec "${process.execPath}" "${BERTH_CLI}" "$@"\n`);
    await writeFile(join(bin, 'npm'), `#!/bin/sh\n[ "$1" = start ] || { echo "npm stand-in: only npm start runs in the docs test" >&2; exit 127; }\nshift\nexec "${process.execPath}" "${BERTH_CLI}" serve "$@"\n`);
    await writeFile(join(bin, 'docker'), DOCKER_STANDIN);
    await writeFile(join(bin, 'node'), `#!/bin/sh\nexec "${process.execPath}" "$@"\n`);
    for (const f of ['berth', 'npm', 'docker', 'node']) await chmod(join(bin, f), 0o755);
    const storage = join(dir, '.containers');
    await mkdir(join(dir, '.run'));
    await writeFile(join(dir, '.storage.conf'), `[storage]\ndriver = "vfs"\ngraphroot = "${storage}/root"\nrunroot = "${storage}/run"\n`);
    const port = await freePort();
    // Inherited REGISTRY_* and BERTH_* variables would change what the docs describe.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_') && !k.startsWith('BERTH_')));
    const env: NodeJS.ProcessEnv = {
      ...inherited,
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      HOME: dir,
      REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
      // podman and skopeo keep images and logins in this folder, not the machine's.
      CONTAINERS_STORAGE_CONF: join(dir, '.storage.conf'),
      XDG_RUNTIME_DIR: join(dir, '.run'),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    return new Sandbox(dir, port, env);
  }

  rewrite(text: string): string {
    return text.replaceAll('localhost:5000', `localhost:${this.port}`);
  }

  /** Runs `script` with sh -e in the folder; resolves with stdout+stderr, rejects on a non-zero exit. */
  sh(script: string, opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn('sh', ['-e', '-c', this.rewrite(script)], { cwd: this.dir, env: { ...this.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
      child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve(out);
        else reject(new Error(`exit ${code ?? signal}\n--- script ---\n${this.rewrite(script)}\n--- output ---\n${out}`));
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.stdin ?? '');
    });
  }

  /** Starts Berth with `script` (or `berth serve`, as npm start does) in the background; waits for /v2/. */
  async startBerth(script = 'exec berth serve', env: Record<string, string> = {}): Promise<void> {
    if (this.server) throw new Error('Berth already runs in this folder');
    this.url = `http://127.0.0.1:${this.port}`;
    this.serverLog = '';
    // Its own process group: the shell and the Berth it starts are stopped together.
    const child = spawn('sh', ['-e', '-c', this.rewrite(script)], { cwd: this.dir, env: { ...this.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.server = child;
    const pid = child.pid;
    process.on('exit', () => { if (pid) try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } });
    child.stdout.on('data', (b: Buffer) => { this.serverLog = (this.serverLog + b.toString()).slice(-20_000); });
    child.stderr.on('data', (b: Buffer) => { this.serverLog = (this.serverLog + b.toString()).slice(-20_000); });
    for (const deadline = Date.now() + 30_000; ;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`Berth exited (${child.exitCode ?? child.signalCode}):\n${this.serverLog}`);
      const status = await fetch(`${this.url}/v2/`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status, () => 0);
      if (status === 200 || status === 401) return;
      if (Date.now() > deadline) throw new Error(`Berth did not answer on ${this.url} within 30 s:\n${this.serverLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stopBerth(): Promise<void> {
    const child = this.server;
    this.server = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    if (child.pid) process.kill(-child.pid, 'SIGTERM');
    await exited;
  }

  logs(): string {
    return this.serverLog;
  }

  async close(): Promise<void> {
    await this.stopBerth();
    await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

const key = (b: { file: string; first: string }) => `${b.file}: ${b.first}`;
const ALL = DOCS.flatMap(blocksOf);

describe('shell snippets of the docs', () => {
  it('every block is either run here or skipped with a reason (a new block must be added to one list)', () => {
    const listed = new Map<string, string>();
    for (const e of [...SKIP.map((s) => ({ ...s, kind: 'SKIP' })), ...RUN.map((r) => ({ ...r, kind: 'RUN' }))]) {
      assert.ok(!listed.has(key(e)), `listed twice: ${key(e)}`);
      if ('reason' in e) assert.ok(e.reason.length > 20, `a skip says why: ${key(e)}`);
      listed.set(key(e), e.kind);
    }
    const unlisted = ALL.filter((b) => !listed.has(key(b))).map((b) => `${b.file}:${b.line}: ${b.first}`);
    assert.deepEqual(unlisted, [], 'blocks in neither RUN nor SKIP of test/docs/snippets.test.ts: run them there, or skip them with the reason');
    const stale = [...listed.keys()].filter((k) => !ALL.some((b) => key(b) === k));
    assert.deepEqual(stale, [], 'entries of RUN or SKIP with no such block in the docs any more');
  });

  for (const file of DOCS) {
    const runs = RUN.filter((r) => r.file === file);
    if (runs.length === 0) continue;
    describe(file, () => {
      let s: Sandbox;
      let missingTool: string | undefined;
      before(async () => {
        s = await Sandbox.create();
      });
      after(async () => {
        await s.close();
      });
      for (const r of runs) {
        it(r.first, { timeout: 90_000 }, async (t: TestContext) => {
          const block = ALL.find((b) => key(b) === key(r));
          assert.ok(block, `no block ${key(r)}`);
          for (const tool of r.needs ?? []) {
            const found = await s.sh(`command -v ${tool}`).then(() => true, () => false);
            if (!found) missingTool = tool;
          }
          if (missingTool) {
            assert.ok(!required, `BERTH_TEST_SNIPPETS_REQUIRED=1 but ${missingTool} is not installed`);
            t.skip(`${missingTool} is not installed (set BERTH_TEST_SNIPPETS_REQUIRED=1 to fail instead)`);
            return;
          }
          try {
            await r.setup?.(s);
            let script = block.text;
            if (r.starts) {
              await s.stopBerth(); // a reader stops the Berth an earlier block started
              const lines = block.text.split('\n');
              const split = lines.findIndex((l) => /^#\s*in another terminal/.test(l));
              const cut = split > 0 ? split : 1;
              await s.startBerth(lines.slice(0, cut).join('\n'), r.env);
              script = lines.slice(cut).join('\n');
            } else if (!s.url) {
              await s.startBerth();
            }
            const out = await s.sh(script, { stdin: r.stdin, env: r.env });
            // Trailing comments that are JSON: the output the docs promise.
            for (const m of block.text.matchAll(/#\s*(\{.*\})\s*$/gm)) assert.ok(out.includes(m[1] ?? ''), `the docs promise ${m[1]} in the output:\n${out}`);
            await r.check?.(s, out);
          } catch (err) {
            if (err instanceof Error) err.message += `\n--- Berth output (tail) ---\n${s.logs().slice(-3000)}`;
            throw err;
          }
        });
      }
    });
  }
});
