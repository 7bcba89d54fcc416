import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import forge from 'node-forge';
import { RegistryError } from '../errors/index.js';
import type { BlobRecord, ManifestRecord } from '../metadata/index.js';
import { COSIGN_PAYLOAD_TYPE, COSIGN_SIGNATURE_ANNOTATION, SignatureMediaType } from './formats.js';
import type { SignatureStore } from './cleanup.js';

/**
 * Test support for OCI signatures (not exported from index.ts). The cosign
 * and notation binaries are not available on this machine, so signatures
 * are BUILT HERE FROM THE PUBLISHED FORMATS: sigstore simple signing
 * (cosign's payload, the `dev.cosignproject.cosign/signature` annotation,
 * the `sha256-<hex>.sig` tag or a referrer) and the Notary Project JWS
 * envelope (notaryproject/specifications, signature-envelope-jws.md) with a
 * CA and a code-signing leaf certificate made with node-forge. skopeo and
 * podman, which are here, sign for real in test/e2e/sigstore.test.ts.
 */

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export const descriptorOf = (mediaType: string, bytes: Uint8Array): Descriptor => ({ mediaType, digest: sha256(bytes), size: bytes.length });

/** A signature artifact ready to push: its blobs, then its manifest. */
export interface Artifact {
  manifest: Buffer;
  mediaType: string;
  digest: string;
  blobs: Buffer[];
}

function artifact(doc: Record<string, unknown>, blobs: Buffer[]): Artifact {
  const manifest = Buffer.from(JSON.stringify(doc));
  return { manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), blobs };
}

// ---- cosign / sigstore simple signing -----------------------------------------

export type CosignKeyType = 'ecdsa-p256' | 'ecdsa-p384' | 'ed25519' | 'rsa';

export interface CosignKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public key as a TrustedKey's pem (SPKI). */
  publicKeyPem: string;
}

export function cosignKeyPair(type: CosignKeyType = 'ecdsa-p256'): CosignKeyPair {
  const pair = type === 'ed25519' ? generateKeyPairSync('ed25519')
    : type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: type === 'ecdsa-p384' ? 'P-384' : 'P-256' });
  return { ...pair, publicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** A simple-signing payload as cosign writes it (skopeo adds optional.creator and optional.timestamp). */
export function cosignPayload(o: { digest: string; reference: string; timestamp?: number; creator?: string; type?: string }): Buffer {
  const optional: Record<string, unknown> = {};
  if (o.creator !== undefined) optional.creator = o.creator;
  if (o.timestamp !== undefined) optional.timestamp = o.timestamp;
  return Buffer.from(JSON.stringify({
    critical: { identity: { 'docker-reference': o.reference }, image: { 'docker-manifest-digest': o.digest }, type: o.type ?? COSIGN_PAYLOAD_TYPE },
    optional: Object.keys(optional).length > 0 ? optional : null,
  }));
}

/** cosign's signature of a payload, base64: ECDSA (DER) and RSA (PKCS#1 v1.5) over SHA-256, Ed25519 over the bytes. */
export function cosignSign(payload: Uint8Array, privateKey: KeyObject): string {
  return sign(privateKey.asymmetricKeyType === 'ed25519' ? null : 'sha256', payload, privateKey).toString('base64');
}

export interface CosignLayer {
  payload: Buffer;
  /** The annotation's value (base64), or undefined for none. */
  signature: string | undefined;
  mediaType?: string;
}

/**
 * A cosign signature manifest. Without `subject` it has the shape skopeo
 * and podman push under the `sha256-<hex>.sig` tag (an OCI image whose
 * config lists the payloads as diff IDs); with `subject` it is a referrer
 * of artifactType `application/vnd.dev.cosign.artifact.sig.v1+json`.
 */
export function cosignArtifact(layers: readonly CosignLayer[], options: { subject?: Descriptor } = {}): Artifact {
  const descriptors = layers.map((l) => ({
    ...descriptorOf(l.mediaType ?? SignatureMediaType.SimpleSigning, l.payload),
    ...(l.signature !== undefined ? { annotations: { [COSIGN_SIGNATURE_ANNOTATION]: l.signature } } : {}),
  }));
  if (options.subject) {
    const config = Buffer.from('{}');
    return artifact({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: SignatureMediaType.CosignArtifact,
      config: descriptorOf('application/vnd.oci.empty.v1+json', config), layers: descriptors, subject: options.subject,
    }, [config, ...layers.map((l) => l.payload)]);
  }
  const config = Buffer.from(JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: descriptors.map((d) => d.digest) } }));
  return artifact({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: descriptorOf('application/vnd.oci.image.config.v1+json', config), layers: descriptors,
  }, [config, ...layers.map((l) => l.payload)]);
}

// ---- notation JWS ---------------------------------------------------------------

export interface TestCertificate {
  pem: string;
  der: Buffer;
  privateKey: KeyObject;
  subject: string;
  /** node-forge's forms, to issue certificates with. */
  forgeCert: forge.pki.Certificate;
  forgeKey: forge.pki.rsa.PrivateKey;
}

export interface CertificateOptions {
  commonName: string;
  notBefore?: Date;
  notAfter?: Date;
  /** The issuing CA; self-signed when absent. */
  issuer?: TestCertificate;
  /** A CA (basicConstraints cA, keyCertSign) rather than a code-signing leaf. */
  ca?: boolean;
  /** Extended key usage of a leaf (default codeSigning). */
  extKeyUsage?: 'codeSigning' | 'serverAuth';
}

/** An RSA-2048 certificate (so its signatures are PS256), issued by `issuer` or self-signed. */
export function notationCertificate(o: CertificateOptions): TestCertificate {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const forgeKey = forge.pki.privateKeyFromPem(pair.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString());
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(pair.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  // A leading 01 keeps the serial positive and minimal in DER.
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = o.notBefore ?? new Date(Date.now() - 3_600_000);
  cert.validity.notAfter = o.notAfter ?? new Date(Date.now() + 365 * 86_400_000);
  const subject = [{ name: 'commonName', value: o.commonName }, { name: 'organizationName', value: 'Berth tests' }];
  cert.setSubject(subject);
  cert.setIssuer(o.issuer ? o.issuer.forgeCert.subject.attributes : subject);
  cert.setExtensions(o.ca
    ? [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }]
    : [{ name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, critical: true }, { name: 'extKeyUsage', [o.extKeyUsage ?? 'codeSigning']: true }]);
  cert.sign(o.issuer?.forgeKey ?? forgeKey, forge.md.sha256.create());
  const pem = forge.pki.certificateToPem(cert);
  const x509 = new X509Certificate(pem);
  return { pem, der: x509.raw, privateKey: pair.privateKey, subject: x509.subject.split('\n').join(', '), forgeCert: cert, forgeKey };
}

export interface EnvelopeOptions {
  target: Descriptor;
  /** Leaf first; the leaf's key signs. */
  chain: readonly TestCertificate[];
  signingTime?: Date;
  expiry?: Date;
  /** Override the protected header (fields set to undefined are removed). */
  protectedHeader?: Record<string, unknown>;
}

const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A flattened JWS JSON envelope as notation writes it (PS256 with an RSA-2048 leaf). */
export function notationEnvelope(o: EnvelopeOptions): Buffer {
  const leaf = o.chain[0];
  if (!leaf) throw new Error('notationEnvelope needs a chain');
  const header: Record<string, unknown> = {
    alg: 'PS256',
    cty: SignatureMediaType.NotationPayload,
    crit: ['io.cncf.notary.signingScheme', ...(o.expiry ? ['io.cncf.notary.expiry'] : [])],
    'io.cncf.notary.signingScheme': 'notary.x509',
    'io.cncf.notary.signingTime': rfc3339(o.signingTime ?? new Date()),
    ...(o.expiry ? { 'io.cncf.notary.expiry': rfc3339(o.expiry) } : {}),
    ...o.protectedHeader,
  };
  const protectedText = Buffer.from(JSON.stringify(header)).toString('base64url');
  const payloadText = Buffer.from(JSON.stringify({ targetArtifact: o.target })).toString('base64url');
  const signature = sign('sha256', Buffer.from(`${protectedText}.${payloadText}`), { key: leaf.privateKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 });
  return Buffer.from(JSON.stringify({
    payload: payloadText,
    protected: protectedText,
    header: { x5c: o.chain.map((c) => c.der.toString('base64')), 'io.cncf.notary.signingAgent': 'berth-testkit/1' },
    signature: signature.toString('base64url'),
  }));
}

/** A notation signature manifest: a referrer of `subject` with one envelope layer (JWS, or COSE for `mediaType: application/cose`). */
export function notationArtifact(envelope: Buffer, subject: Descriptor, options: { mediaType?: string } = {}): Artifact {
  const config = Buffer.from('{}');
  return artifact({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: SignatureMediaType.NotationArtifact,
    config: descriptorOf('application/vnd.oci.empty.v1+json', config),
    layers: [descriptorOf(options.mediaType ?? SignatureMediaType.Jws, envelope)],
    subject,
    annotations: { 'io.cncf.notary.x509chain.thumbprint#S256': '[]' },
  }, [config, envelope]);
}

// ---- an in-memory registry ------------------------------------------------------------

/**
 * A SignatureStore in memory for unit tests: manifests by digest, tags,
 * blobs, and referrers from each manifest's `subject`, with the registry
 * core's error codes.
 */
export class MemorySignatureSource implements SignatureStore {
  readonly manifests = new Map<string, ManifestRecord>();
  readonly tags = new Map<string, string>();
  readonly blobs = new Map<string, Buffer>();

  constructor(readonly repo = 'app') {}

  putBlob(bytes: Buffer): string {
    const digest = sha256(bytes);
    this.blobs.set(digest, bytes);
    return digest;
  }

  /** Stores a manifest (and tags it); returns its descriptor. */
  putManifest(bytes: Buffer, tag?: string, mediaType = 'application/vnd.oci.image.manifest.v1+json'): Descriptor {
    const digest = sha256(bytes);
    const doc = JSON.parse(bytes.toString()) as { artifactType?: string; config?: { mediaType?: string }; subject?: { digest?: string }; annotations?: unknown };
    this.manifests.set(digest, {
      repository: this.repo, digest, mediaType, size: bytes.length, content: bytes,
      artifactType: doc.artifactType ?? doc.config?.mediaType ?? null, subject: doc.subject?.digest ?? null,
      annotations: doc.annotations ? JSON.stringify(doc.annotations) : null, createdAt: Date.now(),
    });
    if (tag) this.tags.set(tag, digest);
    return { mediaType, digest, size: bytes.length };
  }

  /** Pushes an artifact's blobs and manifest. */
  push(a: Artifact, tag?: string): Descriptor {
    for (const b of a.blobs) this.putBlob(b);
    return this.putManifest(a.manifest, tag, a.mediaType);
  }

  /** A small image (config + one layer). */
  pushImage(tag?: string): Descriptor {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed: randomBytes(8).toString('hex') }));
    const layer = randomBytes(32);
    this.putBlob(config);
    this.putBlob(layer);
    return this.putManifest(Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: descriptorOf('application/vnd.oci.image.config.v1+json', config), layers: [descriptorOf('application/vnd.oci.image.layer.v1.tar+gzip', layer)],
    })), tag);
  }

  async getManifest(repo: string, reference: string): Promise<ManifestRecord> {
    const digest = reference.includes(':') ? reference : this.tags.get(reference);
    const m = repo === this.repo && digest ? this.manifests.get(digest) : undefined;
    if (!m) throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { name: repo, reference } });
    return m;
  }

  async referrers(repo: string, digest: string, artifactType?: string): Promise<Record<string, unknown>> {
    const manifests = [...this.manifests.values()]
      .filter((m) => repo === this.repo && m.subject === digest && (artifactType === undefined || m.artifactType === artifactType))
      .sort((a, b) => a.digest.localeCompare(b.digest))
      .map((m) => ({ mediaType: m.mediaType, digest: m.digest, size: m.size, ...(m.artifactType ? { artifactType: m.artifactType } : {}) }));
    return { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests };
  }

  async statBlob(repo: string, digest: string): Promise<BlobRecord> {
    const b = repo === this.repo ? this.blobs.get(digest) : undefined;
    if (!b) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest } });
    return { digest, size: b.length };
  }

  async openBlob(blob: BlobRecord): Promise<Readable> {
    return Readable.from([this.blobs.get(blob.digest) ?? Buffer.alloc(0)]);
  }

  async deleteManifest(repo: string, reference: string): Promise<void> {
    const m = await this.getManifest(repo, reference);
    this.manifests.delete(m.digest);
    for (const [tag, d] of this.tags) if (d === m.digest) this.tags.delete(tag);
  }
}
