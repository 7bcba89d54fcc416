import { randomUUID } from 'node:crypto';
import { assembleCore, storageFromConfig } from '../../app.js';
import {
  parseExpectId, parseTarget, planImport, storePlan, type ImportContext, type ImportPlan, type ImportProgress, type ImportReport, type ImportTarget,
} from '../../airgap/import.js';
import { type LayoutReader } from '../../airgap/sources/layout.js';
import { openImportSource, storeBundleTrust, verifyBundle, type BundleImportReport, type VerifiedBundle } from '../../airgap/bundle.js';
import { isRegistryError } from '../../errors/index.js';
import { createLogger } from '../../log/index.js';
import { ExitError } from '../exit-error.js';
import { Progress } from '../progress.js';
import { humanBytes } from './gc.js';
import { cliActor, output, withStore, type IdentityFlags } from './identity-context.js';

export interface ImportFlags extends IdentityFlags {
  to?: string;
  expectId?: string;
  tmpDir?: string;
  /** A Berth bundle's DCT data is left out (its GUN names another registry). */
  skipTrust?: boolean;
}

/** The summary `--json` prints: every file's report, and the totals. */
export interface ImportSummary {
  files: ImportReport[];
  images: number;
  tags: string[];
  blobs: { stored: number; skipped: number; bytesStored: number; bytesSkipped: number };
  manifests: { stored: number; skipped: number };
  /** Trust data of Berth bundles (berth export), per repository. */
  trust: BundleImportReport['trust'];
  warnings: string[];
}

/**
 * Exit codes by catalogue code: 2 for a bad file or bad usage, 3 and up for
 * a refusal by the registry's policies or state. Anything else is 1.
 */
const EXIT: Record<string, number> = {
  BERTH_IMPORT_INVALID: 2, DIGEST_INVALID: 2, MANIFEST_INVALID: 2, MANIFEST_BLOB_UNKNOWN: 2, NAME_INVALID: 2, TAG_INVALID: 2,
  BERTH_MANIFEST_TOO_LARGE: 2, SIZE_INVALID: 2, UNSUPPORTED: 2,
  BERTH_QUOTA_EXCEEDED: 3,
  BERTH_TAG_IMMUTABLE: 4,
  DENIED: 5,
  BERTH_STORAGE_FULL: 6,
  // A Berth bundle whose trust data names another registry, or contradicts trust data stored here.
  BERTH_CONFLICT: 7,
};

/** One Progress per phase (verifying, storing), silent with --json. */
function progressFor(source: string, quiet: boolean): ImportProgress & { end(): void } {
  let current: Progress | null = null;
  return {
    phase(label, totalBytes) {
      current?.finish();
      current = new Progress({ label: `${label} ${source}`, total: totalBytes, unit: 'bytes', quiet });
    },
    advance(bytes, detail) {
      current?.advance(bytes, detail);
    },
    end() {
      current?.finish();
      current = null;
    },
  };
}

/**
 * `berth import FILE... [--to REPO[:TAG]] [--expect-id sha256:…]`: docker save
 * tarballs and OCI image layouts (folders or tars, gzip or not) into the
 * server's storage and database, through the registry core with its policies
 * and events (airgap/import.ts), safe while the server runs. Every file is
 * opened and checked before anything is stored: a bad one refuses them all.
 */
export async function importCommand(files: string[], flags: ImportFlags): Promise<ImportSummary> {
  let to: ImportTarget | null = null;
  if (flags.to !== undefined) {
    const parsed = parseTarget(flags.to);
    if (typeof parsed === 'string') throw new ExitError(`--to ${flags.to}: ${parsed}`, 2);
    to = parsed;
  }
  let expectId: string | null = null;
  if (flags.expectId !== undefined) {
    expectId = parseExpectId(flags.expectId);
    if (expectId === null) throw new ExitError(`--expect-id ${flags.expectId}: expected the full image ID, sha256:<64 hex digits> (docker image inspect --format '{{.Id}}' IMAGE prints it)`, 2);
  }
  if (to?.tag && files.length > 1) throw new ExitError(`--to ${flags.to} names one tag for ${files.length} files; give --to REPOSITORY (each image keeps its tag), or import the files one at a time`, 2);
  const quiet = flags.json === true;
  const trust: BundleImportReport['trust'] = [];
  const warnings: string[] = [];
  const summary = await withStore(flags, async (metadata, config) => {
    if (config.storage.readOnly) throw new ExitError('storage.maintenance.readonly is on: nothing can be imported; turn read-only off first', 2);
    // Warnings and errors of the core (listeners) go to standard error; standard output is the summary.
    const logger = createLogger({ level: 'warn', destination: process.stderr });
    const storage = storageFromConfig(config);
    await storage.init();
    const core = assembleCore(config, metadata, storage, logger);
    const context: ImportContext = { actor: { kind: 'system', name: cliActor() }, requestId: `import-${randomUUID()}`, remoteAddress: null };
    const layouts: LayoutReader[] = [];
    const bundles = new Map<number, VerifiedBundle>();
    try {
      // Every file checked first, so that a bad one stores nothing of any.
      const plans: ImportPlan[] = [];
      for (const file of files) {
        const progress = progressFor(file, quiet);
        const { layout, bundle } = await openImportSource(file, { tmpDir: flags.tmpDir });
        layouts.push(layout);
        if (bundle) {
          // A Berth bundle (berth export): checked whole against berth-bundle.json, its trust data with it (airgap/bundle.ts).
          if (to) throw new ExitError(`--to ${flags.to}: a Berth bundle keeps its repository names (its trust data names them); import ${file} without --to`, 2);
          const hostNames = [config.http.baseUrl, ...config.http.aliases].filter((h): h is string => typeof h === 'string' && h !== '');
          const verified = await verifyBundle(bundle, { store: config.trust.enabled ? metadata.trust : null, hostNames, skipTrust: flags.skipTrust === true });
          bundles.set(layouts.length - 1, verified);
          warnings.push(...verified.warnings);
        }
        plans.push(await planImport(layout, { to, expectId, manifestMaxBytes: config.limits.manifestMaxBytes, progress }));
        progress.end();
      }
      const reports: ImportReport[] = [];
      for (const [i, plan] of plans.entries()) {
        const progress = progressFor(plan.source, quiet);
        reports.push(await storePlan(layouts[i] as LayoutReader, plan, core, { context, progress }));
        const verified = bundles.get(i);
        if (verified) trust.push(...await storeBundleTrust(verified, metadata.trust));
        progress.end();
      }
      return reports;
    } catch (err) {
      if (isRegistryError(err)) throw new ExitError(err.message, EXIT[err.code] ?? 1);
      throw err;
    } finally {
      // Listeners (audit log, search index) finish what the import committed before the stores close.
      await core.events.idle();
      await Promise.all(layouts.map((l) => l.close()));
      await storage.close();
    }
  }, { users: false });
  const result: ImportSummary = {
    files: summary,
    images: summary.reduce((n, r) => n + r.images.length, 0),
    tags: summary.flatMap((r) => r.tags),
    blobs: {
      stored: summary.reduce((n, r) => n + r.blobs.stored, 0), skipped: summary.reduce((n, r) => n + r.blobs.skipped, 0),
      bytesStored: summary.reduce((n, r) => n + r.blobs.bytesStored, 0), bytesSkipped: summary.reduce((n, r) => n + r.blobs.bytesSkipped, 0),
    },
    manifests: { stored: summary.reduce((n, r) => n + r.manifests.stored, 0), skipped: summary.reduce((n, r) => n + r.manifests.skipped, 0) },
    trust,
    warnings,
  };
  if (!quiet) for (const w of warnings) process.stderr.write(`berth: warning: ${w}\n`);
  output(flags, result, printSummary(result));
  return result;
}

export function printSummary(s: ImportSummary): string {
  const lines: string[] = [];
  for (const r of s.files) {
    for (const image of r.images) {
      const names = image.tags.length > 0 ? image.tags.map((t) => `${image.repository}:${t}`).join(', ') : `${image.repository}@${image.digest}`;
      lines.push(`${image.status === 'imported' ? 'imported' : 'already present'}\t${names}\t${image.digest}${image.id ? `\tID ${image.id}` : ''}`);
    }
  }
  for (const t of s.trust) lines.push(`trust data of ${t.gun}: ${t.stored} TUF files stored, ${t.alreadyPresent} already present`);
  lines.push(`${s.images} images from ${s.files.length} file${s.files.length === 1 ? '' : 's'}: ${s.blobs.stored} blobs stored (${humanBytes(s.blobs.bytesStored)}), ${s.blobs.skipped} already present (${humanBytes(s.blobs.bytesSkipped)}); ${s.manifests.stored} manifests stored, ${s.manifests.skipped} already present`);
  return lines.join('\n');
}
