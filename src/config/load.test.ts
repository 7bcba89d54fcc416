import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from './load.js';
import { parseDuration } from './duration.js';

async function withFile(text: string, fn: (file: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-config-'));
  try {
    const file = path.join(dir, 'config.yml');
    await writeFile(file, text);
    await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('defaults: port 5000, ./data, delete enabled, 4 MiB manifests', async () => {
  const { config, errors, warnings } = await loadConfig({ env: {}, cwd: '/srv' });
  assert.deepEqual(errors, []);
  assert.deepEqual(warnings, []);
  assert.equal(config?.http.port, 5000);
  assert.equal(config?.http.host, '0.0.0.0');
  assert.equal(config?.dataDir, '/srv/data');
  assert.equal(config?.storage.rootDirectory, '/srv/data');
  assert.deepEqual(config?.database, { kind: 'sqlite', path: '/srv/data/berth.db' });
  assert.equal(config?.storage.deleteEnabled, true);
  assert.equal(config?.limits.manifestMaxBytes, 4 * 1024 * 1024);
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config?.http), 'the resolved config is frozen');
});

test('a registry:2 config.yml works as it is', async () => {
  const yml = `
version: 0.1
log:
  level: debug
  formatter: text
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: false
http:
  addr: 142.90.90.109:5000
  host: https://registry.example.com:5000
  headers:
    X-Content-Type-Options: [nosniff]
  tls:
    certificate: /etc/certs/host.pem
    key: /etc/certs/host.key
health:
  storagedriver:
    enabled: true
    interval: 10s
`;
  await withFile(yml, async (file) => {
    const { config, errors, warnings } = await loadConfig({ file, env: {} });
    assert.deepEqual(errors, []);
    assert.equal(config?.log.level, 'debug');
    assert.equal(config?.storage.rootDirectory, '/var/lib/registry');
    assert.equal(config?.storage.deleteEnabled, false);
    assert.equal(config?.http.host, '142.90.90.109');
    assert.equal(config?.http.port, 5000);
    assert.equal(config?.http.baseUrl, 'https://registry.example.com:5000');
    assert.equal(config?.http.tls?.certificate, '/etc/certs/host.pem');
    assert.ok(warnings.some((w) => w.startsWith('health:')), 'ignored sections are named');
    assert.ok(warnings.some((w) => w.startsWith('storage.cache:')));
  });
});

test('REGISTRY_* variables override the file, typed by the schema', async () => {
  await withFile('http:\n  addr: :5000\nlog:\n  level: info\n', async (file) => {
    const { config, errors } = await loadConfig({
      file,
      env: {
        REGISTRY_HTTP_ADDR: '127.0.0.1:6000',
        REGISTRY_LOG_LEVEL: 'debug',
        REGISTRY_STORAGE_DELETE_ENABLED: 'false',
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/blobs',
        REGISTRY_HTTP_DRAINTIMEOUT: '5s',
        BERTH_DATA_DIR: '/var/berth',
        PATH: '/usr/bin',
      },
    });
    assert.deepEqual(errors, []);
    assert.equal(config?.http.port, 6000);
    assert.equal(config?.log.level, 'debug');
    assert.equal(config?.storage.deleteEnabled, false);
    assert.equal(config?.storage.rootDirectory, '/blobs');
    assert.equal(config?.http.drainTimeoutMs, 5000);
    assert.equal(config?.dataDir, '/var/berth');
  });
});

test('flags override the environment', async () => {
  const { config } = await loadConfig({ env: { REGISTRY_HTTP_ADDR: ':6000' }, flags: { addr: '127.0.0.1:7000', dataDir: '/d' } });
  assert.equal(config?.http.port, 7000);
  assert.equal(config?.dataDir, '/d');
});

test('unknown keys are errors, all reported at once, with the key meant; --lenient makes them warnings', async () => {
  await withFile('http:\n  adr: ":15010"\n  bogus: 1\nnonsense: true\nlog:\n  levle: debug\n', async (file) => {
    const strict = await loadConfig({ file, env: { REGISTRY_HTTP_NOPE: 'x' } });
    assert.equal(strict.config, null);
    assert.deepEqual(strict.errors.sort(), [
      'http.adr: unknown key; did you mean http.addr? (run with --lenient to ignore unknown keys)',
      'http.bogus: unknown key (run with --lenient to ignore unknown keys)',
      'log.levle: unknown key; did you mean log.level? (run with --lenient to ignore unknown keys)',
      'nonsense: unknown key (run with --lenient to ignore unknown keys)',
    ]);
    const lenient = await loadConfig({ file, env: { REGISTRY_HTTP_NOPE: 'x' }, lenient: true });
    assert.ok(lenient.config);
    assert.equal(lenient.config.http.port, 5000, 'the typo is ignored, as asked');
    assert.deepEqual(lenient.warnings.sort(), [
      'REGISTRY_HTTP_NOPE: environment variable matches no configuration key, ignored',
      'http.adr: unknown key; did you mean http.addr? (ignored: --lenient)',
      'http.bogus: unknown key (ignored: --lenient)',
      'log.levle: unknown key; did you mean log.level? (ignored: --lenient)',
      'nonsense: unknown key (ignored: --lenient)',
    ]);
  });
});

test('registry:2 sections that would change what clients see are refused; harmless ones are warned about', async () => {
  await withFile([
    'proxy:\n  remoteurl: https://registry-1.docker.io',
    'middleware:\n  storage:\n    - name: cloudfront',
    'redis:\n  addr: localhost:6379',
    'health:\n  storagedriver:\n    enabled: true',
  ].join('\n'), async (file) => {
    const { config, errors, warnings } = await loadConfig({ file, env: {} });
    assert.equal(config, null);
    assert.deepEqual(errors.map((e) => e.split(':')[0]).sort(), ['middleware', 'proxy']);
    assert.match(errors.find((e) => e.startsWith('proxy')) ?? '', /pull-through caching is not supported yet/);
    assert.deepEqual(warnings.map((w) => w.split(':')[0]).sort(), ['health', 'redis']);
  });
  await withFile('proxy: {}\n', async (file) => {
    const { config, warnings } = await loadConfig({ file, env: {} });
    assert.ok(config, 'empty sections ask for nothing');
    assert.deepEqual(warnings.map((w) => w.split(':')[0]).sort(), ['proxy']);
  });
});

test('notifications: registry:2 endpoints load as written, with registry:2\'s defaults', async () => {
  await withFile([
    'notifications:',
    '  events:',
    '    includereferences: true',
    '  endpoints:',
    '    - name: alistener',
    '      url: https://mylistener.example.com/event',
    '      headers:',
    '        Authorization: [Bearer s3cret-token]',
    '        X-Many: [one, two]',
    '      timeout: 500ms',
    '      threshold: 5',
    '      backoff: 1s',
    '      ignoredmediatypes:',
    '        - application/octet-stream',
    '      ignore:',
    '        mediatypes: [application/vnd.oci.image.index.v1+json, application/octet-stream]',
    '        actions: [pull]',
    '    - name: plain',
    '      disabled: true',
    '      url: http://127.0.0.1:9000/hook',
    '      threshold: 0',
    '      timeout: 0s',
    '    - name: ce',
    '      url: http://127.0.0.1:9000/ce',
    '      format: cloudevents',
  ].join('\n'), async (file) => {
    const { config, errors, warnings } = await loadConfig({ file, env: {} });
    assert.deepEqual(errors, []);
    assert.deepEqual(warnings, []);
    assert.deepEqual(config?.notifications, {
      includeReferences: true,
      endpoints: [
        {
          name: 'alistener', url: 'https://mylistener.example.com/event', disabled: false,
          headers: { Authorization: ['Bearer s3cret-token'], 'X-Many': ['one', 'two'] },
          timeoutMs: 500, threshold: 5, backoffMs: 1000,
          ignoredMediaTypes: ['application/octet-stream', 'application/vnd.oci.image.index.v1+json'], ignoredActions: ['pull'], format: 'distribution',
        },
        // Zero means registry:2's default (timeout 1s, threshold 10, backoff 1s).
        { name: 'plain', url: 'http://127.0.0.1:9000/hook', disabled: true, headers: {}, timeoutMs: 1000, threshold: 10, backoffMs: 1000, ignoredMediaTypes: [], ignoredActions: [], format: 'distribution' },
        { name: 'ce', url: 'http://127.0.0.1:9000/ce', disabled: false, headers: {}, timeoutMs: 1000, threshold: 10, backoffMs: 1000, ignoredMediaTypes: [], ignoredActions: [], format: 'cloudevents' },
      ],
    });
  });
  const none = await loadConfig({ env: {} });
  assert.deepEqual(none.config?.notifications, { includeReferences: false, endpoints: [] });
  const empty = await loadConfig({ env: { REGISTRY_NOTIFICATIONS_ENDPOINTS: '[]' } });
  assert.deepEqual(empty.config?.notifications.endpoints, []);
});

test('notifications: REGISTRY_NOTIFICATIONS_* set the list (as YAML or JSON, as registry:2 reads it) and the events section', async () => {
  const { config, errors } = await loadConfig({ env: {
    REGISTRY_NOTIFICATIONS_ENDPOINTS: JSON.stringify([{ name: 'hook', url: 'http://hooks.internal/registry', headers: { Authorization: ['Bearer s3cret'] }, backoff: '250ms' }]),
    REGISTRY_NOTIFICATIONS_EVENTS_INCLUDEREFERENCES: 'true',
  } });
  assert.deepEqual(errors, []);
  assert.equal(config?.notifications.includeReferences, true);
  assert.deepEqual(config?.notifications.endpoints.map((e) => [e.name, e.url, e.headers.Authorization, e.backoffMs]), [['hook', 'http://hooks.internal/registry', ['Bearer s3cret'], 250]]);
  const yaml = await loadConfig({ env: { REGISTRY_NOTIFICATIONS_ENDPOINTS: '- name: a\n  url: https://a.example/x\n  ignore: {actions: [pull, mount]}' } });
  assert.deepEqual(yaml.errors, []);
  assert.deepEqual(yaml.config?.notifications.endpoints[0]?.ignoredActions, ['pull', 'mount']);
});

test('notifications: unknown keys (other registries\' maxretries, queuepurge) and bad values are refused, naming the key', async () => {
  await withFile([
    'notifications:',
    '  endpoints:',
    '    - name: a',
    '      url: https://a.example/x',
    '      maxretries: 5',
    '      ignore:',
    '        tags: [latest]',
  ].join('\n'), async (file) => {
    const { config, errors } = await loadConfig({ file, env: {} });
    assert.equal(config, null);
    assert.deepEqual(errors, [
      'notifications.endpoints.0.maxretries: unknown key (run with --lenient to ignore unknown keys)',
      'notifications.endpoints.0.ignore.tags: unknown key (run with --lenient to ignore unknown keys)',
    ]);
  });
  const fromEnv = await loadConfig({ env: { REGISTRY_NOTIFICATIONS_ENDPOINTS: '[{name: a, url: "http://a/x", queuepurge: true}]' } });
  assert.deepEqual(fromEnv.errors, ['notifications.endpoints.0.queuepurge: unknown key (run with --lenient to ignore unknown keys)']);
  const lenient = await loadConfig({ env: { REGISTRY_NOTIFICATIONS_ENDPOINTS: '[{name: a, url: "http://a/x", queuepurge: true}]' }, lenient: true });
  assert.deepEqual(lenient.errors, []);
  assert.deepEqual(lenient.warnings, ['notifications.endpoints.0.queuepurge: unknown key (ignored: --lenient)']);

  const cases: [unknown, RegExp][] = [
    [[{ url: 'http://a/x' }], /^notifications\.endpoints\.0\.name: /],
    [[{ name: 'has space', url: 'http://a/x' }], /^notifications\.endpoints\.0\.name: expected a name of letters/],
    [[{ name: 'a' }], /^notifications\.endpoints\.0\.url: /],
    [[{ name: 'a', url: 'ftp://a/x' }], /^notifications\.endpoints\.0\.url: expected an http:\/\/ or https:\/\/ URL$/],
    [[{ name: 'a', url: 'not a url' }], /^notifications\.endpoints\.0\.url: expected an http:\/\/ or https:\/\/ URL$/],
    [[{ name: 'a', url: 'http://a/x', timeout: 'soon' }], /^notifications\.endpoints\.0\.timeout: expected a duration/],
    [[{ name: 'a', url: 'http://a/x', backoff: 'later' }], /^notifications\.endpoints\.0\.backoff: expected a duration/],
    [[{ name: 'a', url: 'http://a/x', threshold: -1 }], /^notifications\.endpoints\.0\.threshold: /],
    [[{ name: 'a', url: 'http://a/x', headers: { Authorization: 'Bearer x' } }], /^notifications\.endpoints\.0\.headers\.Authorization: expected a list of values/],
    [[{ name: 'a', url: 'http://a/x', headers: { 'Content-Type': ['text/plain'] } }], /^notifications\.endpoints\.0\.headers\.Content-Type: set by Berth; remove it$/],
    [[{ name: 'a', url: 'http://a/x', headers: { 'Bad Name': ['x'] } }], /^notifications\.endpoints\.0\.headers: "Bad Name" is not a valid header name$/],
    [[{ name: 'a', url: 'http://a/x', ignore: { actions: ['scan'] } }], /^notifications\.endpoints\.0\.ignore\.actions\.0: /],
    [[{ name: 'a', url: 'http://a/x', format: 'xml' }], /^notifications\.endpoints\.0\.format: /],
    [[{ name: 'a', url: 'http://a/x' }, { name: 'a', url: 'http://b/x' }], /^notifications\.endpoints\.1\.name: "a" names another endpoint too; names must be unique$/],
    ['sample', /^notifications\.endpoints: expected a list of endpoints \(in REGISTRY_NOTIFICATIONS_ENDPOINTS: a YAML or JSON list\)$/],
  ];
  for (const [value, expected] of cases) {
    const { config, errors } = await loadConfig({ env: { REGISTRY_NOTIFICATIONS_ENDPOINTS: typeof value === 'string' ? value : JSON.stringify(value) } });
    assert.equal(config, null, JSON.stringify(value));
    assert.equal(errors.length, 1, `${JSON.stringify(value)}: ${errors.join('; ')}`);
    assert.match(errors[0] ?? '', expected);
  }
  // A secret in a header never appears in a message about it.
  const secret = await loadConfig({ env: { REGISTRY_NOTIFICATIONS_ENDPOINTS: JSON.stringify([{ name: 'a', url: 'http://a/x', headers: { Authorization: 'Bearer sup3rs3cret' } }]) } });
  assert.doesNotMatch(secret.errors.join('\n'), /sup3rs3cret/);
});

test('invalid values stop the start with a message naming the key', async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ REGISTRY_LOG_LEVEL: 'loud' }, /^log\.level: /],
    [{ REGISTRY_STORAGE_DELETE_ENABLED: 'yes please' }, /^storage\.delete\.enabled: /],
    [{ REGISTRY_HTTP_ADDR: 'nowhere' }, /^http\.addr: /],
    [{ REGISTRY_HTTP_ADDR: ':99999' }, /^http\.addr: /],
    [{ REGISTRY_HTTP_DRAINTIMEOUT: 'forever' }, /^http\.draintimeout: /],
    [{ REGISTRY_HTTP_TLS_CERTIFICATE: '/c.pem' }, /^http\.tls\.key: /],
    [{ REGISTRY_STORAGE: 's3' }, /^storage\.s3\.bucket: /],
    [{ REGISTRY_STORAGE: 'gcs' }, /^storage\.gcs: this storage driver is not supported/],
    [{ REGISTRY_AUTH: 'htpasswd' }, /^auth\.htpasswd\.path: /],
    [{ REGISTRY_AUTH: 'silly' }, /^auth\.silly: /],
    [{ REGISTRY_LIMITS_MANIFESTMAXBYTES: '0' }, /^limits\.manifestmaxbytes: /],
  ];
  for (const [env, re] of cases) {
    const { config, errors } = await loadConfig({ env });
    assert.equal(config, null, JSON.stringify(env));
    assert.ok(errors.some((e) => re.test(e)), `${JSON.stringify(env)} -> ${errors.join(' | ')}`);
  }
});

test('a broken file is reported, not thrown', async () => {
  await withFile('http: [unclosed', async (file) => {
    const { config, errors } = await loadConfig({ file, env: {} });
    assert.equal(config, null);
    assert.match(errors[0] ?? '', /invalid YAML/);
  });
  const missing = await loadConfig({ file: '/no/such/config.yml', env: {} });
  assert.match(missing.errors[0] ?? '', /cannot read config file \(ENOENT\)/);
});

test('Go durations', () => {
  assert.equal(parseDuration('300ms'), 300);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('168h'), 604_800_000);
  assert.equal(parseDuration(5), 5000);
  assert.equal(parseDuration('5'), 5000);
  assert.equal(parseDuration('5 parsecs'), null);
  assert.equal(parseDuration(''), null);
});

test('database.url: postgres:// or postgresql:// selects PostgreSQL, with a pool size', async () => {
  for (const url of ['postgres://berth:pw@db:5432/berth', 'postgresql://berth@db/berth?sslmode=require']) {
    const { config, errors } = await loadConfig({ env: { BERTH_DATABASE_URL: url } });
    assert.deepEqual(errors, []);
    assert.deepEqual(config?.database, { kind: 'postgres', url, poolSize: 10 });
  }
  await withFile('database:\n  url: postgres://db/berth\n  poolsize: 25\n', async (file) => {
    const { config, errors } = await loadConfig({ file, env: {} });
    assert.deepEqual(errors, []);
    assert.deepEqual(config?.database, { kind: 'postgres', url: 'postgres://db/berth', poolSize: 25 });
  });
  const env = await loadConfig({ env: { REGISTRY_DATABASE_URL: 'postgres://db/berth', REGISTRY_DATABASE_POOLSIZE: '3' } });
  assert.deepEqual(env.config?.database, { kind: 'postgres', url: 'postgres://db/berth', poolSize: 3 });
});

test('database.url: sqlite:PATH or nothing keeps SQLite; anything else is refused without echoing the URL', async () => {
  const sqlite = await loadConfig({ env: { BERTH_DATABASE_URL: 'sqlite:meta/berth.db' }, cwd: '/srv' });
  assert.deepEqual(sqlite.config?.database, { kind: 'sqlite', path: '/srv/meta/berth.db' });
  const pool = await loadConfig({ env: { REGISTRY_DATABASE_POOLSIZE: '5' } });
  assert.deepEqual(pool.warnings, ['database.poolsize: only used with PostgreSQL, ignored']);
  for (const url of ['mysql://root:hunter2@db/berth', 'postgres//db', '/var/berth.db']) {
    const { config, errors } = await loadConfig({ env: { BERTH_DATABASE_URL: url } });
    assert.equal(config, null, url);
    assert.match(errors[0] ?? '', /^database\.url: expected postgres:\/\/… or postgresql:\/\/… \(PostgreSQL\) or sqlite:PATH \(SQLite\), got /, url);
    assert.doesNotMatch(errors.join(), /hunter2/);
  }
  const bad = await loadConfig({ env: { BERTH_DATABASE_URL: 'postgres://berth:hunter2@db:notaport/berth' } });
  assert.match(bad.errors[0] ?? '', /^database\.url: not a valid PostgreSQL URL/);
  assert.doesNotMatch(bad.errors.join(), /hunter2/);
  const zero = await loadConfig({ env: { BERTH_DATABASE_URL: 'postgres://db/berth', REGISTRY_DATABASE_POOLSIZE: '0' } });
  assert.match(zero.errors[0] ?? '', /^database\.poolsize: /);
});

test('auth.token without htpasswd and rootcertbundle means users from Berth\'s database', async () => {
  const { config, errors } = await loadConfig({ env: { REGISTRY_AUTH: 'token', REGISTRY_AUTH_ANONYMOUS: 'true' } });
  assert.deepEqual(errors, []);
  assert.ok(config && config.auth.kind === 'token');
  assert.equal(config.auth.database, true);
  assert.equal(config.auth.anonymous, true);
  const external = await loadConfig({ env: { REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE: '/b.pem' } });
  assert.ok(external.config && external.config.auth.kind === 'token');
  assert.equal(external.config.auth.database, false);
});

test('http.accelredirect is a path prefix, and only for filesystem storage', async () => {
  const ok = await loadConfig({ env: { REGISTRY_HTTP_ACCELREDIRECT: '/_berth_blobs/' } });
  assert.equal(ok.config?.http.accelRedirect, '/_berth_blobs/');
  const bad = await loadConfig({ env: { REGISTRY_HTTP_ACCELREDIRECT: 'no-slashes' } });
  assert.match(bad.errors[0] ?? '', /^http\.accelredirect: /);
  const mem = await loadConfig({ env: { REGISTRY_HTTP_ACCELREDIRECT: '/x/', REGISTRY_STORAGE: 'inmemory' } });
  assert.ok(mem.errors.some((e) => /^http\.accelredirect: .*filesystem/.test(e)));
});

test('storage.s3 takes registry:2 keys from the file and REGISTRY_STORAGE_S3_* variables', async () => {
  const r = await loadConfig({
    env: {
      REGISTRY_STORAGE_S3_BUCKET: 'blobs', REGISTRY_STORAGE_S3_REGION: 'eu-west-1', REGISTRY_STORAGE_S3_REGIONENDPOINT: 'minio:9000',
      REGISTRY_STORAGE_S3_SECURE: 'false', REGISTRY_STORAGE_S3_ACCESSKEY: 'AK', REGISTRY_STORAGE_S3_SECRETKEY: 'SK',
      REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true', REGISTRY_STORAGE_S3_CHUNKSIZE: String(8 * 1024 * 1024), REGISTRY_STORAGE_S3_ROOTDIRECTORY: '/registry/',
    },
  });
  assert.deepEqual(r.errors, []);
  const s3 = r.config?.storage.s3;
  assert.equal(r.config?.storage.driver, 's3');
  assert.equal(s3?.endpoint, 'http://minio:9000');
  assert.equal(s3?.bucket, 'blobs');
  assert.equal(s3?.rootDirectory, 'registry');
  assert.equal(s3?.forcePathStyle, true);
  assert.equal(s3?.chunkSize, 8 * 1024 * 1024);
  assert.equal(s3?.secretKey, 'SK');
});

test('storage.s3 refuses a chunk size under 5 MiB, a lone access key and a second driver', async () => {
  const small = await loadConfig({ env: { REGISTRY_STORAGE_S3_BUCKET: 'b', REGISTRY_STORAGE_S3_REGION: 'r', REGISTRY_STORAGE_S3_CHUNKSIZE: '1048576' } });
  assert.match(small.errors.join('\n'), /storage\.s3\.chunksize/);
  const lone = await loadConfig({ env: { REGISTRY_STORAGE_S3_BUCKET: 'b', REGISTRY_STORAGE_S3_REGION: 'r', REGISTRY_STORAGE_S3_ACCESSKEY: 'AK' } });
  assert.match(lone.errors.join('\n'), /storage\.s3\.secretkey: required when storage\.s3\.accesskey is set/);
  const two = await loadConfig({ env: { REGISTRY_STORAGE_S3_BUCKET: 'b', REGISTRY_STORAGE_S3_REGION: 'r', REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/x' } });
  assert.match(two.errors.join('\n'), /only one storage driver/);
});

test('with a registry:2 storage root and no datadir, Berth keeps its data there, never in the working folder', async () => {
  const { config } = await loadConfig({ env: { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/var/lib/docker-registry' }, cwd: '/home/someone' });
  assert.equal(config?.dataDir, '/var/lib/docker-registry');
  assert.equal(config?.database.kind === 'sqlite' ? config.database.path : null, '/var/lib/docker-registry/berth.db');
  const explicit = await loadConfig({ env: { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/var/lib/docker-registry', BERTH_DATA_DIR: '/srv/berth' }, cwd: '/home/someone' });
  assert.equal(explicit.config?.dataDir, '/srv/berth', 'an explicit datadir wins');
});
