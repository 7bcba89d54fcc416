import { createHash, sign, type KeyObject } from 'node:crypto';
import { COSIGN_PAYLOAD_TYPE, COSIGN_SIGNATURE_ANNOTATION, SignatureMediaType } from './formats.js';

/**
 * Making sigstore "simple signing" signatures, as cosign, skopeo and podman
 * make them, for Berth's own signing (`berth trust migrate`): the payload
 * names the image by digest, the signature over the payload bytes goes in
 * the layer annotation, and the signatures of one image are the layers of
 * the manifest tagged `sha256-<hex>.sig`.
 */

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** One signature: its payload blob and the layer that carries it. */
export interface CosignSignatureLayer {
  payload: Buffer;
  layer: { mediaType: string; digest: string; size: number; annotations: Record<string, string> };
}

/**
 * A simple-signing payload for `digest`, named `reference` (the repository
 * as clients pull it), with optional fields (`optional` in the format: free
 * annotations that are signed too).
 */
export function simpleSigningPayload(digest: string, reference: string, optional: Record<string, string | number> | null = null): Buffer {
  return Buffer.from(JSON.stringify({
    critical: { identity: { 'docker-reference': reference }, image: { 'docker-manifest-digest': digest }, type: COSIGN_PAYLOAD_TYPE },
    optional,
  }));
}

/** Signs a payload as cosign does: ECDSA (DER) and RSA (PKCS#1 v1.5) over SHA-256, Ed25519 over the bytes. */
export function signSimpleSigning(payload: Buffer, privateKey: KeyObject): CosignSignatureLayer {
  const signature = sign(privateKey.asymmetricKeyType === 'ed25519' ? null : 'sha256', payload, privateKey).toString('base64');
  return {
    payload,
    layer: { mediaType: SignatureMediaType.SimpleSigning, digest: sha256(payload), size: payload.length, annotations: { [COSIGN_SIGNATURE_ANNOTATION]: signature } },
  };
}

/** A manifest's bytes, media type and digest, with the blobs it needs. */
export interface SignatureManifest {
  manifest: Buffer;
  mediaType: string;
  digest: string;
  /** Blobs the manifest references that must be pushed first (config and payloads). */
  blobs: Buffer[];
}

/**
 * The `sha256-<hex>.sig` manifest holding `layers`, after the layers of the
 * manifest already there (`existing`, its exact bytes), as cosign appends a
 * signature. A layer whose payload and signature are already there is not
 * added twice. The config lists the payloads as diff IDs, as cosign's does.
 */
export function cosignSignatureManifest(layers: readonly CosignSignatureLayer[], existing: Buffer | null): SignatureManifest {
  const kept: CosignSignatureLayer['layer'][] = [];
  if (existing) {
    const doc = JSON.parse(existing.toString('utf8')) as { layers?: unknown };
    if (Array.isArray(doc.layers)) for (const l of doc.layers) if (isLayer(l)) kept.push(l);
  }
  const key = (l: CosignSignatureLayer['layer']) => `${l.digest}\n${l.annotations[COSIGN_SIGNATURE_ANNOTATION] ?? ''}`;
  const have = new Set(kept.map(key));
  const added = layers.filter((l) => !have.has(key(l.layer)));
  const all = [...kept, ...added.map((l) => l.layer)];
  const config = Buffer.from(JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: all.map((l) => l.digest) } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: all,
  }));
  return { manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), blobs: [config, ...added.map((l) => l.payload)] };
}

function isLayer(l: unknown): l is CosignSignatureLayer['layer'] {
  if (typeof l !== 'object' || l === null) return false;
  const o = l as Record<string, unknown>;
  return typeof o.mediaType === 'string' && typeof o.digest === 'string' && typeof o.size === 'number' && typeof o.annotations === 'object' && o.annotations !== null;
}
