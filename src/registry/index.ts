export { Registry, type RegistryOptions } from './registry.js';
/** Blob bytes are read into these blocks; the last consumer of a chunk may give its block back (storage/block-pool.ts). */
export { readBlocks } from '../storage/index.js';
export { UploadPurge, type UploadPurgeOptions } from './maintenance/upload-purge.js';
export type { BlobPlacement } from './placement.js';
export { runningChecksum } from './verified-read.js';
export { SharedReads } from './shared-reads.js';
export type { RegistryService, ByteRange, BodyOptions, ChunkOptions, PageOptions, ReadOptions, ManifestPushResult, ManifestDeleteResult, PutBlobOptions, PutManifestOptions, StartUploadOptions, TagUpdate } from './service.js';
export type { RegistryChange, RegistryChangeType, CommitGuard, GuardOptions } from './changes.js';
export { MediaType, MANIFEST_MEDIA_TYPES } from './media-types.js';
export { MAX_TAGS_PER_PUSH } from './manifests.js';
export { SparsePolicy, type SparseOptions } from './sparse-policy.js';
export { isValidRepositoryName, isValidNameComponent, isValidTag, parseDigest, tryParseDigest, parseReference, assertRepositoryName, parseDigestAlgorithm, type DigestAlgorithm } from './names.js';
export { acceptsMediaType, parseManifest, baseMediaType } from './manifest.js';
