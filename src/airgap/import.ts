import { createHash } from 'node:crypto';
import { RegistryError } from '../errors/index.js';
import type { EventContext } from '../events/index.js';
import { isValidRepositoryName, isValidTag, tryParseDigest, type RegistryService } from '../registry/index.js';
import { readDockerArchive } from './sources/docker-archive.js';
import type { LayoutReader } from './sources/layout.js';
import { readOciLayout } from './sources/oci-layout.js';
import { importRefusal } from './tar.js';

/**
 * `berth import`: images from a `docker save` tarball or an OCI image layout
 * (a folder or a tar) pushed through the registry core with its pre-hooks
 * and listeners (quotas, immutable tags, the audit log, the search index),
 * as a push over HTTP would be.
 *
 * In two steps, so that a bad file changes nothing:
 *
 *   plan   read the index (index.json, or manifest.json of docker save),
 *          name each image (--to, or the names the file carries), read every
 *          manifest and hash every blob against its digest and size;
 *          any problem refuses the whole file (BERTH_IMPORT_INVALID)
 *   store  every blob not already in its repository first (a quota refuses
 *          here, before any manifest is visible), then the manifests,
 *          children before the indexes that list them, each with its tags
 *          in the same transaction; what is already there is skipped
 *
 * A refusal in the store step (a quota, an immutable tag, a full disk)
 * stops the import; blobs already stored for it are referenced by nothing
 * and garbage collection removes them after its grace period.
 */

/** The registry the importer writes to: the core for reads, and the evented registry for writes. */
export interface ImportCore {
  /** The core itself: whether a blob or manifest is already there (no events, no pull policies). */
  readonly registry: RegistryService;
  /** The registry with every pre-hook and listener, as `assembleCore` gives it. */
  registryFor(context: EventContext): RegistryService;
}

/** Who imports: stamped on the events and the audit log (the CLI's is a system actor naming the OS user). */
export type ImportContext = EventContext;

/** `--to REPO[:TAG]`. */
export interface ImportTarget {
  repository: string;
  tag: string | null;
}

/** Progress of a long import, in bytes (verifying, then storing). */
export interface ImportProgress {
  phase(label: string, totalBytes: number): void;
  advance(bytes: number, detail?: string): void;
}

export interface PlanOptions {
  /** Where every image goes; null: the names the file carries. */
  to?: ImportTarget | null;
  /** The image ID (config digest) every image must have (or, for an index, one of its images, or its own digest). */
  expectId?: string | null;
  /** The largest manifest read (limits.manifestmaxbytes; default 4 MiB). */
  manifestMaxBytes?: number;
  progress?: ImportProgress;
}

export interface ImportOptions extends PlanOptions {
  /** Who imports, stamped on the events and the audit log. */
  context: ImportContext;
}

/** A blob the file holds. */
export interface PlannedBlob {
  digest: string;
  size: number;
  /** Its path in the layout. */
  file: string;
}

/** A manifest to push, with its exact bytes. */
export interface PlannedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  /** Child manifests (of an index) present in the file, in order. */
  children: string[];
  /** Config and layers (of an image manifest). */
  blobs: string[];
  /** The manifest it refers to (`subject`), if any: pushed after it. */
  subject: string | null;
  /** The image ID: the config's digest (image manifests). */
  config: string | null;
}

export interface PlannedImage {
  repository: string;
  tags: string[];
  digest: string;
}

export interface ImportPlan {
  source: string;
  format: 'oci-layout' | 'docker-archive';
  images: PlannedImage[];
  manifests: Map<string, PlannedManifest>;
  blobs: Map<string, PlannedBlob>;
}

export interface ImportedImage {
  repository: string;
  tags: string[];
  digest: string;
  mediaType: string;
  /** The image ID (config digest); for an index, null (its images have their own). */
  id: string | null;
  status: 'imported' | 'already present';
}

export interface ImportReport {
  source: string;
  format: 'oci-layout' | 'docker-archive';
  images: ImportedImage[];
  /** `repo:tag` of every tag the file names, set now or already in place. */
  tags: string[];
  blobs: { stored: number; skipped: number; bytesStored: number; bytesSkipped: number };
  manifests: { stored: number; skipped: number };
}

/** One entry of the file's index before naming: the names it carries, and the manifest. */
export interface IndexEntry {
  repository: string | null;
  tag: string | null;
  digest: string;
}

/** What a source reader gives the planner. */
export interface SourceContents {
  format: 'oci-layout' | 'docker-archive';
  entries: IndexEntry[];
  manifests: Map<string, PlannedManifest>;
  blobs: Map<string, PlannedBlob>;
}

const DEFAULT_MANIFEST_MAX = 4 * 1024 * 1024;

/** `sha256:<hex>` (or sha512) of bytes. */
export function digestOf(bytes: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** `blobs/<alg>/<hex>` of a digest. */
export function blobFile(digest: string): string {
  const [alg, hex] = digest.split(':');
  return `blobs/${alg}/${hex}`;
}

/**
 * A reference as docker names it (`busybox:1.36`, `docker.io/library/busybox:1.36`,
 * `registry.example.com:5000/team/app:v1`) as a repository of this registry and a
 * tag: the registry host is dropped, and Docker Hub's `library/`, as `docker save`
 * writes RepoTags. Null when it is no valid name.
 */
export function parseImageName(reference: string): { repository: string; tag: string | null } | null {
  let name = reference.split('@')[0] ?? '';
  let tag: string | null = null;
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  const parts = name.split('/');
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    parts.shift();
    if ((first === 'docker.io' || first === 'index.docker.io') && parts.length === 2 && parts[0] === 'library') parts.shift();
  }
  const repository = parts.join('/');
  if (!isValidRepositoryName(repository) || (tag !== null && !isValidTag(tag))) return null;
  return { repository, tag };
}

/** `--to REPO[:TAG]` checked; null with the reason when invalid. */
export function parseTarget(value: string): ImportTarget | string {
  const colon = value.lastIndexOf(':');
  const slash = value.lastIndexOf('/');
  const repository = colon > slash ? value.slice(0, colon) : value;
  const tag = colon > slash ? value.slice(colon + 1) : null;
  if (!isValidRepositoryName(repository)) return `"${repository}" is not a valid repository name (lower-case components of letters, digits and . _ -, separated by /)`;
  if (tag !== null && !isValidTag(tag)) return `"${tag}" is not a valid tag (up to 128 letters, digits, _ . -, not starting with . or -)`;
  return { repository, tag };
}

function describe(e: IndexEntry): string {
  return e.repository ? `${e.repository}${e.tag ? `:${e.tag}` : `@${e.digest}`}` : e.tag ? `${e.tag} (${e.digest})` : e.digest;
}

/** Names every entry: --to, or the file's own names; refuses what is ambiguous or nameless. */
function nameImages(source: string, entries: IndexEntry[], to: ImportTarget | null): PlannedImage[] {
  if (entries.length === 0) throw importRefusal(source, null, 'it holds no image');
  let named: { repository: string; tag: string | null; digest: string }[];
  if (to?.tag) {
    const digests = [...new Set(entries.map((e) => e.digest))];
    if (digests.length > 1) {
      throw importRefusal(source, null, `it holds ${digests.length} images (${entries.map(describe).join(', ')}) and --to ${to.repository}:${to.tag} names one tag; give --to ${to.repository} to keep each image's tag, or leave --to out to use the names in the file`);
    }
    named = [{ repository: to.repository, tag: to.tag, digest: digests[0] as string }];
  } else if (to) {
    named = entries.map((e) => ({ repository: to.repository, tag: e.tag, digest: e.digest }));
  } else {
    named = entries.map((e) => {
      if (e.repository === null) throw importRefusal(source, null, `the image ${describe(e)} carries no repository name; give one with --to REPO[:TAG]`);
      return { repository: e.repository, tag: e.tag, digest: e.digest };
    });
  }
  // The same tag for two images: which one is meant?
  const byTag = new Map<string, string>();
  for (const n of named) {
    if (n.tag === null) continue;
    const key = `${n.repository}:${n.tag}`;
    const other = byTag.get(key);
    if (other !== undefined && other !== n.digest) throw importRefusal(source, null, `two images would be ${key} (${other} and ${n.digest}); import them with --to REPO:TAG one at a time, or to different repositories`);
    byTag.set(key, n.digest);
  }
  const images = new Map<string, PlannedImage>();
  for (const n of named) {
    const key = `${n.repository}@${n.digest}`;
    const image = images.get(key) ?? { repository: n.repository, tags: [], digest: n.digest };
    if (n.tag !== null && !image.tags.includes(n.tag)) image.tags.push(n.tag);
    images.set(key, image);
  }
  return [...images.values()];
}

/** The digests a manifest stands for as "image ID": its own, and its (children's) configs. */
function idsOf(plan: Pick<ImportPlan, 'manifests'>, digest: string, seen = new Set<string>()): string[] {
  if (seen.has(digest)) return [];
  seen.add(digest);
  const m = plan.manifests.get(digest);
  if (!m) return [digest];
  return [digest, ...(m.config ? [m.config] : []), ...m.children.flatMap((c) => idsOf(plan, c, seen))];
}

/** Hashes every blob of the plan against its digest and size (sha256 known from staging is used as it is). */
async function verifyBlobs(layout: LayoutReader, blobs: Map<string, PlannedBlob>, progress: ImportProgress | undefined): Promise<void> {
  progress?.phase('verifying', [...blobs.values()].reduce((n, b) => n + b.size, 0));
  for (const blob of blobs.values()) {
    const size = await layout.size(blob.file);
    if (size === null) throw importRefusal(layout.name, blob.file, `missing: blob ${blob.digest} is listed but not in the file`);
    if (size !== blob.size) throw importRefusal(layout.name, blob.file, `${size} bytes, but its descriptor says ${blob.size}`);
    const algorithm = blob.digest.startsWith('sha512:') ? 'sha512' : 'sha256';
    let actual = algorithm === 'sha256' ? await layout.knownSha256(blob.file) : null;
    if (actual === null) {
      const hash = createHash(algorithm);
      for await (const chunk of await layout.open(blob.file) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        progress?.advance(0);
      }
      actual = `${algorithm}:${hash.digest('hex')}`;
    }
    if (actual !== blob.digest) throw importRefusal(layout.name, blob.file, `its bytes do not match its digest: ${actual}, not ${blob.digest}`);
    progress?.advance(blob.size, blob.digest.slice(0, 19));
  }
}

/**
 * Reads and checks a whole source: every image named, every manifest read and
 * every blob hashed. Throws BERTH_IMPORT_INVALID (naming the file and member)
 * at the first problem; nothing is written.
 */
export async function planImport(layout: LayoutReader, options: PlanOptions = {}): Promise<ImportPlan> {
  const manifestMaxBytes = options.manifestMaxBytes ?? DEFAULT_MANIFEST_MAX;
  let contents: SourceContents;
  if (await layout.size('index.json') !== null) contents = await readOciLayout(layout, manifestMaxBytes);
  else if (await layout.size('manifest.json') !== null) contents = await readDockerArchive(layout, manifestMaxBytes);
  else throw importRefusal(layout.name, null, 'neither an OCI image layout (no index.json) nor a docker save tarball (no manifest.json)');
  const images = nameImages(layout.name, contents.entries, options.to ?? null);
  const plan: ImportPlan = { source: layout.name, format: contents.format, images, manifests: contents.manifests, blobs: contents.blobs };
  if (options.expectId) {
    const expected = options.expectId;
    for (const image of images) {
      const ids = idsOf(plan, image.digest);
      if (!ids.includes(expected)) {
        const config = plan.manifests.get(image.digest)?.config;
        throw importRefusal(layout.name, null, `the image ${image.repository}${image.tags.length ? `:${image.tags.join(',')}` : ''} has the ID ${config ?? image.digest}, not the expected ${expected}`);
      }
    }
  }
  await verifyBlobs(layout, plan.blobs, options.progress);
  return plan;
}

/** Every manifest of an image, children before their parents, subjects before their referrers. */
function manifestOrder(plan: ImportPlan, digest: string, out: string[], seen: Set<string>): void {
  if (seen.has(digest)) return;
  seen.add(digest);
  const m = plan.manifests.get(digest);
  if (!m) return;
  if (m.subject && plan.manifests.has(m.subject)) manifestOrder(plan, m.subject, out, seen);
  for (const child of m.children) manifestOrder(plan, child, out, seen);
  out.push(digest);
}

function blobsOf(plan: ImportPlan, manifests: string[]): string[] {
  const out = new Set<string>();
  for (const d of manifests) for (const b of plan.manifests.get(d)?.blobs ?? []) out.add(b);
  return [...out];
}

async function exists(check: () => Promise<unknown>): Promise<boolean> {
  try {
    await check();
    return true;
  } catch (err) {
    if (err instanceof RegistryError && (err.code === 'BLOB_UNKNOWN' || err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN')) return false;
    throw err;
  }
}

/**
 * Stores a plan through the core: blobs first, then manifests with their
 * tags. What is already there is skipped, so importing twice stores nothing
 * twice. A refusal (quota, immutable tag, full disk) is rethrown with what
 * had been stored.
 */
export async function storePlan(layout: LayoutReader, plan: ImportPlan, core: ImportCore, options: ImportOptions): Promise<ImportReport> {
  const writer = core.registryFor(options.context);
  const report: ImportReport = {
    source: plan.source, format: plan.format, images: [], tags: [],
    blobs: { stored: 0, skipped: 0, bytesStored: 0, bytesSkipped: 0 }, manifests: { stored: 0, skipped: 0 },
  };
  // Referrers (with a subject) after the images they refer to.
  const images = [...plan.images].sort((a, b) => Number(plan.manifests.get(a.digest)?.subject != null) - Number(plan.manifests.get(b.digest)?.subject != null));
  const orders = images.map((image) => {
    const order: string[] = [];
    manifestOrder(plan, image.digest, order, new Set());
    return { image, order, blobs: blobsOf(plan, order) };
  });
  try {
    // Blobs of every image first: a quota refuses before any manifest is visible.
    const todo: { repository: string; blob: PlannedBlob }[] = [];
    const seen = new Set<string>();
    for (const { image, blobs } of orders) {
      for (const digest of blobs) {
        const key = `${image.repository}@${digest}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const blob = plan.blobs.get(digest);
        if (!blob) continue; // a non-distributable layer the file does not carry
        if (await exists(() => core.registry.statBlob(image.repository, digest))) {
          report.blobs.skipped++;
          report.blobs.bytesSkipped += blob.size;
        } else {
          todo.push({ repository: image.repository, blob });
        }
      }
    }
    options.progress?.phase('storing', todo.reduce((n, t) => n + t.blob.size, 0));
    for (const { repository, blob } of todo) {
      const stream = await layout.open(blob.file);
      try {
        await writer.putBlob(repository, blob.digest, stream, { contentLength: blob.size });
      } finally {
        stream.destroy();
      }
      report.blobs.stored++;
      report.blobs.bytesStored += blob.size;
      options.progress?.advance(blob.size, `${repository}@${blob.digest.slice(0, 19)}`);
    }
    for (const { image, order } of orders) {
      let changed = false;
      for (const digest of order) {
        const m = plan.manifests.get(digest) as PlannedManifest;
        const isRoot = digest === image.digest;
        const present = await exists(() => core.registry.getManifest(image.repository, digest));
        const missingTags: string[] = [];
        if (isRoot) {
          for (const tag of image.tags) {
            const current = await core.registry.getManifest(image.repository, tag).then((r) => r.digest, (err: unknown) => {
              if (err instanceof RegistryError && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN')) return null;
              throw err;
            });
            if (current !== digest) missingTags.push(tag);
          }
        }
        if (present && missingTags.length === 0) {
          report.manifests.skipped++;
          continue;
        }
        await writer.putManifest(image.repository, digest, m.bytes, m.mediaType, { tags: missingTags });
        if (!present) report.manifests.stored++;
        else report.manifests.skipped++;
        changed = true;
      }
      const root = plan.manifests.get(image.digest) as PlannedManifest;
      report.images.push({ repository: image.repository, tags: image.tags, digest: image.digest, mediaType: root.mediaType, id: root.config, status: changed ? 'imported' : 'already present' });
      report.tags.push(...image.tags.map((t) => `${image.repository}:${t}`));
    }
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    const stored = report.images.filter((i) => i.status === 'imported').map((i) => `${i.repository}@${i.digest}`);
    const left = report.blobs.stored > 0 && stored.length === 0
      ? `; the ${report.blobs.stored} blobs stored before the refusal are referenced by nothing, and garbage collection removes them`
      : stored.length > 0 ? `; imported before the refusal: ${stored.join(', ')}` : '; nothing was imported';
    throw new RegistryError(err.code, `${plan.source}: ${err.message}${left}`, { detail: err.detail, cause: err });
  }
  return report;
}

/**
 * Imports one OCI image layout (or docker save tarball) through the core:
 * plan (everything checked), then store. Callers that verified a bundle
 * first (`berth import bundle.tar`) call this with the bundle's reader.
 *
 * @example
 * const layout = await openLayout('busybox.tar');
 * try {
 *   const report = await importLayout(layout, core, { context, to: { repository: 'tools/busybox', tag: '1.36' } });
 * } finally {
 *   await layout.close();
 * }
 */
export async function importLayout(layout: LayoutReader, core: ImportCore, options: ImportOptions): Promise<ImportReport> {
  const plan = await planImport(layout, options);
  return storePlan(layout, plan, core, options);
}

/** `--expect-id` checked: a full `sha256:<hex>` (or the 64 hex digits alone). */
export function parseExpectId(value: string): string | null {
  const v = /^[0-9a-f]{64}$/.test(value) ? `sha256:${value}` : value;
  return tryParseDigest(v)?.digest ?? null;
}
