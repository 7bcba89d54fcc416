/**
 * The wire names of the signature formats Berth reads, as the published
 * specifications spell them: sigstore/cosign "simple signing" and the Notary
 * Project (notation) signature envelope.
 */
export const SignatureMediaType = {
  /** artifactType of a cosign signature pushed as a referrer (OCI 1.1 mode). */
  CosignArtifact: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  /** A layer whose blob is a simple-signing payload; its signature is in an annotation. */
  SimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  /** artifactType (or, in older notation, config mediaType) of a Notary Project signature. */
  NotationArtifact: 'application/vnd.cncf.notary.signature',
  /** A layer holding a flattened JWS JSON envelope. */
  Jws: 'application/jose+json',
  /** A layer holding a COSE_Sign1 envelope (listed, never verified here). */
  Cose: 'application/cose',
  /** The JWS `cty` of a Notary Project payload. */
  NotationPayload: 'application/vnd.cncf.notary.payload.v1+json',
} as const;

/** The layer annotation holding a simple-signing payload's base64 signature. */
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

/** `critical.type` of a sigstore simple-signing payload (cosign, skopeo, podman). */
export const COSIGN_PAYLOAD_TYPE = 'cosign container image signature';

/** Artifact types whose manifests are signatures: what goes with their subject on delete. */
export const SIGNATURE_ARTIFACT_TYPES: readonly string[] = [SignatureMediaType.CosignArtifact, SignatureMediaType.NotationArtifact];

/**
 * cosign's tag for the signatures of `digest` (`sha256-<hex>.sig`), or null
 * when the digest cannot have one (the tag grammar allows 128 characters,
 * which a sha512 digest exceeds).
 */
export function cosignSignatureTag(digest: string): string | null {
  const m = /^(sha256):([a-f0-9]{64})$/.exec(digest);
  return m ? `${m[1]}-${m[2]}.sig` : null;
}

/** Largest simple-signing payload read (cosign's are a few hundred bytes). */
export const MAX_COSIGN_PAYLOAD_BYTES = 64 * 1024;
/** Largest JWS envelope read: it carries the certificate chain, a few KiB per certificate. */
export const MAX_ENVELOPE_BYTES = 128 * 1024;
/** At most this many signatures are reported for one image; the rest are not read. */
export const MAX_SIGNATURES = 256;
/** At most this many certificates in a notation chain. */
export const MAX_CHAIN_LENGTH = 10;
