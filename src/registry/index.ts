export { Registry, type RegistryOptions } from './registry.js';
export { UploadPurge, type UploadPurgeOptions } from './maintenance/upload-purge.js';
export type { BlobPlacement } from './placement.js';
export type { RegistryService, ByteRange, BodyOptions, ChunkOptions, PageOptions, ReadOptions, ManifestPushResult, ManifestDeleteResult } from './service.js';
export type { RegistryChange, RegistryChangeType, CommitGuard, GuardOptions } from './changes.js';
export { MediaType, MANIFEST_MEDIA_TYPES } from './media-types.js';
export { isValidRepositoryName, isValidNameComponent, isValidTag, parseDigest, tryParseDigest, parseReference, assertRepositoryName } from './names.js';
export { acceptsMediaType, parseManifest, baseMediaType } from './manifest.js';
