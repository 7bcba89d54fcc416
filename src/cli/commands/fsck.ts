import { existsSync } from 'node:fs';
import { storageFromConfig } from '../../app.js';
import { loadConfig } from '../../config/index.js';
import { isRegistryError } from '../../errors/index.js';
import { Fsck, type Finding, type FsckReport } from '../../fsck/index.js';
import { Registry, SparsePolicy } from '../../registry/index.js';
import { StorageUnavailableError } from '../../storage/index.js';
import { ExitError } from '../exit-error.js';
import { Progress } from '../progress.js';
import { humanBytes } from './gc.js';
import { output, withStore, type IdentityFlags } from './identity-context.js';

export interface FsckFlags extends IdentityFlags {
  repair?: boolean;
}

/**
 * Exit codes of `berth fsck` (docs/fsck.md): 0 nothing wrong is left, 1
 * findings remain (with --repair: those it cannot repair), 2 bad usage or
 * configuration, 4 a garbage collection or another repair holds the lease,
 * 69 the database or storage cannot be reached.
 */
export const FSCK_EXIT = { clean: 0, findings: 1, usage: 2, conflict: 4, unavailable: 69 } as const;

/**
 * `berth fsck [--repair] [--json]`: checks blobs against their digests,
 * manifests against their references, records against the storage, and
 * lists storage objects no record names (fsck/checker.ts). Safe while the
 * server runs; --repair takes the `gc` lease as garbage collection does.
 */
export async function fsckCommand(flags: FsckFlags): Promise<FsckReport> {
  // A check needs a registry: unlike the identity commands, it never starts a new database.
  // (Read quietly: withStore loads it again, and reports its errors and warnings.)
  const db = (await loadConfig({ file: flags.config, flags: { dataDir: flags.dataDir } })).config?.database;
  if (db?.kind === 'sqlite' && !existsSync(db.path)) {
    throw new ExitError(`no Berth database at ${db.path}: run fsck with the server's configuration (--config FILE or BERTH_CONFIG, or --data-dir DIR)`, FSCK_EXIT.usage);
  }
  let report: FsckReport;
  try {
    report = await withStore(flags, async (store, config) => {
      if (flags.repair && config.storage.readOnly) {
        throw new ExitError('storage.maintenance.readonly is on: --repair would move and delete records; run without --repair, or turn read-only off', FSCK_EXIT.usage);
      }
      const storage = storageFromConfig(config);
      try {
        await storage.init();
      } catch (err) {
        if (err instanceof StorageUnavailableError) throw new ExitError(`${err.message}; check storage.* in the configuration and that the storage is reachable`, FSCK_EXIT.unavailable);
        throw new ExitError((err as Error).message, FSCK_EXIT.usage); // a missing bucket, denied credentials: the configuration's to fix
      }
      try {
        const sparse = new SparsePolicy(config.manifests.sparse);
        const registry = new Registry({ storage, metadata: store, deleteEnabled: config.storage.deleteEnabled, readOnly: false, manifestMaxBytes: config.limits.manifestMaxBytes, sparse });
        const fsck = new Fsck({
          metadata: store, storage: registry.storage, placement: registry.placement, sparse, instanceId: registry.instanceId,
          progress: {
            phase(label, total, unit) {
              const p = new Progress({ label, unit, quiet: flags.json === true, ...(total !== undefined ? { total } : {}) });
              return { advance: (n, detail) => p.advance(n, detail), finish: () => p.finish() };
            },
          },
        });
        return await fsck.run({ repair: flags.repair ?? false });
      } finally {
        await storage.close();
      }
    }, { users: false });
  } catch (err) {
    if (err instanceof ExitError) {
      // withStore maps the catalogue's codes (BERTH_CONFLICT: 4, BERTH_UNAVAILABLE: 1); fsck keeps 1 for "findings remain".
      if (err.exitCode === 1) throw new ExitError(err.message, FSCK_EXIT.unavailable);
      throw err;
    }
    if (isRegistryError(err) && err.code === 'BERTH_UNAVAILABLE') throw new ExitError(err.message, FSCK_EXIT.unavailable);
    throw err;
  }
  output(flags, report, printFsckReport(report));
  process.exitCode = report.clean ? FSCK_EXIT.clean : FSCK_EXIT.findings;
  return report;
}

function cell(f: Finding): string[] {
  const what = f.repository !== null && f.digest !== null ? `${f.repository}@${f.digest}` : f.repository ?? f.digest ?? f.path ?? '';
  const action = f.action === 'none' ? '-' : f.repaired ? `${f.action} (done)` : f.action;
  return [f.kind, f.severity, what, f.reference ?? '', action, f.detail];
}

/** The text rendering: a table of findings, then what was checked and the verdict. */
export function printFsckReport(r: FsckReport): string {
  const lines: string[] = [];
  if (r.findings.length > 0) {
    const header = ['KIND', 'SEVERITY', 'OBJECT', 'REFERENCE', 'REPAIR', 'DETAIL'];
    const rows = [header, ...r.findings.map(cell)];
    // Every column but the last (the detail) padded to its widest cell.
    const widths = header.map((_, i) => (i === header.length - 1 ? 0 : Math.max(...rows.map((row) => (row[i] ?? '').length))));
    for (const row of rows) lines.push(row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
    if (r.truncated) lines.push('(more findings than listed; --json counts them all)');
    lines.push('');
  }
  const c = r.checked;
  lines.push(`checked ${c.blobs} blobs (${humanBytes(c.bytes)}), ${c.manifests} manifests, ${c.uploads} upload sessions, ${c.objects} storage objects in ${(r.durationMs / 1000).toFixed(1)}s`);
  const counts = Object.entries(r.counts).map(([k, n]) => `${n} ${k}`).join(', ');
  if (counts) lines.push(`found: ${counts}`);
  if (r.skipped > 0) lines.push(`skipped ${r.skipped} blobs garbage collection is deleting`);
  if (r.checksumsRecorded > 0) lines.push(`recorded the checksum of ${r.checksumsRecorded} blobs (storage.verifyreads: true then checks it instead of the digest)`);
  if (r.quarantined > 0) lines.push(`in quarantine (_quarantine/ in the storage): ${r.quarantined} objects`);
  if (r.clean) lines.push(r.findings.length === 0 ? 'clean' : 'clean: nothing wrong is left (the rest is information)');
  else lines.push(`${r.remaining} problems remain${r.repair ? '' : '; `berth fsck --repair` repairs those whose REPAIR column names an action'}`);
  return lines.join('\n');
}
