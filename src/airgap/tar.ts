import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { RegistryError } from '../errors/index.js';

/**
 * Safe reading of a tar (optionally gzip-compressed) into a private staging
 * folder. Nothing of the archive decides where bytes go or what they are:
 *
 *   - a member's path must stay inside the archive: no absolute path, no
 *     `..` component, no backslash or NUL; the staged path is built from
 *     the checked components under the staging root;
 *   - only regular files and folders are written: a hard link, a device or
 *     a FIFO refuses the archive; a symbolic link is never created on disk:
 *     `docker save` writes relative ones between its own members
 *     (`<id>/layer.tar -> ../<other>/layer.tar`), so one whose target,
 *     taken from its own folder, is a regular file of the archive is kept
 *     as another name of that member, and any other (absolute, leaving the
 *     archive, dangling, a loop) refuses the archive;
 *   - a declared size is bounded before a byte is read: beyond the file
 *     itself (an uncompressed tar cannot hold more than it weighs), beyond
 *     `maxMemberBytes`, or taking the total beyond `maxTotalBytes`;
 *   - the same path twice refuses the archive (which one would be meant?);
 *   - the archive must end properly: a member cut short, or the two zero
 *     blocks that close a tar missing after the last member, is a truncated
 *     archive.
 *
 * Every member is hashed (sha256) while it is staged, so a reader can check
 * a blob's digest without reading it again. Any refusal throws
 * BERTH_IMPORT_INVALID naming the file and the member.
 */

export interface TarLimits {
  /** The largest member accepted, in bytes (default 64 GiB). */
  maxMemberBytes?: number;
  /** The most bytes all members may hold together (default 256 GiB). */
  maxTotalBytes?: number;
}

export interface StagedMember {
  /** The member's path in the archive, normalized (`blobs/sha256/ab…`). */
  path: string;
  size: number;
  /** `sha256:<hex>` of its bytes. */
  sha256: string;
}

export interface StagedTar {
  /** Regular files, by normalized path (a symbolic link under its own path, with its target's size and digest). */
  members: Map<string, StagedMember>;
  /** Symbolic links: their path → the path of the regular file they name (staged as a hard link to it). */
  aliases: Map<string, string>;
  /** Whether the file was gzip-compressed. */
  gzip: boolean;
}

const DEFAULT_MAX_MEMBER = 64 * 1024 ** 3;
const DEFAULT_MAX_TOTAL = 256 * 1024 ** 3;
const BLOCK = 512;

export function importRefusal(file: string, member: string | null, why: string, cause?: unknown): RegistryError {
  return new RegistryError('BERTH_IMPORT_INVALID', `${file}${member !== null ? `: ${member}` : ''}: ${why}; nothing was imported`, { detail: { file, member }, cause });
}

/**
 * The components of a member's path once checked, or the reason it is
 * refused. `./a/b/` → ['a', 'b']; `a/../b`, `/etc/passwd`, `C:\x` → refused.
 */
export function safeMemberPath(name: string): string[] | string {
  if (name.includes('\0')) return 'a NUL byte in the path';
  if (name.includes('\\')) return 'a backslash in the path';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'an absolute path';
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return 'a path that leaves the archive (..)';
  return parts;
}

/** Whether a file starts with gzip's magic bytes. */
async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await handle.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/**
 * Extracts `file` into `dest` (an empty folder the caller owns and removes),
 * refusing the whole archive at the first unsafe member (see above).
 */
export async function stageTar(file: string, dest: string, limits: TarLimits = {}): Promise<StagedTar> {
  const maxMember = limits.maxMemberBytes ?? DEFAULT_MAX_MEMBER;
  const maxTotal = limits.maxTotalBytes ?? DEFAULT_MAX_TOTAL;
  const fileSize = (await stat(file)).size;
  const gzip = await isGzip(file);
  const members = new Map<string, StagedMember>();
  const folders = new Set<string>();
  const links = new Map<string, { target: string; name: string }>();
  let total = 0;
  let fed = 0;
  let lastEnd = 0;
  let current: string | null = null;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      fed += chunk.length;
      cb(null, chunk);
    },
  });
  const extract = tar.extract();
  const consume = async () => {
    for await (const entry of extract) {
      const h = entry.header;
      current = h.name;
      const parts = safeMemberPath(h.name);
      if (typeof parts === 'string') throw importRefusal(file, h.name, `refused: ${parts}`);
      const rel = parts.join('/');
      if (h.type === 'directory') {
        if (rel !== '') folders.add(rel);
        entry.resume();
        continue;
      }
      if (h.type === 'symlink') {
        const target = h.linkname;
        if (target.startsWith('/')) throw importRefusal(file, h.name, `refused: a symbolic link to an absolute path (${target})`);
        const resolved = safeMemberPath(path.posix.join(path.posix.dirname(rel), target));
        if (typeof resolved === 'string' || resolved.length === 0 || path.posix.normalize(path.posix.join(path.posix.dirname(rel), target)).startsWith('..')) {
          throw importRefusal(file, h.name, `refused: a symbolic link that leaves the archive (to ${target})`);
        }
        if (members.has(rel) || folders.has(rel) || links.has(rel)) throw importRefusal(file, h.name, 'refused: the archive holds this path twice');
        links.set(rel, { target: resolved.join('/'), name: h.name });
        entry.resume();
        continue;
      }
      if (h.type === 'link') throw importRefusal(file, h.name, `refused: a hard link (to ${h.linkname}); an image archive holds regular files only`);
      if (h.type !== 'file' && h.type !== 'contiguous-file') throw importRefusal(file, h.name, `refused: a ${h.type}; an image archive holds regular files only`);
      if (rel === '') throw importRefusal(file, h.name, 'refused: a file without a name');
      const size = h.size;
      if (!Number.isSafeInteger(size) || size < 0) throw importRefusal(file, h.name, `refused: an invalid size (${String(size)})`);
      if (!gzip && size > fileSize) throw importRefusal(file, h.name, `refused: it declares ${size} bytes, more than the whole file holds (${fileSize})`);
      if (!gzip && entry.offset + BLOCK + size > fileSize) throw importRefusal(file, h.name, `truncated archive: it declares ${size} bytes, but the file ends ${Math.max(0, fileSize - entry.offset - BLOCK)} bytes into them`);
      if (size > maxMember) throw importRefusal(file, h.name, `refused: it declares ${size} bytes, more than the limit of ${maxMember} per member`);
      if (total + size > maxTotal) throw importRefusal(file, h.name, `refused: the members declare more than the limit of ${maxTotal} bytes in all`);
      if (members.has(rel) || folders.has(rel) || links.has(rel)) throw importRefusal(file, h.name, 'refused: the archive holds this path twice');
      total += size;
      const target = path.join(dest, ...parts);
      await mkdir(path.dirname(target), { recursive: true });
      const hash = createHash('sha256');
      const out = await open(target, 'wx', 0o600);
      let written = 0;
      try {
        for await (const chunk of entry as AsyncIterable<Buffer>) {
          hash.update(chunk);
          written += chunk.length;
          await out.write(chunk);
        }
      } finally {
        await out.close();
      }
      if (written !== size) throw importRefusal(file, h.name, `truncated archive: ${written} of ${size} bytes`);
      members.set(rel, { path: rel, size, sha256: `sha256:${hash.digest('hex')}` });
      lastEnd = entry.offset + BLOCK + Math.ceil(size / BLOCK) * BLOCK;
      current = null;
    }
  };
  const source: Readable = createReadStream(file);
  try {
    const results = await Promise.allSettled([
      consume(),
      gzip ? pipeline(source, createGunzip(), counter, extract) : pipeline(source, counter, extract),
    ]);
    // A refusal of ours first; the stream's own failure (or the close our refusal caused) after.
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    const err = failed.find((e) => e instanceof RegistryError) ?? failed[failed.length - 1];
    if (err !== undefined) throw err;
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    const message = (err as Error)?.message ?? String(err);
    if (/unexpected end|end of file/i.test(message)) throw importRefusal(file, current, 'truncated archive', err);
    throw importRefusal(file, current, `not a readable ${gzip ? 'gzip-compressed ' : ''}tar archive (${message})`, err);
  } finally {
    source.destroy();
  }
  // A tar ends with two zero blocks after the last member; without them, it was cut at a member's end.
  if (fed < lastEnd + 2 * BLOCK) throw importRefusal(file, null, 'truncated archive: it ends without the two zero blocks that close a tar');
  // Each link must end, within a few hops, at a regular file of the archive.
  const aliases = new Map<string, string>();
  for (const [rel, symlink] of links) {
    let at = symlink.target;
    for (let hop = 0; links.has(at); hop++) {
      if (hop >= 8) throw importRefusal(file, symlink.name, 'refused: a loop of symbolic links');
      at = (links.get(at) as { target: string }).target;
    }
    const target = members.get(at);
    if (!target) throw importRefusal(file, symlink.name, `refused: a symbolic link to ${symlink.target}, which the archive does not hold as a regular file`);
    aliases.set(rel, at);
    members.set(rel, { ...target, path: rel });
    // A hard link inside the staging folder (ours, never the archive's): readers see a regular file.
    const aliasPath = path.join(dest, ...rel.split('/'));
    try {
      await mkdir(path.dirname(aliasPath), { recursive: true });
      await link(path.join(dest, ...at.split('/')), aliasPath);
    } catch (err) {
      throw importRefusal(file, symlink.name, `refused: a symbolic link whose path is also a folder or file of the archive (${(err as Error).message})`, err);
    }
  }
  return { members, aliases, gzip };
}
