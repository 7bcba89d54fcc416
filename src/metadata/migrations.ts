import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';

/**
 * Schema migrations, written once for both dialects. `flavor` only picks the
 * binary column type (BLOB in SQLite, BYTEA in PostgreSQL) and the collation
 * of key columns. Migrations are append-only: never edit one that has shipped.
 */
export type Flavor = 'sqlite' | 'postgres';

function migrations(flavor: Flavor): Record<string, Migration> {
  const binary = flavor === 'postgres' ? sql`bytea` : sql`blob`;
  // Names, tags and digests sort and compare byte by byte (tags/list, _catalog
  // and `name > last` pagination), as registry:2 does. That is SQLite's default
  // (BINARY); PostgreSQL's default follows the database's locale, so say "C".
  const key = flavor === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    '0001_core': {
      async up(db: Kysely<unknown>) {
        await db.schema.createTable('repositories')
          .addColumn('name', key, (c) => c.primaryKey())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createTable('blobs')
          .addColumn('digest', key, (c) => c.primaryKey())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createTable('repository_blobs')
          .addColumn('repository', key, (c) => c.notNull().references('repositories.name').onDelete('cascade'))
          .addColumn('digest', key, (c) => c.notNull().references('blobs.digest'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('repository_blobs_pk', ['repository', 'digest'])
          .execute();
        await db.schema.createIndex('repository_blobs_digest').on('repository_blobs').column('digest').execute();
        await db.schema.createTable('manifests')
          .addColumn('repository', key, (c) => c.notNull().references('repositories.name').onDelete('cascade'))
          .addColumn('digest', key, (c) => c.notNull())
          .addColumn('media_type', 'text', (c) => c.notNull())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('content', binary, (c) => c.notNull())
          .addColumn('artifact_type', 'text')
          .addColumn('subject', key)
          .addColumn('annotations', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('manifests_pk', ['repository', 'digest'])
          .execute();
        await db.schema.createIndex('manifests_subject').on('manifests').columns(['repository', 'subject']).execute();
        await db.schema.createTable('manifest_references')
          .addColumn('repository', key, (c) => c.notNull())
          .addColumn('manifest_digest', key, (c) => c.notNull())
          .addColumn('child_digest', key, (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('manifest_references_pk', ['repository', 'manifest_digest', 'child_digest'])
          .addForeignKeyConstraint('manifest_references_manifest_fk', ['repository', 'manifest_digest'], 'manifests', ['repository', 'digest'], (fk) => fk.onDelete('cascade'))
          .execute();
        await db.schema.createIndex('manifest_references_child').on('manifest_references').columns(['child_digest']).execute();
        await db.schema.createTable('tags')
          .addColumn('repository', key, (c) => c.notNull())
          .addColumn('name', key, (c) => c.notNull())
          .addColumn('digest', key, (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('tags_pk', ['repository', 'name'])
          .addForeignKeyConstraint('tags_manifest_fk', ['repository', 'digest'], 'manifests', ['repository', 'digest'], (fk) => fk.onDelete('cascade'))
          .execute();
        await db.schema.createIndex('tags_digest').on('tags').columns(['repository', 'digest']).execute();
        await db.schema.createTable('uploads')
          .addColumn('id', key, (c) => c.primaryKey())
          .addColumn('repository', key, (c) => c.notNull())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('uploads_updated').on('uploads').column('updated_at').execute();
      },
    },
    // Users, organizations, teams, grants, visibility and access tokens
    // (identity-store.ts). Booleans are integers 0/1 in both dialects.
    '0002_identity': {
      async up(db: Kysely<unknown>) {
        await db.schema.createTable('users')
          .addColumn('name', key, (c) => c.primaryKey())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createTable('organizations')
          .addColumn('name', key, (c) => c.primaryKey())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createTable('teams')
          .addColumn('org', key, (c) => c.notNull().references('organizations.name').onDelete('cascade'))
          .addColumn('name', key, (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('teams_pk', ['org', 'name'])
          .execute();
        await db.schema.createTable('team_members')
          .addColumn('org', key, (c) => c.notNull())
          .addColumn('team', key, (c) => c.notNull())
          .addColumn('user', key, (c) => c.notNull().references('users.name').onDelete('cascade'))
          .addPrimaryKeyConstraint('team_members_pk', ['org', 'team', 'user'])
          .addForeignKeyConstraint('team_members_team_fk', ['org', 'team'], 'teams', ['org', 'name'], (fk) => fk.onDelete('cascade'))
          .execute();
        await db.schema.createIndex('team_members_user').on('team_members').column('user').execute();
        await db.schema.createTable('grants')
          .addColumn('subject_kind', 'text', (c) => c.notNull())
          .addColumn('subject', key, (c) => c.notNull())
          .addColumn('resource_kind', 'text', (c) => c.notNull())
          .addColumn('resource', key, (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('grants_pk', ['subject_kind', 'subject', 'resource_kind', 'resource'])
          .execute();
        await db.schema.createIndex('grants_resource').on('grants').columns(['resource_kind', 'resource']).execute();
        await db.schema.createTable('visibility')
          .addColumn('resource_kind', 'text', (c) => c.notNull())
          .addColumn('resource', key, (c) => c.notNull())
          .addColumn('public', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('visibility_pk', ['resource_kind', 'resource'])
          .execute();
        await db.schema.createTable('access_tokens')
          .addColumn('id', key, (c) => c.primaryKey())
          .addColumn('name', key, (c) => c.notNull())
          .addColumn('user', key, (c) => c.notNull().references('users.name').onDelete('cascade'))
          .addColumn('secret_hash', 'text', (c) => c.notNull())
          .addColumn('scopes', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint')
          .addColumn('revoked_at', 'bigint')
          .addColumn('last_used_at', 'bigint')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('access_tokens_user').on('access_tokens').column('user').execute();
      },
    },
    // A per-repository counter bumped with every tag change, in the same
    // transaction: instances validate cached tag lists against it.
    '0003_tag_list_version': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('repositories').addColumn('tags_version', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      },
    },
    // The audit log (audit-store.ts).
    '0004_audit': {
      async up(db: Kysely<unknown>) {
        await db.schema.createTable('audit_events')
          .addColumn('id', key, (c) => c.primaryKey())
          .addColumn('time', 'bigint', (c) => c.notNull())
          .addColumn('actor', key)
          .addColumn('action', key, (c) => c.notNull())
          .addColumn('target', 'text')
          .addColumn('remote_address', 'text')
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('detail', 'text')
          .execute();
        await db.schema.createIndex('audit_events_time').on('audit_events').columns(['time', 'id']).execute();
        await db.schema.createIndex('audit_events_actor').on('audit_events').columns(['actor', 'time']).execute();
      },
    },
    // Leases (lease-store.ts): which instance may write an upload, or
    // run a job that must run once across instances.
    '0005_leases': {
      async up(db: Kysely<unknown>) {
        await db.schema.createTable('leases')
          .addColumn('name', key, (c) => c.primaryKey())
          .addColumn('owner', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    // Where a blob's bytes are when not at their content address: object
    // stores keep a blob where it was uploaded (registry/placement.ts).
    // NULL for every blob written before, and for the filesystem.
    '0006_blob_locations': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('blobs').addColumn('location', 'text').execute();
        await db.schema.createIndex('blobs_location').on('blobs').column('location').execute();
      },
    },
    // Docker Content Trust data (trust-store.ts): every version of every
    // role's metadata, the keys the server holds, and the changefeed.
    '0007_trust': {
      async up(db: Kysely<unknown>) {
        await db.schema.createTable('trust_files')
          .addColumn('repository', key, (c) => c.notNull())
          .addColumn('role', key, (c) => c.notNull())
          .addColumn('version', 'bigint', (c) => c.notNull())
          .addColumn('sha256', key, (c) => c.notNull())
          .addColumn('data', binary, (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('trust_files_pk', ['repository', 'role', 'version'])
          .execute();
        await db.schema.createIndex('trust_files_checksum').on('trust_files').columns(['repository', 'role', 'sha256']).execute();
        await db.schema.createTable('trust_keys')
          .addColumn('repository', key, (c) => c.notNull())
          .addColumn('role', key, (c) => c.notNull())
          .addColumn('key_id', key, (c) => c.notNull())
          .addColumn('public_key', 'text', (c) => c.notNull())
          .addColumn('sealed_private_key', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('trust_keys_pk', ['repository', 'role', 'key_id'])
          .execute();
        await db.schema.createTable('trust_changes')
          .addColumn('id', key, (c) => c.primaryKey())
          .addColumn('repository', key, (c) => c.notNull())
          .addColumn('gun', 'text', (c) => c.notNull())
          .addColumn('version', 'bigint', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('category', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('trust_changes_repository').on('trust_changes').columns(['repository', 'id']).execute();
      },
    },
    // Failed-login windows (login-attempt-store.ts), shared by every
    // instance so that login limits hold across all of them.
    '0008_login_failures': {
      async up(db: Kysely<unknown>) {
        await db.schema.createTable('login_failures')
          .addColumn('kind', key, (c) => c.notNull())
          .addColumn('user_name', key, (c) => c.notNull())
          .addColumn('address', key, (c) => c.notNull())
          .addColumn('failures', 'bigint', (c) => c.notNull())
          .addColumn('reset_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('login_failures_pk', ['kind', 'user_name', 'address'])
          .execute();
        await db.schema.createIndex('login_failures_address').on('login_failures').columns(['address']).execute();
        await db.schema.createIndex('login_failures_reset_at').on('login_failures').columns(['reset_at']).execute();
      },
    },
    // Trust policies (policy-store.ts): one per scope, and the revision of
    // the set, bumped with every write, that instances validate caches against.
    '0009_trust_policies': {
      async up(db: Kysely<unknown>) {
        await db.schema.createTable('trust_policies')
          .addColumn('kind', key, (c) => c.notNull())
          .addColumn('name', key, (c) => c.notNull())
          .addColumn('mode', 'text', (c) => c.notNull())
          .addColumn('keys', 'text', (c) => c.notNull())
          .addColumn('dct_signers', 'text', (c) => c.notNull())
          .addColumn('revision', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_by', 'text')
          .addPrimaryKeyConstraint('trust_policies_pk', ['kind', 'name'])
          .execute();
        await db.schema.createTable('trust_policy_revision')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('revision', 'bigint', (c) => c.notNull())
          .execute();
        await db.insertInto('trust_policy_revision' as never).values({ id: 1, revision: 0 } as never).execute();
      },
    },
    // Lifecycle rules (lifecycle-store.ts): immutable tags and retention per
    // scope with a tag pattern; storage quotas per namespace.
    '0010_lifecycle': {
      async up(db: Kysely<unknown>) {
        await db.schema.createTable('lifecycle_rules')
          .addColumn('id', key, (c) => c.primaryKey())
          .addColumn('kind', key, (c) => c.notNull())
          .addColumn('scope_kind', key, (c) => c.notNull())
          .addColumn('scope_name', key, (c) => c.notNull())
          .addColumn('tag_pattern', 'text', (c) => c.notNull())
          .addColumn('keep_last', 'bigint')
          .addColumn('keep_within_ms', 'bigint')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('created_by', 'text')
          .execute();
        await db.schema.createIndex('lifecycle_rules_scope').on('lifecycle_rules').columns(['kind', 'scope_kind', 'scope_name']).execute();
        await db.schema.createTable('namespace_quotas')
          .addColumn('namespace', key, (c) => c.primaryKey())
          .addColumn('limit_bytes', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_by', 'text')
          .execute();
      },
    },
    // Online garbage collection (gc-store.ts): a blob marked for deletion
    // (deleting_at) is invisible to readers, mounts and manifest pushes while
    // its bytes are deleted; the runs and what each freed.
    '0011_gc': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('blobs').addColumn('deleting_at', 'bigint').execute();
        await db.schema.createIndex('blobs_created').on('blobs').column('created_at').execute();
        await db.schema.createIndex('manifest_references_child_kind').on('manifest_references').columns(['child_digest', 'kind']).execute();
        await db.schema.createTable('gc_runs')
          .addColumn('id', key, (c) => c.primaryKey())
          .addColumn('started_at', 'bigint', (c) => c.notNull())
          .addColumn('finished_at', 'bigint')
          .addColumn('trigger', 'text', (c) => c.notNull())
          .addColumn('dry_run', 'integer', (c) => c.notNull())
          .addColumn('delete_untagged', 'integer', (c) => c.notNull())
          .addColumn('grace_ms', 'bigint', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('blobs', 'bigint', (c) => c.notNull())
          .addColumn('manifests', 'bigint', (c) => c.notNull())
          .addColumn('bytes', 'bigint', (c) => c.notNull())
          .addColumn('error', 'text')
          .execute();
        await db.schema.createIndex('gc_runs_started').on('gc_runs').column('started_at').execute();
      },
    },
    // The search index (search-store.ts): one row per repository with a
    // manifest, and its description. SQLite indexes name and description in
    // an FTS5 trigram table kept by triggers (external content: the rows stay
    // in search_repositories; `id` is the stable rowid FTS5 refers to).
    // PostgreSQL uses pg_trgm GIN indexes when the extension can be created
    // (trusted since PostgreSQL 13: a database owner may); without it the
    // same ILIKE query scans, which stays in milliseconds for 10,000 rows.
    '0012_search': {
      async up(db: Kysely<unknown>) {
        if (flavor === 'sqlite') {
          await sql`create table search_repositories (
            id integer primary key, name text not null unique, description text not null default '', updated_at bigint not null)`.execute(db);
          await sql`create virtual table search_fts using fts5(name, description, content='search_repositories', content_rowid='id', tokenize='trigram')`.execute(db);
          await sql`create trigger search_repositories_ai after insert on search_repositories begin
            insert into search_fts(rowid, name, description) values (new.id, new.name, new.description); end`.execute(db);
          await sql`create trigger search_repositories_ad after delete on search_repositories begin
            insert into search_fts(search_fts, rowid, name, description) values ('delete', old.id, old.name, old.description); end`.execute(db);
          await sql`create trigger search_repositories_au after update on search_repositories begin
            insert into search_fts(search_fts, rowid, name, description) values ('delete', old.id, old.name, old.description);
            insert into search_fts(rowid, name, description) values (new.id, new.name, new.description); end`.execute(db);
          return;
        }
        await db.schema.createTable('search_repositories')
          .addColumn('name', key, (c) => c.primaryKey())
          .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        // Migrations run in one transaction here: a refused CREATE EXTENSION must not abort it.
        await sql`savepoint search_trgm`.execute(db);
        try {
          await sql`create extension if not exists pg_trgm`.execute(db);
          await sql`create index search_repositories_name_trgm on search_repositories using gin (name gin_trgm_ops)`.execute(db);
          await sql`create index search_repositories_description_trgm on search_repositories using gin (description gin_trgm_ops)`.execute(db);
          await sql`release savepoint search_trgm`.execute(db);
        } catch {
          await sql`rollback to savepoint search_trgm`.execute(db);
        }
      },
    },
    // Webhook notifications (notification-store.ts): the outbox, one row per
    // (event, endpoint) until it is delivered, leased by the instance trying
    // it; and each endpoint's consecutive failures and backoff.
    '0013_notifications': {
      async up(db: Kysely<unknown>) {
        await db.schema.createTable('notification_outbox')
          .addColumn('id', key, (c) => c.primaryKey())
          .addColumn('event_id', 'text', (c) => c.notNull())
          .addColumn('endpoint', key, (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('repository', key, (c) => c.notNull())
          .addColumn('digest', 'text')
          .addColumn('tag', 'text')
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('last_attempt_at', 'bigint')
          .addColumn('last_error', 'text')
          .addColumn('delivered_at', 'bigint')
          .addColumn('lease_owner', 'text')
          .addColumn('lease_until', 'bigint')
          .execute();
        await db.schema.createIndex('notification_outbox_claim').on('notification_outbox').columns(['endpoint', 'status', 'created_at']).execute();
        await db.schema.createIndex('notification_outbox_delivered').on('notification_outbox').columns(['status', 'delivered_at']).execute();
        await db.schema.createIndex('notification_outbox_created').on('notification_outbox').column('created_at').execute();
        await db.schema.createTable('notification_endpoints')
          .addColumn('name', key, (c) => c.primaryKey())
          .addColumn('consecutive_failures', 'integer', (c) => c.notNull())
          .addColumn('retry_at', 'bigint', (c) => c.notNull())
          .addColumn('last_error', 'text')
          .addColumn('last_failure_at', 'bigint')
          .addColumn('last_success_at', 'bigint')
          .execute();
      },
    },
    // PostgreSQL search (issue 14): 0012's trigram GIN indexes kept new
    // entries in GIN's pending list (fastupdate), which every search reads
    // whole and which made the planner prefer reading the table. Built again
    // without it, taking the extension again where 0012 could not. Without
    // the right to create it, no index, and Berth warns at start with the
    // fix (docs/storage.md). SQLite: nothing (its FTS5 table has no such list).
    '0014_search_trigram': {
      async up(db: Kysely<unknown>) {
        if (flavor === 'sqlite') return;
        await sql`savepoint search_trgm_0014`.execute(db);
        try {
          await sql`create extension if not exists pg_trgm`.execute(db);
          await sql`drop index if exists search_repositories_name_trgm`.execute(db);
          await sql`drop index if exists search_repositories_description_trgm`.execute(db);
          await sql`create index search_repositories_name_trgm on search_repositories using gin (name gin_trgm_ops) with (fastupdate = off)`.execute(db);
          await sql`create index search_repositories_description_trgm on search_repositories using gin (description gin_trgm_ops) with (fastupdate = off)`.execute(db);
          await sql`release savepoint search_trgm_0014`.execute(db);
        } catch {
          await sql`rollback to savepoint search_trgm_0014`.execute(db);
        }
      },
    },
    // A blob's CRC-32 (registry/verified-read.ts), recorded by the first read
    // that verified its bytes by the digest; later reads check it instead of
    // the digest. NULL until then, and for every blob written before. bigint:
    // the value is unsigned 32-bit, past PostgreSQL's integer.
    '0015_blob_checksums': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('blobs').addColumn('crc32', 'bigint').execute();
      },
    },
  };
}

export function migrationProvider(flavor: Flavor): MigrationProvider {
  return { getMigrations: async () => migrations(flavor) };
}
