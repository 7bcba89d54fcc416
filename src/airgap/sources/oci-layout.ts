import { MediaType, tryParseDigest } from '../../registry/index.js';
import { blobFile, digestOf, parseImageName, type IndexEntry, type PlannedBlob, type PlannedManifest, type SourceContents } from '../import.js';
import { importRefusal } from '../tar.js';
import type { LayoutReader } from './layout.js';

/**
 * An OCI image layout (image-spec `image-layout.md`), as skopeo, buildah,
 * `docker save` from docker 25 on, and `berth export` write it:
 *
 *   oci-layout            {"imageLayoutVersion": "1.0.0"}
 *   index.json            an image index: one descriptor per image, named by
 *                         annotations (see entryName)
 *   blobs/<alg>/<hex>     manifests, configs and layers, by digest
 *
 * Every manifest is read (bounded) and checked against its digest here;
 * blobs are listed with their descriptor's digest and size, and hashed by
 * the planner.
 */

const REF_NAME = 'org.opencontainers.image.ref.name';
/** docker 25+ `docker save`: the full name (`docker.io/library/busybox:1.36`). */
const CONTAINERD_NAME = 'io.containerd.image.name';
/** `berth export`: the repository of every entry (digest-only entries too). */
const BERTH_REPOSITORY = 'io.berth.repository';
const INDEX_MAX_BYTES = 16 * 1024 * 1024;

interface Descriptor {
  mediaType?: unknown;
  digest?: unknown;
  size?: unknown;
  urls?: unknown;
  annotations?: Record<string, unknown>;
}

function annotation(d: Descriptor, key: string): string | null {
  const v = d.annotations?.[key];
  return typeof v === 'string' && v !== '' ? v : null;
}

/**
 * The names an index.json entry carries: docker's full name, else a
 * `ref.name` that is a whole reference (`repo:tag`, as Berth writes it) or a
 * tag alone (OCI's usual use, with the repository from Berth's annotation
 * when present).
 */
function entryName(layout: LayoutReader, d: Descriptor, digest: string): IndexEntry {
  const berthRepo = annotation(d, BERTH_REPOSITORY);
  const full = annotation(d, CONTAINERD_NAME);
  const ref = annotation(d, REF_NAME);
  const named = full ?? (ref !== null && (ref.includes('/') || ref.includes(':')) ? ref : null);
  if (named !== null) {
    const parsed = parseImageName(named);
    if (!parsed) throw importRefusal(layout.name, 'index.json', `the image name "${named}" is not a valid repository and tag`);
    return { repository: parsed.repository, tag: parsed.tag ?? (ref !== null && !ref.includes(':') && !ref.includes('/') ? ref : null), digest };
  }
  if (ref !== null) {
    const parsed = parseImageName(`x:${ref}`);
    if (!parsed) throw importRefusal(layout.name, 'index.json', `the tag "${ref}" (${REF_NAME}) is not a valid tag`);
  }
  return { repository: berthRepo, tag: ref, digest };
}

function checkDescriptor(layout: LayoutReader, where: string, d: Descriptor): { digest: string; size: number; mediaType: string | null } {
  const digest = typeof d.digest === 'string' ? tryParseDigest(d.digest)?.digest : undefined;
  if (!digest) throw importRefusal(layout.name, where, `a descriptor with an invalid digest (${JSON.stringify(d.digest)})`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw importRefusal(layout.name, where, `the descriptor of ${digest} has an invalid size (${JSON.stringify(d.size)})`);
  return { digest, size: d.size, mediaType: typeof d.mediaType === 'string' ? d.mediaType : null };
}

function parseJson(layout: LayoutReader, file: string, bytes: Buffer): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw importRefusal(layout.name, file, `not valid JSON (${(err as Error).message})`);
  }
}

export async function readOciLayout(layout: LayoutReader, manifestMaxBytes: number): Promise<SourceContents> {
  if (await layout.size('oci-layout') === null) throw importRefusal(layout.name, 'oci-layout', 'missing: an OCI image layout has an oci-layout file beside index.json');
  const marker = parseJson(layout, 'oci-layout', await layout.read('oci-layout', 4096));
  if (typeof marker.imageLayoutVersion !== 'string') throw importRefusal(layout.name, 'oci-layout', 'no imageLayoutVersion');
  const index = parseJson(layout, 'index.json', await layout.read('index.json', INDEX_MAX_BYTES));
  if (!Array.isArray(index.manifests)) throw importRefusal(layout.name, 'index.json', 'no manifests array');
  const manifests = new Map<string, PlannedManifest>();
  const blobs = new Map<string, PlannedBlob>();

  const addBlob = async (where: string, d: Descriptor): Promise<string | null> => {
    const { digest, size, mediaType } = checkDescriptor(layout, where, d);
    const file = blobFile(digest);
    const known = blobs.get(digest);
    if (known) {
      if (known.size !== size) throw importRefusal(layout.name, where, `blob ${digest} is described with two sizes (${known.size} and ${size})`);
      return digest;
    }
    // A non-distributable layer (Windows base layers) may be left out: clients fetch it from its urls.
    if (await layout.size(file) === null && Array.isArray(d.urls) && mediaType !== null && /foreign|nondistributable/.test(mediaType)) return null;
    blobs.set(digest, { digest, size, file });
    return digest;
  };

  const load = async (where: string, d: Descriptor, depth: number): Promise<string | null> => {
    const { digest, size, mediaType: described } = checkDescriptor(layout, where, d);
    if (manifests.has(digest)) return digest;
    if (depth > 4) throw importRefusal(layout.name, where, 'indexes nested too deep');
    const file = blobFile(digest);
    const actualSize = await layout.size(file);
    if (actualSize === null) {
      // A child an index lists but the file does not carry: a sparse index (the registry's policy decides).
      if (depth > 0) return null;
      throw importRefusal(layout.name, file, `missing: manifest ${digest}, listed in index.json, is not in the file`);
    }
    if (actualSize !== size) throw importRefusal(layout.name, file, `${actualSize} bytes, but its descriptor says ${size}`);
    const bytes = await layout.read(file, manifestMaxBytes);
    const algorithm = digest.startsWith('sha512:') ? 'sha512' : 'sha256';
    const actual = digestOf(bytes, algorithm);
    if (actual !== digest) throw importRefusal(layout.name, file, `its bytes do not match its digest: ${actual}, not ${digest}`);
    const json = parseJson(layout, file, bytes);
    const mediaType = typeof json.mediaType === 'string' ? json.mediaType
      : described ?? (Array.isArray(json.manifests) ? MediaType.OciIndex : json.config ? MediaType.OciManifest : null);
    if (mediaType === null) throw importRefusal(layout.name, file, 'not a manifest or an index (no mediaType, config or manifests)');
    const planned: PlannedManifest = { digest, mediaType, bytes, children: [], blobs: [], subject: null, config: null };
    manifests.set(digest, planned);
    const subject = json.subject as Descriptor | undefined;
    if (subject && typeof subject.digest === 'string') planned.subject = subject.digest;
    if (mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList || Array.isArray(json.manifests)) {
      for (const child of (json.manifests ?? []) as Descriptor[]) {
        const c = await load(file, child, depth + 1);
        if (c !== null) planned.children.push(c);
      }
    } else {
      const config = json.config as Descriptor | undefined;
      if (config) {
        planned.config = await addBlob(file, config);
        if (planned.config) planned.blobs.push(planned.config);
      }
      for (const layer of (Array.isArray(json.layers) ? json.layers : Array.isArray(json.blobs) ? json.blobs : []) as Descriptor[]) {
        const b = await addBlob(file, layer);
        if (b !== null && !planned.blobs.includes(b)) planned.blobs.push(b);
      }
    }
    return digest;
  };

  const entries: IndexEntry[] = [];
  for (const d of index.manifests as Descriptor[]) {
    const digest = await load('index.json', d, 0) as string;
    entries.push(entryName(layout, d, digest));
  }
  return { format: 'oci-layout', entries, manifests, blobs };
}
