import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import type { BerthConfig } from './resolved.js';

/** Who Berth runs as, for messages about permissions. */
function whoAmI(): string {
  try {
    const u = userInfo();
    return `${u.username} (uid ${u.uid})`;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

async function kind(p: string): Promise<'file' | 'folder' | 'missing' | 'other'> {
  try {
    const s = await stat(p);
    return s.isFile() ? 'file' : s.isDirectory() ? 'folder' : 'other';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return 'missing';
    return 'other';
  }
}

async function can(p: string, mode: number): Promise<boolean> {
  try {
    await access(p, mode);
    return true;
  } catch {
    return false;
  }
}

/** A file the config names must exist, be a file, and be readable. */
async function readableFile(key: string, p: string, what: string, fix: string): Promise<string | null> {
  const k = await kind(p);
  if (k === 'missing') return `${key}: ${p} does not exist; ${fix}`;
  if (k === 'folder') return `${key}: ${p} is a folder, expected ${what}`;
  if (k !== 'file') return `${key}: ${p} is not a regular file, expected ${what}`;
  if (!(await can(p, constants.R_OK))) return `${key}: ${p} cannot be read by ${whoAmI()}; fix its permissions`;
  return null;
}

/** A folder Berth writes into: writable if it exists, else creatable (its nearest existing parent writable). */
async function writableFolder(key: string, p: string): Promise<string | null> {
  let probe = p;
  for (;;) {
    const k = await kind(probe);
    if (k === 'folder') break;
    if (k !== 'missing') return `${key}: ${probe} exists and is not a folder`;
    const parent = path.dirname(probe);
    if (parent === probe) return null;
    probe = parent;
  }
  if (!(await can(probe, constants.W_OK | constants.X_OK))) {
    return probe === p
      ? `${key}: the folder ${p} is not writable by ${whoAmI()}, the user Berth runs as; give it that user (chown) or choose another folder`
      : `${key}: ${p} does not exist and cannot be created: ${probe} is not writable by ${whoAmI()}, the user Berth runs as`;
  }
  return null;
}

/**
 * The files and folders a resolved config names, checked before anything
 * starts, so that `berth config check` and `berth serve` name the key, the
 * path and the problem instead of failing later with a stack trace.
 */
export async function checkFiles(c: BerthConfig): Promise<string[]> {
  const checks: Promise<string | null>[] = [];
  const storageFolderIsData = c.storage.driver !== 'filesystem' || c.storage.rootDirectory === c.dataDir;
  checks.push(writableFolder('datadir', c.dataDir));
  if (c.storage.driver === 'filesystem' && !storageFolderIsData) checks.push(writableFolder('storage.filesystem.rootdirectory', c.storage.rootDirectory));
  if (c.database.kind === 'sqlite') checks.push(writableFolder('database.url', path.dirname(c.database.path)));
  const auth = c.auth;
  const htpasswd = auth.kind === 'htpasswd' ? auth.path : auth.kind === 'token' ? auth.htpasswd?.path : undefined;
  if (htpasswd) checks.push(readableFile('auth.htpasswd.path', htpasswd, 'an htpasswd file', `create it with: htpasswd -cB ${htpasswd} USER`));
  if (auth.kind === 'token' && auth.rootCertBundle) checks.push(readableFile('auth.token.rootcertbundle', auth.rootCertBundle, 'a PEM certificate bundle', 'point it at the token issuer\'s certificates'));
  const tls = c.http.tls;
  if (tls) {
    checks.push(readableFile('http.tls.certificate', tls.certificate, 'a PEM certificate', 'create one with: berth certs init --host NAME'));
    checks.push(readableFile('http.tls.key', tls.key, 'a PEM private key', 'create one with: berth certs init --host NAME'));
    tls.clientCas.forEach((ca, i) => checks.push(readableFile(`http.tls.clientcas[${i}]`, ca, 'a PEM CA certificate', 'point it at the CA of your client certificates')));
  }
  return (await Promise.all(checks)).filter((m): m is string => m !== null);
}
