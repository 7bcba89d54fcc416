/**
 * The TUF core of Berth's Notary-compatible trust server: canonical JSON,
 * keys and signatures, metadata parsing, update validation and the
 * server-signed snapshot and timestamp. Pure: no HTTP, no storage, no I/O
 * other than crypto. The protocol it follows is described in
 * shared/notes/docker-content-trust-trace.md (§3 formats, §5 validation).
 */
export { canonicalJson, canonicalBytes, CanonicalJsonError } from './canonical-json.js';
export { decodeGoBase64 } from './encoding.js';
export { goTime, goDateString, parseGoTime, type GoTime } from './go-time.js';
export {
  KEY_TYPES,
  SIGNATURE_METHODS,
  TufKeyError,
  generateEcdsaKey,
  keyId,
  publicKeyBytes,
  publicKeyFromPrivate,
  publicKeyJson,
  sign,
  toKeyObject,
  verifySignature,
  x509Key,
  type GeneratedKey,
  type KeyType,
  type SignatureMethod,
  type TufKey,
  type TufSignature,
} from './keys.js';
export {
  MetadataError,
  checkHashes,
  decodeEnvelope,
  fileMeta,
  metadataTypeFor,
  parseBody,
  parseMetadata,
  type DelegationRole,
  type Envelope,
  type FileMeta,
  type Metadata,
  type MetadataType,
  type RoleKeys,
  type RootMetadata,
  type SnapshotMetadata,
  type TargetsMetadata,
  type TimestampMetadata,
} from './metadata.js';
export {
  BASE_ROLES,
  ROOT_ROLE,
  SNAPSHOT_ROLE,
  TARGETS_ROLE,
  TIMESTAMP_ROLE,
  isDelegationRole,
  isUploadableRole,
  isValidRole,
  parentRole,
  roleFromFilename,
  type BaseRole,
} from './roles.js';
export { SignatureError, signingRole, verifySignatures, type SigningRole } from './verify.js';
export {
  validateUpdate,
  type AcceptedFile,
  type UpdateAccepted,
  type UpdateError,
  type UpdateErrorCode,
  type UpdateInput,
  type UpdateRefused,
  type UpdateResult,
  type ValidationErrorName,
} from './validate.js';
export {
  SNAPSHOT_EXPIRY_MS,
  TIMESTAMP_EXPIRY_MS,
  buildSnapshot,
  buildTimestamp,
  isExpired,
  serializeSigned,
  signMetadata,
  snapshotExpiry,
  timestampExpiry,
  timestampIsStale,
  type GeneratedFile,
  type SigningKey,
} from './generate.js';
