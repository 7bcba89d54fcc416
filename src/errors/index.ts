export { errorCatalog, wireCode, type ErrorCode } from './catalog.js';
export { RegistryError, fromSystemError, isRegistryError, type RegistryErrorOptions } from './registry-error.js';
