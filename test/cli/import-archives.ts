import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

/**
 * Inputs for `berth import` tests, built here byte for byte: `docker save`
 * tarballs in docker's own format (before docker 25), OCI image layouts as
 * folders or tars, and hand-made tars that must be refused.
 */

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export interface TarMember {
  name: string;
  data?: Buffer | string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
}

/** A tar of the members, in order (fixed mtime, so the same members give the same bytes). */
export async function makeTar(members: readonly TarMember[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const m of members) {
    const data = m.data === undefined ? undefined : Buffer.isBuffer(m.data) ? m.data : Buffer.from(m.data);
    const header = { name: m.name, type: m.type ?? 'file', linkname: m.linkname, mtime: new Date(0), mode: m.type === 'directory' ? 0o755 : 0o644 };
    await new Promise<void>((resolve, reject) => {
      if (data !== undefined) pack.entry({ ...header, size: data.length }, data, (err) => (err ? reject(err) : resolve()));
      else pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A layer: an uncompressed tar of a few files with random content (so each layer is distinct). */
export async function makeLayer(files = 1, bytes = 256): Promise<Buffer> {
  const members: TarMember[] = [];
  for (let i = 0; i < files; i++) members.push({ name: `data/file-${i}.bin`, data: randomBytes(bytes) });
  return makeTar(members);
}

export interface FakeImage {
  tags: string[];
  layers: Buffer[];
  /** The config bytes (its sha256 is the image ID). */
  config: Buffer;
  id: string;
}

/** An image: layers, and a config naming their diff IDs (as docker's config does). */
export async function makeImage(tags: string[], layerCount = 2, layerBytes = 256): Promise<FakeImage> {
  const layers: Buffer[] = [];
  for (let i = 0; i < layerCount; i++) layers.push(await makeLayer(2, layerBytes));
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2026-01-01T00:00:00Z', config: { Cmd: ['/bin/sh'], Env: [`NONCE=${randomBytes(4).toString('hex')}`] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l)) },
    history: layers.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'test' })),
  }));
  return { tags, layers, config, id: sha256(config) };
}

/** The members of a `docker save` tarball in docker's format before version 25. */
export function dockerSaveMembers(images: readonly FakeImage[]): TarMember[] {
  const members: TarMember[] = [];
  const manifest: unknown[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const seen = new Set<string>();
  for (const image of images) {
    const hex = image.id.slice('sha256:'.length);
    const layerPaths: string[] = [];
    let parent = '';
    for (const layer of image.layers) {
      // docker's v1 layer ids: a chain of hashes; any stable hex names the folder.
      const id = createHash('sha256').update(`${parent} ${sha256(layer)}`).digest('hex');
      parent = id;
      layerPaths.push(`${id}/layer.tar`);
      if (seen.has(id)) continue;
      seen.add(id);
      members.push({ name: `${id}/`, type: 'directory' });
      members.push({ name: `${id}/VERSION`, data: '1.0' });
      members.push({ name: `${id}/json`, data: JSON.stringify({ id }) });
      members.push({ name: `${id}/layer.tar`, data: layer });
    }
    members.push({ name: `${hex}.json`, data: image.config });
    manifest.push({ Config: `${hex}.json`, RepoTags: image.tags.length ? image.tags : null, Layers: layerPaths });
    for (const t of image.tags) {
      const i = t.lastIndexOf(':');
      (repositories[t.slice(0, i)] ??= {})[t.slice(i + 1)] = parent;
    }
  }
  members.push({ name: 'manifest.json', data: JSON.stringify(manifest) });
  members.push({ name: 'repositories', data: JSON.stringify(repositories) });
  return members;
}

export async function dockerSave(images: readonly FakeImage[]): Promise<Buffer> {
  return makeTar(dockerSaveMembers(images));
}

/** An OCI image manifest over the image's config and (gzip-compressed) layers, and its blobs. */
export function ociManifest(image: FakeImage): { bytes: Buffer; digest: string; blobs: Buffer[] } {
  const gz = image.layers.map((l) => gzipSync(l));
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: image.config.length, digest: image.id },
    layers: gz.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: l.length, digest: sha256(l) })),
  }));
  return { bytes, digest: sha256(bytes), blobs: [image.config, ...gz] };
}

/** The members of an OCI image layout: each image under its ref.name (a tag, or `repo:tag`). */
export function ociLayoutMembers(images: readonly { image: FakeImage; refName: string | null }[]): TarMember[] {
  const blobs = new Map<string, Buffer>();
  const descriptors: unknown[] = [];
  for (const { image, refName } of images) {
    const m = ociManifest(image);
    blobs.set(m.digest, m.bytes);
    for (const b of m.blobs) blobs.set(sha256(b), b);
    descriptors.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.bytes.length,
      ...(refName ? { annotations: { 'org.opencontainers.image.ref.name': refName } } : {}),
    });
  }
  return [
    { name: 'oci-layout', data: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    { name: 'index.json', data: JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: descriptors }) },
    ...[...blobs].map(([digest, data]) => ({ name: `blobs/sha256/${digest.slice(7)}`, data })),
  ];
}

/** Writes members as files under `dir` (an OCI layout folder). */
export async function writeMembers(dir: string, members: readonly TarMember[]): Promise<void> {
  for (const m of members) {
    if (m.type === 'directory') continue;
    const file = path.join(dir, m.name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, m.data ?? '');
  }
}

/** Offset of the header of the member named `name` in a tar (plain ustar headers only). */
export function headerOffset(tarBytes: Buffer, name: string): number {
  for (let off = 0; off + 512 <= tarBytes.length;) {
    const header = tarBytes.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const n = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const prefix = header.subarray(345, 500).toString('utf8').replace(/\0.*$/s, '');
    const full = prefix ? `${prefix}/${n}` : n;
    const size = parseInt(header.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8);
    if (full === name) return off;
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`no member ${name} in the tar`);
}

/** Rewrites a member's declared size (and the header checksum), leaving its data as it is. */
export function withDeclaredSize(tarBytes: Buffer, name: string, size: number): Buffer {
  const out = Buffer.from(tarBytes);
  const off = headerOffset(out, name);
  out.write(`${size.toString(8).padStart(11, '0')}\0`, off + 124, 12, 'latin1');
  out.fill(0x20, off + 148, off + 156);
  let sum = 0;
  for (let i = off; i < off + 512; i++) sum += out[i] as number;
  out.write(`${sum.toString(8).padStart(6, '0')}\0 `, off + 148, 8, 'latin1');
  return out;
}
