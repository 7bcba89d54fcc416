import { SqliteStore } from './sqlite/sqlite-store.js';
import type { MetadataStore } from './store.js';

export type {
  MetadataStore, BlobRecord, ManifestRecord, ManifestReference, PutManifestInput, ReferrerRecord, UploadRecord,
} from './store.js';

export interface MetadataOptions {
  kind: 'sqlite';
  path: string;
}

const factories = {
  sqlite: (o: MetadataOptions) => new SqliteStore({ path: o.path }),
} satisfies Record<MetadataOptions['kind'], (o: MetadataOptions) => MetadataStore>;

export function createMetadataStore(options: MetadataOptions): MetadataStore {
  return factories[options.kind](options);
}
