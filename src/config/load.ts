import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, endpointsFromText, type WrittenConfig } from './schema.js';
import { parseDuration } from './duration.js';
import { parseAddressRange } from './address-range.js';
import type { BerthConfig, S3Config } from './resolved.js';

/**
 * The one config loader: defaults < YAML file < environment < command-line
 * flags. It never throws for bad input: it returns `errors` and `warnings` as
 * `path: message` lines, and the caller refuses to start when there are errors.
 */

export interface LoadOptions {
  /** Path of a YAML config file (registry:2's config.yml works). */
  file?: string | undefined;
  /** Environment to read REGISTRY_* and BERTH_* overrides from. */
  env?: Record<string, string | undefined>;
  /** Command-line overrides. */
  flags?: { addr?: string | undefined; dataDir?: string | undefined };
  /** Base for relative paths (defaults to the working directory). */
  cwd?: string;
  /** Unknown keys are warnings instead of errors (`--lenient`). */
  lenient?: boolean;
}

export interface LoadResult {
  config: BerthConfig | null;
  errors: string[];
  warnings: string[];
  /** Where the config file came from, if any. */
  file: string | null;
}

/**
 * registry:2 keys Berth accepts but does not act on, because ignoring them
 * changes nothing clients see: they are warned about.
 */
const IGNORED_PATHS = new Set([
  'redis', 'health', 'reporting', 'http.http2', 'storage.cache', 'storage.filesystem.maxthreads', 'log.formatter',
]);

/**
 * registry:2 sections that would change what clients see, which Berth does
 * not implement (yet): refused, with the reason, rather than silently run
 * as something else. Each returns a message when the section asks for the
 * behaviour (an empty section is only warned about).
 */
const REFUSED_SECTIONS: Record<string, (v: unknown) => string | null> = {
  proxy: (v) => (isPlainObject(v) && (v.remoteurl !== undefined || Object.keys(v).length > 0)
    ? 'pull-through caching is not supported yet: Berth would run as a plain registry instead of a cache of the remote. Remove the proxy section (or keep registry:2 as the cache in front of Berth)'
    : null),
  middleware: (v) => (isPlainObject(v) && Object.values(v).some((m) => Array.isArray(m) ? m.length > 0 : m !== null && m !== undefined)
    ? 'storage, registry and repository middleware (cloudfront, redirect, …) are not supported: clients would be served differently. Remove the middleware section (storage.redirect and http.accelredirect cover the common cases)'
    : null),
  validation: (v) => (isPlainObject(v) && isPlainObject(v.manifests) && isPlainObject(v.manifests.urls)
    ? 'validation.manifests.urls (allow/deny rules for foreign layer URLs) is not supported: Berth would accept manifests registry:2 refuses. Remove it'
    : null),
  compatibility: (v) => (isPlainObject(v) && isPlainObject(v.schema1) && v.schema1.enabled === true
    ? 'Docker schema 1 manifests are not supported; remove compatibility.schema1.enabled'
    : null),
  'http.tls.letsencrypt': (v) => (v !== null && v !== undefined
    ? 'ACME (Let\'s Encrypt) certificates are not supported: Berth would serve without them. Use http.tls.certificate and http.tls.key'
    : null),
};

/** Berth's own environment variables, beside the REGISTRY_* forms. */
const BERTH_ENV: Record<string, string[]> = {
  BERTH_DATA_DIR: ['datadir'],
  BERTH_DATABASE_URL: ['database', 'url'],
  BERTH_LOG_LEVEL: ['log', 'level'],
};

type AnySchema = z.ZodType;
type Def = { type: string; innerType?: AnySchema; shape?: Record<string, AnySchema>; catchall?: AnySchema; out?: AnySchema; element?: AnySchema };

function defOf(schema: AnySchema): Def {
  return (schema as unknown as { def: Def }).def;
}

/** Strips optional/default/nullable wrappers to find an object's shape. */
function unwrap(schema: AnySchema): AnySchema {
  let s = schema;
  for (let d = defOf(s); d.innerType && ['optional', 'default', 'nullable', 'nonoptional'].includes(d.type); d = defOf(s)) s = d.innerType;
  return s;
}

function shapeOf(schema: AnySchema): Record<string, AnySchema> | null {
  const d = defOf(unwrap(schema));
  return d.type === 'object' && d.shape ? d.shape : null;
}

function isOpenMap(schema: AnySchema): boolean {
  const d = defOf(unwrap(schema));
  return d.type === 'record' || d.type === 'unknown' || (d.type === 'object' && d.catchall !== undefined && defOf(d.catchall).type !== 'never');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Levenshtein distance, for "did you mean" (keys are short). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}

function suggestion(key: string, candidates: string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(key.toLowerCase(), c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== null && bestD <= (key.length <= 3 ? 1 : 2) ? best : null;
}

/**
 * Keys Berth does not know are errors (a typo would otherwise silently fall
 * back to a default), with the closest known key suggested; `lenient`
 * makes them warnings. registry:2 sections that change behaviour are
 * refused (REFUSED_SECTIONS); harmless ones are warned about.
 */
function collectUnknownKeys(schema: AnySchema, value: unknown, at: string[], problems: { errors: string[]; warnings: string[] }, lenient: boolean): void {
  const shape = shapeOf(schema);
  if (!shape || !isPlainObject(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const p = [...at, key];
    const dotted = p.join('.');
    const sub = shape[key];
    if (!sub) {
      const near = suggestion(key, Object.keys(shape));
      const message = `${dotted}: unknown key${near ? `; did you mean ${[...at, near].join('.')}?` : ''}`;
      if (lenient) problems.warnings.push(`${message} (ignored: --lenient)`);
      else problems.errors.push(`${message} (run with --lenient to ignore unknown keys)`);
      continue;
    }
    const refuse = REFUSED_SECTIONS[dotted];
    if (refuse) {
      const why = refuse(child);
      if (why) problems.errors.push(`${dotted}: ${why}`);
      else problems.warnings.push(`${dotted}: accepted for compatibility with registry:2, has no effect in Berth`);
      continue;
    }
    if (IGNORED_PATHS.has(dotted)) {
      problems.warnings.push(`${dotted}: accepted for compatibility with registry:2, has no effect in Berth`);
      continue;
    }
    // A list of sections (notifications.endpoints): each item's keys are checked the same way, as key.N.name.
    const element = listElement(sub);
    if (element && Array.isArray(child)) child.forEach((item, i) => collectUnknownKeys(element, item, [...p, String(i)], problems, lenient));
    else if (!isOpenMap(sub)) collectUnknownKeys(sub, child, p, problems, lenient);
  }
}

/** The item schema of a list (through a preprocess step), or null. */
function listElement(schema: AnySchema): AnySchema | null {
  let d = defOf(unwrap(schema));
  if (d.type === 'pipe' && d.out) d = defOf(unwrap(d.out));
  return d.type === 'array' && d.element ? d.element : null;
}

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target;
  for (const k of keys.slice(0, -1)) {
    if (!isPlainObject(node[k])) node[k] = {};
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = value;
}

/**
 * Maps REGISTRY_A_B_C onto the schema path a.b.c the way registry:2 does:
 * config keys have no underscores, so each `_` is a level. Inside open maps
 * (storage.s3, auth, log.fields) the rest of the name is taken as-is.
 */
function envPath(name: string): string[] | null {
  const parts = name.slice('REGISTRY_'.length).toLowerCase().split('_');
  let schema: AnySchema = configSchema;
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (isOpenMap(schema) && out.length > 0) return [...out, ...parts.slice(i)];
    const shape = shapeOf(schema);
    const sub = shape?.[part];
    if (!sub) return null;
    out.push(part);
    schema = sub;
  }
  return out;
}

function applyEnv(raw: Record<string, unknown>, env: Record<string, string | undefined>, warnings: string[]): void {
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const berth = BERTH_ENV[name];
    if (berth) {
      setPath(raw, berth, value);
      continue;
    }
    if (!name.startsWith('REGISTRY_') || name === 'REGISTRY_CONFIGURATION_PATH') continue;
    const keys = envPath(name);
    if (!keys) {
      warnings.push(`${name}: environment variable matches no configuration key, ignored`);
      continue;
    }
    // REGISTRY_STORAGE=s3 and REGISTRY_AUTH=htpasswd name the driver, as in registry:2.
    if ((keys.length === 1 && (keys[0] === 'storage' || keys[0] === 'auth'))) {
      const section = isPlainObject(raw[keys[0]]) ? (raw[keys[0]] as Record<string, unknown>) : {};
      if (!isPlainObject(section[value.toLowerCase()])) section[value.toLowerCase()] = {};
      raw[keys[0]] = section;
      continue;
    }
    setPath(raw, keys, value);
  }
}

function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
}

export async function loadConfig(options: LoadOptions = {}): Promise<LoadResult> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const errors: string[] = [];
  const warnings: string[] = [];
  const file = options.file ?? env.BERTH_CONFIG ?? env.REGISTRY_CONFIGURATION_PATH ?? null;

  let raw: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = await readFile(path.resolve(cwd, file), 'utf8');
    } catch (err) {
      return { config: null, errors: [`${file}: cannot read config file (${(err as NodeJS.ErrnoException).code ?? 'error'})`], warnings, file };
    }
    try {
      const parsed: unknown = parseYaml(text);
      if (parsed !== null && parsed !== undefined && !isPlainObject(parsed)) {
        return { config: null, errors: [`${file}: the config must be a YAML mapping`], warnings, file };
      }
      raw = (parsed as Record<string, unknown> | null) ?? {};
    } catch (err) {
      return { config: null, errors: [`${file}: invalid YAML: ${(err as Error).message.split('\n')[0]}`], warnings, file };
    }
  }
  collectUnknownKeys(configSchema, raw, [], { errors, warnings }, options.lenient ?? false);
  applyEnv(raw, env, warnings);
  // The endpoints list may come whole from the environment (as YAML): its keys are checked as a file's would be.
  const endpointsEnv = env.REGISTRY_NOTIFICATIONS_ENDPOINTS;
  if (endpointsEnv !== undefined) collectUnknownKeys(configSchema, { notifications: { endpoints: endpointsFromText(endpointsEnv) } }, [], { errors, warnings }, options.lenient ?? false);
  if (options.flags?.addr) setPath(raw, ['http', 'addr'], options.flags.addr);
  if (options.flags?.dataDir) setPath(raw, ['datadir'], options.flags.dataDir);

  const parsed = configSchema.safeParse(raw);
  // Every problem at once: schema issues beside the unknown and refused keys.
  if (!parsed.success) return { config: null, errors: [...errors, ...formatIssues(parsed.error)], warnings, file };
  const config = resolve(parsed.data, cwd, errors, warnings);
  return { config: errors.length === 0 ? config : null, errors, warnings, file };
}

function parseAddr(addr: string, errors: string[], key = 'http.addr'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    errors.push(`${key}: expected HOST:PORT or :PORT, got ${JSON.stringify(addr)}`);
    return { host: '0.0.0.0', port: 5000 };
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function resolveS3(c: WrittenConfig, errors: string[], warnings: string[]): S3Config | undefined {
  const s3 = c.storage?.s3;
  if (!s3) return undefined;
  let endpoint = s3.regionendpoint;
  if (endpoint !== undefined) {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) endpoint = `${s3.secure === false ? 'http' : 'https'}://${endpoint}`;
    try {
      const u = new URL(endpoint);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    } catch {
      errors.push(`storage.s3.regionendpoint: expected a URL such as http://minio:9000, got ${JSON.stringify(s3.regionendpoint)}`);
    }
  }
  if ((s3.accesskey === undefined || s3.accesskey === '') !== (s3.secretkey === undefined || s3.secretkey === '')) {
    errors.push(`storage.s3.${s3.accesskey ? 'secretkey' : 'accesskey'}: required when storage.s3.${s3.accesskey ? 'accesskey' : 'secretkey'} is set (or set neither, to use the AWS credential chain)`);
  }
  if (s3.keyid !== undefined && !s3.encrypt) warnings.push('storage.s3.keyid: only used with storage.s3.encrypt: true, ignored');
  for (const k of ['usedualstack', 'accelerate', 'loglevel'] as const) {
    if (s3[k] !== undefined) warnings.push(`storage.s3.${k}: accepted for compatibility with registry:2, ignored`);
  }
  if (s3.v4auth === false) warnings.push('storage.s3.v4auth: Berth always signs requests with AWS signature v4');
  return {
    bucket: s3.bucket,
    region: s3.region,
    endpoint,
    rootDirectory: (s3.rootdirectory ?? '').replace(/^\/+|\/+$/g, ''),
    accessKey: s3.accesskey || undefined,
    secretKey: s3.secretkey || undefined,
    sessionToken: s3.sessiontoken || undefined,
    forcePathStyle: s3.forcepathstyle ?? false,
    skipVerify: s3.skipverify ?? false,
    encrypt: s3.encrypt ?? false,
    keyId: s3.keyid,
    chunkSize: s3.chunksize ?? 10 * 1024 * 1024,
    multipartCopyThresholdSize: s3.multipartcopythresholdsize ?? 32 * 1024 * 1024,
    multipartCopyChunkSize: s3.multipartcopychunksize ?? 32 * 1024 * 1024,
    multipartCopyMaxConcurrency: s3.multipartcopymaxconcurrency ?? 16,
    storageClass: s3.storageclass,
    objectAcl: s3.objectacl,
    userAgent: s3.useragent,
    maxSockets: s3.maxsockets ?? 128,
  };
}

function resolve(c: WrittenConfig, cwd: string, errors: string[], warnings: string[]): BerthConfig {
  // A registry:2 config names its storage root and no datadir: Berth's data
  // (berth.db, keys) lives there too, never in whatever folder a command runs from.
  const dataDir = path.resolve(cwd, c.datadir ?? c.storage?.filesystem?.rootdirectory ?? 'data');
  const { host, port } = parseAddr(c.http?.addr ?? ':5000', errors);
  if (c.trust?.addr !== undefined && c.trust.enabled === false) errors.push('trust.addr: a trust listener is set but trust.enabled is false; remove trust.addr or enable trust');
  const trustAddrErrors: string[] = [];
  if (c.trust?.addr !== undefined && port !== 0 && parseAddr(c.trust.addr, trustAddrErrors).port === port && trustAddrErrors.length === 0) errors.push(`trust.addr: port ${port} is http.addr's; choose another port (the Notary API is on http.addr already)`);

  const drivers = (['filesystem', 'inmemory', 's3'] as const).filter((d) => c.storage?.[d] !== undefined);
  // registry:2's other drivers: refuse rather than quietly keep blobs on local disk.
  for (const other of ['azure', 'gcs', 'swift', 'oss'] as const) {
    if (c.storage?.[other] !== undefined) errors.push(`storage.${other}: this storage driver is not supported by Berth; use storage.s3 (S3, MinIO, Ceph RGW) or storage.filesystem`);
  }
  if (drivers.length > 1) errors.push(`storage: only one storage driver may be configured, found ${drivers.join(', ')}`);
  if (c.auth?.silly !== undefined) errors.push('auth.silly: the silly scheme is for tests of registry:2 and is not supported; use auth.htpasswd or auth.token');
  if (c.auth?.anonymous !== undefined && !(c.auth.token && !c.auth.token.rootcertbundle && !c.auth.htpasswd)) {
    warnings.push('auth.anonymous: only used with users from Berth\'s database (auth.token without htpasswd and rootcertbundle), ignored');
  }
  if (c.http?.accelredirect !== undefined && (c.storage?.inmemory !== undefined || c.storage?.s3 !== undefined)) {
    errors.push('http.accelredirect: nginx can only send blobs from storage.filesystem');
  }
  for (const [i, entry] of (c.http?.trustedproxies ?? []).entries()) {
    if (parseAddressRange(entry) === null) errors.push(`http.trustedproxies[${i}]: expected an IP address or CIDR range such as 10.0.0.0/8, got ${JSON.stringify(entry)}`);
  }
  if (c.http?.prefix !== undefined && c.http.prefix !== '/' && c.http.prefix !== '') {
    errors.push('http.prefix: only "/" is supported');
  }
  const tls = c.http?.tls;
  if (tls && (tls.certificate === undefined) !== (tls.key === undefined)) {
    errors.push(`http.tls.${tls.certificate === undefined ? 'certificate' : 'key'}: required when http.tls.${tls.certificate === undefined ? 'key' : 'certificate'} is set`);
  }
  if (c.loglevel !== undefined) warnings.push('loglevel: deprecated, use log.level');

  const purging = c.storage?.maintenance?.uploadpurging;
  const ms = (v: string | number | undefined, fallback: number) => (v === undefined ? fallback : (parseDuration(v) ?? fallback));

  const config: BerthConfig = {
    dataDir,
    log: {
      level: c.log?.level ?? c.loglevel ?? 'info',
      fields: c.log?.fields ?? {},
      accessLog: !(c.log?.accesslog?.disabled ?? false),
    },
    http: {
      host,
      port,
      baseUrl: c.http?.host?.replace(/\/+$/, ''),
      aliases: c.http?.aliases ?? [],
      relativeUrls: c.http?.relativeurls ?? false,
      trustedProxies: c.http?.trustedproxies ?? [],
      accelRedirect: c.http?.accelredirect,
      drainTimeoutMs: ms(c.http?.draintimeout, 30_000),
      headers: c.http?.headers ?? {},
      tls: tls?.certificate && tls.key
        ? {
            certificate: path.resolve(cwd, tls.certificate),
            key: path.resolve(cwd, tls.key),
            clientCas: (tls.clientcas ?? []).map((p) => path.resolve(cwd, p)),
            caCertificate: path.resolve(cwd, tls.cacertificate ?? path.join(path.dirname(tls.certificate), 'ca.crt')),
            minVersion: tls.minimumtls === 'tls1.3' ? 'TLSv1.3' : 'TLSv1.2',
          }
        : undefined,
    },
    storage: {
      driver: c.storage?.s3 !== undefined ? 's3' : c.storage?.inmemory !== undefined ? 'inmemory' : 'filesystem',
      rootDirectory: path.resolve(cwd, c.storage?.filesystem?.rootdirectory ?? dataDir),
      s3: resolveS3(c, errors, warnings),
      deleteEnabled: c.storage?.delete?.enabled ?? true,
      redirect: !(c.storage?.redirect?.disable ?? false),
      verifyReads: c.storage?.verifyreads ?? true,
      readOnly: c.storage?.maintenance?.readonly?.enabled ?? false,
      uploadPurging: {
        enabled: purging?.enabled ?? true,
        ageMs: ms(purging?.age, 168 * 3_600_000),
        intervalMs: ms(purging?.interval, 24 * 3_600_000),
        dryRun: purging?.dryrun ?? false,
      },
    },
    auth: resolveAuth(c, dataDir, cwd, ms),
    database: resolveDatabase(c, dataDir, cwd, errors, warnings),
    audit: { retentionMs: ms(c.audit?.retention, 90 * 86_400_000) },
    gc: {
      enabled: c.gc?.enabled ?? true,
      intervalMs: ms(c.gc?.interval, 24 * 3_600_000),
      graceMs: ms(c.gc?.graceperiod, 3_600_000),
      deleteUntagged: c.gc?.deleteuntagged ?? false,
      dryRun: c.gc?.dryrun ?? false,
    },
    trust: {
      enabled: c.trust?.enabled ?? true,
      listener: c.trust?.addr === undefined ? null : parseAddr(c.trust.addr, errors, 'trust.addr'),
      keySecretFile: path.resolve(cwd, c.trust?.keysecretfile ?? path.join(dataDir, 'keys', 'trust-key-secret')),
    },
    metrics: resolveMetrics(c, port, errors),
    notifications: resolveNotifications(c, errors),
    manifests: {
      sparse: { repositories: c.manifests?.sparse?.repositories ?? [], namespaces: c.manifests?.sparse?.namespaces ?? [] },
    },
    limits: {
      manifestMaxBytes: c.limits?.manifestmaxbytes ?? 4 * 1024 * 1024,
      tagsPageSize: c.limits?.tagspagesize ?? 0,
      catalogPageSize: c.limits?.catalogpagesize ?? 1000,
      maxPageSize: c.limits?.maxpagesize ?? 10_000,
    },
  };
  return deepFreeze(config);
}

function resolveAuth(c: WrittenConfig, dataDir: string, cwd: string, ms: (v: string | number | undefined, fallback: number) => number): BerthConfig['auth'] {
  const a = c.auth;
  const limits = {
    perUserAddress: a?.loginlimits?.peruseraddress ?? 10,
    perAddress: a?.loginlimits?.peraddress ?? 50,
    perUser: a?.loginlimits?.peruser ?? 100,
    windowMs: ms(a?.loginlimits?.window, 15 * 60_000),
  };
  const htpasswd = a?.htpasswd ? { realm: a.htpasswd.realm ?? 'berth', path: path.resolve(cwd, a.htpasswd.path) } : undefined;
  if (a?.token) {
    return {
      kind: 'token',
      realm: a.token.realm,
      service: a.token.service ?? 'berth',
      issuer: a.token.issuer ?? 'berth',
      rootCertBundle: a.token.rootcertbundle ? path.resolve(cwd, a.token.rootcertbundle) : undefined,
      htpasswd,
      // Neither an htpasswd file nor an external issuer: Berth's own users, organizations, teams and grants.
      database: !htpasswd && !a.token.rootcertbundle,
      anonymous: a.anonymous ?? false,
      signingKey: path.resolve(cwd, a.token.signingkey ?? path.join(dataDir, 'keys', 'token-signing-key.pem')),
      ttlSeconds: a.token.expiration ?? 300,
      limits,
    };
  }
  if (htpasswd) return { kind: 'htpasswd', ...htpasswd, limits };
  return { kind: 'none' };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * database.url picks the metadata backend: postgres:// or postgresql:// for
 * PostgreSQL, sqlite:PATH (or nothing) for SQLite. Messages never repeat the
 * URL, which may hold a password.
 */
/**
 * Prometheus metrics: on http.addr only when metrics.enabled, and then
 * protected (a bearer token, or admin sign-in, which needs users from
 * Berth's database); on http.debug.addr as registry:2 serves them, when
 * http.debug.prometheus.enabled.
 */
function resolveMetrics(c: WrittenConfig, port: number, errors: string[]): BerthConfig['metrics'] {
  const m = c.metrics;
  const debug = c.http?.debug;
  const usersFromDatabase = c.auth?.token !== undefined && !c.auth.token.rootcertbundle && !c.auth.htpasswd;
  if (m?.token !== undefined && m.token.length < 16) errors.push('metrics.token: too short; use at least 16 random characters (e.g. openssl rand -hex 32)');
  if (m?.enabled && m.token === undefined && !usersFromDatabase) {
    errors.push('metrics.enabled: /metrics on http.addr needs metrics.token (a bearer secret for the scraper) or users from Berth\'s database (administrators sign in); or serve metrics on http.debug.addr with http.debug.prometheus.enabled instead');
  }
  if (m?.token !== undefined && !m.enabled) errors.push('metrics.token: set but metrics.enabled is not true; enable metrics or remove the token');
  if (debug?.prometheus?.enabled && debug.addr === undefined) errors.push('http.debug.prometheus.enabled: needs http.debug.addr, the listener that serves the metrics (e.g. localhost:5001)');
  let listener: { host: string; port: number } | null = null;
  if (debug?.addr !== undefined) {
    const addrErrors: string[] = [];
    listener = parseAddr(debug.addr, addrErrors, 'http.debug.addr');
    errors.push(...addrErrors);
    if (addrErrors.length === 0 && port !== 0 && listener.port === port) errors.push(`http.debug.addr: port ${port} is http.addr's; choose another port (e.g. localhost:5001)`);
  }
  return {
    main: m?.enabled ? { token: m.token ?? null } : null,
    debug: listener && { ...listener, metricsPath: debug?.prometheus?.enabled ? (debug.prometheus.path ?? '/metrics') : null },
  };
}

/**
 * registry:2's notifications: its defaults (timeout 1s, threshold 10, backoff
 * 1s; zero or absent means the default), ignoredmediatypes and
 * ignore.mediatypes merged, names unique (they key the outbox and metrics).
 */
function resolveNotifications(c: WrittenConfig, errors: string[]): BerthConfig['notifications'] {
  const n = c.notifications;
  const positive = (v: string | number | undefined, fallback: number) => {
    const ms = v === undefined ? null : parseDuration(v);
    return ms === null || ms <= 0 ? fallback : ms;
  };
  const seen = new Set<string>();
  const endpoints = (n?.endpoints ?? []).map((e, i) => {
    if (seen.has(e.name)) errors.push(`notifications.endpoints.${i}.name: ${JSON.stringify(e.name)} names another endpoint too; names must be unique`);
    seen.add(e.name);
    const headers: Record<string, readonly string[]> = {};
    for (const [name, values] of Object.entries(e.headers ?? {})) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) errors.push(`notifications.endpoints.${i}.headers: ${JSON.stringify(name)} is not a valid header name`);
      else if (/^(content-type|content-length|host|transfer-encoding|connection)$/i.test(name)) errors.push(`notifications.endpoints.${i}.headers.${name}: set by Berth; remove it`);
      else if (values.some((v) => /[\r\n\0]/.test(v))) errors.push(`notifications.endpoints.${i}.headers.${name}: a value holds a line break`);
      else headers[name] = values;
    }
    return {
      name: e.name,
      url: e.url,
      disabled: e.disabled ?? false,
      headers,
      timeoutMs: positive(e.timeout, 1000),
      threshold: e.threshold !== undefined && e.threshold > 0 ? e.threshold : 10,
      backoffMs: positive(e.backoff, 1000),
      ignoredMediaTypes: [...new Set([...(e.ignoredmediatypes ?? []), ...(e.ignore?.mediatypes ?? [])])],
      ignoredActions: [...new Set(e.ignore?.actions ?? [])],
      format: e.format ?? 'distribution',
    };
  });
  return { includeReferences: n?.events?.includereferences ?? false, endpoints };
}

function resolveDatabase(c: WrittenConfig, dataDir: string, cwd: string, errors: string[], warnings: string[]): BerthConfig['database'] {
  const url = c.database?.url;
  if (url !== undefined && /^postgres(?:ql)?:\/\//i.test(url)) {
    if (!URL.canParse(url)) errors.push('database.url: not a valid PostgreSQL URL; expected postgres://USER:PASSWORD@HOST:PORT/DATABASE (percent-encode special characters in the password)');
    return { kind: 'postgres', url, poolSize: c.database?.poolsize ?? 10 };
  }
  if (url !== undefined && !/^sqlite:/i.test(url)) {
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? 'no scheme';
    errors.push(`database.url: expected postgres://… or postgresql://… (PostgreSQL) or sqlite:PATH (SQLite), got ${scheme}`);
  }
  if (c.database?.poolsize !== undefined) warnings.push('database.poolsize: only used with PostgreSQL, ignored');
  return { kind: 'sqlite', path: url !== undefined ? path.resolve(cwd, url.replace(/^sqlite:/i, '')) : path.join(dataDir, 'berth.db') };
}
