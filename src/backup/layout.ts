import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { RegistryError } from '../errors/index.js';

/**
 * The backup folder. Blob bytes are content-addressed and immutable, so one
 * copy serves every generation: a second backup copies only blobs it does
 * not hold yet. Each generation is one consistent snapshot of the metadata
 * database, with the list of blobs that snapshot references.
 *
 *   DIR/                                  0700, files 0600
 *   ├── berth-backup.json                 marks DIR as a Berth backup ({"format":1})
 *   ├── blobs/
 *   │   ├── sha256/
 *   │   │   └── 4f53cda18c2b…             verified bytes, shared by every generation
 *   │   └── .tmp/                         a blob being copied (renamed into place once verified)
 *   ├── 20261203T154012345Z/              one complete generation
 *   │   ├── backup.json                   when, counts, the database file's sha256, every blob (digest, size, location)
 *   │   ├── berth.db                      SQLite: VACUUM INTO of the live database
 *   │   │   or berth.pgdump               PostgreSQL: pg_dump -Fc of an exported snapshot
 *   │   └── files/                        the data folder's secrets: trust key secret, token signing key, TLS key…
 *   └── .partial-20261203T160000000Z/     a generation being written; never restored, removed by the next backup
 *
 * A generation folder gets its final name only after backup.json is
 * written and every blob it lists is in blobs/, verified: restore only ever
 * sees complete generations.
 */
export const MARKER = 'berth-backup.json';
export const MANIFEST = 'backup.json';
export const FORMAT = 1;
export const PARTIAL_PREFIX = '.partial-';
export const BLOBS = 'blobs';
export const TMP = path.join(BLOBS, '.tmp');
export const FILES = 'files';

/** A generation's name: its start time, sortable (20261203T154012345Z). */
export function generationName(at: Date): string {
  return at.toISOString().replace(/[-:.]/g, '');
}

export function isGenerationName(name: string): boolean {
  return /^\d{8}T\d{9}Z(-\d+)?$/.test(name);
}

/** Where a blob's verified bytes are in the backup: blobs/<algorithm>/<hex>. */
export function backupBlobPath(dir: string, digest: string): string {
  const m = /^(sha256|sha512):([0-9a-f]{64}|[0-9a-f]{128})$/.exec(digest);
  if (!m) throw new RegistryError('BERTH_INVALID', `${digest} is not a digest Berth stores (sha256 or sha512); the backup is damaged`);
  return path.join(dir, BLOBS, m[1] as string, m[2] as string);
}

export interface BackupBlob {
  digest: string;
  size: number;
  /** The blob's recorded storage location (an object store's `blobdata/<id>`), null at its content address. */
  location: string | null;
}

export interface BackupFile {
  /** What the file is: trust-key-secret, token-signing-key, tls-certificate, tls-key, htpasswd. */
  role: string;
  /** Inside the generation: files/<role>. */
  file: string;
  sha256: string;
  /** Where it was, relative to the data folder when inside it (restored at the same place), else null. */
  relative: string | null;
  /** Its file name where it was. */
  basename: string;
}

export interface BackupCounts {
  repositories: number;
  manifests: number;
  tags: number;
  blobs: number;
  blobBytes: number;
}

/** DIR/<generation>/backup.json. */
export interface BackupManifest {
  format: number;
  generation: string;
  /** When the backup started, and when its database snapshot was taken (ISO 8601). */
  startedAt: string;
  snapshotAt: string;
  finishedAt: string;
  berthVersion: string;
  database: { kind: 'sqlite' | 'postgres'; file: string; sha256: string; bytes: number };
  /** The storage driver the blobs came from (filesystem, s3). */
  storage: string;
  counts: BackupCounts;
  blobs: BackupBlob[];
  files: BackupFile[];
}

/** Writes a file with mode 0600 and fsyncs it before renaming it into place. */
export async function writeFileDurably(file: string, content: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

export async function mkdirPrivate(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

/** The sha256 of a file, hex. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Reads DIR/<generation>/backup.json, refusing anything that is not one. */
export async function readManifest(dir: string, generation: string): Promise<BackupManifest> {
  const file = path.join(dir, generation, MANIFEST);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new RegistryError('BERTH_NOT_FOUND', `${file} is missing or not JSON: generation ${generation} is not a complete backup`, { cause: err });
  }
  const m = parsed as Partial<BackupManifest>;
  if (m.format !== FORMAT || typeof m.generation !== 'string' || !Array.isArray(m.blobs) || !Array.isArray(m.files) || !m.database || !m.counts) {
    throw new RegistryError('BERTH_INVALID', `${file} is not a Berth backup manifest of format ${FORMAT}`);
  }
  return m as BackupManifest;
}
