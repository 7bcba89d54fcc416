import { createHash } from 'node:crypto';
import { RegistryError } from '../errors/index.js';
import type { ManifestRecord } from '../metadata/index.js';
import { verifyCosign } from './cosign.js';
import {
  COSIGN_SIGNATURE_ANNOTATION, MAX_COSIGN_PAYLOAD_BYTES, MAX_ENVELOPE_BYTES, MAX_SIGNATURES, SignatureMediaType, cosignSignatureTag,
} from './formats.js';
import { parseTrustedKeys, type ParsedKeys } from './keys.js';
import { verifyNotation } from './notation.js';
import type { SignatureFinding, SignatureFormat, SignatureSource, TrustedKey, VerifySignatures } from './types.js';
import { isObject, refused, tryJson, type Verdict } from './verdict.js';

/** A manifest that carries signatures of the image, and how it was found. */
export interface SignatureArtifact {
  via: 'referrer' | 'tag';
  manifest: ManifestRecord;
}

const isCode = (err: unknown, ...codes: string[]): boolean => err instanceof RegistryError && codes.includes(err.code);

/**
 * The manifests that may carry signatures of `digest`: its referrers
 * (those whose artifactType is a signature's, and any other whose layers
 * are simple-signing payloads), then the manifest tagged
 * `sha256-<hex>.sig` unless it is also a referrer. At most MAX_SIGNATURES
 * referrers are looked at.
 */
export async function findSignatureArtifacts(source: SignatureSource, repo: string, digest: string): Promise<SignatureArtifact[]> {
  const out: SignatureArtifact[] = [];
  const index = await source.referrers(repo, digest);
  const descriptors = Array.isArray(index.manifests) ? (index.manifests as unknown[]).slice(0, MAX_SIGNATURES) : [];
  for (const d of descriptors) {
    if (!isObject(d) || typeof d.digest !== 'string') continue;
    let manifest: ManifestRecord;
    try {
      manifest = await source.getManifest(repo, d.digest);
    } catch (err) {
      if (isCode(err, 'MANIFEST_UNKNOWN')) continue; // deleted meanwhile
      throw err;
    }
    if (formatOf(manifest, 'referrer', parseManifest(manifest)) !== null) out.push({ via: 'referrer', manifest });
  }
  const tag = cosignSignatureTag(digest);
  if (tag) {
    try {
      const manifest = await source.getManifest(repo, tag);
      if (!out.some((a) => a.manifest.digest === manifest.digest)) out.push({ via: 'tag', manifest });
    } catch (err) {
      if (!isCode(err, 'MANIFEST_UNKNOWN')) throw err;
    }
  }
  return out;
}

interface Layer {
  mediaType: unknown;
  digest: unknown;
  size: unknown;
  annotations: unknown;
}

function parseManifest(m: ManifestRecord): { artifactType: string | null; layers: Layer[] } | null {
  const doc = tryJson(m.content);
  if (!isObject(doc)) return null;
  const config = isObject(doc.config) ? doc.config : {};
  const artifactType = typeof doc.artifactType === 'string' ? doc.artifactType : typeof config.mediaType === 'string' ? config.mediaType : null;
  const raw = Array.isArray(doc.layers) ? doc.layers : Array.isArray(doc.blobs) ? doc.blobs : null;
  if (!raw) return null;
  return { artifactType, layers: raw.map((l) => (isObject(l) ? { mediaType: l.mediaType, digest: l.digest, size: l.size, annotations: l.annotations } : { mediaType: null, digest: null, size: null, annotations: null })) };
}

/** The format of a signature manifest, or null when it is not a signature (an SBOM, an attestation). */
function formatOf(m: ManifestRecord, via: 'referrer' | 'tag', parsed: ReturnType<typeof parseManifest>): Exclude<SignatureFormat, 'unsupported'> | null {
  const type = parsed?.artifactType ?? m.artifactType;
  if (type === SignatureMediaType.NotationArtifact) return 'notation';
  if (type === SignatureMediaType.CosignArtifact || via === 'tag') return 'cosign';
  return parsed?.layers.some((l) => l.mediaType === SignatureMediaType.SimpleSigning) ? 'cosign' : null;
}

/** Reads a layer's blob, at most `max` bytes, checked against its digest; a string says why it cannot be used. */
async function readLayer(source: SignatureSource, repo: string, layer: Layer, max: number): Promise<Buffer | string> {
  const { digest } = layer;
  if (typeof digest !== 'string' || !/^sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$/.test(digest)) return 'the layer has no valid digest';
  if (typeof layer.size === 'number' && layer.size > max) return `the layer is ${layer.size} bytes, more than the ${max} read`;
  let blob;
  try {
    blob = await source.statBlob(repo, digest);
  } catch (err) {
    if (isCode(err, 'BLOB_UNKNOWN')) return 'the layer\'s blob is not in the repository';
    throw err;
  }
  if (blob.size > max) return `the layer is ${blob.size} bytes, more than the ${max} read`;
  const stream = await source.openBlob(blob, null);
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      length += b.length;
      if (length > max) return `the layer is more than the ${max} bytes read`;
      chunks.push(b);
    }
  } finally {
    stream.destroy();
  }
  const bytes = Buffer.concat(chunks);
  const [algorithm, hex] = digest.split(':') as [string, string];
  if (createHash(algorithm).update(bytes).digest('hex') !== hex) return 'the layer\'s bytes do not match its digest';
  return bytes;
}

/** The findings of one signature manifest: one per signature layer. */
async function checkArtifact(source: SignatureSource, repo: string, digest: string, artifact: SignatureArtifact, keys: ParsedKeys, now: number): Promise<SignatureFinding[]> {
  const { manifest, via } = artifact;
  const parsed = parseManifest(manifest);
  const format = formatOf(manifest, via, parsed) ?? 'cosign';
  const finding = (index: number, f: SignatureFormat, v: Verdict): SignatureFinding => ({ format: f, artifactDigest: manifest.digest, via, index, ...v });
  if (!parsed) return [finding(0, format, refused('bad-payload', 'the signature manifest has no layers'))];
  if (format === 'notation') {
    if (parsed.layers.length !== 1) return [finding(0, format, refused('bad-payload', `a notation signature has exactly one layer, this one has ${parsed.layers.length}`))];
    const layer = parsed.layers[0] as Layer;
    if (layer.mediaType === SignatureMediaType.Cose) return [finding(0, 'unsupported', refused('unsupported', 'a notation COSE envelope (application/cose): listed, not verified by Berth'))];
    if (layer.mediaType !== SignatureMediaType.Jws) return [finding(0, format, refused('bad-payload', 'the layer is neither application/jose+json nor application/cose'))];
    const bytes = await readLayer(source, repo, layer, MAX_ENVELOPE_BYTES);
    if (typeof bytes === 'string') return [finding(0, format, refused('bad-payload', bytes))];
    return [finding(0, format, verifyNotation(bytes, digest, keys.notation, now))];
  }
  const out: SignatureFinding[] = [];
  // A cosign artifact (the .sig tag, or a referrer typed as one) is all signatures; in another referrer only the simple-signing layers are.
  const strict = via === 'tag' || parsed.artifactType === SignatureMediaType.CosignArtifact;
  for (const [i, layer] of parsed.layers.entries()) {
    if (out.length >= MAX_SIGNATURES) break;
    if (layer.mediaType !== SignatureMediaType.SimpleSigning) {
      if (strict) out.push(finding(i, format, refused('bad-payload', `layer ${i} is not a simple-signing payload (${SignatureMediaType.SimpleSigning})`)));
      continue;
    }
    const bytes = await readLayer(source, repo, layer, MAX_COSIGN_PAYLOAD_BYTES);
    if (typeof bytes === 'string') {
      out.push(finding(i, format, refused('bad-payload', bytes)));
      continue;
    }
    const annotations = isObject(layer.annotations) ? layer.annotations : {};
    out.push(finding(i, format, verifyCosign(bytes, annotations[COSIGN_SIGNATURE_ANNOTATION], digest, keys.cosign)));
  }
  if (out.length === 0) out.push(finding(0, format, refused('bad-payload', 'the signature manifest has no layers')));
  return out;
}

/**
 * The signatures of `digest` in `repo`, each checked against `keys` (see
 * `VerifySignatures`). At most MAX_SIGNATURES findings; blobs are read
 * bounded and checked against their digests.
 *
 * @example
 * const findings = await verifySignatures(registry, 'app', 'sha256:…', [{ name: 'release', kind: 'cosign', pem }]);
 * const ok = findings.some((f) => f.verified);
 */
export const verifySignatures: VerifySignatures = async (source, repo, digest, keys, now = Date.now()) => {
  const parsedKeys = parseTrustedKeys(keys);
  const findings: SignatureFinding[] = [];
  for (const artifact of await findSignatureArtifacts(source, repo, digest)) {
    if (findings.length >= MAX_SIGNATURES) break;
    findings.push(...await checkArtifact(source, repo, digest, artifact, parsedKeys, now));
  }
  return findings.slice(0, MAX_SIGNATURES);
};

/**
 * The signatures of the image `reference` (tag or digest) names: resolves it
 * (MANIFEST_UNKNOWN when absent) and verifies what is found against `keys`.
 */
export async function listSignatures(source: SignatureSource, repo: string, reference: string, keys: readonly TrustedKey[], now?: number): Promise<{ digest: string; signatures: SignatureFinding[] }> {
  const manifest = await source.getManifest(repo, reference);
  return { digest: manifest.digest, signatures: await verifySignatures(source, repo, manifest.digest, keys, now) };
}
