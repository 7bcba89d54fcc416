// deploy/compose: the invariants that make the two Berth instances one
// registry (same database, same bucket, same signing key, both behind nginx),
// checked on the parsed files; the Berth config checked by Berth's own loader;
// the whole file validated by docker-compose; nginx.conf checked by `nginx -t`.
// The stack is not started here: its images (postgres, minio, nginx) cannot be
// pulled in CI. test/e2e/image.test.ts runs the keygen service's script in the
// built image.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig, parseDuration } from '../../src/config/index.js';
import { run } from '../e2e/util.js';
import { REPO_ROOT, commandExists } from './helpers.js';

const DIR = join(REPO_ROOT, 'deploy', 'compose');
const COMPOSE_FILE = join(DIR, 'docker-compose.yml');

interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  entrypoint?: string[];
  command?: string[] | string;
  restart?: string;
  stop_grace_period?: string;
  ports?: string[];
  user?: string;
}

const text = readFileSync(COMPOSE_FILE, 'utf8');
const compose = parse(text, { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;
const berthNames = Object.keys(services).filter((n) => /^berth-\d+$/.test(n));
const berthYml = parse(readFileSync(join(DIR, 'berth.yml'), 'utf8')) as {
  http: { addr: string; draintimeout: string };
  storage: { s3: Record<string, unknown>; redirect: { disable: boolean } };
  auth: { token: { signingkey: string } };
};
const nginxConf = readFileSync(join(DIR, 'nginx.conf'), 'utf8');

/** Compose's ${VAR}, ${VAR:-default} and $$, with `env` (then the defaults). */
function interpolate(value: string, env: Record<string, string> = {}): string {
  return value.replace(/\$\$|\$\{(\w+)(?::?-([^}]*))?\}/g, (m, name: string | undefined, def: string | undefined) =>
    m === '$$' ? '$' : (env[name as string] ?? def ?? ''),
  );
}

function service(name: string): Service {
  const s = services[name];
  assert.ok(s, `service ${name} in docker-compose.yml`);
  return s;
}

/** The named volume and container path of a `volume:/path[:ro]` entry mounting `volume`. */
function mountOf(s: Service, volume: string): string | undefined {
  return s.volumes?.map((v) => v.split(':')).find(([src]) => src === volume)?.[1];
}

describe('deploy/compose/docker-compose.yml', () => {
  it('has two Berth instances built from the repository with identical configuration', () => {
    assert.deepEqual(berthNames.sort(), ['berth-1', 'berth-2']);
    const [a, b] = berthNames.map(service) as [Service, Service];
    assert.deepEqual(a, b, 'berth-1 and berth-2 differ');
    assert.deepEqual(a.build, { context: '../..', dockerfile: 'Dockerfile' });
    assert.equal(a.environment?.BERTH_CONFIG, '/etc/berth/config.yml');
    assert.ok(a.volumes?.includes('./berth.yml:/etc/berth/config.yml:ro'));
  });

  it('points both instances at the postgres service', () => {
    const pg = service('postgres');
    const url = new URL(interpolate(service('berth-1').environment?.BERTH_DATABASE_URL ?? ''));
    assert.equal(url.protocol, 'postgres:');
    assert.equal(url.hostname, 'postgres');
    assert.equal(url.port, '5432');
    assert.equal(url.username, pg.environment?.POSTGRES_USER);
    assert.equal(url.pathname, `/${pg.environment?.POSTGRES_DB}`);
    assert.equal(decodeURIComponent(url.password), interpolate(pg.environment?.POSTGRES_PASSWORD ?? ''));
    // Also with the passwords from .env.
    const env = { POSTGRES_PASSWORD: 'from-env' };
    assert.equal(new URL(interpolate(service('berth-2').environment?.BERTH_DATABASE_URL ?? '', env)).password, 'from-env');
    assert.equal(interpolate(pg.environment?.POSTGRES_PASSWORD ?? '', env), 'from-env');
  });

  it('points both instances at the bucket that createbucket makes in minio, with MinIO\'s credentials', () => {
    const s3 = berthYml.storage.s3;
    assert.equal(s3.regionendpoint, 'http://minio:9000');
    assert.equal(s3.forcepathstyle, true);
    assert.equal(berthYml.storage.redirect.disable, true, 'clients cannot reach minio:9000, so no redirects to it');
    const command = [service('createbucket').command].flat().join(' ');
    assert.match(command, /mc alias set local http:\/\/minio:9000 /);
    assert.match(command, new RegExp(`mc mb --ignore-existing local/${String(s3.bucket)}(\\s|$)`));
    const minio = service('minio').environment ?? {};
    const berth = service('berth-1').environment ?? {};
    assert.equal(interpolate(berth.REGISTRY_STORAGE_S3_ACCESSKEY ?? ''), interpolate(minio.MINIO_ROOT_USER ?? ''));
    assert.equal(interpolate(berth.REGISTRY_STORAGE_S3_SECRETKEY ?? ''), interpolate(minio.MINIO_ROOT_PASSWORD ?? ''));
    const env = { MINIO_ROOT_USER: 'u', MINIO_ROOT_PASSWORD: 'p' };
    assert.equal(interpolate(berth.REGISTRY_STORAGE_S3_SECRETKEY ?? '', env), 'p');
  });

  it('gives both instances the one signing key that keygen writes', () => {
    const keyPath = berthYml.auth.token.signingkey;
    const berthMount = mountOf(service('berth-1'), 'berth-keys');
    assert.ok(berthMount, 'berth-1 mounts the berth-keys volume');
    assert.ok(keyPath.startsWith(`${berthMount}/`), `${keyPath} is in ${berthMount}`);
    const keygen = service('keygen');
    const keygenMount = mountOf(keygen, 'berth-keys');
    const script = [keygen.command].flat().join('\n');
    assert.ok(script.includes(`'${keygenMount}/${keyPath.slice(berthMount.length + 1)}'`), 'keygen writes the file berth.yml names');
    assert.ok(script.includes('fs.existsSync(file)'), 'an existing key is kept');
    assert.equal(keygen.image, service('berth-1').image);
    assert.ok('berth-keys' in compose.volumes);
  });

  it('starts Berth after its dependencies and nginx after both instances are ready', () => {
    for (const name of berthNames) {
      assert.deepEqual(service(name).depends_on, {
        postgres: { condition: 'service_healthy' },
        createbucket: { condition: 'service_completed_successfully' },
        keygen: { condition: 'service_completed_successfully' },
      });
      assert.match(service(name).healthcheck?.test.join(' ') ?? '', /127\.0\.0\.1:5000\/readyz/);
    }
    assert.deepEqual(service('createbucket').depends_on, { minio: { condition: 'service_healthy' } });
    assert.deepEqual(service('nginx').depends_on, Object.fromEntries(berthNames.map((n) => [n, { condition: 'service_healthy' }])));
    for (const name of ['postgres', 'minio', 'nginx', ...berthNames]) {
      assert.ok(service(name).healthcheck, `${name} has a healthcheck`);
      assert.equal(service(name).restart, 'unless-stopped');
    }
  });

  it('gives Berth longer to stop than it takes to drain', () => {
    const grace = parseDuration(service('berth-1').stop_grace_period ?? '');
    const drain = parseDuration(berthYml.http.draintimeout);
    assert.ok(grace !== null && drain !== null && grace > drain, `stop_grace_period ${grace} ms > draintimeout ${drain} ms`);
  });

  it('has nginx balance over exactly the Berth instances and stream bodies', () => {
    const upstream = /upstream berth \{([^}]*)\}/.exec(nginxConf)?.[1] ?? '';
    const servers = [...upstream.matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)].map((m) => `${m[1]}:${m[2]}`);
    const port = berthYml.http.addr.split(':').pop();
    assert.deepEqual(servers.sort(), berthNames.map((n) => `${n}:${port}`).sort());
    // An upload's requests go to one instance (hashed on the session id); the rest are spread.
    assert.match(upstream, /^\s*hash \$berth_upstream_key consistent;/m);
    const map = /map \$uri \$berth_upstream_key \{([^}]*)\}/.exec(nginxConf)?.[1] ?? '';
    const uploadRule = /"~(\^[^"]+)"\s+\$upload_id;/.exec(map)?.[1] ?? '';
    const re = new RegExp(uploadRule);
    assert.equal(re.exec('/v2/library/app/blobs/uploads/0b6c1f2e-0000-4000-8000-00000000abcd')?.groups?.upload_id, '0b6c1f2e-0000-4000-8000-00000000abcd');
    assert.equal(re.exec('/v2/library/app/blobs/sha256:abc'), null, 'blob GETs are not pinned');
    assert.match(map, /default \$request_id;/);
    const directive = (name: string): string | undefined => new RegExp(`^\\s*${name}\\s+([^;]+);`, 'm').exec(nginxConf)?.[1];
    assert.equal(directive('client_max_body_size'), '0');
    assert.equal(directive('proxy_request_buffering'), 'off');
    assert.equal(directive('proxy_buffering'), 'off');
    assert.equal(directive('proxy_pass'), 'http://berth');
    assert.equal(directive('proxy_http_version'), '1.1');
    assert.match(nginxConf, /proxy_set_header Host \$http_host;/);
    for (const t of ['proxy_read_timeout', 'proxy_send_timeout', 'client_body_timeout']) {
      const ms = parseDuration(directive(t) ?? '');
      assert.ok(ms !== null && ms >= 300_000, `${t} is at least 5 minutes`);
    }
    assert.deepEqual(service('nginx').volumes, ['./nginx.conf:/etc/nginx/nginx.conf:ro']);
    assert.deepEqual(service('nginx').ports, ['${BERTH_PORT:-5000}:80']);
    assert.match(nginxConf, /listen 80;/);
  });

  it('documents every variable it uses in .env.example', () => {
    const used = new Set([...text.matchAll(/\$\{(\w+)/g)].map((m) => m[1]));
    const example = readFileSync(join(DIR, '.env.example'), 'utf8');
    const documented = new Set([...example.matchAll(/^(\w+)=/gm)].map((m) => m[1]));
    assert.deepEqual([...used].sort(), [...documented].sort());
  });

  it('has a Berth config that Berth accepts, with the instances\' environment', async () => {
    const env = Object.fromEntries(Object.entries(service('berth-1').environment ?? {}).map(([k, v]) => [k, interpolate(v)]));
    const r = await loadConfig({ file: join(DIR, 'berth.yml'), env });
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.errors, []);
    assert.ok(r.config);
    assert.equal(r.config.http.port, 5000);
    assert.equal(r.config.auth.kind, 'token');
    assert.equal(r.config.database.kind, 'postgres');
    assert.equal(r.config.storage.driver, 's3');
    assert.equal(r.config.storage.redirect, false);
    assert.equal(r.config.storage.s3?.endpoint, 'http://minio:9000');
    assert.equal(r.config.storage.s3?.forcePathStyle, true);
    assert.equal(r.config.storage.s3?.accessKey, env.REGISTRY_STORAGE_S3_ACCESSKEY);
    assert.equal(r.config.storage.s3?.secretKey, env.REGISTRY_STORAGE_S3_SECRETKEY);
  });

  it('is valid for docker-compose (config), with defaults and with .env.example', async (t) => {
    if (!(await commandExists('docker-compose'))) {
      if (process.env.BERTH_TEST_COMPOSE_REQUIRED === '1') assert.fail('docker-compose is not installed (Debian package docker-compose)');
      t.skip('docker-compose is not installed (apt-get install docker-compose); BERTH_TEST_COMPOSE_REQUIRED=1 makes this a failure');
      return;
    }
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(BERTH_|POSTGRES_|MINIO_)/.test(k)));
    const plain = await run('docker-compose', ['-f', COMPOSE_FILE, 'config'], { env, cwd: DIR });
    const resolved = parse(plain.stdout) as { services: Record<string, Service> };
    assert.equal(resolved.services['berth-1']?.environment?.BERTH_DATABASE_URL, 'postgres://berth:berth-db-password@postgres:5432/berth');
    const withEnv = await run('docker-compose', ['-f', COMPOSE_FILE, '--env-file', join(DIR, '.env.example'), 'config'], { env, cwd: DIR });
    const r2 = parse(withEnv.stdout) as { services: Record<string, Service> };
    assert.equal(r2.services['berth-2']?.environment?.BERTH_DATABASE_URL, 'postgres://berth:change-me-database@postgres:5432/berth');
    assert.equal(r2.services['berth-2']?.environment?.REGISTRY_STORAGE_S3_SECRETKEY, 'change-me-minio-secret');
    assert.equal(r2.services.postgres?.environment?.POSTGRES_PASSWORD, 'change-me-database');
    // And a broken file is refused, so the check above can fail.
    const dir = await mkdtemp(join(tmpdir(), 'berth-compose-'));
    try {
      await writeFile(join(dir, 'docker-compose.yml'), text.replace('condition: service_healthy', 'condition: service_ready'));
      const bad = await run('docker-compose', ['-f', join(dir, 'docker-compose.yml'), 'config'], { env, cwd: dir, allowFailure: true });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /service_ready/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('has an nginx.conf that nginx accepts (nginx -t, upstream names replaced by loopback addresses)', async (t) => {
    const nginx = ['/usr/sbin/nginx', 'nginx'];
    const bin = (await Promise.all(nginx.map(async (b) => ((await commandExists(b)) ? b : null)))).find(Boolean);
    if (!bin) {
      t.skip('nginx is not installed (apt-get install nginx)');
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'berth-nginx-'));
    try {
      // berth-1 and berth-2 resolve only on the Compose network.
      const conf = nginxConf.replace(/server berth-\d+:5000/g, 'server 127.0.0.1:5000').replace('pid /tmp/nginx.pid;', `pid ${dir}/nginx.pid;`)
        .replaceAll('/var/log/nginx/', `${dir}/`);
      await writeFile(join(dir, 'nginx.conf'), conf);
      const r = await run(bin, ['-t', '-q', '-p', dir, '-c', join(dir, 'nginx.conf')], { allowFailure: true });
      assert.equal(r.code, 0, `nginx -t failed:\n${r.stderr}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
