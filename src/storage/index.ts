import { BaseDriver } from './base.js';
import type { StorageDriver } from './driver.js';
import { createFilesystemDriver } from './drivers/filesystem.js';
import { createInMemoryDriver } from './drivers/inmemory.js';
import { createS3Driver, type S3DriverOptions } from './drivers/s3.js';

export { type StorageDriver, type FileInfo, type ReadOptions, type AppendOptions, PathNotFoundError, InvalidPathError, SizeMismatchError, StorageUnavailableError } from './driver.js';
export type { S3DriverOptions } from './drivers/s3.js';
export { BaseDriver, checkPath } from './base.js';
export { BlockPool, readBlocks } from './block-pool.js';

export interface StorageOptions {
  driver: 'filesystem' | 'inmemory' | 's3';
  /** Filesystem root (filesystem driver). */
  rootDirectory: string;
  /** Bucket and client settings (s3 driver). */
  s3?: S3DriverOptions | undefined;
}

/** Backends by name; each is wrapped in the base driver's shared checks. */
const factories = {
  filesystem: (o: StorageOptions) => createFilesystemDriver({ rootDirectory: o.rootDirectory }),
  inmemory: () => createInMemoryDriver(),
  s3: (o: StorageOptions) => {
    if (!o.s3) throw new Error('storage: the s3 driver needs storage.s3 settings');
    return createS3Driver(o.s3);
  },
} satisfies Record<StorageOptions['driver'], (o: StorageOptions) => StorageDriver>;

export function createStorageDriver(options: StorageOptions): StorageDriver {
  return new BaseDriver(factories[options.driver](options));
}
