import { PostgresStore, type MetadataLog } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { MetadataStore } from './store.js';

export type { MetadataStore, MetadataStores } from './store.js';

export type {
  ContentStore, BlobRecord, ManifestRecord, ManifestReference, PutManifestInput, ManifestPutOutcome, ManifestDeletion, ReferrerRecord,
} from './content-store.js';
export { BlobDeletingError } from './content-store.js';

export type { UploadStore, UploadRecord } from './upload-store.js';

export type { LeaseStore } from './lease-store.js';

export type { LoginAttemptStore, LoginFailureKey, LoginFailureKind, LoginFailureLimits, LoginFailureWindow } from './login-attempt-store.js';

export type {
  IdentityStore, UserRecord, GrantRecord, VisibilityRecord, AccessTokenRecord, TokenScope, SubjectKind, ResourceKind, Role,
} from './identity-store.js';

export type { AuditStore, AuditEvent } from './audit-store.js';

export type { TrustStore, TrustFileRecord, NewTrustFile, TrustKeyRecord, TrustChangeRecord, ServerKeyRole } from './trust-store.js';

export type { PolicyStore, PolicyRecord, PolicyKey, PolicyScopeKind, NewPolicy, PullFacts } from './policy-store.js';

export type {
  LifecycleStore, LifecycleRule, LifecycleRuleKind, LifecycleScopeKind, NamespaceQuota, NamespaceUsage, TaggedRecord,
} from './lifecycle-store.js';

export type { GcStore, GcBlob, GcRun, GcRunStart, GcRunEnd, ManifestGraph, RepositoryUsage, StorageUsage } from './gc-store.js';

export type { FsckStore, FsckBlob, FsckManifest, FsckTag } from './fsck-store.js';

export type { SearchStore, SearchHit, SearchQuery, SearchResource, SearchVisibility } from './search-store.js';

export type { NotificationStore, OutboxEntry, DeliveryRecord, DeliveryStatus, DeliveryFilter, EndpointState } from './notification-store.js';

export type { MetadataLog } from './postgres/postgres-store.js';

export type MetadataOptions =
  | { kind: 'sqlite'; path: string }
  | {
      kind: 'postgres';
      url: string;
      /** The URL without its password, for logs and start-up errors. */
      logUrl: string;
      poolSize: number;
      log?: MetadataLog | undefined;
      /** Connection attempts at start (default 10, backing off up to 4 s). */
      connect?: { attempts?: number; initialDelayMs?: number; maxDelayMs?: number } | undefined;
    };

type Options<K extends MetadataOptions['kind']> = Extract<MetadataOptions, { kind: K }>;

const factories: { [K in MetadataOptions['kind']]: (o: Options<K>) => MetadataStore } = {
  sqlite: (o) => new SqliteStore({ path: o.path }),
  postgres: (o) => new PostgresStore({ url: o.url, logUrl: o.logUrl, poolSize: o.poolSize, log: o.log, connect: o.connect }),
};

/** Opens nothing: call init() on the result (it connects and migrates). */
export function createMetadataStore(options: MetadataOptions): MetadataStore {
  return (factories[options.kind] as (o: MetadataOptions) => MetadataStore)(options);
}
