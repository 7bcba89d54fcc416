import type { ColumnType } from 'kysely';

/**
 * Table types for Kysely. Times are epoch milliseconds (bigint in
 * PostgreSQL, integer in SQLite); repository names are the keys (no surrogate
 * ids, so both dialects share every statement).
 */
export interface Database {
  repositories: { name: string; created_at: number; tags_version: ColumnType<number, number | undefined, number> };
  blobs: { digest: string; size: number; created_at: number; location: ColumnType<string | null, string | null | undefined, string | null>; deleting_at: ColumnType<number | null, number | null | undefined, number | null>; crc32: ColumnType<number | null, number | null | undefined, number | null> };
  repository_blobs: { repository: string; digest: string; created_at: number };
  manifests: {
    repository: string;
    digest: string;
    media_type: string;
    size: number;
    content: Buffer;
    artifact_type: string | null;
    subject: string | null;
    annotations: string | null;
    created_at: number;
  };
  manifest_references: { repository: string; manifest_digest: string; child_digest: string; kind: string };
  tags: { repository: string; name: string; digest: string; updated_at: number };
  uploads: { id: string; repository: string; size: number; created_at: number; updated_at: number };
  leases: { name: string; owner: string; expires_at: number };
  users: { name: string; password_hash: string; is_admin: number; disabled: number; created_at: number };
  organizations: { name: string; created_at: number };
  teams: { org: string; name: string; created_at: number };
  team_members: { org: string; team: string; user: string };
  grants: { subject_kind: string; subject: string; resource_kind: string; resource: string; role: string };
  visibility: { resource_kind: string; resource: string; public: number };
  access_tokens: {
    id: string;
    name: string;
    user: string;
    secret_hash: string;
    scopes: string;
    expires_at: number | null;
    revoked_at: number | null;
    last_used_at: number | null;
    created_at: number;
  };
  trust_files: { repository: string; role: string; version: number; sha256: string; data: Buffer; created_at: number };
  trust_keys: { repository: string; role: string; key_id: string; public_key: string; sealed_private_key: string; created_at: number };
  trust_changes: { id: string; repository: string; gun: string; version: number; sha256: string; category: string; created_at: number };
  login_failures: { kind: string; user_name: string; address: string; failures: number; reset_at: number };
  trust_policies: { kind: string; name: string; mode: string; keys: string; dct_signers: string; revision: number; updated_at: number; updated_by: string | null };
  trust_policy_revision: { id: number; revision: number };
  lifecycle_rules: {
    id: string;
    kind: string;
    scope_kind: string;
    scope_name: string;
    tag_pattern: string;
    keep_last: number | null;
    keep_within_ms: number | null;
    created_at: number;
    created_by: string | null;
  };
  /** SQLite also has an integer `id` (the FTS5 rowid), never read or written by name. */
  search_repositories: { name: string; description: string; updated_at: number };
  namespace_quotas: { namespace: string; limit_bytes: number; updated_at: number; updated_by: string | null };
  gc_runs: {
    id: string;
    started_at: number;
    finished_at: number | null;
    trigger: string;
    dry_run: number;
    delete_untagged: number;
    grace_ms: number;
    status: string;
    blobs: number;
    manifests: number;
    bytes: number;
    error: string | null;
  };
  notification_outbox: {
    id: string;
    event_id: string;
    endpoint: string;
    action: string;
    repository: string;
    digest: string | null;
    tag: string | null;
    payload: string;
    status: string;
    attempts: ColumnType<number, number | undefined, number>;
    created_at: number;
    last_attempt_at: number | null;
    last_error: string | null;
    delivered_at: number | null;
    lease_owner: string | null;
    lease_until: number | null;
  };
  notification_endpoints: {
    name: string;
    consecutive_failures: number;
    retry_at: number;
    last_error: string | null;
    last_failure_at: number | null;
    last_success_at: number | null;
  };
  audit_events: {
    id: string;
    time: number;
    actor: string | null;
    action: string;
    target: string | null;
    remote_address: string | null;
    outcome: string;
    detail: string | null;
  };
}
