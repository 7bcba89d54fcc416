export type { SignatureSource, SignatureFormat, TrustedKey, SignatureProblem, SignatureFinding, VerifySignatures } from './types.js';
export { verifySignatures, listSignatures, findSignatureArtifacts, type SignatureArtifact } from './verify.js';
export { checkTrustedKey } from './keys.js';
export { signatureRoutes, SIGNATURES_PATH, type SignatureRoutesOptions } from './routes.js';
export { signatureCleanupListener, type SignatureStore, type DeletedManifestEvent } from './cleanup.js';
export { SignatureMediaType, SIGNATURE_ARTIFACT_TYPES, COSIGN_SIGNATURE_ANNOTATION, COSIGN_PAYLOAD_TYPE, cosignSignatureTag, MAX_SIGNATURES } from './formats.js';
export { simpleSigningPayload, signSimpleSigning, cosignSignatureManifest, type CosignSignatureLayer, type SignatureManifest } from './sign.js';
