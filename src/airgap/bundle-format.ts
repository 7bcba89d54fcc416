import { createHash } from 'node:crypto';
import { parseMetadata, publicKeyBytes } from '../trust/tuf/index.js';
import { parseCertificateBundle } from '../trust/tuf/x509.js';

/**
 * The Berth bundle: an OCI image layout tar with `berth-bundle.json`, the
 * checksum manifest, beside it (the layout is drawn in export.ts). Written
 * by export.ts, read and verified by bundle.ts.
 */

export const BUNDLE_FILE = 'berth-bundle.json';
export const BUNDLE_FORMAT = 'berth-bundle/v1';
export const INDEX_FILE = 'index.json';
export const LAYOUT_FILE = 'oci-layout';
/** OCI's annotation naming an index.json entry; Berth writes `repo:tag`. */
export const REF_NAME = 'org.opencontainers.image.ref.name';
/** The repository an index.json entry belongs to (every entry has one; digest-only entries have no ref.name). */
export const REPOSITORY_ANNOTATION = 'io.berth.repository';

/** One exported reference and what came with it. */
export interface BundleImage {
  repository: string;
  /** The tag exported, or null for a digest reference. */
  tag: string | null;
  digest: string;
  mediaType: string;
  size: number;
  /** Child manifests of an index that are in the bundle. */
  children: string[];
  /** Children a sparse index lists that the source registry did not have: not an error, not in the bundle. */
  absentChildren: { digest: string; mediaType: string; platform?: unknown }[];
  /** OCI referrers (signatures, SBOMs, attestations) of the image or of its children, with what they refer to. */
  referrers: { digest: string; artifactType: string | null; subject: string }[];
  /** cosign tags (`sha256-<hex>.sig`, `.att`, `.sbom`) exported with the image. */
  signatureTags: string[];
}

/** A repository's Docker Content Trust metadata in the bundle. */
export interface BundleTrust {
  repository: string;
  /** The GUN its root certificate names (`registry.example.com:5000/app`): clients verify it only under this name. */
  gun: string;
  files: { role: string; version: number; path: string; sha256: string }[];
}

/** Every member of the tar but berth-bundle.json itself. */
export interface BundleFile {
  path: string;
  size: number;
  /** `sha256:<hex>` of the content; for `blobs/<alg>/<hex>`, the blob's own digest. */
  digest: string;
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  /**
   * `sha256:<hex>` of this file as written with `self` set to "": a byte
   * changed anywhere in berth-bundle.json is caught, not only in the
   * checksums it lists.
   */
  self: string;
  /** RFC 3339: the newest push or trust file exported (or SOURCE_DATE_EPOCH), so re-exports are identical. */
  created: string;
  /** The source registry as clients named it (`host[:port]`), or null when unknown. */
  source: string | null;
  images: BundleImage[];
  trust: BundleTrust[];
  warnings: string[];
  files: BundleFile[];
}

const serialize = (m: BundleManifest) => Buffer.from(`${JSON.stringify(m, null, 2)}\n`);

/** The bytes of berth-bundle.json (stable: fixed key order, two-space indent), with `self` filled in. */
export function bundleJson(m: BundleManifest): Buffer {
  m.self = `sha256:${createHash('sha256').update(serialize({ ...m, self: '' })).digest('hex')}`;
  return serialize(m);
}

/** Whether berth-bundle.json's bytes are exactly what `bundleJson` writes for their content, `self` included. */
export function bundleJsonIntact(bytes: Buffer, m: BundleManifest): boolean {
  return typeof m.self === 'string' && serialize(m).equals(bytes) && `sha256:${createHash('sha256').update(serialize({ ...m, self: '' })).digest('hex')}` === m.self;
}

export function blobPath(digest: string): string {
  const [alg, hex] = digest.split(':');
  return `blobs/${alg}/${hex}`;
}

/** `trust/<repository>/_tuf/<role>.<version>.json`: `_tuf` cannot be a repository component, so paths never collide. */
export function trustPath(repository: string, role: string, version: number): string {
  return `trust/${repository}/_tuf/${role}.${version}.json`;
}

/** The host part of a GUN (`registry.example.com:5000/app` → `registry.example.com:5000`), or null when it has none. */
export function gunHost(gun: string): string | null {
  const slash = gun.indexOf('/');
  if (slash <= 0) return null;
  const first = gun.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : null;
}

/** The GUN a root names: the CN of the certificate of its (first) root key; null when it has none. */
export function rootGun(rootBytes: Uint8Array): string | null {
  try {
    const root = parseMetadata(rootBytes, 'root');
    for (const id of root.roles.get('root')?.keyids ?? []) {
      const key = root.keys.get(id);
      if (!key) continue;
      const leaf = parseCertificateBundle(publicKeyBytes(key).toString('utf8'))?.find((c) => !c.isCA);
      if (leaf?.commonName) return leaf.commonName;
    }
  } catch {
    return null;
  }
  return null;
}
