import type { AddressInfo } from 'node:net';
import { openAccess, type AccessController } from './auth/index.js';
import type { BerthConfig } from './config/index.js';
import { createRegistryServer, type RegistryServer } from './http/index.js';
import type { Logger } from './log/index.js';
import { createMetadataStore, type MetadataStore } from './metadata/index.js';
import { Registry } from './registry/index.js';
import { createStorageDriver, type StorageDriver } from './storage/index.js';

/**
 * The composition root: builds storage, metadata, the registry core, access
 * control and the HTTP server from a resolved config. Nothing else wires
 * parts together, so no other module needs to know about all of them.
 */
export interface Berth {
  readonly config: BerthConfig;
  readonly registry: Registry;
  readonly storage: StorageDriver;
  readonly metadata: MetadataStore;
  readonly http: RegistryServer;
  readonly address: AddressInfo;
  /** Graceful stop: drains requests (up to http.draintimeout), then closes the stores. */
  close(): Promise<void>;
}

export interface StartOptions {
  access?: AccessController;
}

export async function startBerth(config: BerthConfig, logger: Logger, options: StartOptions = {}): Promise<Berth> {
  const storage = createStorageDriver({ driver: config.storage.driver, rootDirectory: config.storage.rootDirectory });
  await storage.init();
  const metadata = createMetadataStore({ kind: config.database.kind, path: config.database.path });
  await metadata.init();
  const registry = new Registry({
    storage,
    metadata,
    deleteEnabled: config.storage.deleteEnabled,
    readOnly: config.storage.readOnly,
    manifestMaxBytes: config.limits.manifestMaxBytes,
  });
  const health = async () => {
    const checks: Record<string, string> = {};
    let ok = true;
    try {
      await metadata.ping();
      checks.database = 'ok';
    } catch {
      checks.database = 'unavailable';
      ok = false;
    }
    return { ok, checks };
  };
  const http = createRegistryServer({ registry, access: options.access ?? openAccess, config, health }, logger);
  let address: AddressInfo;
  try {
    address = await http.listen(config.http.host, config.http.port);
  } catch (err) {
    await metadata.close();
    await storage.close();
    throw err;
  }

  let purgeTimer: NodeJS.Timeout | undefined;
  const purging = config.storage.uploadPurging;
  if (purging.enabled && !config.storage.readOnly) {
    const purge = async () => {
      try {
        const ids = await registry.purgeUploads(purging.ageMs, { dryRun: purging.dryRun });
        if (ids.length > 0) logger.info({ count: ids.length, dryRun: purging.dryRun }, 'purged abandoned uploads');
      } catch (err) {
        logger.error({ err }, 'failed to purge abandoned uploads');
      }
    };
    purgeTimer = setInterval(() => void purge(), purging.intervalMs);
    purgeTimer.unref();
  }

  return {
    config, registry, storage, metadata, http, address,
    async close() {
      if (purgeTimer) clearInterval(purgeTimer);
      await http.close(config.http.drainTimeoutMs);
      await metadata.close();
      await storage.close();
    },
  };
}
