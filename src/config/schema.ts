import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from './duration.js';

/**
 * The written configuration: the keys of Docker Distribution's config.yml
 * that Berth understands, plus Berth's own (`datadir`, `database`, `limits`).
 * Every key has a description; `berth config schema` prints them.
 *
 * Scalars also accept strings, because `REGISTRY_*` environment overrides
 * arrive as text.
 */

const bool = (description: string) =>
  z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean()).describe(description);

const int = (description: string, min = 0) =>
  z.preprocess((v) => (typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v), z.number().int().min(min)).describe(description);

const duration = (description: string) =>
  z.union([z.string(), z.number()]).refine((v) => parseDuration(v) !== null, { message: 'expected a duration such as 30s, 5m or 168h' }).describe(description);

/**
 * Sections of registry:2's config whose absence would change what clients
 * see: refused (the start stops) when they ask for that behaviour, accepted
 * with a warning when empty. The loader's REFUSED_SECTIONS says when.
 */
const refusedSection = (description: string, when: string) => z.unknown().optional().describe(`${description} (registry:2; not supported by Berth: ${when})`);

const str = (description: string) => z.string().min(1).describe(description);

/** The repository-name grammar of the distribution spec (names.ts checks the same), for names in the config. */
const REPOSITORY_NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;

/** A list of repository or namespace names; from an environment variable, comma-separated. */
const repositoryNames = (description: string) =>
  z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : v),
    z.array(z.string().max(255).regex(REPOSITORY_NAME_RE, { message: 'expected a repository name such as team/app (lower case, digits, . _ - and / between components)' }))).describe(description);

/** registry:2 reads a list from the environment as YAML (REGISTRY_NOTIFICATIONS_ENDPOINTS='[{name: a, url: ...}]'). */
export function endpointsFromText(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return parseYaml(v) as unknown;
  } catch {
    return v;
  }
}

const ENDPOINT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const NOTIFICATION_ACTIONS = ['push', 'pull', 'delete', 'mount'] as const;

/** One registry:2 notification endpoint; unknown keys are refused by the loader like any other. */
const notificationEndpoint = z.object({
  name: z.string().regex(ENDPOINT_NAME_RE, { message: 'expected a name of letters, digits, . _ - (at most 64), unique among the endpoints' }).describe('Names the endpoint in logs, metrics and the API.'),
  url: z.string().refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), { message: 'expected an http:// or https:// URL' }).describe('Where events are POSTed.'),
  disabled: bool('Skip this endpoint: nothing is queued for it.').optional(),
  headers: z.record(z.string(), z.array(z.string(), { error: 'expected a list of values, e.g. Authorization: [Bearer TOKEN]' })).optional().describe('Static headers added to every request; each value is a list, as in registry:2. Never logged.'),
  timeout: duration('How long one delivery may take, connection to response (default 1s).').optional(),
  threshold: int('Consecutive failures after which the endpoint counts as failing and deliveries wait backoff between tries (default 10; 0 means the default, as in registry:2).').optional(),
  backoff: duration('Wait between tries once the endpoint is failing; doubled per further failure up to 64 times this (default 1s).').optional(),
  ignoredmediatypes: z.array(z.string()).optional().describe('Target media types whose events are not sent (e.g. application/octet-stream for blobs).'),
  ignore: z.object({
    mediatypes: z.array(z.string()).optional().describe('Target media types whose events are not sent.'),
    actions: z.array(z.enum(NOTIFICATION_ACTIONS)).optional().describe('Actions whose events are not sent: push, pull, delete, mount.'),
  }).optional().describe('Events not sent to this endpoint.'),
  format: z.enum(['distribution', 'cloudevents']).optional().describe('Berth: the body of each request: distribution (registry:2\'s envelope, the default) or cloudevents (one CloudEvents 1.0 event, structured JSON mode).'),
});

/** Sections of registry:2's config that Berth accepts but does not act on. */
const ignoredSection = (description: string) => z.unknown().optional().describe(`${description} (accepted for compatibility with registry:2; ignored by Berth)`);

export const configSchema = z.object({
  version: z.union([z.string(), z.number()]).optional().describe('Config format version (registry:2 uses 0.1); informational.'),
  datadir: str('Folder holding all of Berth\'s data on the embedded default: the SQLite database and, unless storage.filesystem.rootdirectory says otherwise, the blobs.').optional(),
  log: z.object({
    level: z.enum(['error', 'warn', 'info', 'debug']).optional().describe('Least severe level logged.'),
    formatter: z.enum(['text', 'json', 'logstash']).optional().describe('registry:2 log formatter; Berth always writes JSON lines.'),
    fields: z.record(z.string(), z.unknown()).optional().describe('Static fields added to every log line.'),
    accesslog: z.object({ disabled: bool('Disable the per-request access log line.').optional() }).optional(),
  }).optional().describe('Logging.'),
  loglevel: z.enum(['error', 'warn', 'info', 'debug']).optional().describe('Deprecated registry:2 alias of log.level.'),
  storage: z.object({
    filesystem: z.object({
      rootdirectory: str('Folder holding blobs and upload sessions.').optional(),
      maxthreads: int('registry:2 filesystem concurrency limit; accepted, ignored.').optional(),
    }).optional().describe('Filesystem blob storage (the default).'),
    inmemory: z.object({}).passthrough().optional().describe('Keep blobs in memory (tests only; lost on exit).'),
    s3: z.object({
      bucket: str('Bucket holding the blobs (it must exist).'),
      region: str('AWS region of the bucket (any value, e.g. us-east-1, for MinIO and Ceph).'),
      regionendpoint: str('Endpoint URL of an S3-compatible store, e.g. http://minio:9000 or https://rgw.example.com; empty for AWS S3.').optional(),
      rootdirectory: z.string().describe('Key prefix inside the bucket under which Berth keeps everything.').optional(),
      accesskey: z.string().describe('Access key id; empty means the AWS default credential chain (AWS_ACCESS_KEY_ID, ~/.aws, IAM role, web identity).').optional(),
      secretkey: z.string().describe('Secret access key (never logged; prefer REGISTRY_STORAGE_S3_SECRETKEY or a credential chain).').optional(),
      sessiontoken: z.string().describe('Session token for temporary credentials.').optional(),
      forcepathstyle: bool('Address the bucket as ENDPOINT/BUCKET/KEY instead of BUCKET.ENDPOINT/KEY (MinIO and Ceph usually need true).').optional(),
      secure: bool('Use https for an endpoint given without a scheme (default true).').optional(),
      skipverify: bool('Do not verify the endpoint\'s TLS certificate (test setups only).').optional(),
      encrypt: bool('Server-side encryption of stored objects (SSE-S3, or SSE-KMS with keyid).').optional(),
      keyid: str('KMS key id for server-side encryption.').optional(),
      chunksize: int('Part size of multipart uploads in bytes (at least 5 MiB, default 10 MiB). Each upload buffers up to two parts in memory.', 5 * 1024 * 1024).optional(),
      multipartcopythresholdsize: int('Objects at least this big are copied server-side in parallel parts (default 32 MiB).').optional(),
      multipartcopychunksize: int('Part size of such copies (default 32 MiB).', 5 * 1024 * 1024).optional(),
      multipartcopymaxconcurrency: int('Parallel parts of such copies (default 16).', 1).optional(),
      storageclass: str('Storage class of stored objects (STANDARD, REDUCED_REDUNDANCY, NONE for the store\'s default).').optional(),
      objectacl: str('Canned ACL of stored objects (default: the bucket\'s).').optional(),
      useragent: str('Extra User-Agent text.').optional(),
      v4auth: bool('registry:2 signature v2/v4 switch; Berth always signs with v4.').optional(),
      usedualstack: bool('registry:2 AWS dual-stack switch; accepted, ignored.').optional(),
      accelerate: bool('registry:2 transfer-acceleration switch; accepted, ignored.').optional(),
      loglevel: z.string().describe('registry:2 AWS SDK log level; accepted, ignored.').optional(),
      maxsockets: int('Most HTTP connections one Berth instance opens to the store (default 128).', 1).optional(),
    }).optional().describe('S3 or S3-compatible blob storage (AWS S3, MinIO, Ceph RGW), with registry:2\'s keys. Required for several Berth instances.'),
    azure: z.unknown().optional().describe('registry:2 Azure driver: not supported by Berth (the start stops).'),
    gcs: z.unknown().optional().describe('registry:2 Google Cloud Storage driver: not supported by Berth (the start stops); GCS offers an S3-compatible endpoint for storage.s3.'),
    swift: z.unknown().optional().describe('registry:2 Swift driver: not supported by Berth (the start stops).'),
    oss: z.unknown().optional().describe('registry:2 Aliyun OSS driver: not supported by Berth (the start stops).'),
    delete: z.object({ enabled: bool('Allow deleting manifests, tags and blob links through the API. Berth defaults to true.').optional() }).optional(),
    redirect: z.object({ disable: bool('Never redirect blob downloads to the storage backend.').optional() }).optional(),
    verifyreads: z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.union([z.boolean(), z.literal('digest')], { error: 'expected true, digest or false' }))
      .describe('Check every blob Berth serves, so a damaged one is never handed out: blobs up to 1 MiB are verified before the answer, larger ones as they stream, with their last 64 KiB held back until the check passes. true (the default): by the CRC-32 recorded for the blob, else by its digest (sha256), which records the CRC-32 once the digest verified; a CRC-32 detects damage but not a deliberate change. digest: always by the digest, for storage that others can write (a shared bucket); sha256 costs about 2.5 times the CPU of a CRC-32. false: only the size is checked. See docs/fsck.md. Redirected downloads (S3) and nginx (http.accelredirect) are not checked by Berth.').optional(),
    cache: z.object({ blobdescriptor: z.string().optional() }).passthrough().optional().describe('registry:2 descriptor cache; Berth has its own (accepted, ignored).'),
    maintenance: z.object({
      uploadpurging: z.object({
        enabled: bool('Purge abandoned upload sessions.').optional(),
        age: duration('Age after which an untouched upload session is purged.').optional(),
        interval: duration('How often to look for abandoned uploads.').optional(),
        dryrun: bool('Log what would be purged without deleting.').optional(),
      }).optional(),
      readonly: z.object({ enabled: bool('Refuse all writes (pushes and deletes) with 405 UNSUPPORTED.').optional() }).optional(),
    }).optional(),
  }).optional().describe('Blob storage.'),
  database: z.object({
    url: str('Metadata database: postgres://USER:PASSWORD@HOST:PORT/DB (or postgresql://) for PostgreSQL, which several Berth instances can share; sqlite:PATH for an SQLite file. Empty means the embedded SQLite file in datadir. The password is never logged.').optional(),
    poolsize: int('Most connections one Berth instance opens to PostgreSQL (ignored with SQLite).', 1).optional(),
  }).optional().describe('Metadata database (Berth).'),
  http: z.object({
    addr: str('Listen address, HOST:PORT or :PORT.').optional(),
    net: z.enum(['tcp']).optional().describe('Network; only tcp is supported.'),
    host: z.string().url().optional().describe('Externally visible base URL, used to build Location headers.'),
    aliases: z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : v), z.array(z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, { message: 'expected HOST or HOST:PORT' }))).optional()
      .describe('Other host names (HOST or HOST:PORT) clients reach this registry by, besides http.host and the Host header. A token scope such as repository:HOST/app (as Notary clients send) names the repository app only when HOST is one of these names. In REGISTRY_HTTP_ALIASES, separate names with commas.'),
    prefix: z.string().optional().describe('URL path prefix (registry:2); only "/" is supported.'),
    secret: z.string().optional().describe('registry:2 upload-state secret; not needed by Berth (accepted, never logged).'),
    relativeurls: bool('Send relative Location headers.').optional(),
    trustedproxies: z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : v), z.array(z.string())).optional()
      .describe('Addresses or CIDR ranges (10.0.0.0/8, ::1) of reverse proxies whose X-Forwarded-Proto and X-Forwarded-Host Berth believes when building Location headers and the token realm. From anyone else those headers are ignored. In REGISTRY_HTTP_TRUSTEDPROXIES, separate entries with commas. Default: none.'),
    accelredirect: z.string().regex(/^\/[A-Za-z0-9._\/-]*\/$/, { message: 'expected a path such as /_berth_blobs/' }).optional()
      .describe('Behind nginx: blob GETs answer with X-Accel-Redirect: <prefix><blob path> and nginx sends the bytes with sendfile (filesystem storage only). Never set it without that nginx location.'),
    draintimeout: duration('On SIGTERM, how long in-flight requests may take to finish.').optional(),
    headers: z.record(z.string(), z.array(z.string())).optional().describe('Headers added to every response.'),
    tls: z.object({
      certificate: str('PEM certificate chain; enables HTTPS.').optional(),
      key: str('PEM private key of the certificate.').optional(),
      clientcas: z.array(z.string()).optional().describe('CA certificates for client-certificate authentication.'),
      cacertificate: str('CA certificate handed to clients in client bundles; default ca.crt beside the certificate, as berth certs init writes it.').optional(),
      minimumtls: z.enum(['tls1.2', 'tls1.3']).optional().describe('Lowest TLS version accepted.'),
      letsencrypt: refusedSection('ACME certificates', 'use http.tls.certificate and http.tls.key'),
    }).optional(),
    debug: z.object({
      addr: str('A separate listener, HOST:PORT or :PORT, for operators (registry:2\'s debug server): plain HTTP, no authentication, /healthz and /readyz, and the Prometheus metrics when http.debug.prometheus.enabled. Bind it to localhost or an internal network (e.g. localhost:5001).').optional(),
      prometheus: z.object({
        enabled: bool('Serve Prometheus metrics on http.debug.addr (default false, as registry:2).').optional(),
        path: z.string().regex(/^\/[A-Za-z0-9._\/-]*$/, { message: 'expected a path such as /metrics' }).optional().describe('Path of the metrics on http.debug.addr (default /metrics).'),
      }).optional().describe('Prometheus metrics on the debug listener (registry:2 keys).'),
    }).optional().describe('Debug server (registry:2): a listener of its own for health and metrics. See docs/metrics.md.'),
    http2: ignoredSection('HTTP/2 settings'),
  }).optional().describe('HTTP server.'),
  limits: z.object({
    manifestmaxbytes: int('Largest manifest accepted, in bytes.', 1).optional(),
    tagspagesize: int('Default page size of the tag list when the client gives no n (0: all).').optional(),
    catalogpagesize: int('Default page size of the catalog when the client gives no n.', 1).optional(),
    maxpagesize: int('Largest n accepted for tag lists and the catalog.', 1).optional(),
  }).optional().describe('Request limits (Berth).'),
  manifests: z.object({
    sparse: z.object({
      repositories: repositoryNames('Repositories, by full name (e.g. mirror/busybox), that accept sparse manifests. In REGISTRY_MANIFESTS_SPARSE_REPOSITORIES, separate names with commas.').optional(),
      namespaces: repositoryNames('Namespaces (e.g. mirror) whose repositories, at any depth, accept sparse manifests. In REGISTRY_MANIFESTS_SPARSE_NAMESPACES, separate names with commas.').optional(),
    }).optional().describe('Sparse manifests: an index (or manifest list) whose child manifests are absent from the repository, or an image manifest some of whose layers are, is accepted in these repositories and namespaces (a mirror of some platforms pushes such indexes); the config blob is always required. Default: nowhere, so a push must bring everything it references.'),
  }).optional().describe('Manifest pushes (Berth).'),
  auth: z.object({
    htpasswd: z.object({
      realm: str('Realm named in the Basic challenge (htpasswd mode).').optional(),
      path: str('htpasswd file with bcrypt entries (made by `htpasswd -B`); re-read when it changes, no restart needed.'),
    }).optional().describe('Users from an htpasswd file. Alone: HTTP Basic on every request, as registry:2. With auth.token: the users of Berth\'s token service.'),
    token: z.object({
      realm: z.string().url().optional().describe('Token endpoint clients are sent to; default Berth\'s own <base URL>/auth/token.'),
      service: str('Service name: the audience of tokens (default "berth").').optional(),
      issuer: str('Issuer of tokens (default "berth").').optional(),
      rootcertbundle: str('PEM certificates of an external token issuer whose tokens Berth accepts (registry:2 semantics).').optional(),
      autoredirect: bool('registry:2 realm redirect; accepted, ignored.').optional(),
      expiration: int('Lifetime in seconds of the tokens Berth issues.', 30).optional(),
      signingkey: str('PEM private key (ES256) Berth signs tokens with; default <datadir>/keys/token-signing-key.pem, created on first start. Share it between instances.').optional(),
    }).optional().describe('Docker token authentication (Bearer JWTs). Without auth.htpasswd and auth.token.rootcertbundle: users, organizations, teams and grants from Berth\'s database.'),
    silly: z.unknown().optional().describe('registry:2 test-only scheme; refused.'),
    anonymous: bool('With users from Berth\'s database: let clients that do not log in pull public repositories and namespaces (default false).').optional(),
    loginlimits: z.object({
      peruseraddress: int('Failed logins allowed per user name from one client address per window (default 10): what locks out a password guesser.', 1).optional(),
      peraddress: int('Failed logins allowed per client address per window, whatever the user names (default 50).', 1).optional(),
      peruser: int('Failed logins allowed per user name from all addresses together per window (default 100): high, so that strangers cannot lock a user out.', 1).optional(),
      window: duration('Length of the failed-login window.').optional(),
    }).optional().describe('Brute-force protection: past a limit, logins answer 429 TOOMANYREQUESTS with Retry-After. Limits apply per (user, address) first, then per address, and per user only at a much higher threshold.'),
  }).optional().describe('Authentication. Without this section anyone may push and pull, as registry:2 without auth.'),
  audit: z.object({
    retention: duration('How long audit events are kept (default 90 days, 2160h); older ones are deleted once a day. 0 keeps them forever.').optional(),
  }).optional().describe('The audit log (Berth; users from its database).'),
  gc: z.object({
    enabled: bool('Run garbage collection on a schedule, once per interval across all instances (default true). Online: pushes and pulls go on meanwhile. `berth gc` and POST /api/v1/gc run it by hand.').optional(),
    interval: duration('How often the scheduled garbage collection runs (default 24h).').optional(),
    graceperiod: duration('Blobs and manifests pushed, uploaded or mounted this recently are kept, whatever references them (default 1h). Longer than any push takes, and than the clock skew between instances.').optional(),
    deleteuntagged: bool('Scheduled runs also delete manifests that no tag, tagged index or kept subject needs, with their signatures and other referrers (default false).').optional(),
    dryrun: bool('Scheduled runs only log what they would delete (default false).').optional(),
  }).optional().describe('Online garbage collection of unreferenced blobs and, if asked, untagged manifests (Berth). See docs/gc.md.'),
  metrics: z.object({
    enabled: bool('Also serve Prometheus metrics at /metrics on http.addr (default false), protected: a bearer metrics.token, or else a signed-in administrator. http.debug.addr serves them without authentication on a listener of its own.').optional(),
    token: str('Bearer secret a scraper sends (Authorization: Bearer <token>) for /metrics on http.addr; compared in constant time, never logged. Prefer REGISTRY_METRICS_TOKEN. At least 16 characters.').optional(),
  }).optional().describe('Prometheus metrics (Berth). See docs/metrics.md.'),
  trust: z.object({
    enabled: bool('Serve the Notary v1 API (Docker Content Trust) under /v2/<gun>/_trust/ on Berth\'s own host and port (default true). docker trust and the notary CLI use it; with HTTPS, DOCKER_CONTENT_TRUST_SERVER can stay unset.').optional(),
    addr: str('An extra listener, HOST:PORT or :PORT, that serves only the Notary API (plus /v2/, the token endpoint and health), as a separate Notary server would (e.g. :4443 for DOCKER_CONTENT_TRUST_SERVER=https://registry.example.com:4443). It uses http.tls when set. The API stays on Berth\'s own address too.').optional(),
    keysecretfile: str('File holding the secret (at least 32 bytes) that seals the private keys Berth holds for trust data (timestamp and snapshot keys); default <datadir>/keys/trust-key-secret, created on first start. Share it between instances, and back it up with the database.').optional(),
  }).optional().describe('Docker Content Trust (Berth).'),
  notifications: z.object({
    endpoints: z.preprocess(endpointsFromText, z.array(notificationEndpoint, { error: 'expected a list of endpoints (in REGISTRY_NOTIFICATIONS_ENDPOINTS: a YAML or JSON list)' })).optional()
      .describe('Webhook endpoints (registry:2 keys: name, url, headers, timeout, threshold, backoff, ignoredmediatypes, ignore.mediatypes, ignore.actions, disabled; Berth adds format). Every push, pull, mount and delete is written to an outbox in the database and POSTed to each endpoint at least once, retried with backoff. In REGISTRY_NOTIFICATIONS_ENDPOINTS, the whole list as YAML or JSON. See docs/notifications.md.'),
    events: z.object({
      includereferences: bool('Manifest push and pull events list the manifest\'s references (config, layers, child manifests) in target.references (default false).').optional(),
    }).optional().describe('What events carry (registry:2).'),
  }).optional().describe('Webhook notifications (registry:2). See docs/notifications.md.'),
  redis: ignoredSection('Redis cache'),
  health: ignoredSection('Health checks'),
  proxy: refusedSection('Pull-through cache', 'refused when set (pull-through caching is not supported yet)'),
  validation: refusedSection('Manifest validation', 'refused with manifests.urls rules'),
  compatibility: refusedSection('Schema1 compatibility', 'refused with schema1.enabled: true'),
  middleware: refusedSection('Storage, registry and repository middleware', 'refused when it lists any'),
  reporting: ignoredSection('Error reporting'),
}).describe('Berth configuration (a superset of the common keys of registry:2 config.yml).');

export type WrittenConfig = z.infer<typeof configSchema>;
