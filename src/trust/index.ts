export { TrustService, type TrustFile, type TrustServiceOptions } from './service.js';
export { trustRoutes } from './routes.js';
export { KeyVault } from './key-vault.js';
export { loadOrCreateKeySecret } from './key-secret.js';
export { signedTargets, type DctTarget } from './signed-targets.js';
export { inspectTrust, prettyTrust, canonicalKeyId, table as dockerTable, type DockerTrustInspection } from './inspect.js';
export { migrateTrust, type MigrationResult, type MigrateOptions } from './migrate.js';
