import type { Readable } from 'node:stream';
import type { BlobRecord, ManifestRecord } from '../metadata/index.js';

/**
 * OCI signatures: signatures stored as registry content beside the image
 * they sign (cosign and sigstore "simple signing" payloads, notation JWS
 * envelopes), found through the referrers API or cosign's
 * `sha256-<hex>.sig` tag, and verified against keys an operator trusts.
 *
 * This module reads and verifies; it never decides whether a pull is
 * allowed (that is the trust policy's job, which calls `verifySignatures`).
 */

/** What the verifier reads: the registry core, without pre-hooks (reading a signature is not a pull). */
export interface SignatureSource {
  getManifest(repo: string, reference: string, accept?: string): Promise<ManifestRecord>;
  /** The referrers of `digest` as an OCI image index (manifests[] with digest, mediaType, artifactType, annotations). */
  referrers(repo: string, digest: string, artifactType?: string): Promise<Record<string, unknown>>;
  statBlob(repo: string, digest: string): Promise<BlobRecord>;
  openBlob(blob: BlobRecord, range: null): Promise<Readable>;
}

export type SignatureFormat =
  /** cosign / sigstore simple signing (`application/vnd.dev.cosign.simplesigning.v1+json` layers; skopeo and podman write these too). */
  | 'cosign'
  /** Notary Project (notation) JWS envelope (`application/jose+json`). */
  | 'notation'
  /** Recognised as a signature artifact, in a format Berth cannot verify (e.g. notation COSE): stored and listed, never verified. */
  | 'unsupported';

/** A key the operator trusts, as written in a trust policy. */
export interface TrustedKey {
  /** The operator's name for the key ("release-2026"): what refusals and listings show. */
  name: string;
  /** cosign: a PEM public key (SPKI: ECDSA P-256/P-384, Ed25519 or RSA). notation: a PEM X.509 certificate, the root (or an intermediate or the leaf) the signing certificate must chain to. */
  kind: 'cosign' | 'notation';
  pem: string;
}

/** Why a signature does not verify. */
export type SignatureProblem =
  /** Well-formed and about this image, but no trusted key (or certificate chain) matches. */
  | 'unknown-key'
  /** A trusted key matches, but the signature bytes do not verify. */
  | 'bad-signature'
  /** The signature (notation expiry) or the certificate that made it has expired, or is not yet valid. */
  | 'expired'
  /** The payload cannot be parsed, or the artifact is not a well-formed signature of its format. */
  | 'bad-payload'
  /** The payload names another digest than the image it is attached to. */
  | 'digest-mismatch'
  /** A format Berth cannot verify. */
  | 'unsupported';

/** One signature found for an image, with the verdict against the keys given. */
export interface SignatureFinding {
  format: SignatureFormat;
  /** Digest of the manifest that carries the signature (the referrer, or what the `.sig` tag points at). */
  artifactDigest: string;
  /** How it was found. */
  via: 'referrer' | 'tag';
  /** Index of the signature inside the artifact (a cosign `.sig` manifest holds one per layer). */
  index: number;
  /** True only when the signature verifies under one of the keys given, about this digest, and is in date. */
  verified: boolean;
  /** The trusted key's name when verified (or, for bad-signature/expired, the key that matched). */
  keyName: string | null;
  /** Null when verified. */
  problem: SignatureProblem | null;
  /** A sentence for people: what was checked and why it failed. Never contains key material. */
  detail: string;
  /** Who signed, as the signature says: the notation certificate's subject, or the cosign payload's docker-reference. */
  signer: string | null;
  /** When it was signed, if the format says (notation signing time; cosign payload optional timestamp), ISO 8601. */
  signedAt: string | null;
}

/**
 * The signatures of `digest` in `repo`: referrers whose artifactType or
 * layers are a signature format, and the manifest tagged
 * `sha256-<hex>.sig`. Each is checked against `keys` (possibly none: every
 * finding is then `unknown-key` or worse). A malformed signature is a
 * finding with a problem, never an exception; only storage failures throw.
 */
export type VerifySignatures = (source: SignatureSource, repo: string, digest: string, keys: readonly TrustedKey[], now?: number) => Promise<SignatureFinding[]>;
