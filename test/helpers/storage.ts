import type { StorageDriver } from '../../src/storage/index.js';

/** Every object under `roots` of the storage (by default the blob folders), with its size: what the storage holds for blobs. */
export async function storedObjects(storage: StorageDriver, roots = ['/blobs', '/blobdata']): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of await storage.list(dir)) {
      const p = `${dir}/${name}`;
      const info = await storage.stat(p);
      if (info) out.set(p, info.size);
      else await walk(p);
    }
  };
  for (const r of roots) await walk(r);
  return out;
}
