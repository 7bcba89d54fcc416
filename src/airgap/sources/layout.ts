import { createReadStream } from 'node:fs';
import { lstat, mkdtemp, open, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { importRefusal, safeMemberPath, stageTar, type TarLimits } from '../tar.js';

/**
 * What the importer reads: the files of an OCI image layout or of a
 * `docker save` tarball, by their path inside it (`index.json`,
 * `blobs/sha256/<hex>`, `<id>/layer.tar`), whether the source is a folder
 * or a tar. Paths are always relative and checked: a reader never hands out
 * a file outside its root, nor follows a link.
 */
export interface LayoutReader {
  /** The source as the user named it (a file or folder), for messages. */
  readonly name: string;
  /** The size of a regular file, or null when there is none at `file`. */
  size(file: string): Promise<number | null>;
  /** A whole file, refused beyond `maxBytes` (index.json, manifests, configs). */
  read(file: string, maxBytes: number): Promise<Buffer>;
  /** A file's bytes as a stream (layers). */
  open(file: string): Promise<Readable>;
  /** `sha256:<hex>` of a file when already known (hashed while a tar was staged), else null. */
  knownSha256(file: string): Promise<string | null>;
  /** Releases what the reader holds (a tar's staging folder). */
  close(): Promise<void>;
}

/**
 * A layout in a folder. Refuses a path that leaves it and any symbolic link
 * on the way (a link could name a file outside the folder, and a folder
 * someone else could write to is not ours to trust through links).
 */
export class DirectoryLayout implements LayoutReader {
  private rootReal: string | null = null;

  constructor(readonly name: string, private readonly root: string, private readonly known: ReadonlyMap<string, string> = new Map(), private readonly cleanup?: () => Promise<void>) {}

  private async resolve(file: string): Promise<string | null> {
    const parts = safeMemberPath(file);
    if (typeof parts === 'string' || parts.length === 0) throw importRefusal(this.name, file, `refused: ${typeof parts === 'string' ? parts : 'an empty path'}`);
    this.rootReal ??= await realpath(this.root);
    let at = this.rootReal;
    for (const part of parts) {
      at = path.join(at, part);
      const st = await lstat(at).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
        throw err;
      });
      if (st === null) return null;
      if (st.isSymbolicLink()) throw importRefusal(this.name, file, 'refused: a symbolic link; an image layout holds regular files only');
    }
    return at;
  }

  async size(file: string): Promise<number | null> {
    const at = await this.resolve(file);
    if (at === null) return null;
    const st = await lstat(at);
    return st.isFile() ? st.size : null;
  }

  async read(file: string, maxBytes: number): Promise<Buffer> {
    const at = await this.resolve(file);
    if (at === null) throw importRefusal(this.name, file, 'missing');
    const handle = await open(at, 'r');
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw importRefusal(this.name, file, 'not a regular file');
      if (st.size > maxBytes) throw importRefusal(this.name, file, `${st.size} bytes, more than the ${maxBytes} accepted for this file`);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async open(file: string): Promise<Readable> {
    const at = await this.resolve(file);
    if (at === null) throw importRefusal(this.name, file, 'missing');
    return createReadStream(at);
  }

  knownSha256(file: string): Promise<string | null> {
    const parts = safeMemberPath(file);
    return Promise.resolve(typeof parts === 'string' ? null : this.known.get(parts.join('/')) ?? null);
  }

  async close(): Promise<void> {
    await this.cleanup?.();
  }
}

export interface OpenLayoutOptions extends TarLimits {
  /** Where a tar is staged (a private folder is made inside; default the OS's temporary folder). */
  tmpDir?: string;
}

/**
 * Opens what the user named: a folder as it is, a file as a tar (gzip or
 * not), staged safely into a private folder first (tar.ts), so that every
 * member is checked, and hashed, before the importer reads any of it.
 * Close the reader to remove the staging folder.
 */
export async function openLayout(source: string, options: OpenLayoutOptions = {}): Promise<LayoutReader> {
  const st = await lstat(source).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw importRefusal(source, null, 'no such file or folder');
    throw err;
  });
  if (st.isDirectory()) return new DirectoryLayout(source, source);
  if (!st.isFile()) throw importRefusal(source, null, 'not a regular file or a folder');
  const staging = await mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), 'berth-import-'));
  const remove = () => rm(staging, { recursive: true, force: true });
  try {
    const staged = await stageTar(source, staging, options);
    const known = new Map([...staged.members.values()].map((m) => [m.path, m.sha256]));
    return new DirectoryLayout(source, staging, known, remove);
  } catch (err) {
    await remove();
    throw err;
  }
}
