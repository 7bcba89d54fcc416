import { RegistryError } from '../errors/index.js';

/**
 * Repository names, tags and digests, as the OCI Distribution Spec v1.1
 * defines them. Everything that reaches the storage layout has passed one of
 * these checks, so no name can escape the data folder (`..`, `/` at the ends,
 * upper case and other characters are refused by the grammar itself).
 */

const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const COMPONENT_RE = new RegExp(`^${NAME_COMPONENT}$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_RE = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** Longest repository name accepted (Distribution's limit, host included). */
export const MAX_NAME_LENGTH = 255;

export type DigestAlgorithm = 'sha256' | 'sha512';
const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
  /** The canonical `algorithm:hex` string. */
  digest: string;
}

/** One path component of a repository name (also the grammar of user, organization and team names). */
export function isValidNameComponent(component: string): boolean {
  return COMPONENT_RE.test(component);
}

export function isValidRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

export function assertRepositoryName(name: string): void {
  if (!isValidRepositoryName(name)) {
    throw new RegistryError('NAME_INVALID', 'invalid repository name', { detail: { name: name.slice(0, MAX_NAME_LENGTH + 1) } });
  }
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** A reference is a tag or a digest; anything else is refused. */
export function isDigestLike(reference: string): boolean {
  return reference.includes(':');
}

/**
 * Parses a digest. Unsupported algorithms and malformed encodings are
 * DIGEST_INVALID (400), never a 500.
 */
export function parseDigest(value: string): ParsedDigest {
  const m = DIGEST_RE.exec(value);
  if (!m) throw new RegistryError('DIGEST_INVALID', 'invalid digest', { detail: { digest: value.slice(0, 200) } });
  const algorithm = m[1] as string;
  const hex = m[2] as string;
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new RegistryError('DIGEST_INVALID', `unsupported digest algorithm ${algorithm.slice(0, 32)}`, { detail: { digest: value.slice(0, 200) } });
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new RegistryError('DIGEST_INVALID', 'invalid digest encoding', { detail: { digest: value.slice(0, 200) } });
  }
  return { algorithm, hex, digest: `${algorithm}:${hex}` };
}

/**
 * The `digest-algorithm` query parameter of an upload: sha256 or sha512.
 * Anything else is DIGEST_INVALID (400): Berth cannot verify such a digest.
 */
export function parseDigestAlgorithm(value: string): DigestAlgorithm {
  if (value === 'sha256' || value === 'sha512') return value;
  throw new RegistryError('DIGEST_INVALID', `unsupported digest algorithm ${value.slice(0, 32)}; Berth supports sha256 and sha512`, { detail: { algorithm: value.slice(0, 32) } });
}

export function tryParseDigest(value: string): ParsedDigest | null {
  try {
    return parseDigest(value);
  } catch {
    return null;
  }
}

/**
 * Checks a manifest reference (tag or digest) and says which it is. A tag
 * outside the grammar cannot exist: reading or deleting it is 404
 * MANIFEST_UNKNOWN (`lookup`), pushing it is 400 MANIFEST_INVALID (`write`).
 */
export function parseReference(reference: string, use: 'lookup' | 'write' = 'write'): { kind: 'tag'; tag: string } | { kind: 'digest'; digest: ParsedDigest } {
  if (isDigestLike(reference)) return { kind: 'digest', digest: parseDigest(reference) };
  if (!isValidTag(reference)) {
    const detail = { reference: reference.slice(0, 200) };
    throw use === 'lookup'
      ? new RegistryError('MANIFEST_UNKNOWN', 'no manifest has this reference (it is not a valid tag)', { detail })
      : new RegistryError('MANIFEST_INVALID', 'invalid tag', { detail });
  }
  return { kind: 'tag', tag: reference };
}
