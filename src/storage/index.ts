import { BaseDriver } from './base.js';
import type { StorageDriver } from './driver.js';
import { createFilesystemDriver } from './drivers/filesystem.js';
import { createInMemoryDriver } from './drivers/inmemory.js';

export { type StorageDriver, type FileInfo, type ReadOptions, PathNotFoundError, InvalidPathError } from './driver.js';
export { BaseDriver, checkPath } from './base.js';

export interface StorageOptions {
  driver: 'filesystem' | 'inmemory';
  rootDirectory: string;
}

/** Backends by name; each is wrapped in the base driver's shared checks. */
const factories = {
  filesystem: (o: StorageOptions) => createFilesystemDriver({ rootDirectory: o.rootDirectory }),
  inmemory: () => createInMemoryDriver(),
} satisfies Record<StorageOptions['driver'], (o: StorageOptions) => StorageDriver>;

export function createStorageDriver(options: StorageOptions): StorageDriver {
  return new BaseDriver(factories[options.driver](options));
}
