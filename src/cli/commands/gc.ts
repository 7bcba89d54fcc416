import { storageFromConfig } from '../../app.js';
import { parseDuration } from '../../config/index.js';
import { GarbageCollector, type GcReport } from '../../gc/index.js';
import { Registry } from '../../registry/index.js';
import { ExitError } from '../exit-error.js';
import { cliActor, output, withStore, type IdentityFlags } from './identity-context.js';

export interface GcFlags extends IdentityFlags {
  dryRun?: boolean;
  deleteUntagged?: boolean;
  grace?: string;
}

/** Bytes as docker prints them: 1.5GB, 12.3MB, 512B (powers of 1000). */
export function humanBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n}B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[i]}`;
}

/**
 * `berth gc [--dry-run] [--delete-untagged] [--grace D]`: one online garbage
 * collection on the server's database and storage (gc/collector.ts), safe
 * while the server runs: the database coordinates both.
 */
export async function gcCommand(flags: GcFlags): Promise<GcReport> {
  const report = await withStore(flags, async (store, config) => {
    const graceMs = flags.grace === undefined ? config.gc.graceMs : parseDuration(flags.grace);
    if (graceMs === null) throw new ExitError(`--grace ${flags.grace}: expected a duration such as 30m or 24h`, 2);
    if (config.storage.readOnly && !flags.dryRun) throw new ExitError('storage.maintenance.readonly is on: nothing can be deleted; run with --dry-run, or turn read-only off', 2);
    const storage = storageFromConfig(config);
    await storage.init();
    try {
      const registry = new Registry({ storage, metadata: store, deleteEnabled: config.storage.deleteEnabled, readOnly: false, manifestMaxBytes: config.limits.manifestMaxBytes });
      const collector = new GarbageCollector({ metadata: store, storage: registry.storage, placement: registry.placement, instanceId: registry.instanceId });
      return await collector.run({ dryRun: flags.dryRun ?? false, deleteUntagged: flags.deleteUntagged ?? false, graceMs, trigger: cliActor() });
    } finally {
      await storage.close();
    }
  }, { users: false });
  output(flags, report, printReport(report));
  return report;
}

export function printReport(r: GcReport): string {
  const verb = r.dryRun ? 'would delete' : 'deleted';
  const lines = [
    ...r.manifests.map((m) => `manifest\t${m.repository}@${m.digest}`),
    ...r.blobs.map((b) => `blob\t${b.digest}\t${humanBytes(b.size)}`),
  ];
  if (r.truncated) lines.push('(more than listed)');
  lines.push(`${verb} ${r.manifestsDeleted} manifests and ${r.blobsDeleted} blobs, ${humanBytes(r.bytesFreed)} (${r.bytesFreed} bytes) in ${(r.durationMs / 1000).toFixed(1)}s${r.dryRun ? ' (dry run: nothing was deleted)' : ''}`);
  return lines.join('\n');
}
