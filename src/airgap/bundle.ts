import { lstat, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RegistryHostNames } from '../auth/index.js';
import { RegistryError } from '../errors/index.js';
import type { NewTrustFile, TrustFileRecord, TrustStore } from '../metadata/index.js';
import { signedTargets } from '../trust/index.js';
import {
  checkHashes, isDelegationRole, isValidRole, parseMetadata, signingRole, validateUpdate, verifySignatures, SignatureError, MetadataError,
} from '../trust/tuf/index.js';
import {
  BUNDLE_FILE, BUNDLE_FORMAT, INDEX_FILE, bundleJsonIntact, REF_NAME, REPOSITORY_ANNOTATION, blobPath, gunHost, rootGun, trustPath,
  type BundleManifest, type BundleTrust,
} from './bundle-format.js';
import { importLayout, type ImportCore, type ImportOptions, type ImportReport } from './import.js';
import { DirectoryLayout, openLayout, type LayoutReader } from './sources/layout.js';
import { importRefusal, stageTar, type StagedMember, type TarLimits } from './tar.js';

/**
 * `berth import bundle.tar` for a Berth bundle (export.ts): the bundle is
 * checked whole before anything is stored, and refused whole when anything
 * in it changed.
 *
 *   readBundle    stage the tar safely (tar.ts), then: berth-bundle.json
 *                 parses and is of a known format; the tar holds exactly the
 *                 files it lists (one added or removed refuses), each of the
 *                 size and digest it lists
 *   verifyBundle  index.json names exactly the images and cosign tags the
 *                 bundle lists; per repository with trust data: the TUF
 *                 metadata verifies as a Notary server would take it (root
 *                 certificate CN = GUN, signatures and thresholds down the
 *                 delegations, snapshot and timestamp hashes), every tag it
 *                 signs that the bundle carries points at the signed digest
 *                 and size; the GUN's host is a name this registry answers
 *                 to; the trust store holds nothing that contradicts it
 *   importBundle  the layout through the importer (import.ts: the registry
 *                 core with its pre-hooks and events), then the trust files
 *                 into the trust store in one transaction
 *
 * What the checksums prove: the bundle is what berth-bundle.json says it
 * is, so corruption and naive edits are caught. Whoever can rewrite
 * berth-bundle.json can rewrite its checksums too: authenticity comes from
 * the signatures (DCT here, cosign and notation by trust policies), and
 * from comparing the tar's sha256, which `berth export` prints, out of band.
 */

export interface OpenedBundle {
  /** The tar as the user named it. */
  source: string;
  manifest: BundleManifest;
  /** The staged layout, for the importer. Close it (or the bundle) when done. */
  layout: LayoutReader;
  close(): Promise<void>;
}

export interface VerifiedBundle {
  bundle: OpenedBundle;
  /** Trust files to store, per repository (empty lists when all are already there). */
  trust: { repository: string; gun: string; files: NewTrustFile[]; alreadyPresent: number; timestamp: { version: number; sha256: string } }[];
  warnings: string[];
}

export interface VerifyOptions {
  /** The trust store of the registry imported into (null: trust data is not imported; say so). */
  store: Pick<TrustStore, 'byVersion' | 'latest'> | null;
  /** The names this registry answers to: http.baseUrl and http.aliases (empty when none is configured). */
  hostNames: readonly string[];
  /** Import the images without their trust data (the GUN names another registry, or trust is off). */
  skipTrust?: boolean;
  now?: Date;
}

export interface BundleImportReport {
  source: string;
  format: 'berth-bundle';
  created: string;
  from: string | null;
  images: ImportReport;
  trust: { repository: string; gun: string; stored: number; alreadyPresent: number }[];
  warnings: string[];
}

const MAX_BUNDLE_JSON = 64 * 1024 * 1024;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether a staged layout is a Berth bundle (it has berth-bundle.json). */
export async function isBundle(layout: LayoutReader): Promise<boolean> {
  return (await layout.size(BUNDLE_FILE)) !== null;
}

function refuse(source: string, member: string | null, why: string): RegistryError {
  return importRefusal(source, member, `the bundle was changed or is damaged: ${why}`);
}

/** berth-bundle.json's shape, checked enough that the rest of the code can trust its types. */
function parseManifest(source: string, bytes: Buffer): BundleManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw refuse(source, BUNDLE_FILE, `not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(doc)) throw refuse(source, BUNDLE_FILE, 'not a JSON object');
  if (doc.format !== BUNDLE_FORMAT) throw importRefusal(source, BUNDLE_FILE, `format ${JSON.stringify(doc.format)} is not ${BUNDLE_FORMAT}; a newer Berth wrote it: import it with that version`);
  const arrays = ['images', 'trust', 'files', 'warnings'] as const;
  for (const key of arrays) if (!Array.isArray(doc[key])) throw refuse(source, BUNDLE_FILE, `${key} is not a list`);
  for (const f of doc.files as unknown[]) {
    if (!isObject(f) || typeof f.path !== 'string' || typeof f.digest !== 'string' || typeof f.size !== 'number') throw refuse(source, BUNDLE_FILE, 'a files entry without path, size and digest');
  }
  for (const t of doc.trust as unknown[]) {
    if (!isObject(t) || typeof t.repository !== 'string' || typeof t.gun !== 'string' || !Array.isArray(t.files)) throw refuse(source, BUNDLE_FILE, 'a trust entry without repository, gun and files');
    for (const f of t.files as unknown[]) {
      if (!isObject(f) || typeof f.role !== 'string' || typeof f.version !== 'number' || typeof f.path !== 'string' || typeof f.sha256 !== 'string') throw refuse(source, BUNDLE_FILE, 'a trust file without role, version, path and sha256');
    }
  }
  for (const i of doc.images as unknown[]) {
    if (!isObject(i) || typeof i.repository !== 'string' || typeof i.digest !== 'string' || !(typeof i.tag === 'string' || i.tag === null) || !Array.isArray(i.signatureTags)) {
      throw refuse(source, BUNDLE_FILE, 'an image without repository, tag, digest and signatureTags');
    }
  }
  if (!bundleJsonIntact(bytes, doc as unknown as BundleManifest)) throw refuse(source, BUNDLE_FILE, 'its content does not match its own checksum (self)');
  return doc as unknown as BundleManifest;
}

/** The exact member set against berth-bundle.json: same paths, sizes and digests; nothing added, nothing missing. */
function checkMembers(source: string, manifest: BundleManifest, members: ReadonlyMap<string, StagedMember>): void {
  const listed = new Map(manifest.files.map((f) => [f.path, f]));
  if (listed.size !== manifest.files.length) throw refuse(source, BUNDLE_FILE, 'a file is listed twice');
  for (const [p, m] of members) {
    if (p === BUNDLE_FILE) continue;
    const f = listed.get(p);
    if (!f) throw refuse(source, p, 'a file that berth-bundle.json does not list was added');
    if (m.size !== f.size) throw refuse(source, p, `${m.size} bytes, but berth-bundle.json lists ${f.size}`);
  }
  for (const f of manifest.files) {
    const m = members.get(f.path);
    if (!m) throw refuse(source, f.path, 'listed in berth-bundle.json but missing from the tar');
    const isBlob = f.path.startsWith('blobs/');
    if (isBlob && blobPath(f.digest) !== f.path) throw refuse(source, f.path, `berth-bundle.json lists it as ${f.digest}`);
    // sha256 members were hashed while staged; a sha512 blob is hashed by the importer against its name.
    if (f.digest.startsWith('sha256:') && m.sha256 !== f.digest) throw refuse(source, f.path, `its sha256 is ${m.sha256}, not ${f.digest} as berth-bundle.json lists`);
    if (!isBlob && !f.digest.startsWith('sha256:')) throw refuse(source, f.path, 'berth-bundle.json lists no sha256 for it');
  }
}

/**
 * Opens what `berth import` was given: a tar is staged safely once (tar.ts)
 * and, when it holds berth-bundle.json, checked against it (see
 * `readBundle`); a folder is read as it is (a bundle must come as its tar:
 * an extracted folder cannot prove nothing was added to it).
 */
export async function openImportSource(file: string, options: TarLimits & { tmpDir?: string | undefined } = {}): Promise<{ layout: LayoutReader; bundle: OpenedBundle | null }> {
  const st = await lstat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw importRefusal(file, null, 'no such file or folder');
    throw err;
  });
  if (!st.isFile()) {
    const layout = await openLayout(file, options);
    if (await isBundle(layout)) {
      await layout.close();
      throw importRefusal(file, BUNDLE_FILE, 'an extracted Berth bundle; import the bundle\'s .tar itself, so that it can be checked whole');
    }
    return { layout, bundle: null };
  }
  const staging = await mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), 'berth-import-'));
  const remove = () => rm(staging, { recursive: true, force: true });
  try {
    const staged = await stageTar(file, staging, options);
    const known = new Map([...staged.members.values()].map((m) => [m.path, m.sha256]));
    const layout = new DirectoryLayout(file, staging, known, remove);
    if (!staged.members.has(BUNDLE_FILE)) return { layout, bundle: null };
    const manifest = parseManifest(file, await layout.read(BUNDLE_FILE, MAX_BUNDLE_JSON));
    checkMembers(file, manifest, staged.members);
    return { layout, bundle: { source: file, manifest, layout, close: () => layout.close() } };
  } catch (err) {
    await remove();
    throw err;
  }
}

/**
 * Stages a bundle tar and checks it against its checksum manifest
 * (berth-bundle.json). Throws BERTH_IMPORT_INVALID, naming the member, when
 * anything was added, removed or changed; nothing is imported. Returns null
 * when the tar holds no berth-bundle.json (it is a plain layout).
 */
export async function readBundle(file: string, options: TarLimits & { tmpDir?: string } = {}): Promise<OpenedBundle | null> {
  const { layout, bundle } = await openImportSource(file, options);
  if (!bundle) await layout.close();
  return bundle;
}

/** index.json as the importer will read it: tag → digest per repository, and the digests it names. */
async function readIndex(bundle: OpenedBundle): Promise<{ tags: Map<string, string>; digests: Set<string> }> {
  const doc = JSON.parse((await bundle.layout.read(INDEX_FILE, 16 * 1024 * 1024)).toString('utf8')) as { manifests?: unknown };
  const tags = new Map<string, string>();
  const digests = new Set<string>();
  for (const d of Array.isArray(doc.manifests) ? doc.manifests : []) {
    if (!isObject(d) || typeof d.digest !== 'string') throw refuse(bundle.source, INDEX_FILE, 'an entry without a digest');
    const a = isObject(d.annotations) ? d.annotations : {};
    const repository = a[REPOSITORY_ANNOTATION];
    const ref = a[REF_NAME];
    if (typeof repository !== 'string') throw refuse(bundle.source, INDEX_FILE, `the entry ${d.digest} has no ${REPOSITORY_ANNOTATION}`);
    digests.add(`${repository}@${d.digest}`);
    if (typeof ref === 'string') {
      if (!ref.startsWith(`${repository}:`)) throw refuse(bundle.source, INDEX_FILE, `the entry ${ref} is not of its repository ${repository}`);
      tags.set(ref, d.digest);
    }
  }
  return { tags, digests };
}

/** The trust files of one repository, parsed and checked as a Notary server and client would. */
function verifyTrust(bundle: OpenedBundle, entry: BundleTrust, files: Map<string, Buffer>, tags: ReadonlyMap<string, string>, sizes: ReadonlyMap<string, number>, now: Date): { warnings: string[]; timestamp: TrustFileRecord } {
  const { source } = bundle;
  const warnings: string[] = [];
  const host = gunHost(entry.gun);
  if (!host || entry.gun !== `${host}/${entry.repository}`) throw refuse(source, BUNDLE_FILE, `the GUN ${entry.gun} does not name the repository ${entry.repository}`);
  const newest = new Map<string, { version: number; bytes: Buffer; path: string }>();
  const roots = new Map<number, Buffer>();
  for (const f of entry.files) {
    if (!isValidRole(f.role) || f.path !== trustPath(entry.repository, f.role, f.version)) throw refuse(source, f.path, `not a trust file of ${entry.repository} (${f.role} version ${f.version})`);
    const bytes = files.get(f.path) as Buffer;
    let version: number;
    try {
      version = parseMetadata(bytes, f.role).version;
    } catch (err) {
      throw refuse(source, f.path, `not valid ${f.role} metadata (${(err as Error).message})`);
    }
    if (version !== f.version) throw refuse(source, f.path, `it is version ${version} of ${f.role}, listed as ${f.version}`);
    if (f.role === 'root') roots.set(version, bytes);
    if ((newest.get(f.role)?.version ?? -1) < version) newest.set(f.role, { version, bytes, path: f.path });
  }
  const root = newest.get('root');
  const snapshot = newest.get('snapshot');
  const timestamp = newest.get('timestamp');
  if (!root || !snapshot || !timestamp || !newest.has('targets')) throw refuse(source, BUNDLE_FILE, `the trust data of ${entry.repository} lacks root, targets, snapshot or timestamp`);
  if (rootGun(root.bytes) !== entry.gun) throw refuse(source, root.path, `its root certificate does not name ${entry.gun}`);

  // Root (against the one before it, as a rotation), targets, delegations and snapshot: Notary's own publish checks.
  const rootMd = parseMetadata(root.bytes, 'root');
  const previous = roots.get(root.version - 1);
  const uploads = new Map<string, Uint8Array>([['root', root.bytes]]);
  for (const [role, f] of newest) if (role === 'targets' || isDelegationRole(role) || role === 'snapshot') uploads.set(role, f.bytes);
  const result = validateUpdate({
    gun: entry.gun, now, current: previous ? new Map([['root', previous]]) : new Map(), uploads,
    serverKeys: { snapshot: null, timestamp: rootMd.roles.get('timestamp')?.keyids[0] ?? null },
  });
  if (!result.ok) throw refuse(source, `trust/${entry.repository}`, `its trust data does not verify: ${result.error.message ?? result.error.code}`);

  // The timestamp: signed by root's timestamp key, over this snapshot.
  const ts = parseMetadata(timestamp.bytes, 'timestamp');
  try {
    verifySignatures(ts, signingRole('timestamp', rootMd.roles.get('timestamp') ?? { keyids: [], threshold: 1 }, rootMd.keys));
  } catch (err) {
    if (err instanceof SignatureError || err instanceof MetadataError) throw refuse(source, timestamp.path, `the timestamp does not verify: ${err.message}`);
    throw err;
  }
  const listed = ts.meta.get('snapshot');
  const problem = checkHashes(snapshot.bytes, 'snapshot', listed?.hashes) ?? (listed && listed.length !== snapshot.bytes.length ? 'the snapshot\'s length differs from the timestamp\'s' : undefined);
  if (problem) throw refuse(source, timestamp.path, `the timestamp does not cover the snapshot: ${problem}`);
  if (ts.expires.getTime() < now.getTime()) {
    warnings.push(`${entry.gun}: the timestamp expired at ${ts.expires.toISOString()}; docker refuses it until a fresh bundle is imported (export again at the source)`);
  } else {
    warnings.push(`${entry.gun}: the timestamp expires at ${ts.expires.toISOString()}; this registry does not hold the source's timestamp key, so import a fresh export before then (see docs/airgap.md)`);
  }

  // Every tag the bundle carries that the trust data signs must point at the signed manifest.
  const current = new Map<string, TrustFileRecord>([...newest].map(([role, f]) => [role, { repository: entry.repository, role, version: f.version, sha256: '', data: f.bytes, createdAt: 0 }]));
  for (const target of signedTargets(current, now)) {
    const digest = tags.get(`${entry.repository}:${target.tag}`);
    if (digest === undefined) continue;
    if (digest !== target.digest) throw refuse(source, INDEX_FILE, `${entry.repository}:${target.tag} points at ${digest}, but its trust data signs ${target.digest}`);
    const size = sizes.get(digest);
    if (size !== target.size) throw refuse(source, blobPath(digest), `the manifest of ${entry.repository}:${target.tag} is ${size ?? 'not'} bytes, but its trust data signs ${target.size}`);
  }
  const tsRecord: TrustFileRecord = { repository: entry.repository, role: 'timestamp', version: ts.version, sha256: entry.files.find((f) => f.path === timestamp.path)?.sha256 ?? '', data: timestamp.bytes, createdAt: 0 };
  return { warnings, timestamp: tsRecord };
}

/**
 * Checks what a bundle means, beyond its checksums (see the module
 * comment), against the registry it is imported into. Throws
 * BERTH_IMPORT_INVALID (the bundle) or BERTH_CONFLICT (this registry: its
 * name, or trust data it holds already) with the fix; nothing is imported.
 */
export async function verifyBundle(bundle: OpenedBundle, options: VerifyOptions): Promise<VerifiedBundle> {
  const now = options.now ?? new Date();
  const { manifest, source } = bundle;
  const warnings = [...manifest.warnings];
  const index = await readIndex(bundle);
  // index.json and berth-bundle.json tell the same story: the importer follows index.json.
  const expected = new Map<string, string>();
  for (const i of manifest.images) {
    if (i.tag) expected.set(`${i.repository}:${i.tag}`, i.digest);
    for (const t of i.signatureTags) expected.set(`${i.repository}:${t}`, '');
  }
  for (const [ref, digest] of index.tags) {
    if (!expected.has(ref)) throw refuse(source, INDEX_FILE, `it names ${ref}, which berth-bundle.json does not list`);
    const want = expected.get(ref);
    if (want && want !== digest) throw refuse(source, INDEX_FILE, `${ref} points at ${digest}, but berth-bundle.json lists ${want}`);
  }
  for (const ref of expected.keys()) if (!index.tags.has(ref)) throw refuse(source, INDEX_FILE, `${ref} is missing`);

  const sizes = new Map(manifest.files.filter((f) => f.path.startsWith('blobs/')).map((f) => [f.digest, f.size]));
  for (const i of manifest.images) {
    if (sizes.get(i.digest) !== i.size) throw refuse(source, BUNDLE_FILE, `the image ${i.repository}${i.tag ? `:${i.tag}` : ''} is listed as ${i.digest} of ${i.size} bytes, which the bundle does not hold`);
  }
  const out: VerifiedBundle = { bundle, trust: [], warnings };
  if (manifest.trust.length === 0) return out;
  if (options.skipTrust || !options.store) {
    warnings.push(`the Docker Content Trust data of ${manifest.trust.map((t) => t.gun).join(', ')} was not imported${options.skipTrust ? ' (--skip-trust)' : ' (trust.enabled is off)'}`);
    return out;
  }
  const names = new RegistryHostNames(options.hostNames);
  for (const entry of manifest.trust) {
    const files = new Map<string, Buffer>();
    for (const f of entry.files) {
      const listed = manifest.files.find((x) => x.path === f.path);
      if (!listed || listed.digest !== `sha256:${f.sha256}`) throw refuse(source, f.path, 'a trust file not listed with its sha256 among the files');
      files.set(f.path, await bundle.layout.read(f.path, 16 * 1024 * 1024));
    }
    const checked = verifyTrust(bundle, entry, files, index.tags, sizes, now);
    warnings.push(...checked.warnings);

    // Notary clients check that the root certificate names the GUN they ask for: host included.
    const host = gunHost(entry.gun) as string;
    if (options.hostNames.length === 0) {
      warnings.push(`${entry.gun}: this registry has no http.host (baseUrl) or http.aliases, so Berth cannot tell whether clients reach it as ${host}; docker verifies this trust data only when they do`);
    } else if (!names.has(host)) {
      throw new RegistryError('BERTH_CONFLICT', `${source}: the trust data of ${entry.repository} is for ${entry.gun}, and docker verifies it only on a registry reached as ${host}; this registry answers to ${options.hostNames.join(', ')}. Serve it under that name (add ${host} to http.aliases and make clients reach it so), or import with --skip-trust to leave the trust data out; nothing was imported`, { detail: { gun: entry.gun } });
    }

    // What this registry's trust store already holds for the repository must be the same chain, older or equal.
    const store = options.store;
    const toStore: NewTrustFile[] = [];
    let alreadyPresent = 0;
    const maxVersion = new Map<string, number>();
    for (const f of entry.files) maxVersion.set(f.role, Math.max(maxVersion.get(f.role) ?? 0, f.version));
    for (const [role, version] of maxVersion) {
      const latest = await store.latest(entry.repository, role);
      if (latest && latest.version > version) {
        throw new RegistryError('BERTH_CONFLICT', `${source}: this registry holds newer trust data for ${entry.repository} (${role} version ${latest.version}) than the bundle (version ${version}); export again at the source, or delete this registry's trust data first (notary delete ${entry.gun} --remote); nothing was imported`, { detail: { repository: entry.repository, role } });
      }
    }
    for (const f of entry.files) {
      const stored = await store.byVersion(entry.repository, f.role, f.version);
      if (stored) {
        if (stored.sha256 !== f.sha256) {
          throw new RegistryError('BERTH_CONFLICT', `${source}: this registry holds other trust data for ${entry.repository} (${f.role} version ${f.version} differs); delete it first (notary delete ${entry.gun} --remote) if the bundle's is the one to keep; nothing was imported`, { detail: { repository: entry.repository, role: f.role, version: f.version } });
        }
        alreadyPresent++;
        continue;
      }
      toStore.push({ role: f.role, version: f.version, sha256: f.sha256, data: files.get(f.path) as Buffer });
    }
    out.trust.push({ repository: entry.repository, gun: entry.gun, files: toStore, alreadyPresent, timestamp: { version: checked.timestamp.version, sha256: checked.timestamp.sha256 } });
  }
  return out;
}

export interface BundleImportOptions extends Omit<ImportOptions, 'to'> {
  /** Where trust files are stored (the registry's trust store); null with trust off. */
  trustStore: Pick<TrustStore, 'publish'> | null;
  now?: Date;
}

/**
 * Imports a verified bundle: its layout through the importer (every image,
 * child, referrer and cosign tag, through the core with its pre-hooks and
 * events), then each repository's trust files in one transaction. Importing
 * the same bundle twice stores nothing twice.
 */
export async function importBundle(verified: VerifiedBundle, core: ImportCore, options: BundleImportOptions): Promise<BundleImportReport> {
  const { bundle } = verified;
  const images = await importLayout(bundle.layout, core, { ...options, to: null });
  const trust = await storeBundleTrust(verified, options.trustStore, options.now);
  return { source: bundle.source, format: 'berth-bundle', created: bundle.manifest.created, from: bundle.manifest.source, images, trust, warnings: verified.warnings };
}

/**
 * The second half of a bundle import, once its layout is stored: each
 * repository's trust files, in one transaction per repository.
 */
export async function storeBundleTrust(verified: VerifiedBundle, store: Pick<TrustStore, 'publish'> | null, now: Date = new Date()): Promise<BundleImportReport['trust']> {
  const trust: BundleImportReport['trust'] = [];
  for (const t of verified.trust) {
    if (t.files.length > 0) {
      if (!store) throw new Error('verified trust files without a trust store');
      const ok = await store.publish(t.repository, t.files, { gun: t.gun, version: t.timestamp.version, sha256: t.timestamp.sha256, time: now.getTime() });
      if (!ok) throw new RegistryError('BERTH_CONFLICT', `${verified.bundle.source}: trust data for ${t.repository} was published on this registry while the bundle was imported; the images are imported, the trust data is not: import the bundle again to compare`, { detail: { repository: t.repository } });
    }
    trust.push({ repository: t.repository, gun: t.gun, stored: t.files.length, alreadyPresent: t.alreadyPresent });
  }
  return trust;
}
