import { createWriteStream, existsSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { storageFromConfig } from '../../app.js';
import { planExport, parseExportRef, writeBundle, type ExportSummary, type ExportTrustSource } from '../../airgap/export.js';
import { RegistryHostNames } from '../../auth/index.js';
import { isRegistryError } from '../../errors/index.js';
import { Registry } from '../../registry/index.js';
import { KeyVault, loadOrCreateKeySecret, TrustService } from '../../trust/index.js';
import { ExitError } from '../exit-error.js';
import { Progress } from '../progress.js';
import { output, withStore, type IdentityFlags } from './identity-context.js';
import { canonicalRepositoryName } from './trust-inspect.js';

export interface ExportFlags extends IdentityFlags {
  output: string;
  /** commander's --no-trust: false when given. */
  trust?: boolean;
}

/** Exit codes of export by catalogue code (expected failures; 70 stays for bugs). */
const EXIT: Record<string, number> = { BERTH_INVALID: 2, MANIFEST_UNKNOWN: 3, BLOB_UNKNOWN: 3, NAME_UNKNOWN: 3, BERTH_CONFLICT: 4, DENIED: 4 };

/** SOURCE_DATE_EPOCH (seconds), the reproducible-builds convention, as the bundle's fixed time. */
function sourceDateEpoch(): Date | undefined {
  const raw = process.env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,12}$/.test(raw)) throw new ExitError(`SOURCE_DATE_EPOCH=${raw}: expected whole seconds since 1970`, 2);
  return new Date(Number(raw) * 1000);
}

/**
 * `berth export REF… -o bundle.tar`: the images, with their children,
 * referrers, cosign signatures and DCT trust data, as a Berth bundle (an OCI
 * image layout tar with a checksum manifest; airgap/export.ts). Works on the
 * server's database and storage, safe while it runs. The bundle is written
 * to a temporary file beside the output and renamed at the end, so a failed
 * export leaves no half-written bundle.
 */
export async function exportCommand(refs: string[], flags: ExportFlags): Promise<ExportSummary> {
  const created = sourceDateEpoch();
  const outFile = path.resolve(flags.output);
  if (!existsSync(path.dirname(outFile))) throw new ExitError(`-o ${flags.output}: the folder ${path.dirname(outFile)} does not exist`, 2);
  const summary = await withStore(flags, async (store, config) => {
    const hosts = new RegistryHostNames([config.http.baseUrl, ...config.http.aliases]);
    const parsed = refs.map((r) => {
      try {
        return parseExportRef(r, (name) => canonicalRepositoryName(hosts, name));
      } catch (err) {
        if (isRegistryError(err)) throw new ExitError(err.message, 2);
        throw err;
      }
    });
    const storage = storageFromConfig(config);
    await storage.init();
    const tmp = `${outFile}.${process.pid}.tmp`;
    try {
      const registry = new Registry({ storage, metadata: store, deleteEnabled: config.storage.deleteEnabled, readOnly: true, manifestMaxBytes: config.limits.manifestMaxBytes });
      let trust: ExportTrustSource | null = null;
      if (flags.trust !== false) {
        trust = store.trust;
        // Re-sign a stale timestamp first, as the server would on a read, when this machine holds the key secret.
        if (config.trust.enabled && existsSync(config.trust.keySecretFile)) {
          const service = new TrustService({ store: store.trust, vault: new KeyVault(await loadOrCreateKeySecret(config.trust.keySecretFile)) });
          trust = {
            current: (r) => store.trust.current(r), byVersion: (r, role, v) => store.trust.byVersion(r, role, v), byChecksum: (r, role, s) => store.trust.byChecksum(r, role, s),
            refresh: async (repository, gun) => { await service.get(repository, gun, 'timestamp.json').catch(() => undefined); },
          };
        }
      }
      const planning = new Progress({ label: 'exporting: reading manifests', unit: 'items', quiet: flags.json === true });
      const plan = await planExport({
        refs: parsed, source: registry, trust, sourceName: config.http.baseUrl ? new URL(config.http.baseUrl).host : null,
        ...(created ? { created } : {}), onItem: (what) => planning.advance(1, what),
      });
      planning.finish(`${plan.manifest.images.length} image(s), ${plan.members.length} files`);
      const progress = new Progress({ label: 'exporting', unit: 'bytes', total: plan.totalBytes, quiet: flags.json === true });
      const sha256 = await writeBundle(plan, createWriteStream(tmp, { mode: 0o644 }), registry, { onBytes: (n, p) => progress.advance(n, p) });
      await rename(tmp, outFile);
      progress.finish();
      const result: ExportSummary = {
        output: outFile,
        images: plan.manifest.images.map((i) => ({
          reference: `${i.repository}${i.tag ? `:${i.tag}` : `@${i.digest}`}`, digest: i.digest, children: i.children.length,
          absentChildren: i.absentChildren.length, referrers: i.referrers.length, signatureTags: i.signatureTags.length,
        })),
        trust: plan.manifest.trust.map((t) => ({ repository: t.repository, gun: t.gun, files: t.files.length })),
        manifests: plan.members.filter((m) => Buffer.isBuffer(m.data) && m.path.startsWith('blobs/')).length,
        blobs: plan.members.filter((m) => !Buffer.isBuffer(m.data)).length,
        bytes: plan.totalBytes,
        sha256,
        warnings: plan.manifest.warnings,
      };
      return result;
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      if (isRegistryError(err)) throw new ExitError(err.message, EXIT[err.code] ?? 1);
      throw err;
    } finally {
      await storage.close();
    }
  }, { users: false });
  if (!flags.json) for (const w of summary.warnings) process.stderr.write(`berth: warning: ${w}\n`);
  output(flags, summary, text(summary));
  return summary;
}

function text(s: ExportSummary): string {
  const lines = s.images.map((i) => `${i.reference}\t${i.digest}\t${i.children} children${i.absentChildren ? ` (${i.absentChildren} absent)` : ''}, ${i.referrers} referrers, ${i.signatureTags} cosign tags`);
  for (const t of s.trust) lines.push(`trust ${t.gun}\t${t.files} TUF files`);
  lines.push(`wrote ${s.output}: ${s.manifests} manifests, ${s.blobs} blobs, ${s.bytes} bytes, sha256 ${s.sha256}`);
  return lines.join('\n');
}
