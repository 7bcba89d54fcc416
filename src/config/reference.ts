import path from 'node:path';
import type { z } from 'zod';
import { loadConfig } from './load.js';
import type { BerthConfig } from './resolved.js';
import { configSchema } from './schema.js';

/**
 * The configuration reference of docs/configuration.md, generated: keys and
 * descriptions from the schema, `REGISTRY_*` forms by the loader's rule, and
 * defaults read back from the loader itself wherever a default has a
 * resolved value. `npm run docs` writes it; reference.test.ts fails when the
 * docs, the schema or the loader's defaults disagree.
 */

type AnySchema = z.ZodType;
type Def = { type: string; innerType?: AnySchema; shape?: Record<string, AnySchema>; in?: AnySchema; out?: AnySchema; valueType?: AnySchema; entries?: Record<string, string> };

const WRAPPERS = ['optional', 'default', 'nullable', 'nonoptional', 'readonly'];

function defOf(schema: AnySchema): Def {
  return (schema as unknown as { def: Def }).def;
}

function unwrap(schema: AnySchema): AnySchema {
  let s = schema;
  for (let d = defOf(s); d.innerType && WRAPPERS.includes(d.type); d = defOf(s)) s = d.innerType;
  return s;
}

/**
 * The first description met going inwards (`.describe()` may sit outside or
 * inside `.optional()`), with an enum's values appended.
 */
function descriptionOf(schema: AnySchema): string | undefined {
  let s: AnySchema | undefined = schema;
  let text: string | undefined;
  while (s && text === undefined) {
    text = s.description;
    const d = defOf(s);
    s = WRAPPERS.includes(d.type) ? d.innerType : d.type === 'pipe' ? d.out : undefined;
  }
  const entries = defOf(unwrap(schema)).entries;
  if (text === undefined || !entries) return text;
  return `${text} One of ${Object.values(entries).map((v) => `\`${v}\``).join(', ')}.`;
}

/**
 * - `section`: a mapping of further keys;
 * - `switch`: a mapping with no keys of its own, present or not (storage.inmemory);
 * - `map`: free-form names (log.fields, http.headers);
 * - `opaque`: accepted as anything (registry:2 sections Berth ignores or refuses);
 * - `value`: everything else.
 */
export type ConfigKeyKind = 'section' | 'switch' | 'map' | 'opaque' | 'value';

export interface ConfigKey {
  /** Dotted path, as in `berth config check` messages: `storage.s3.bucket`. */
  readonly path: string;
  readonly kind: ConfigKeyKind;
  readonly description: string | undefined;
  /** How the environment sets it (`REGISTRY_…`, Berth's own variables), or null when only YAML can. */
  readonly env: string | null;
}

/** Berth's own variables beside the REGISTRY_* forms (load.ts, BERTH_ENV). */
const BERTH_ENV: Record<string, string> = {
  datadir: 'BERTH_DATA_DIR',
  'database.url': 'BERTH_DATABASE_URL',
  'log.level': 'BERTH_LOG_LEVEL',
};

/** `REGISTRY_STORAGE=s3` and `REGISTRY_AUTH=token` name a driver or scheme, as in registry:2 (load.ts, applyEnv). */
const SELECTORS: Record<string, readonly string[]> = {
  storage: ['filesystem', 'inmemory', 's3'],
  auth: ['htpasswd', 'token'],
};

function kindOf(schema: AnySchema): ConfigKeyKind {
  const d = defOf(unwrap(schema));
  if (d.type === 'object') return Object.keys(d.shape ?? {}).length > 0 ? 'section' : 'switch';
  if (d.type === 'record') return 'map';
  if (d.type === 'unknown' || d.type === 'any') return 'opaque';
  return 'value';
}

/** A list reaches the loader from the environment only when the schema splits text at commas first. */
function takesText(schema: AnySchema): boolean {
  const d = defOf(unwrap(schema));
  if (d.type === 'array') return false;
  if (d.type === 'pipe' && d.out && defOf(unwrap(d.out)).type === 'array') return defOf(d.in as AnySchema).type === 'transform';
  return true;
}

function envOf(keys: string[], schema: AnySchema, kind: ConfigKeyKind): string | null {
  const dotted = keys.join('.');
  const registry = `REGISTRY_${keys.join('_').toUpperCase()}`;
  const parent = keys.slice(0, -1).join('.');
  const selector = SELECTORS[parent]?.includes(keys[keys.length - 1] as string) ? `REGISTRY_${parent.toUpperCase()}=${keys[keys.length - 1]}` : null;
  switch (kind) {
    case 'section':
    case 'switch':
      return selector;
    case 'opaque':
      return null;
    case 'map': {
      const valueType = defOf(unwrap(schema)).valueType;
      return valueType && !takesText(valueType) ? null : `${registry}_<NAME>`;
    }
    case 'value': {
      if (!takesText(schema)) return null;
      return [registry, BERTH_ENV[dotted]].filter(Boolean).join(', ');
    }
  }
}

/** Every key of the schema, sections before their keys, in the schema's order. */
export function configKeys(): ConfigKey[] {
  const out: ConfigKey[] = [];
  const walk = (schema: AnySchema, at: string[]): void => {
    const shape = defOf(unwrap(schema)).shape ?? {};
    for (const [name, child] of Object.entries(shape)) {
      const keys = [...at, name];
      const kind = kindOf(child);
      out.push({ path: keys.join('.'), kind, description: descriptionOf(child), env: envOf(keys, child, kind) });
      if (kind === 'section') walk(child, keys);
    }
  };
  walk(configSchema, []);
  return out;
}

/**
 * Resolved configs of a few minimal setups, set through the environment as
 * an operator would. Defaults that only exist once a section is present
 * (S3 part size, token lifetime) are read from these.
 */
export interface DefaultProbes {
  /** The working directory the probes were loaded in. */
  readonly cwd: string;
  readonly plain: BerthConfig;
  readonly s3: BerthConfig;
  /** S3 with an endpoint given without a scheme. */
  readonly s3Host: BerthConfig;
  readonly postgres: BerthConfig;
  readonly tls: BerthConfig;
  readonly htpasswd: BerthConfig;
  readonly token: BerthConfig;
}

const PROBE_ENV: Record<Exclude<keyof DefaultProbes, 'cwd'>, Record<string, string>> = {
  plain: {},
  s3: { REGISTRY_STORAGE_S3_BUCKET: 'b', REGISTRY_STORAGE_S3_REGION: 'r' },
  s3Host: { REGISTRY_STORAGE_S3_BUCKET: 'b', REGISTRY_STORAGE_S3_REGION: 'r', REGISTRY_STORAGE_S3_REGIONENDPOINT: 'store.example:9000' },
  postgres: { REGISTRY_DATABASE_URL: 'postgres://berth@db.example/berth' },
  tls: { REGISTRY_HTTP_TLS_CERTIFICATE: 'certs/server.crt', REGISTRY_HTTP_TLS_KEY: 'certs/server.key' },
  htpasswd: { REGISTRY_AUTH_HTPASSWD_PATH: 'htpasswd' },
  token: { REGISTRY_AUTH: 'token' },
};

export async function loadDefaultProbes(): Promise<DefaultProbes> {
  const cwd = path.resolve('/berth');
  const probes: Record<string, BerthConfig | string> = { cwd };
  for (const [name, env] of Object.entries(PROBE_ENV)) {
    const { config, errors } = await loadConfig({ env, cwd });
    if (!config) throw new Error(`config reference: the ${name} probe does not load (${errors.join('; ')}); update PROBE_ENV in src/config/reference.ts`);
    probes[name] = config;
  }
  return probes as unknown as DefaultProbes;
}

type Default = string | ((p: DefaultProbes) => string);

const code = (v: string | number | boolean): string => `\`${v}\``;
const NONE = 'none';
const SECTION = '—';
const IGNORED = '— (ignored)';
const REFUSED = '— (refused)';
const REFUSED_IF_USED = '— (refused if used)';

function duration(ms: number): string {
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return code(`${ms / size}${unit}`);
  }
  return code(`${ms}ms`);
}

function bytes(n: number): string {
  const mib = n / (1024 * 1024);
  return Number.isInteger(mib) ? `${code(n)} (${mib} MiB)` : code(n);
}

const list = (v: readonly string[]): string => (v.length === 0 ? NONE : v.map(code).join(', '));
const optional = (v: string | undefined, otherwise = NONE): string => (v === undefined ? otherwise : code(v));
const relative = (p: DefaultProbes, file: string): string => code(`./${path.relative(p.cwd, file)}`);

function s3(c: BerthConfig): NonNullable<BerthConfig['storage']['s3']> {
  if (!c.storage.s3) throw new Error('config reference: the s3 probe has no storage.s3');
  return c.storage.s3;
}

function tls(c: BerthConfig): NonNullable<BerthConfig['http']['tls']> {
  if (!c.http.tls) throw new Error('config reference: the tls probe has no http.tls');
  return c.http.tls;
}

function token(c: BerthConfig): Extract<BerthConfig['auth'], { kind: 'token' }> {
  if (c.auth.kind !== 'token') throw new Error('config reference: the token probe has no auth.token');
  return c.auth;
}

function loginLimits(c: BerthConfig): Extract<BerthConfig['auth'], { kind: 'htpasswd' }>['limits'] {
  if (c.auth.kind !== 'htpasswd') throw new Error('config reference: the htpasswd probe has no auth.htpasswd');
  return c.auth.limits;
}

const driver = (name: string) => (p: DefaultProbes): string => (p.plain.storage.driver === name ? 'used when no other driver is set' : 'off');

/**
 * The default of every key. A function reads it from what the loader
 * resolved; a string is for keys with no resolved value (required keys,
 * sections, keys Berth ignores). The test fails for a schema key missing
 * here, so a new key cannot ship without its documented default.
 */
export const CONFIG_DEFAULTS: Record<string, Default> = {
  version: NONE,
  datadir: (p) => relative(p, p.plain.dataDir),
  log: SECTION,
  'log.level': (p) => code(p.plain.log.level),
  'log.formatter': '— (always JSON)',
  'log.fields': (p) => (Object.keys(p.plain.log.fields).length === 0 ? NONE : code(JSON.stringify(p.plain.log.fields))),
  'log.accesslog': SECTION,
  'log.accesslog.disabled': (p) => code(!p.plain.log.accessLog),
  loglevel: NONE,
  storage: (p) => `the ${code(p.plain.storage.driver)} driver`,
  'storage.filesystem': driver('filesystem'),
  'storage.filesystem.rootdirectory': (p) => (p.plain.storage.rootDirectory === p.plain.dataDir ? code('datadir') : relative(p, p.plain.storage.rootDirectory)),
  'storage.filesystem.maxthreads': IGNORED,
  'storage.inmemory': driver('inmemory'),
  'storage.s3': driver('s3'),
  'storage.s3.bucket': 'none (required)',
  'storage.s3.region': 'none (required)',
  'storage.s3.regionendpoint': (p) => optional(s3(p.s3).endpoint, 'none (AWS S3)'),
  'storage.s3.rootdirectory': (p) => (s3(p.s3).rootDirectory === '' ? 'none (the bucket\'s root)' : code(s3(p.s3).rootDirectory)),
  'storage.s3.accesskey': (p) => optional(s3(p.s3).accessKey, 'none (the AWS credential chain)'),
  'storage.s3.secretkey': (p) => optional(s3(p.s3).secretKey, 'none (the AWS credential chain)'),
  'storage.s3.sessiontoken': (p) => optional(s3(p.s3).sessionToken),
  'storage.s3.forcepathstyle': (p) => code(s3(p.s3).forcePathStyle),
  'storage.s3.secure': (p) => code(s3(p.s3Host).endpoint?.startsWith('https:') ?? false),
  'storage.s3.skipverify': (p) => code(s3(p.s3).skipVerify),
  'storage.s3.encrypt': (p) => code(s3(p.s3).encrypt),
  'storage.s3.keyid': (p) => optional(s3(p.s3).keyId),
  'storage.s3.chunksize': (p) => bytes(s3(p.s3).chunkSize),
  'storage.s3.multipartcopythresholdsize': (p) => bytes(s3(p.s3).multipartCopyThresholdSize),
  'storage.s3.multipartcopychunksize': (p) => bytes(s3(p.s3).multipartCopyChunkSize),
  'storage.s3.multipartcopymaxconcurrency': (p) => code(s3(p.s3).multipartCopyMaxConcurrency),
  'storage.s3.storageclass': (p) => optional(s3(p.s3).storageClass, 'none (the store\'s default)'),
  'storage.s3.objectacl': (p) => optional(s3(p.s3).objectAcl, 'none (the bucket\'s)'),
  'storage.s3.useragent': (p) => optional(s3(p.s3).userAgent),
  'storage.s3.v4auth': '— (always signature v4)',
  'storage.s3.usedualstack': IGNORED,
  'storage.s3.accelerate': IGNORED,
  'storage.s3.loglevel': IGNORED,
  'storage.s3.maxsockets': (p) => code(s3(p.s3).maxSockets),
  'storage.azure': REFUSED,
  'storage.gcs': REFUSED,
  'storage.swift': REFUSED,
  'storage.oss': REFUSED,
  'storage.delete': SECTION,
  'storage.delete.enabled': (p) => code(p.plain.storage.deleteEnabled),
  'storage.redirect': SECTION,
  'storage.redirect.disable': (p) => code(!p.plain.storage.redirect),
  'storage.verifyreads': (p) => code(p.plain.storage.verifyReads),
  'storage.cache': IGNORED,
  'storage.cache.blobdescriptor': IGNORED,
  'storage.maintenance': SECTION,
  'storage.maintenance.uploadpurging': SECTION,
  'storage.maintenance.uploadpurging.enabled': (p) => code(p.plain.storage.uploadPurging.enabled),
  'storage.maintenance.uploadpurging.age': (p) => duration(p.plain.storage.uploadPurging.ageMs),
  'storage.maintenance.uploadpurging.interval': (p) => duration(p.plain.storage.uploadPurging.intervalMs),
  'storage.maintenance.uploadpurging.dryrun': (p) => code(p.plain.storage.uploadPurging.dryRun),
  'storage.maintenance.readonly': SECTION,
  'storage.maintenance.readonly.enabled': (p) => code(p.plain.storage.readOnly),
  database: SECTION,
  'database.url': (p) => {
    const db = p.plain.database;
    if (db.kind !== 'sqlite') return code(db.url);
    return db.path === path.join(p.plain.dataDir, 'berth.db') ? code('sqlite:<datadir>/berth.db') : code(`sqlite:${db.path}`);
  },
  'database.poolsize': (p) => (p.postgres.database.kind === 'postgres' ? code(p.postgres.database.poolSize) : NONE),
  http: SECTION,
  'http.addr': (p) => code(p.plain.http.host === '0.0.0.0' ? `:${p.plain.http.port}` : `${p.plain.http.host}:${p.plain.http.port}`),
  'http.net': code('tcp'),
  'http.host': (p) => optional(p.plain.http.baseUrl, 'none (from the request)'),
  'http.aliases': (p) => list(p.plain.http.aliases),
  'http.prefix': code('/'),
  'http.secret': IGNORED,
  'http.relativeurls': (p) => code(p.plain.http.relativeUrls),
  'http.trustedproxies': (p) => list(p.plain.http.trustedProxies),
  'http.accelredirect': (p) => optional(p.plain.http.accelRedirect),
  'http.draintimeout': (p) => duration(p.plain.http.drainTimeoutMs),
  'http.headers': (p) => (Object.keys(p.plain.http.headers).length === 0 ? NONE : code(JSON.stringify(p.plain.http.headers))),
  'http.tls': (p) => (p.plain.http.tls === undefined ? 'none (plain HTTP)' : SECTION),
  'http.tls.certificate': NONE,
  'http.tls.key': NONE,
  'http.tls.clientcas': (p) => list(tls(p.tls).clientCas),
  'http.tls.cacertificate': (p) => {
    const t = tls(p.tls);
    return t.caCertificate === path.join(path.dirname(t.certificate), 'ca.crt') ? '`ca.crt` beside the certificate' : code(t.caCertificate);
  },
  'http.tls.minimumtls': (p) => code(tls(p.tls).minVersion === 'TLSv1.3' ? 'tls1.3' : 'tls1.2'),
  'http.tls.letsencrypt': REFUSED_IF_USED,
  'http.debug': (p) => (p.plain.metrics.debug === null ? 'none (no debug listener)' : SECTION),
  'http.debug.addr': () => 'none (no debug listener)',
  'http.debug.prometheus': SECTION,
  'http.debug.prometheus.enabled': (p) => code(p.plain.metrics.debug?.metricsPath !== null && p.plain.metrics.debug !== null),
  'http.debug.prometheus.path': code('/metrics'),
  'http.http2': IGNORED,
  manifests: SECTION,
  'manifests.sparse': 'off (no repository accepts sparse manifests)',
  'manifests.sparse.repositories': 'none',
  'manifests.sparse.namespaces': 'none',
  limits: SECTION,
  'limits.manifestmaxbytes': (p) => bytes(p.plain.limits.manifestMaxBytes),
  'limits.tagspagesize': (p) => (p.plain.limits.tagsPageSize === 0 ? '`0` (all tags)' : code(p.plain.limits.tagsPageSize)),
  'limits.catalogpagesize': (p) => code(p.plain.limits.catalogPageSize),
  'limits.maxpagesize': (p) => code(p.plain.limits.maxPageSize),
  auth: (p) => (p.plain.auth.kind === 'none' ? 'none (anyone may push and pull)' : code(p.plain.auth.kind)),
  'auth.htpasswd': 'off',
  'auth.htpasswd.realm': (p) => (p.htpasswd.auth.kind === 'htpasswd' ? code(p.htpasswd.auth.realm) : NONE),
  'auth.htpasswd.path': 'none (required)',
  'auth.token': 'off',
  'auth.token.realm': (p) => optional(token(p.token).realm, 'Berth\'s own `<base URL>/auth/token`'),
  'auth.token.service': (p) => code(token(p.token).service),
  'auth.token.issuer': (p) => code(token(p.token).issuer),
  'auth.token.rootcertbundle': (p) => optional(token(p.token).rootCertBundle),
  'auth.token.autoredirect': IGNORED,
  'auth.token.expiration': (p) => code(token(p.token).ttlSeconds),
  'auth.token.signingkey': (p) => {
    const key = token(p.token).signingKey;
    return key === path.join(p.token.dataDir, 'keys', 'token-signing-key.pem') ? code('<datadir>/keys/token-signing-key.pem') : code(key);
  },
  'auth.silly': REFUSED,
  'auth.anonymous': (p) => code(token(p.token).anonymous),
  'auth.loginlimits': SECTION,
  'auth.loginlimits.peruseraddress': (p) => code(loginLimits(p.htpasswd).perUserAddress),
  'auth.loginlimits.peruser': (p) => code(loginLimits(p.htpasswd).perUser),
  'auth.loginlimits.peraddress': (p) => code(loginLimits(p.htpasswd).perAddress),
  'auth.loginlimits.window': (p) => duration(loginLimits(p.htpasswd).windowMs),
  audit: SECTION,
  'audit.retention': (p) => duration(p.plain.audit.retentionMs),
  gc: SECTION,
  metrics: SECTION,
  'metrics.enabled': (p) => code(p.plain.metrics.main !== null),
  'metrics.token': () => 'none (administrators sign in)',
  'gc.enabled': (p) => code(p.plain.gc.enabled),
  'gc.interval': (p) => duration(p.plain.gc.intervalMs),
  'gc.graceperiod': (p) => duration(p.plain.gc.graceMs),
  'gc.deleteuntagged': (p) => code(p.plain.gc.deleteUntagged),
  'gc.dryrun': (p) => code(p.plain.gc.dryRun),
  trust: SECTION,
  'trust.enabled': (p) => code(p.plain.trust.enabled),
  'trust.addr': () => 'none (the Notary API is served on http.addr only)',
  'trust.keysecretfile': (p) => (p.plain.trust.keySecretFile === path.join(p.plain.dataDir, 'keys', 'trust-key-secret') ? code('<datadir>/keys/trust-key-secret') : code(p.plain.trust.keySecretFile)),
  notifications: SECTION,
  'notifications.endpoints': () => 'none',
  'notifications.events': SECTION,
  'notifications.events.includereferences': (p) => code(p.plain.notifications.includeReferences),
  redis: IGNORED,
  health: IGNORED,
  proxy: REFUSED_IF_USED,
  validation: REFUSED_IF_USED,
  compatibility: REFUSED_IF_USED,
  middleware: REFUSED_IF_USED,
  reporting: IGNORED,
};

/**
 * Descriptions of the keys the schema leaves undescribed (mostly sections
 * that only group keys). Prefer `.describe()` in schema.ts: the test fails
 * for an entry here once the schema describes the key itself.
 */
export const FALLBACK_DESCRIPTIONS: Record<string, string> = {
  'log.accesslog': 'The per-request access log line.',
  'storage.delete': 'Deletes through the API.',
  'storage.redirect': 'Redirects of blob downloads to the storage backend (S3: a presigned URL).',
  'storage.cache.blobdescriptor': 'registry:2 descriptor cache backend (accepted, ignored).',
  'storage.maintenance': 'Background maintenance and maintenance mode.',
  'storage.maintenance.uploadpurging': 'Removal of upload sessions nobody finished.',
  'storage.maintenance.readonly': 'Read-only mode.',
  'http.tls': 'HTTPS.',
};

export interface ReferenceProblems {
  /** Schema keys with no entry in CONFIG_DEFAULTS. */
  readonly missingDefaults: string[];
  /** CONFIG_DEFAULTS entries for keys the schema no longer has. */
  readonly staleDefaults: string[];
  /** Schema keys with neither a schema description nor a fallback. */
  readonly missingDescriptions: string[];
  /** FALLBACK_DESCRIPTIONS entries for keys that are gone or now described by the schema. */
  readonly staleDescriptions: string[];
}

export function referenceProblems(keys: readonly ConfigKey[] = configKeys()): ReferenceProblems {
  const paths = new Set(keys.map((k) => k.path));
  return {
    missingDefaults: keys.filter((k) => !(k.path in CONFIG_DEFAULTS)).map((k) => k.path),
    staleDefaults: Object.keys(CONFIG_DEFAULTS).filter((p) => !paths.has(p)),
    missingDescriptions: keys.filter((k) => k.description === undefined && !(k.path in FALLBACK_DESCRIPTIONS)).map((k) => k.path),
    staleDescriptions: Object.keys(FALLBACK_DESCRIPTIONS).filter((p) => !paths.has(p) || keys.find((k) => k.path === p)?.description !== undefined),
  };
}

/**
 * A markdown table cell: pipes escaped (inside code spans too, as GFM tables
 * require), and outside code spans `<` written as `&lt;`, or `<prefix>` would
 * be read as an HTML tag and vanish.
 */
function cell(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part) => (part.startsWith('`') ? part : part.replace(/</g, '&lt;')))
    .join('')
    .replace(/\|/g, '\\|');
}

/**
 * The markdown of the configuration reference table.
 *
 * @example
 * const table = await configReference();   // '| Key | Environment | Default | Description |\n|---|…'
 */
export async function configReference(): Promise<string> {
  const keys = configKeys();
  const problems = referenceProblems(keys);
  const lines = [
    ...problems.missingDefaults.map((p) => `${p}: no documented default; add it to CONFIG_DEFAULTS in src/config/reference.ts ("none" when there is none)`),
    ...problems.staleDefaults.map((p) => `${p}: documented default of a key the schema does not have; remove it from CONFIG_DEFAULTS in src/config/reference.ts`),
    ...problems.missingDescriptions.map((p) => `${p}: no description; add .describe() in src/config/schema.ts`),
  ];
  if (lines.length > 0) throw new Error(`config reference:\n${lines.join('\n')}`);

  const probes = await loadDefaultProbes();
  const rows = keys.map((k) => {
    const spec = CONFIG_DEFAULTS[k.path] as Default;
    const value = typeof spec === 'function' ? spec(probes) : spec;
    const env = k.env === null ? '—' : k.env.split(', ').map(code).join(', ');
    const description = k.description ?? (FALLBACK_DESCRIPTIONS[k.path] as string);
    return `| ${code(k.path)} | ${cell(env)} | ${cell(value)} | ${cell(description)} |`;
  });
  return [
    '<!-- Generated by `npm run docs` from src/config/schema.ts (keys, descriptions) and src/config/load.ts (defaults). Do not edit by hand. -->',
    '',
    '| Key | Environment | Default | Description |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
