/**
 * The resolved configuration: typed, complete (every default applied),
 * absolute paths, frozen. Code outside src/config only ever sees this shape,
 * never the written YAML.
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface BerthConfig {
  readonly dataDir: string;
  readonly log: { readonly level: LogLevel; readonly fields: Readonly<Record<string, unknown>>; readonly accessLog: boolean };
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** Externally visible base URL (http.host), without a trailing slash. */
    readonly baseUrl: string | undefined;
    readonly relativeUrls: boolean;
    readonly drainTimeoutMs: number;
    readonly headers: Readonly<Record<string, readonly string[]>>;
    readonly tls: { readonly certificate: string; readonly key: string; readonly clientCas: readonly string[]; readonly minVersion: 'TLSv1.2' | 'TLSv1.3' } | undefined;
  };
  readonly storage: {
    readonly driver: 'filesystem' | 'inmemory';
    readonly rootDirectory: string;
    readonly deleteEnabled: boolean;
    readonly redirect: boolean;
    readonly readOnly: boolean;
    readonly uploadPurging: { readonly enabled: boolean; readonly ageMs: number; readonly intervalMs: number; readonly dryRun: boolean };
  };
  readonly database: { readonly kind: 'sqlite'; readonly path: string };
  readonly limits: {
    readonly manifestMaxBytes: number;
    /** 0: the tag list returns every tag unless the client asks for a page. */
    readonly tagsPageSize: number;
    readonly catalogPageSize: number;
    readonly maxPageSize: number;
  };
}
