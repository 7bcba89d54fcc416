import { z } from 'zod';
import { RegistryError } from '../errors/index.js';
import { isIndexType, isNonDistributable, MANIFEST_MEDIA_TYPES, MediaType } from './media-types.js';
import { tryParseDigest } from './names.js';
import type { ManifestReference } from '../metadata/index.js';

/**
 * Parsing and validation of pushed manifests (OCI image spec v1.1 and Docker
 * image manifest v2 schema 2). The bytes are never re-serialised: what was
 * pushed is what is stored and served.
 */

const digestString = z.string().refine((v) => tryParseDigest(v) !== null, { message: 'invalid digest' });
/** RFC 6838 `type/subtype` (no parameters), as the image spec requires of mediaType and artifactType. */
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
const mediaTypeString = z.string().regex(MEDIA_TYPE_RE, { message: 'invalid media type' });
const annotations = z.record(z.string(), z.string());

const descriptor = z.object({
  mediaType: mediaTypeString,
  digest: digestString,
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string()).optional(),
  annotations: annotations.optional(),
  artifactType: mediaTypeString.optional(),
  data: z.string().optional(),
  platform: z.object({}).passthrough().optional(),
});

const imageManifest = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: mediaTypeString.optional(),
  config: descriptor,
  layers: z.array(descriptor),
  subject: descriptor.optional(),
  annotations: annotations.optional(),
});

const imageIndex = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: mediaTypeString.optional(),
  manifests: z.array(descriptor),
  subject: descriptor.optional(),
  annotations: annotations.optional(),
});

export interface ParsedManifest {
  mediaType: string;
  /** Blobs and child manifests that must exist in the repository. */
  references: ManifestReference[];
  /** An image manifest's config blob (required even where sparse manifests are allowed), or null for an index. */
  config: string | null;
  subject: string | null;
  /** The referrers API's artifactType: explicit, else the config's media type (image manifests). */
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message, { detail });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strips parameters (`; charset=…`) and case from a Content-Type. */
export function baseMediaType(contentType: string | undefined): string | undefined {
  const t = contentType?.split(';')[0]?.trim().toLowerCase();
  return t ? t : undefined;
}

/** Deepest nesting a manifest may have: real manifests nest 4 or 5 levels; Go clients refuse very deep documents. */
export const MAX_MANIFEST_DEPTH = 64;

/** How deeply arrays and objects nest in JSON text (brackets inside strings do not count), stopping past `limit`. */
function jsonDepth(body: Buffer, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  // Go's encoding/json, which docker, containerd and Distribution use, refuses both.
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) throw invalid('manifest starts with a UTF-8 byte order mark, which clients cannot parse; send the JSON without it');
  if (jsonDepth(body, MAX_MANIFEST_DEPTH) > MAX_MANIFEST_DEPTH) throw invalid(`manifest nests deeper than ${MAX_MANIFEST_DEPTH} levels`);
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(body));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid('manifest must be a JSON object');
  const obj = json as Record<string, unknown>;
  const declared = typeof obj.mediaType === 'string' ? obj.mediaType : undefined;
  const header = baseMediaType(contentType);

  let mediaType: string | undefined;
  if (header && MANIFEST_MEDIA_TYPES.includes(header)) mediaType = header;
  else if (header && header !== 'application/json' && header !== 'application/octet-stream') {
    if (header === MediaType.DockerSchema1 || header === MediaType.DockerSchema1Signed) {
      throw invalid('Docker schema 1 manifests are not supported; push a schema 2 or OCI manifest');
    }
    throw invalid(`unsupported manifest media type ${header.slice(0, 100)}`, { mediaType: header.slice(0, 255) });
  } else if (declared !== undefined) mediaType = declared;
  else if ('manifests' in obj) mediaType = MediaType.OciIndex;
  else if ('config' in obj && 'layers' in obj) mediaType = MediaType.OciManifest;

  if (mediaType === undefined || !MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    throw invalid(`unsupported manifest media type ${String(mediaType ?? 'none').slice(0, 100)}`);
  }
  if (declared !== undefined && declared !== mediaType) {
    throw invalid('the manifest\'s mediaType does not match its Content-Type', { mediaType: declared.slice(0, 255), contentType: mediaType });
  }
  if (mediaType === MediaType.DockerManifest || mediaType === MediaType.DockerManifestList) {
    if (declared === undefined) throw invalid('Docker manifests must declare their mediaType');
  }

  if (isIndexType(mediaType)) {
    const r = imageIndex.safeParse(obj);
    if (!r.success) throw invalid(`invalid image index: ${formatIssue(r.error)}`);
    const m = r.data;
    return {
      mediaType,
      references: m.manifests.map((c) => ({ digest: c.digest, kind: 'manifest' as const })),
      config: null,
      subject: m.subject?.digest ?? null,
      artifactType: m.artifactType ?? null,
      annotations: m.annotations ?? null,
    };
  }
  const r = imageManifest.safeParse(obj);
  if (!r.success) throw invalid(`invalid image manifest: ${formatIssue(r.error)}`);
  const m = r.data;
  const references: ManifestReference[] = [{ digest: m.config.digest, kind: 'blob' }];
  for (const layer of m.layers) {
    if (layer.urls && layer.urls.length > 0 && isNonDistributable(layer.mediaType)) continue;
    references.push({ digest: layer.digest, kind: 'blob' });
  }
  return {
    mediaType,
    references,
    config: m.config.digest,
    subject: m.subject?.digest ?? null,
    artifactType: m.artifactType ?? m.config.mediaType,
    annotations: m.annotations ?? null,
  };
}

function formatIssue(error: z.ZodError): string {
  const i = error.issues[0];
  return i ? `${i.path.join('.') || '(root)'}: ${i.message}` : 'invalid';
}

/**
 * Whether a client's Accept header admits a stored media type. No Accept (or
 * a wildcard) admits everything, as registry:2 does for OCI content.
 */
export function acceptsMediaType(accept: string | undefined, mediaType: string): boolean {
  if (!accept) return true;
  const types = accept.split(',').map((t) => baseMediaType(t)).filter((t): t is string => t !== undefined);
  if (types.length === 0) return true;
  return types.some((t) => t === '*/*' || t === 'application/*' || t === mediaType);
}
