import type { StorageUsage } from '../../metadata/index.js';
import { humanBytes } from './gc.js';
import { output, withStore, type IdentityFlags } from './identity-context.js';

/**
 * `berth df [--json]`: storage usage as `docker system df -v` shows images:
 * per repository its bytes, unique and shared, and the total, where a blob
 * linked into several repositories counts once. Exact: read from the blob
 * records, which are what the storage holds.
 */
export async function dfCommand(flags: IdentityFlags): Promise<StorageUsage> {
  const usage = await withStore(flags, (store) => store.gc.usage(), { users: false });
  output(flags, usage, flags.json ? '' : printUsage(usage)); // the table only when it is printed (100,000 rows)
  return usage;
}

export function printUsage(u: StorageUsage): string {
  const rows = [['REPOSITORY', 'MANIFESTS', 'TAGS', 'BLOBS', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE']];
  for (const r of u.repositories) rows.push([r.repository, String(r.manifests), String(r.tags), String(r.blobs), humanBytes(r.bytes), humanBytes(r.sharedBytes), humanBytes(r.uniqueBytes)]);
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const table = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join('')).join('\n');
  const t = u.total;
  return `${table}\n\nTotal: ${t.blobs} blobs, ${humanBytes(t.bytes)} (${t.bytes} bytes), of which shared ${humanBytes(t.sharedBytes)}, referenced by no manifest ${humanBytes(t.unreferencedBytes)} (reclaimable by \`berth gc\`); ${t.manifests} manifests, ${humanBytes(t.manifestBytes)} in the database`;
}
