import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RegistryError } from '../errors/index.js';
import type { BlobPlacement } from '../registry/index.js';
import type { StorageDriver } from '../storage/index.js';
import { eachLimited, listGenerations, type ProgressSink } from './backup.js';
import type { DatabaseTarget } from './database.js';
import { backupBlobPath, readManifest, sha256File, type BackupFile } from './layout.js';

export interface RestoreOptions {
  dir: string;
  /** A generation's name; default the newest complete one. */
  generation?: string | undefined;
  database: DatabaseTarget;
  /** The target's storage driver, not initialized yet (its emptiness is checked first), and where its registry would look for a blob. */
  storage: StorageDriver;
  placement: Pick<BlobPlacement, 'location'>;
  /** Where each backed-up file goes in the target (from the target's configuration). */
  placeFile(file: BackupFile): string;
  /** Blobs copied at once. */
  concurrency?: number;
  progress?: ((total: number) => ProgressSink) | undefined;
}

export interface RestoreSummary {
  dir: string;
  generation: string;
  database: 'sqlite' | 'postgres';
  snapshotAt: string;
  repositories: number;
  manifests: number;
  tags: number;
  blobs: number;
  bytes: number;
  /** Where each file went, by role. */
  files: Record<string, string>;
  durationMs: number;
}

/** Streams a backed-up blob, hashing it as it passes; `result()`, once the stream is consumed, gives its digest and size. */
function hashed(file: string, algorithm: string): { source: AsyncIterable<Uint8Array>; result(): { digest: string; size: number } } {
  const hash = createHash(algorithm);
  let size = 0;
  return {
    source: (async function* () {
      for await (const chunk of createReadStream(file)) {
        const buf = chunk as Buffer;
        hash.update(buf);
        size += buf.length;
        yield buf;
      }
    })(),
    result: () => ({ digest: `${algorithm}:${hash.digest('hex')}`, size }),
  };
}

/**
 * `berth restore DIR`: a working registry from one generation, into a target
 * that holds nothing (its database, its storage and the files it would
 * read). Every blob is verified against its digest as it is copied, and
 * the database file against the sha256 backup.json records; anything wrong
 * refuses the whole restore, naming what, and removes what it wrote.
 *
 * Order: blobs first, then the files, the database last, so a target with a
 * database is a finished restore.
 */
export async function runRestore(options: RestoreOptions): Promise<RestoreSummary> {
  const started = Date.now();
  const { dir, storage, placement, database } = options;
  const generations = await listGenerations(dir);
  const generation = options.generation ?? generations[generations.length - 1];
  if (generation === undefined) throw new RegistryError('BERTH_NOT_FOUND', `${dir} holds no complete backup generation; run \`berth backup ${dir}\` first`);
  if (!generations.includes(generation)) {
    throw new RegistryError('BERTH_NOT_FOUND', `${dir} has no complete generation ${generation}; it has: ${generations.join(', ') || 'none'}`);
  }
  const manifest = await readManifest(dir, generation);
  if (manifest.database.kind !== database.kind) {
    throw new RegistryError('BERTH_INVALID', `generation ${generation} holds a ${manifest.database.kind} database and the target is configured for ${database.kind}; restore it with a configuration that uses ${manifest.database.kind}`);
  }

  // The target holds nothing.
  const occupied = [await database.nonEmpty(), (await storage.list('/')).length > 0 ? `its ${storage.name} storage holds objects` : null];
  const targets = manifest.files.map((f) => ({ file: f, to: options.placeFile(f) }));
  for (const t of targets) {
    if (await stat(t.to).then(() => true, () => false)) occupied.push(`${t.to} exists`);
  }
  const why = occupied.filter((w): w is string => w !== null);
  if (why.length > 0) throw new RegistryError('BERTH_CONFLICT', `the target is not empty: ${why.join('; ')}. Restore into a new data folder (--data-dir NEW) and an empty database and bucket`);
  await storage.init();

  // The backup is whole: the database file, and every blob it references is listed.
  const dbFile = path.join(dir, generation, manifest.database.file);
  const dbSum = await sha256File(dbFile).catch(() => null);
  if (dbSum !== manifest.database.sha256) {
    throw new RegistryError('DIGEST_INVALID', `the database snapshot ${dbFile} is ${dbSum === null ? 'missing' : 'corrupt (its sha256 differs from backup.json)'}; restore another generation (--generation)`);
  }
  const listed = new Set(manifest.blobs.map((b) => b.digest));
  const referenced = await database.blobsOf(dbFile);
  const unlisted = referenced ? [...referenced].filter((d) => !listed.has(d)) : [];
  if (unlisted.length > 0) throw new RegistryError('BERTH_INVALID', `generation ${generation}'s database records blobs its backup.json does not list (${unlisted.slice(0, 3).join(', ')}); the backup is damaged, restore another generation`);

  const written: string[] = [];
  const writtenFiles: string[] = [];
  const contentAddressed = !storage.copiesOnMove;
  try {
    const progress = options.progress?.(manifest.counts.blobBytes);
    await eachLimited(manifest.blobs, options.concurrency ?? 4, async (b) => {
      const from = backupBlobPath(dir, b.digest);
      const to = placement.location({ digest: b.digest, size: b.size, ...(!contentAddressed && b.location !== null ? { location: b.location } : {}) });
      const stream = hashed(from, b.digest.slice(0, b.digest.indexOf(':')));
      written.push(to);
      try {
        await storage.append(to, stream.source, { final: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new RegistryError('BLOB_UNKNOWN', `the backup lacks blob ${b.digest} (${from}); restore another generation`, { detail: { digest: b.digest } });
        throw err;
      }
      const got = stream.result();
      if (got.digest !== b.digest || got.size !== b.size) {
        throw new RegistryError('DIGEST_INVALID', `blob ${b.digest} in the backup is corrupt (${from}: ${got.size} bytes hashing to ${got.digest}); nothing was restored. Restore another generation, or a copy of ${dir}`, { detail: { digest: b.digest } });
      }
      progress?.advance(b.size, b.digest);
    });
    progress?.finish(`${manifest.blobs.length} blobs restored and verified`);

    const files: Record<string, string> = {};
    for (const { file, to } of targets) {
      const content = await readFile(path.join(dir, generation, file.file));
      if (createHash('sha256').update(content).digest('hex') !== file.sha256) {
        throw new RegistryError('DIGEST_INVALID', `the backed-up ${file.role} (${file.file}) is corrupt: its sha256 differs from backup.json; restore another generation`);
      }
      await mkdir(path.dirname(to), { recursive: true, mode: 0o700 });
      writtenFiles.push(to);
      await writeFile(to, content, { mode: 0o600, flag: 'wx' });
      await chmod(to, 0o600);
      files[file.role] = to;
    }

    await database.restore(dbFile, { contentAddressed });
    return {
      dir,
      generation,
      database: database.kind,
      snapshotAt: manifest.snapshotAt,
      repositories: manifest.counts.repositories,
      manifests: manifest.counts.manifests,
      tags: manifest.counts.tags,
      blobs: manifest.blobs.length,
      bytes: manifest.counts.blobBytes,
      files,
      durationMs: Date.now() - started,
    };
  } catch (err) {
    // The target was empty: everything in it now is this restore's.
    await storage.deleteMany(written).catch(() => undefined);
    for (const f of writtenFiles) await rm(f, { force: true }).catch(() => undefined);
    await database.discard().catch(() => undefined);
    throw err;
  }
}
