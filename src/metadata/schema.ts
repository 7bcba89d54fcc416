/**
 * Table types for Kysely. Times are epoch milliseconds (bigint in
 * PostgreSQL, integer in SQLite); repository names are the keys (no surrogate
 * ids, so both dialects share every statement).
 */
export interface Database {
  repositories: { name: string; created_at: number };
  blobs: { digest: string; size: number; created_at: number };
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
}
