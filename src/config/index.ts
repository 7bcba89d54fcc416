export { loadConfig, type LoadOptions, type LoadResult } from './load.js';
export { checkFiles } from './files.js';
export { configSchema, type WrittenConfig } from './schema.js';
export type { BerthConfig, LogLevel, AuthConfig, LoginLimits, DatabaseConfig, S3Config, NotificationEndpointConfig } from './resolved.js';
export { redactUrl } from './redact.js';
export { parseDuration } from './duration.js';
export { addressMatcher, parseAddressRange, type AddressRange } from './address-range.js';
