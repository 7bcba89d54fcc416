export { errorCatalog, wireCode, type ErrorCode } from './catalog.js';
export { RegistryError, isRegistryError, type RegistryErrorOptions } from './registry-error.js';
