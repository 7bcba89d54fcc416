import { createHash } from 'node:crypto';
import { MediaType } from '../../registry/index.js';
import { digestOf, parseImageName, type IndexEntry, type PlannedBlob, type PlannedManifest, type SourceContents } from '../import.js';
import { importRefusal } from '../tar.js';
import type { LayoutReader } from './layout.js';

/**
 * A `docker save` tarball in docker's own format (before docker 25, whose
 * tarballs are also OCI layouts with index.json and are read as such):
 *
 *   manifest.json         [{"Config": "<id>.json", "RepoTags": ["busybox:1.36"],
 *                           "Layers": ["<hex>/layer.tar", …]}, …]
 *   repositories          {"busybox": {"1.36": "<top layer id>"}} (legacy; unused)
 *   <id>.json             the image config: its sha256 is the image ID
 *   <hex>/layer.tar       each layer, an uncompressed tar (its sha256 is the diff ID)
 *
 * The tarball carries no registry manifest, so one is built: a Docker
 * schema 2 manifest naming the config by its digest, byte for byte (so the
 * image ID stays the same) and each layer by the digest of its bytes, with
 * the media type its first bytes show (tar, gzip; zstd makes it an OCI
 * manifest, as schema 2 has no zstd type). The manifest is serialized in one
 * fixed way, so importing the same tarball twice builds the same digest.
 */

const CONFIG_MAX_BYTES = 32 * 1024 * 1024;
const MANIFEST_JSON_MAX_BYTES = 16 * 1024 * 1024;

interface ArchiveEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
  LayerSources?: unknown;
}

type Compression = 'tar' | 'gzip' | 'zstd';

async function sniff(layout: LayoutReader, file: string): Promise<Compression> {
  const stream = await layout.open(file);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b) return 'gzip';
      if (chunk.length >= 4 && chunk.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
      return 'tar';
    }
    return 'tar';
  } finally {
    stream.destroy();
  }
}

/**
 * The digest a member's name claims, where docker names it by content: the
 * config `<hex>.json`, and `blobs/sha256/<hex>` (docker 25+); docker load
 * checks these too. Null for names that are not digests (`<id>/layer.tar`).
 */
function contentName(file: string): string | null {
  const m = /^(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.json)?$/.exec(file);
  return m ? `sha256:${m[1]}` : null;
}

async function sha256Of(layout: LayoutReader, file: string): Promise<string> {
  const known = await layout.knownSha256(file);
  if (known !== null) return known;
  const hash = createHash('sha256');
  for await (const chunk of await layout.open(file) as AsyncIterable<Buffer>) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

const LAYER_TYPES: Record<'docker' | 'oci', Record<Compression, string>> = {
  docker: { tar: 'application/vnd.docker.image.rootfs.diff.tar', gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip', zstd: '' },
  oci: { tar: 'application/vnd.oci.image.layer.v1.tar', gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd' },
};

export async function readDockerArchive(layout: LayoutReader, _manifestMaxBytes: number): Promise<SourceContents> {
  let list: unknown;
  try {
    list = JSON.parse((await layout.read('manifest.json', MANIFEST_JSON_MAX_BYTES)).toString('utf8'));
  } catch (err) {
    if ((err as { code?: string }).code === 'BERTH_IMPORT_INVALID') throw err;
    throw importRefusal(layout.name, 'manifest.json', `not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(list)) throw importRefusal(layout.name, 'manifest.json', 'not a list of images');
  const manifests = new Map<string, PlannedManifest>();
  const blobs = new Map<string, PlannedBlob>();
  const entries: IndexEntry[] = [];
  for (const [i, raw] of (list as ArchiveEntry[]).entries()) {
    const where = `manifest.json[${i}]`;
    if (typeof raw?.Config !== 'string' || !Array.isArray(raw.Layers) || !raw.Layers.every((l) => typeof l === 'string')) {
      throw importRefusal(layout.name, where, 'an entry without Config and Layers');
    }
    if (raw.LayerSources && Object.keys(raw.LayerSources).length > 0) {
      throw importRefusal(layout.name, where, 'foreign layers (LayerSources, Windows base images) are not supported; push such an image with docker or skopeo');
    }
    const configBytes = await layout.read(raw.Config, CONFIG_MAX_BYTES);
    try {
      JSON.parse(configBytes.toString('utf8'));
    } catch (err) {
      throw importRefusal(layout.name, raw.Config, `the image config is not valid JSON (${(err as Error).message})`);
    }
    const config = digestOf(configBytes);
    const named = contentName(raw.Config);
    if (named !== null && named !== config) throw importRefusal(layout.name, raw.Config, `its bytes do not match the digest its name gives: ${config}, not ${named}`);
    blobs.set(config, { digest: config, size: configBytes.length, file: raw.Config });
    const layers: { digest: string; size: number; compression: Compression }[] = [];
    for (const file of raw.Layers as string[]) {
      const size = await layout.size(file);
      if (size === null) throw importRefusal(layout.name, file, `missing: a layer ${where} lists`);
      const digest = await sha256Of(layout, file);
      const layerNamed = contentName(file);
      if (layerNamed !== null && layerNamed !== digest) throw importRefusal(layout.name, file, `its bytes do not match the digest its name gives: ${digest}, not ${layerNamed}`);
      const known = blobs.get(digest);
      if (!known) blobs.set(digest, { digest, size, file });
      layers.push({ digest, size, compression: await sniff(layout, file) });
    }
    const oci = layers.some((l) => l.compression === 'zstd');
    const kind = oci ? 'oci' : 'docker';
    const manifest = {
      schemaVersion: 2,
      mediaType: oci ? MediaType.OciManifest : MediaType.DockerManifest,
      config: { mediaType: oci ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json', size: configBytes.length, digest: config },
      layers: layers.map((l) => ({ mediaType: LAYER_TYPES[kind][l.compression], size: l.size, digest: l.digest })),
    };
    const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
    const digest = digestOf(bytes);
    manifests.set(digest, {
      digest, mediaType: manifest.mediaType, bytes, children: [], subject: null, config,
      blobs: [config, ...new Set(layers.map((l) => l.digest))],
    });
    const tags = Array.isArray(raw.RepoTags) ? raw.RepoTags.filter((t): t is string => typeof t === 'string') : [];
    if (tags.length === 0) entries.push({ repository: null, tag: null, digest });
    for (const t of tags) {
      const parsed = parseImageName(t);
      if (!parsed) throw importRefusal(layout.name, where, `the name "${t}" (RepoTags) is not a valid repository and tag`);
      entries.push({ repository: parsed.repository, tag: parsed.tag, digest });
    }
  }
  return { format: 'docker-archive', entries, manifests, blobs };
}
