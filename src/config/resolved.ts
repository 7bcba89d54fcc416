/**
 * The resolved configuration: typed, complete (every default applied),
 * absolute paths, frozen. Code outside src/config only ever sees this shape,
 * never the written YAML.
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** The metadata database: the embedded SQLite file, or a PostgreSQL server (database.url). */
export type DatabaseConfig =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly poolSize: number };

export interface BerthConfig {
  readonly dataDir: string;
  readonly log: { readonly level: LogLevel; readonly fields: Readonly<Record<string, unknown>>; readonly accessLog: boolean };
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** Externally visible base URL (http.host), without a trailing slash. */
    readonly baseUrl: string | undefined;
    /** http.aliases: other names of this registry (HOST or HOST:PORT). */
    readonly aliases: readonly string[];
    readonly relativeUrls: boolean;
    /** http.trustedproxies: addresses and CIDR ranges whose X-Forwarded-* headers are believed. */
    readonly trustedProxies: readonly string[];
    /** nginx X-Accel-Redirect prefix for blob bodies (filesystem storage), or undefined. */
    readonly accelRedirect: string | undefined;
    readonly drainTimeoutMs: number;
    readonly headers: Readonly<Record<string, readonly string[]>>;
    readonly tls: { readonly certificate: string; readonly key: string; readonly clientCas: readonly string[]; /** CA for client bundles (may not exist). */ readonly caCertificate: string; readonly minVersion: 'TLSv1.2' | 'TLSv1.3' } | undefined;
  };
  readonly storage: {
    readonly driver: 'filesystem' | 'inmemory' | 's3';
    /** Filesystem root (also where the filesystem driver would keep blobs). */
    readonly rootDirectory: string;
    /** storage.s3, when driver is s3. */
    readonly s3: S3Config | undefined;
    readonly deleteEnabled: boolean;
    readonly redirect: boolean;
    /** storage.verifyreads: serve no blob bytes that fail their recorded checksum or digest (true), their digest ('digest'), or only check sizes (false) (registry/verified-read.ts). */
    readonly verifyReads: boolean | 'digest';
    readonly readOnly: boolean;
    readonly uploadPurging: { readonly enabled: boolean; readonly ageMs: number; readonly intervalMs: number; readonly dryRun: boolean };
  };
  readonly auth: AuthConfig;
  readonly database: DatabaseConfig;
  /** How long audit events are kept, in ms (0: forever). */
  readonly audit: { readonly retentionMs: number };
  /** Scheduled online garbage collection (gc/collector.ts). */
  readonly gc: { readonly enabled: boolean; readonly intervalMs: number; readonly graceMs: number; readonly deleteUntagged: boolean; readonly dryRun: boolean };
  /**
   * Docker Content Trust: whether the Notary API is served, on which extra
   * listener (besides Berth's own address; null: none), and where the
   * key-sealing secret is.
   */
  readonly trust: { readonly enabled: boolean; readonly listener: { readonly host: string; readonly port: number } | null; readonly keySecretFile: string };
  /** manifests.sparse: where manifests with absent children or layers are accepted (empty lists: nowhere). */
  /**
   * Prometheus metrics: on the main listener (`main`: null when off; else
   * protected by a bearer token, or by admin sign-in when the token is null),
   * and the debug listener (http.debug.addr) with its metrics path (null: no metrics there).
   */
  readonly metrics: {
    readonly main: { readonly token: string | null } | null;
    readonly debug: { readonly host: string; readonly port: number; readonly metricsPath: string | null } | null;
  };
  /** Webhook notifications (notifications.*): the endpoints, disabled ones included, and whether manifest events list their references. */
  readonly notifications: { readonly includeReferences: boolean; readonly endpoints: readonly NotificationEndpointConfig[] };
  readonly manifests: { readonly sparse: { readonly repositories: readonly string[]; readonly namespaces: readonly string[] } };
  readonly limits: {
    readonly manifestMaxBytes: number;
    /** 0: the tag list returns every tag unless the client asks for a page. */
    readonly tagsPageSize: number;
    readonly catalogPageSize: number;
    readonly maxPageSize: number;
  };
}

/** storage.s3, resolved. Secrets stay here and are never logged. */
export interface S3Config {
  readonly bucket: string;
  readonly region: string;
  readonly endpoint: string | undefined;
  readonly rootDirectory: string;
  readonly accessKey: string | undefined;
  readonly secretKey: string | undefined;
  readonly sessionToken: string | undefined;
  readonly forcePathStyle: boolean;
  readonly skipVerify: boolean;
  readonly encrypt: boolean;
  readonly keyId: string | undefined;
  readonly chunkSize: number;
  readonly multipartCopyThresholdSize: number;
  readonly multipartCopyChunkSize: number;
  readonly multipartCopyMaxConcurrency: number;
  readonly storageClass: string | undefined;
  readonly objectAcl: string | undefined;
  readonly userAgent: string | undefined;
  readonly maxSockets: number;
}

export interface LoginLimits {
  /** Failures of one user name from one address. */
  readonly perUserAddress: number;
  readonly perAddress: number;
  /** Failures of one user name from everywhere (a much higher threshold). */
  readonly perUser: number;
  readonly windowMs: number;
}

/** How clients authenticate: not at all, HTTP Basic from htpasswd, or bearer tokens. */
export type AuthConfig =
  | { readonly kind: 'none' }
  | { readonly kind: 'htpasswd'; readonly realm: string; readonly path: string; readonly limits: LoginLimits }
  | {
      readonly kind: 'token';
      /** External token endpoint; undefined means Berth's own /auth/token. */
      readonly realm: string | undefined;
      readonly service: string;
      readonly issuer: string;
      /** Certificates of an external issuer whose tokens are accepted. */
      readonly rootCertBundle: string | undefined;
      /** Users of Berth's own token service. */
      readonly htpasswd: { readonly realm: string; readonly path: string } | undefined;
      /** Users, organizations, teams and grants from Berth's database (no htpasswd, no external issuer). */
      readonly database: boolean;
      /** Database mode: anonymous clients may pull public repositories. */
      readonly anonymous: boolean;
      readonly signingKey: string;
      readonly ttlSeconds: number;
      readonly limits: LoginLimits;
    };

/** One notifications.endpoints entry, resolved (registry:2's defaults applied; durations in ms). Headers may hold secrets: never logged. */
export interface NotificationEndpointConfig {
  readonly name: string;
  readonly url: string;
  readonly disabled: boolean;
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly timeoutMs: number;
  readonly threshold: number;
  readonly backoffMs: number;
  /** ignoredmediatypes and ignore.mediatypes together. */
  readonly ignoredMediaTypes: readonly string[];
  readonly ignoredActions: readonly ('push' | 'pull' | 'delete' | 'mount')[];
  readonly format: 'distribution' | 'cloudevents';
}
