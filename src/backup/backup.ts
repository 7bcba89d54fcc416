import { createHash, randomUUID } from 'node:crypto';
import { chmod, copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fromSystemError, RegistryError } from '../errors/index.js';
import type { LeaseStore } from '../metadata/index.js';
import type { BlobPlacement } from '../registry/index.js';
import { PathNotFoundError, type StorageDriver } from '../storage/index.js';
import type { DatabaseSource } from './database.js';
import {
  backupBlobPath, FILES, FORMAT, generationName, isGenerationName, MANIFEST, MARKER, mkdirPrivate, PARTIAL_PREFIX, sha256File, TMP,
  writeFileDurably, type BackupBlob, type BackupFile, type BackupManifest,
} from './layout.js';

/** What a long command reports as it goes (cli/progress.ts implements it). */
export interface ProgressSink {
  setTotal(total: number): void;
  advance(n: number, detail?: string): void;
  finish(message?: string): void;
}

/** A file of the data folder the backup keeps (a secret: never logged, never printed). */
export interface SourceFile {
  role: string;
  path: string;
  /** Relative to the data folder when inside it. */
  relative: string | null;
}

export interface BackupOptions {
  dir: string;
  database: DatabaseSource;
  /** The storage driver as the registry uses it, and where it keeps each blob. */
  storage: StorageDriver;
  placement: Pick<BlobPlacement, 'location'>;
  /** For the `gc` lease: garbage collection waits while the backup copies. */
  leases: LeaseStore;
  /** Lease owner prefix (this process). */
  instanceId: string;
  files: SourceFile[];
  berthVersion: string;
  /** How long to wait for a running garbage collection to finish (ms). */
  waitMs: number;
  /** Blobs copied at once. */
  concurrency?: number;
  progress?: ((total: number) => ProgressSink) | undefined;
}

export interface BackupSummary {
  dir: string;
  generation: string;
  database: 'sqlite' | 'postgres';
  snapshotAt: string;
  repositories: number;
  manifests: number;
  tags: number;
  blobs: { total: number; copied: number; skipped: number; bytesTotal: number; bytesCopied: number };
  files: string[];
  durationMs: number;
}

/** The `gc` lease lasts this long unless renewed (renewed every third of it), as garbage collection's own. */
const LEASE_MS = 120_000;

/**
 * Takes the `gc` lease for the whole backup: no collection runs anywhere
 * meanwhile, so every blob the snapshot references keeps its bytes until it
 * is copied. Pinning each blob instead would need a new table, a protocol in
 * the collector and a migration, for a window (the backup) that collection
 * can simply wait out: the next scheduled run does the work.
 */
async function holdGcLease(leases: LeaseStore, instanceId: string, waitMs: number): Promise<{ check(): void; release(): Promise<void> }> {
  const owner = `${instanceId}#backup-${randomUUID()}`;
  const take = () => leases.acquire('gc', owner, Date.now() + LEASE_MS, Date.now());
  const deadline = Date.now() + waitMs;
  for (let delay = 200; !(await take()); delay = Math.min(delay * 2, 2000)) {
    if (Date.now() >= deadline) {
      throw new RegistryError('BERTH_CONFLICT', `a garbage collection is running and did not finish within ${Math.round(waitMs / 1000)}s; run the backup again when it has (GET /api/v1/gc shows it), or give --wait a longer time`);
    }
    await new Promise((r) => setTimeout(r, delay));
  }
  let lost = false;
  const renew = setInterval(() => {
    take().then((ok) => { if (!ok) lost = true; }, () => undefined);
  }, LEASE_MS / 3);
  renew.unref();
  return {
    check() {
      if (lost) throw new RegistryError('BERTH_UNAVAILABLE', 'the backup lost its hold on garbage collection (the database was unreachable for two minutes), so a collection may have deleted blobs it had yet to copy; run it again');
    },
    async release() {
      clearInterval(renew);
      await leases.release('gc', owner).catch(() => undefined);
    },
  };
}

/** Creates DIR (0700) or checks that it is a backup; refuses a non-empty folder that is not one. */
async function prepareDir(dir: string): Promise<void> {
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    if (err.code === 'ENOTDIR') throw new RegistryError('BERTH_INVALID', `${dir} is a file, not a folder; name a folder for the backup`);
    throw err;
  });
  if (entries === null) await mkdirPrivate(dir);
  else if (entries.length === 0) await chmod(dir, 0o700);
  else if (entries.length > 0 && !entries.includes(MARKER)) {
    throw new RegistryError('BERTH_CONFLICT', `${dir} is not empty and is not a Berth backup (no ${MARKER}); name an empty or new folder, or an earlier backup's folder`);
  }
  if (!entries?.includes(MARKER)) await writeFileDurably(path.join(dir, MARKER), `${JSON.stringify({ format: FORMAT, kind: 'berth-backup' })}\n`);
}

/** A generation name not taken yet in DIR. */
async function freshGeneration(dir: string, at: Date): Promise<string> {
  const base = generationName(at);
  for (let i = 0; ; i++) {
    const name = i === 0 ? base : `${base}-${i}`;
    const taken = await stat(path.join(dir, name)).then(() => true, () => false);
    if (!taken) return name;
  }
}

/**
 * Copies one blob from the storage into the backup, hashing the bytes as
 * they pass: a blob whose bytes do not match its digest fails the backup
 * (run `berth fsck`), rather than being kept as if it were good.
 */
async function copyBlob(dir: string, storage: StorageDriver, location: string, blob: BackupBlob, onBytes: (n: number) => void): Promise<void> {
  const algorithm = blob.digest.slice(0, blob.digest.indexOf(':'));
  const final = backupBlobPath(dir, blob.digest);
  const tmp = path.join(dir, TMP, randomUUID());
  const hash = createHash(algorithm);
  let size = 0;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    let source;
    try {
      source = await storage.reader(location);
    } catch (err) {
      if (err instanceof PathNotFoundError) throw new RegistryError('BLOB_UNKNOWN', `blob ${blob.digest} is recorded but its bytes are missing from storage (${location}); run \`berth fsck\``, { detail: { digest: blob.digest }, cause: err });
      throw err;
    }
    for await (const chunk of source) {
      const buf = chunk as Buffer;
      hash.update(buf);
      size += buf.length;
      await fh.write(buf);
      onBytes(buf.length);
    }
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  const actual = `${algorithm}:${hash.digest('hex')}`;
  if (actual !== blob.digest || size !== blob.size) {
    await rm(tmp, { force: true });
    throw new RegistryError('DIGEST_INVALID', `blob ${blob.digest} in storage does not match its digest (read ${size} bytes hashing to ${actual}); nothing was backed up. Run \`berth fsck\``, { detail: { digest: blob.digest } });
  }
  await mkdir(path.dirname(final), { recursive: true, mode: 0o700 });
  await rename(tmp, final);
}

/**
 * Runs `fn` on every item, at most `limit` at a time. The first failure
 * stops the rest from starting; it is thrown once those in flight have
 * settled, so a caller's clean-up never races a copy still writing.
 */
export async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
}

/**
 * `berth backup DIR`: one new generation, while the registry serves.
 *
 * 1. Take the `gc` lease (waiting for a running collection to finish).
 * 2. Snapshot the database (database.ts): a consistent state as of one
 *    commit, and the blobs it references. Every push acknowledged before
 *    this step is in it: a push is acknowledged after its commit.
 * 3. Copy each blob not in DIR/blobs yet, verifying its digest. Its bytes
 *    are still there: they are immutable, written before their record, and
 *    only a collection deletes them, which the lease holds off.
 * 4. Copy the data folder's secrets, write backup.json, and give the
 *    generation its final name. Then release the lease.
 */
export async function runBackup(options: BackupOptions): Promise<BackupSummary> {
  const started = new Date();
  const { dir, storage, placement } = options;
  await prepareDir(dir);
  const lease = await holdGcLease(options.leases, options.instanceId, options.waitMs);
  try {
    // Holding the lease, this is the only backup running: what earlier ones left half-done can go.
    for (const name of await readdir(dir)) if (name.startsWith(PARTIAL_PREFIX)) await rm(path.join(dir, name), { recursive: true, force: true });
    await rm(path.join(dir, TMP), { recursive: true, force: true });
    await mkdir(path.join(dir, TMP), { recursive: true, mode: 0o700 });

    const generation = await freshGeneration(dir, started);
    const partial = path.join(dir, `${PARTIAL_PREFIX}${generation}`);
    await mkdirPrivate(path.join(partial, FILES));
    const snapshot = await options.database.snapshot(partial);

    const missing: BackupBlob[] = [];
    let bytesTotal = 0;
    for (const b of snapshot.blobs) {
      bytesTotal += b.size;
      const have = await stat(backupBlobPath(dir, b.digest)).catch(() => null);
      if (have?.size !== b.size) missing.push(b);
    }
    const toCopy = missing.reduce((n, b) => n + b.size, 0);
    const progress = options.progress?.(toCopy);
    await eachLimited(missing, options.concurrency ?? 4, async (b) => {
      const location = placement.location({ digest: b.digest, size: b.size, ...(b.location !== null ? { location: b.location } : {}) });
      await copyBlob(dir, storage, location, b, (n) => progress?.advance(n, b.digest));
    });
    progress?.finish(`${missing.length} blobs copied, ${snapshot.blobs.length - missing.length} already there`);

    const files: BackupFile[] = [];
    for (const f of options.files) {
      const content = await readFile(f.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      });
      if (content === null) continue; // not created yet (e.g. no trust data was ever served)
      const file = path.join(FILES, f.role);
      await copyFile(f.path, path.join(partial, file));
      files.push({ role: f.role, file, sha256: createHash('sha256').update(content).digest('hex'), relative: f.relative, basename: path.basename(f.path) });
    }

    const dbFile = path.join(partial, snapshot.file);
    const manifest: BackupManifest = {
      format: FORMAT,
      generation,
      startedAt: started.toISOString(),
      snapshotAt: snapshot.snapshotAt.toISOString(),
      finishedAt: new Date().toISOString(),
      berthVersion: options.berthVersion,
      database: { kind: options.database.kind, file: snapshot.file, sha256: await sha256File(dbFile), bytes: (await stat(dbFile)).size },
      storage: storage.name,
      counts: snapshot.counts,
      blobs: snapshot.blobs,
      files,
    };
    await writeFileDurably(path.join(partial, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
    lease.check();
    await rename(partial, path.join(dir, generation));
    await rm(path.join(dir, TMP), { recursive: true, force: true });
    return {
      dir,
      generation,
      database: options.database.kind,
      snapshotAt: manifest.snapshotAt,
      repositories: snapshot.counts.repositories,
      manifests: snapshot.counts.manifests,
      tags: snapshot.counts.tags,
      blobs: { total: snapshot.blobs.length, copied: missing.length, skipped: snapshot.blobs.length - missing.length, bytesTotal, bytesCopied: toCopy },
      files: files.map((f) => f.role),
      durationMs: Date.now() - started.getTime(),
    };
  } catch (err) {
    if (fromSystemError(err)) throw new RegistryError('BERTH_STORAGE_FULL', `no space left while writing the backup to ${dir}; free space there or name a folder on another disk, then run the backup again`, { cause: err });
    throw err;
  } finally {
    await lease.release();
  }
}

/** The complete generations of a backup folder, oldest first; refuses a folder that is not a backup. */
export async function listGenerations(dir: string): Promise<string[]> {
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') throw new RegistryError('BERTH_NOT_FOUND', `${dir} does not exist or is not a folder; name the folder \`berth backup\` wrote`);
    throw err;
  });
  if (!entries.includes(MARKER)) throw new RegistryError('BERTH_NOT_FOUND', `${dir} is not a Berth backup (no ${MARKER}); name the folder \`berth backup\` wrote`);
  const complete: string[] = [];
  for (const name of entries.filter(isGenerationName).sort()) {
    if (await stat(path.join(dir, name, MANIFEST)).then(() => true, () => false)) complete.push(name);
  }
  return complete;
}
