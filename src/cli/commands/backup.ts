import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { storageFromConfig } from '../../app.js';
import {
  postgresSource, postgresTarget, runBackup, runRestore, sqliteSource, sqliteTarget,
  type BackupFile, type BackupSummary, type RestoreSummary, type SourceFile,
} from '../../backup/index.js';
import { loadConfig, parseDuration, type BerthConfig } from '../../config/index.js';
import { isRegistryError } from '../../errors/index.js';
import { createMetadataStore } from '../../metadata/index.js';
import { Registry } from '../../registry/index.js';
import { ExitError } from '../exit-error.js';
import { Progress } from '../progress.js';
import { humanBytes } from './gc.js';
import { output, withStore, type IdentityFlags } from './identity-context.js';

export interface BackupFlags extends IdentityFlags {
  wait?: string | undefined;
}

export interface RestoreFlags extends IdentityFlags {
  generation?: string | undefined;
}

/** Exit codes by catalogue code: 2 invalid, 3 not found, 4 conflict (as every identity command), 5 a blob or file that fails its digest. */
const EXIT: Record<string, number> = { BERTH_INVALID: 2, BERTH_NOT_FOUND: 3, BERTH_CONFLICT: 4, DIGEST_INVALID: 5, BLOB_UNKNOWN: 5, BERTH_UNAVAILABLE: 1, BERTH_STORAGE_FULL: 1 };

async function exitOnError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isRegistryError(err)) throw new ExitError(err.message, EXIT[err.code] ?? 1);
    throw err;
  }
}

async function berthVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function inside(dataDir: string, file: string): string | null {
  const rel = path.relative(dataDir, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : null;
}

const tokenKeyOf = (config: BerthConfig) => (config.auth.kind === 'token' ? config.auth.signingKey : path.join(config.dataDir, 'keys', 'token-signing-key.pem'));

/**
 * The files of a data folder that a restore needs besides the database and
 * the blobs: the secret that seals the trust keys (without it, trust data
 * cannot be served), the token signing key (logins survive), TLS material
 * and the htpasswd file. Absent ones are skipped.
 */
function sourceFiles(config: BerthConfig): SourceFile[] {
  const files: { role: string; path: string }[] = [
    { role: 'trust-key-secret', path: config.trust.keySecretFile },
    { role: 'token-signing-key', path: tokenKeyOf(config) },
  ];
  const tls = config.http.tls;
  if (tls) files.push({ role: 'tls-certificate', path: tls.certificate }, { role: 'tls-key', path: tls.key }, { role: 'tls-ca-certificate', path: tls.caCertificate });
  // `berth certs init`'s private CA, which signs new server certificates.
  files.push({ role: 'ca-key', path: path.join(config.dataDir, 'certs', 'ca.key') });
  if (!tls) files.push({ role: 'ca-certificate', path: path.join(config.dataDir, 'certs', 'ca.crt') });
  const htpasswd = config.auth.kind === 'htpasswd' ? config.auth.path : config.auth.kind === 'token' ? config.auth.htpasswd?.path : undefined;
  if (htpasswd) files.push({ role: 'htpasswd', path: htpasswd });
  const seen = new Set<string>();
  return files.filter((f) => !seen.has(f.path) && seen.add(f.path)).map((f) => ({ ...f, relative: inside(config.dataDir, f.path) }));
}

/**
 * `berth backup DIR`: a new generation in DIR while the server runs
 * (backup/backup.ts): a consistent database snapshot, the blobs it
 * references (only those DIR lacks), and the data folder's secrets.
 */
export async function backupCommand(dir: string, flags: BackupFlags): Promise<BackupSummary> {
  const waitMs = flags.wait === undefined ? 600_000 : parseDuration(flags.wait);
  if (waitMs === null) throw new ExitError(`--wait ${flags.wait}: expected a duration such as 30s, 10m or 1h`, 2);
  const version = await berthVersion();
  const summary = await withStore(flags, (store, config) => exitOnError(async () => {
    const storage = storageFromConfig(config);
    await storage.init();
    try {
      const registry = new Registry({ storage, metadata: store, deleteEnabled: config.storage.deleteEnabled, readOnly: true, manifestMaxBytes: config.limits.manifestMaxBytes });
      const db = config.database;
      return await runBackup({
        dir: path.resolve(dir),
        database: db.kind === 'sqlite' ? sqliteSource(db.path) : postgresSource(db.url),
        storage,
        placement: registry.placement,
        leases: store.leases,
        instanceId: registry.instanceId,
        files: sourceFiles(config),
        berthVersion: version,
        waitMs,
        progress: (total) => new Progress({ label: 'backing up blobs', total, unit: 'bytes', quiet: flags.json ?? false }),
      });
    } finally {
      await storage.close();
    }
  }), { users: false });
  output(flags, summary, printBackup(summary));
  return summary;
}

export function printBackup(s: BackupSummary): string {
  return [
    `backup ${s.generation} in ${s.dir} (${s.database}, snapshot at ${s.snapshotAt})`,
    `${s.repositories} repositories, ${s.manifests} manifests, ${s.tags} tags`,
    `blobs: ${s.blobs.total} (${humanBytes(s.blobs.bytesTotal)}): ${s.blobs.copied} copied (${humanBytes(s.blobs.bytesCopied)}), ${s.blobs.skipped} already in the backup`,
    `files: ${s.files.join(', ') || 'none'}`,
    `done in ${(s.durationMs / 1000).toFixed(1)}s`,
  ].join('\n');
}

/**
 * `berth restore DIR --data-dir NEW`: a working registry from a generation
 * of DIR, into a target (from --data-dir, or --config for PostgreSQL and
 * S3) that holds nothing yet.
 */
export async function restoreCommand(dir: string, flags: RestoreFlags): Promise<RestoreSummary> {
  if (!flags.config && !flags.dataDir && !process.env.BERTH_CONFIG && !process.env.BERTH_DATA_DIR) {
    throw new ExitError('restore needs a target: --data-dir NEW (a new or empty folder), or --config FILE naming an empty database and bucket', 2);
  }
  // Not loadOrExit: it checks that the files the config names exist, and the restore is what brings them.
  const result = await loadConfig({ file: flags.config, flags: { dataDir: flags.dataDir }, lenient: flags.lenient ?? false });
  for (const w of result.warnings) process.stderr.write(`berth: warning: ${w}\n`);
  const config = result.config;
  if (!config) throw new ExitError(`invalid configuration${result.file ? ` (${result.file})` : ''}:\n${result.errors.map((e) => `  ${e}`).join('\n')}`, 2);
  const existing = await readdir(config.dataDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    if (err.code === 'ENOTDIR') throw new ExitError(`datadir: ${config.dataDir} is a file; name a new folder with --data-dir`, 2);
    throw err;
  });
  if (existing.length > 0) throw new ExitError(`the target data folder ${config.dataDir} is not empty (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}); restore into a new or empty folder with --data-dir NEW`, 4);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const db = config.database;
  const storage = storageFromConfig(config);
  const metadata = createMetadataStore(db.kind === 'sqlite' ? { kind: 'sqlite', path: db.path } : { kind: 'postgres', url: db.url, logUrl: '', poolSize: 1 });
  // Never opened: only its placement is used, to put each blob where this configuration's registry looks for it.
  const registry = new Registry({ storage, metadata, deleteEnabled: true, readOnly: true, manifestMaxBytes: config.limits.manifestMaxBytes });
  const placeFile = (f: BackupFile): string => {
    if (f.role === 'trust-key-secret') return config.trust.keySecretFile;
    if (f.role === 'token-signing-key') return tokenKeyOf(config);
    return f.relative !== null ? path.join(config.dataDir, f.relative) : path.join(config.dataDir, 'restored', f.basename);
  };
  try {
    const summary = await exitOnError(() => runRestore({
      dir: path.resolve(dir),
      generation: flags.generation,
      database: db.kind === 'sqlite' ? sqliteTarget(db.path) : postgresTarget(db.url),
      storage,
      placement: registry.placement,
      placeFile,
      progress: (total) => new Progress({ label: 'restoring blobs', total, unit: 'bytes', quiet: flags.json ?? false }),
    }));
    output(flags, summary, printRestore(summary, config));
    return summary;
  } finally {
    await storage.close();
  }
}

export function printRestore(s: RestoreSummary, config: BerthConfig): string {
  const files = Object.entries(s.files).map(([role, to]) => `  ${role}: ${to}`);
  const elsewhere = Object.values(s.files).some((to) => to.startsWith(path.join(config.dataDir, 'restored')));
  return [
    `restored ${s.generation} of ${s.dir} (${s.database}, snapshot at ${s.snapshotAt})`,
    `${s.repositories} repositories, ${s.manifests} manifests, ${s.tags} tags, ${s.blobs} blobs (${humanBytes(s.bytes)}), every blob verified`,
    ...(files.length > 0 ? ['files:', ...files] : []),
    ...(elsewhere ? [`files that were outside the old data folder are in ${path.join(config.dataDir, 'restored')}: move them where your configuration names them`] : []),
    `done in ${(s.durationMs / 1000).toFixed(1)}s; start it with: berth serve ${config.database.kind === 'sqlite' ? `--data-dir ${config.dataDir}` : '--config FILE'}`,
  ].join('\n');
}
