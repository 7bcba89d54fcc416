import { randomUUID } from 'node:crypto';
import { RegistryError } from '../errors/index.js';
import type { GcBlob, ManifestGraph, MetadataStores } from '../metadata/index.js';
import type { BlobPlacement } from '../registry/index.js';
import type { StorageDriver } from '../storage/index.js';

/**
 * Online garbage collection: no read-only window, pushes go on meanwhile.
 *
 * What goes. With `deleteUntagged`, first the manifests of each repository
 * that nothing needs: a manifest is kept when it is tagged, pushed within
 * the grace period, listed by a kept index, or a referrer (signature, SBOM,
 * any artifact with a `subject`) of a kept manifest; a cosign tag
 * `sha256-<hex>.sig|att|sbom` keeps its manifest only while the digest it
 * names is kept, so signatures go with their subject. Then the blobs that
 * no manifest of any repository references and that were neither recorded
 * nor linked (uploaded, mounted) within the grace period.
 *
 * How a blob goes, in three steps (gc-store.ts): mark its record (one
 * transaction that locks the record and re-checks that nothing needs it),
 * delete its bytes, drop the record. From the mark on, readers, mounts and
 * manifest pushes do not see it. Each race, and why it is safe:
 *
 * - Upload of a new blob: its bytes are in upload paths, which this never
 *   touches; the record it creates is younger than the grace period.
 * - Upload of a digest that exists (its record is old and unreferenced):
 *   linkBlob locks the record (FOR SHARE in PostgreSQL; SQLite runs one
 *   write transaction at a time) and refreshes the link's time. Committed
 *   before the mark, the fresh link makes the mark skip it; after the mark,
 *   linkBlob refuses (BlobDeletingError), the upload waits until the record
 *   is dropped and records its own bytes anew (registry/placement.ts). On a
 *   filesystem those bytes sit at the same content address as the deleted
 *   ones and may have gone with them: the upload checks, and if so tells
 *   the client to upload again. No record ever points at missing bytes.
 *   An object store writes every upload to a path of its own.
 * - Mount, and a HEAD followed by a manifest push that relies on an old
 *   link: a mount links only a recorded, unmarked blob (linkExistingBlob,
 *   under the same lock) and refreshes the link; a manifest push re-checks
 *   its blobs and child manifests in its own transaction under FOR SHARE,
 *   so it either commits first (its references then keep the blob) or
 *   fails with MANIFEST_BLOB_UNKNOWN and the client uploads the blob again.
 * - A chunked upload that lasts longer than the grace period: nothing of
 *   it is a blob before its last PUT, which records it fresh.
 * - Manifest deletion: the manifest's row is locked and the tags, parents
 *   and subject re-read in that transaction; a push that tags it, or an
 *   index that lists it, holds FOR SHARE on it, and stores it again if a
 *   collection deleted it while the push waited.
 * - Two collections at once (the schedule on two instances, or the CLI
 *   beside a server): a lease `gc` in the shared database lets one run;
 *   the other is refused with BERTH_CONFLICT. A run that dies leaves marks
 *   that the next run finishes first; readers ignore them meanwhile.
 *
 * The grace period must exceed the clock skew between instances, since
 * each stamps records with its own clock.
 */
export interface CollectorOptions {
  metadata: Pick<MetadataStores, 'gc' | 'leases'>;
  /** The storage driver as the registry uses it. */
  storage: StorageDriver;
  placement: Pick<BlobPlacement, 'location'>;
  /** Lease owner prefix: this process. */
  instanceId: string;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void } | undefined;
}

export interface RunOptions {
  /** List what would go, delete nothing. */
  dryRun?: boolean | undefined;
  /** Also delete manifests that nothing needs (see above). */
  deleteUntagged?: boolean | undefined;
  /** Blobs and manifests recorded or linked within this many ms are kept. */
  graceMs: number;
  /** Who started it, for the run record: `schedule`, `api:<user>`, `cli:<user>`. */
  trigger: string;
}

export interface GcReport {
  id: string;
  trigger: string;
  dryRun: boolean;
  deleteUntagged: boolean;
  graceMs: number;
  startedAt: string;
  durationMs: number;
  /** Blobs deleted (with a dry run: that would be). */
  blobsDeleted: number;
  manifestsDeleted: number;
  /** Bytes the blob storage no longer holds (with a dry run: would not). */
  bytesFreed: number;
  /** The blobs, at most LISTED of them. */
  blobs: { digest: string; size: number }[];
  /** The manifests, at most LISTED of them. */
  manifests: { repository: string; digest: string }[];
  /** More were deleted than listed. */
  truncated: boolean;
}

/** Most blobs and manifests a report lists by name. */
const LISTED = 1000;
/** Candidates read, marked and deleted at a time. */
const PAGE = 500;
/** The `gc` lease lasts this long unless renewed (renewed every third of it while a run lives). */
const LEASE_MS = 120_000;
const COSIGN_TAG = /^(sha256|sha512)-([0-9a-f]{64}|[0-9a-f]{128})\.(sig|att|sbom)$/;

/** The manifests of one repository that nothing needs, per the rules above. */
export function unneededManifests(graph: ManifestGraph, cutoff: number): { digest: string; cosignTags: string[] }[] {
  const present = new Set(graph.manifests.map((m) => m.digest));
  const keep = new Set<string>();
  const cosign = new Map<string, { subject: string; tag: string }[]>();
  for (const m of graph.manifests) if (m.createdAt >= cutoff) keep.add(m.digest);
  for (const t of graph.tags) {
    const c = COSIGN_TAG.exec(t.name);
    if (!c) keep.add(t.digest);
    else cosign.set(t.digest, [...(cosign.get(t.digest) ?? []), { subject: `${c[1]}:${c[2]}`, tag: t.name }]);
  }
  const childrenOf = new Map<string, string[]>();
  for (const { parent, child } of graph.children) childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), child]);
  const referrersOf = new Map<string, string[]>();
  for (const m of graph.manifests) if (m.subject !== null) referrersOf.set(m.subject, [...(referrersOf.get(m.subject) ?? []), m.digest]);
  const signaturesOf = new Map<string, string[]>();
  for (const [digest, tags] of cosign) for (const { subject } of tags) signaturesOf.set(subject, [...(signaturesOf.get(subject) ?? []), digest]);
  const queue = [...keep];
  for (let d = queue.pop(); d !== undefined; d = queue.pop()) {
    for (const next of [...(childrenOf.get(d) ?? []), ...(referrersOf.get(d) ?? []), ...(signaturesOf.get(d) ?? [])]) {
      if (present.has(next) && !keep.has(next)) {
        keep.add(next);
        queue.push(next);
      }
    }
  }
  return graph.manifests.filter((m) => !keep.has(m.digest)).map((m) => ({ digest: m.digest, cosignTags: (cosign.get(m.digest) ?? []).map((t) => t.tag) }))
    .sort((a, b) => (a.digest < b.digest ? -1 : 1));
}

export class GarbageCollector {
  constructor(private readonly options: CollectorOptions) {}

  /** Runs one collection; BERTH_CONFLICT when one is running already (anywhere). */
  async run(options: RunOptions): Promise<GcReport> {
    const { metadata, instanceId } = this.options;
    const owner = `${instanceId}#${randomUUID()}`;
    const take = () => metadata.leases.acquire('gc', owner, Date.now() + LEASE_MS, Date.now());
    if (!(await take())) throw new RegistryError('BERTH_CONFLICT', 'a garbage collection is running already; see GET /api/v1/gc, and try again when it has finished');
    const renew = setInterval(() => { take().catch(() => undefined); }, LEASE_MS / 3);
    renew.unref();
    const started = Date.now();
    const report: GcReport = {
      id: randomUUID(), trigger: options.trigger, dryRun: options.dryRun ?? false, deleteUntagged: options.deleteUntagged ?? false, graceMs: options.graceMs,
      startedAt: new Date(started).toISOString(), durationMs: 0, blobsDeleted: 0, manifestsDeleted: 0, bytesFreed: 0, blobs: [], manifests: [], truncated: false,
    };
    try {
      await metadata.gc.startRun({ id: report.id, startedAt: started, trigger: report.trigger, dryRun: report.dryRun, deleteUntagged: report.deleteUntagged, graceMs: report.graceMs });
      const cutoff = started - options.graceMs;
      if (!report.dryRun) await this.finishMarked(report);
      if (report.deleteUntagged) await this.collectManifests(report, cutoff);
      await this.collectBlobs(report, cutoff);
      report.durationMs = Date.now() - started;
      await metadata.gc.finishRun(report.id, { finishedAt: Date.now(), status: 'succeeded', blobs: report.blobsDeleted, manifests: report.manifestsDeleted, bytes: report.bytesFreed, error: null });
      this.options.log?.info({
        'gc.run': report.id, 'gc.trigger': report.trigger, 'gc.dryRun': report.dryRun, 'gc.blobs': report.blobsDeleted,
        'gc.manifests': report.manifestsDeleted, 'gc.bytes': report.bytesFreed, 'duration.ms': report.durationMs,
      }, 'garbage collection finished');
      return report;
    } catch (err) {
      report.durationMs = Date.now() - started;
      await metadata.gc.finishRun(report.id, {
        finishedAt: Date.now(), status: 'failed', blobs: report.blobsDeleted, manifests: report.manifestsDeleted, bytes: report.bytesFreed, error: (err as Error)?.message ?? String(err),
      }).catch(() => undefined);
      this.options.log?.warn({ 'gc.run': report.id, err }, 'garbage collection failed');
      throw err;
    } finally {
      clearInterval(renew);
      await metadata.leases.release('gc', owner).catch(() => undefined);
    }
  }

  private noteBlobs(report: GcReport, blobs: GcBlob[]): void {
    for (const b of blobs) {
      report.blobsDeleted++;
      report.bytesFreed += b.size;
      if (report.blobs.length < LISTED) report.blobs.push({ digest: b.digest, size: b.size });
      else report.truncated = true;
    }
  }

  /** Deletes the bytes of marked blobs, then drops their records. */
  private async sweep(report: GcReport, marked: GcBlob[]): Promise<void> {
    if (marked.length === 0) return;
    const { storage, placement, metadata } = this.options;
    await storage.deleteMany(marked.map((b) => placement.location({ digest: b.digest, size: b.size, ...(b.location !== null ? { location: b.location } : {}) })));
    this.noteBlobs(report, await metadata.gc.dropMarkedBlobs(marked.map((b) => b.digest)));
  }

  /** Marks a run that died left behind: their bytes may be half deleted, so they go now. */
  private async finishMarked(report: GcReport): Promise<void> {
    for (;;) {
      const marked = await this.options.metadata.gc.markedBlobs(PAGE);
      if (marked.length === 0) return;
      await this.sweep(report, marked);
    }
  }

  private async collectBlobs(report: GcReport, cutoff: number): Promise<void> {
    const { gc } = this.options.metadata;
    let after: string | undefined;
    for (;;) {
      const page = await gc.blobCandidates(cutoff, { after, limit: PAGE });
      if (page.length === 0) return;
      after = page[page.length - 1]?.digest;
      if (report.dryRun) this.noteBlobs(report, page);
      else await this.sweep(report, await gc.markBlobs(page.map((b) => b.digest), cutoff, Date.now()));
    }
  }

  private async collectManifests(report: GcReport, cutoff: number): Promise<void> {
    const { gc } = this.options.metadata;
    let after: string | undefined;
    for (;;) {
      const names = await gc.repositories({ after, limit: 200 });
      if (names.length === 0) return;
      after = names[names.length - 1];
      for (const repository of names) {
        let pending = unneededManifests(await gc.manifestGraph(repository), cutoff);
        const note = (digest: string) => {
          report.manifestsDeleted++;
          if (report.manifests.length < LISTED) report.manifests.push({ repository, digest });
          else report.truncated = true;
        };
        if (report.dryRun) {
          for (const m of pending) note(m.digest);
          continue;
        }
        // Indexes before their children, subjects before their referrers: a
        // pass deletes what its transaction finds unneeded; the next pass
        // retries the rest, until a pass deletes nothing.
        for (let progress = true; progress && pending.length > 0;) {
          progress = false;
          const left: typeof pending = [];
          for (const m of pending) {
            if (await gc.deleteManifestIfUnneeded(repository, m.digest, cutoff, m.cosignTags)) {
              note(m.digest);
              progress = true;
            } else {
              left.push(m);
            }
          }
          pending = left;
        }
      }
    }
  }
}
