export { loadConfig, type LoadOptions, type LoadResult } from './load.js';
export { configSchema, type WrittenConfig } from './schema.js';
export type { BerthConfig, LogLevel } from './resolved.js';
export { parseDuration } from './duration.js';
