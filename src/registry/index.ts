export { Registry, type RegistryOptions, type ByteRange, type ChunkOptions, type PageOptions } from './registry.js';
export { MediaType, MANIFEST_MEDIA_TYPES } from './media-types.js';
export { isValidRepositoryName, isValidNameComponent, isValidTag, parseDigest, tryParseDigest, parseReference, assertRepositoryName } from './names.js';
export { acceptsMediaType, parseManifest, baseMediaType } from './manifest.js';
