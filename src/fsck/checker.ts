import { createHash, randomUUID } from 'node:crypto';
import { RegistryError } from '../errors/index.js';
import type { BlobRecord, FsckBlob, MetadataStores } from '../metadata/index.js';
import { parseManifest, runningChecksum, tryParseDigest, type BlobPlacement, type SparsePolicy } from '../registry/index.js';
import { STORED_ROOT, UPLOADS_ROOT } from '../registry/layout.js';
import { PathNotFoundError, type StorageDriver } from '../storage/index.js';

/**
 * `berth fsck`: checks that the database and the blob storage agree, and
 * that the bytes are what their digests say.
 *
 * 1. Blobs. Every blob record's bytes are read whole and hashed (sha256 or
 *    sha512, as the digest says) where the placement says they are
 *    (registry/placement.ts). Bytes that are absent are `missing-blob`;
 *    bytes of another size or hash are `corrupt-blob`.
 * 2. Manifests. Every manifest's stored bytes hash to its digest and parse
 *    (`corrupt-manifest` otherwise); its config, layers and index children
 *    are in its repository and not found bad in step 1 (`broken-manifest`
 *    otherwise), except that where manifests.sparse allows it, absent
 *    layers and children are `sparse` (info). An absent subject is
 *    `absent-subject` (info): referrers may be pushed before their subject.
 * 3. Records. Tags whose manifest is gone (`dangling-tag`); upload sessions
 *    that received bytes their storage no longer holds (`dangling-upload`).
 * 4. Storage. Objects under blobs/, blobdata/ and uploads/ that no record
 *    names are `orphan` (info): fsck leaves them alone.
 *
 * With `repair`:
 * - a corrupt blob is quarantined: its record is marked (gc-store.ts: from
 *   then on no read, mount or manifest push sees it, and an upload of the
 *   same digest waits), its bytes are checked again, moved to
 *   `_quarantine/<algorithm>/<hex>.<time>` in the same storage, and its
 *   record and links are dropped, so a GET answers 404 BLOB_UNKNOWN and a
 *   push of the same digest stores good bytes anew. Manifests that
 *   reference it stay and are reported broken until it is pushed again;
 * - a missing blob's record is dropped the same way (nothing to move);
 * - a dangling tag is deleted, only while its manifest is still absent;
 * - a dangling upload session is ended (the client uploads again).
 * Nothing else is changed: a blob whose bytes verify, a manifest, an
 * orphan are never deleted. A repair holds the `gc` lease for its whole
 * run, so garbage collection and another repair wait (BERTH_CONFLICT);
 * the rest coordinates through the database as garbage collection does,
 * so a server may keep serving. A repair that dies between mark and drop
 * leaves a mark that the next garbage collection finishes (it deletes
 * what is left of the bad bytes and the record).
 */
export type FindingKind =
  | 'corrupt-blob' | 'missing-blob' | 'corrupt-manifest' | 'broken-manifest' | 'dangling-tag' | 'dangling-upload'
  | 'sparse' | 'absent-subject' | 'orphan';

/** What --repair does about a finding. */
export type RepairAction = 'quarantine' | 'drop-record' | 'drop-tag' | 'drop-session' | 'none';

export interface Finding {
  kind: FindingKind;
  /** `error` findings make fsck fail until repaired; `info` ones are reported only. */
  severity: 'error' | 'info';
  /** The blob's or manifest's digest (for a tag: the digest it names). */
  digest: string | null;
  repository: string | null;
  /** The storage path concerned (a blob's bytes, an orphan object), or null. */
  path: string | null;
  /** For manifest findings: the missing or bad reference; for a tag: its name; for an upload: its id. */
  reference: string | null;
  /** What is wrong, in words. */
  detail: string;
  /** What --repair does (or did, with `repaired`). */
  action: RepairAction;
  repaired: boolean;
  /** Where a quarantined blob's bytes went. */
  quarantinedTo?: string;
}

export interface FsckReport {
  id: string;
  repair: boolean;
  startedAt: string;
  durationMs: number;
  /** No error finding is left unrepaired. */
  clean: boolean;
  checked: { blobs: number; bytes: number; manifests: number; tags: number; uploads: number; objects: number };
  /** Blob records skipped because garbage collection is deleting them. */
  skipped: number;
  /** Objects under `_quarantine/`, from this run and earlier ones. */
  quarantined: number;
  /** Blobs without a recorded CRC-32 that verified by their digest and got one (storage.verifyreads then checks it). */
  checksumsRecorded: number;
  /** Findings by kind (all of them, also beyond those listed). */
  counts: Partial<Record<FindingKind, number>>;
  /** Error findings that are not repaired. */
  remaining: number;
  findings: Finding[];
  /** More findings than listed. */
  truncated: boolean;
}

/** Reports progress by phase (the CLI draws it with cli/progress.ts). */
export interface FsckProgress {
  phase(label: string, total: number | undefined, unit: 'bytes' | 'items'): { advance(n: number, detail?: string): void; finish(): void };
}

export interface FsckOptions {
  metadata: Pick<MetadataStores, 'fsck' | 'content' | 'uploads' | 'gc' | 'leases'>;
  /** The storage driver as the registry uses it. */
  storage: StorageDriver;
  placement: Pick<BlobPlacement, 'location' | 'dataPath' | 'discard'>;
  /** manifests.sparse: where absent children and layers are sparse, not broken. */
  sparse: SparsePolicy;
  /** Lease owner prefix: this process. */
  instanceId: string;
  progress?: FsckProgress | undefined;
  /** Blobs hashed at a time (default 4). */
  concurrency?: number | undefined;
  /** Upload sessions and storage objects touched within this many ms are in flight, neither broken nor orphaned (default 60 s). */
  quietMs?: number | undefined;
}

export const QUARANTINE_ROOT = '/_quarantine';
/** Most findings a report lists. */
const LISTED = 1000;
const PAGE = 200;
const LEASE_MS = 120_000;
/** Uploads and objects touched this recently are in flight, not broken or orphaned. */
const QUIET_MS = 60_000;

const ERROR_KINDS: ReadonlySet<FindingKind> = new Set(['corrupt-blob', 'missing-blob', 'corrupt-manifest', 'broken-manifest', 'dangling-tag', 'dangling-upload']);

type BlobProblem = { kind: 'missing-blob' | 'corrupt-blob'; detail: string } | null;

const noProgress = { advance(): void {}, finish(): void {} };

/** The path of a quarantined blob's bytes. */
export function quarantinePath(digest: string, at: number): string {
  const [algorithm, hex] = digest.split(':');
  return `${QUARANTINE_ROOT}/${algorithm}/${hex}.${at}`;
}

export class Fsck {
  constructor(private readonly options: FsckOptions) {}

  /** Runs one check (and repair); BERTH_CONFLICT when repairing while a garbage collection or another repair runs. */
  async run(options: { repair: boolean }): Promise<FsckReport> {
    const started = Date.now();
    const report: FsckReport = {
      id: randomUUID(), repair: options.repair, startedAt: new Date(started).toISOString(), durationMs: 0, clean: true,
      checked: { blobs: 0, bytes: 0, manifests: 0, tags: 0, uploads: 0, objects: 0 }, skipped: 0, quarantined: 0, checksumsRecorded: 0,
      counts: {}, remaining: 0, findings: [], truncated: false,
    };
    const { leases } = this.options.metadata;
    const owner = `${this.options.instanceId}#fsck#${report.id}`;
    let renew: NodeJS.Timeout | undefined;
    if (options.repair) {
      const take = () => leases.acquire('gc', owner, Date.now() + LEASE_MS, Date.now());
      if (!(await take())) throw new RegistryError('BERTH_CONFLICT', 'a garbage collection or another fsck --repair is running; try again when it has finished (GET /api/v1/gc lists garbage collections)');
      renew = setInterval(() => { take().catch(() => undefined); }, LEASE_MS / 3);
      renew.unref();
    }
    try {
      const run = new Run(this.options, report, options.repair);
      await run.blobs();
      await run.manifests();
      await run.records();
      await run.storageObjects();
    } finally {
      if (renew) clearInterval(renew);
      if (options.repair) await leases.release('gc', owner).catch(() => undefined);
    }
    report.remaining = report.findings.filter((f) => f.severity === 'error' && !f.repaired).length + report.remaining;
    report.clean = report.remaining === 0;
    report.durationMs = Date.now() - started;
    return report;
  }
}

/** One run's state: what step 1 found bad, and the paths and sessions in use. */
class Run {
  private readonly bad = new Map<string, 'corrupt' | 'missing'>();
  private readonly locations = new Set<string>();
  private readonly sessions = new Set<string>();

  constructor(private readonly options: FsckOptions, private readonly report: FsckReport, private readonly repair: boolean) {}

  private add(f: Omit<Finding, 'severity' | 'repaired'>): Finding {
    const finding: Finding = { ...f, severity: ERROR_KINDS.has(f.kind) ? 'error' : 'info', repaired: false };
    const { report } = this;
    report.counts[f.kind] = (report.counts[f.kind] ?? 0) + 1;
    if (report.findings.length < LISTED) report.findings.push(finding);
    else {
      report.truncated = true;
      // Not listed, but still counted as remaining once its repair is known (see note()).
    }
    return finding;
  }

  /** Counts an unlisted error finding that stays unrepaired. */
  private note(finding: Finding): void {
    if (finding.severity === 'error' && !finding.repaired && !this.report.findings.includes(finding)) this.report.remaining++;
  }

  private phase(label: string, total: number | undefined, unit: 'bytes' | 'items') {
    return this.options.progress?.phase(label, total, unit) ?? noProgress;
  }

  private location(b: FsckBlob): string {
    const record: BlobRecord = { digest: b.digest, size: b.size, ...(b.location !== null ? { location: b.location } : {}) };
    return this.options.placement.location(record);
  }

  /** Whether the bytes at `path` are the blob `b`: null when they are. `checksum`, when given, sees the same bytes. */
  private async verify(b: FsckBlob, path: string, checksum?: { update(chunk: Uint8Array): void } | null): Promise<BlobProblem> {
    const { storage } = this.options;
    const info = await storage.stat(path);
    if (!info) return { kind: 'missing-blob', detail: 'the blob is recorded, but its bytes are not in the storage' };
    if (info.size !== b.size) return { kind: 'corrupt-blob', detail: `the storage holds ${info.size} bytes, the record says ${b.size}` };
    const parsed = tryParseDigest(b.digest);
    if (!parsed) return { kind: 'corrupt-blob', detail: 'the record\'s digest is not a valid digest' };
    const hash = createHash(parsed.algorithm);
    let stream;
    try {
      stream = await storage.reader(path);
    } catch (err) {
      if (err instanceof PathNotFoundError) return { kind: 'missing-blob', detail: 'the blob is recorded, but its bytes are not in the storage' };
      throw err;
    }
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      checksum?.update(chunk as Buffer);
    }
    const actual = `${parsed.algorithm}:${hash.digest('hex')}`;
    return actual === parsed.digest ? null : { kind: 'corrupt-blob', detail: `the bytes hash to ${actual}` };
  }

  // ---- 1. blobs ---------------------------------------------------------

  async blobs(): Promise<void> {
    const { fsck } = this.options.metadata;
    const totals = await fsck.totals();
    const progress = this.phase('checking blobs', totals.bytes, 'bytes');
    const width = Math.max(1, this.options.concurrency ?? 4);
    let after: string | undefined;
    for (;;) {
      const page = await fsck.blobs({ after, limit: PAGE });
      if (page.length === 0) break;
      after = page[page.length - 1]?.digest;
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < page.length; i = next++) await this.blob(page[i] as FsckBlob, progress);
      };
      await Promise.all(Array.from({ length: Math.min(width, page.length) }, worker));
    }
    progress.finish();
  }

  private async blob(b: FsckBlob, progress: { advance(n: number, detail?: string): void }): Promise<void> {
    const { fsck } = this.options.metadata;
    if (b.markedAt !== null) {
      this.report.skipped++;
      return;
    }
    const path = this.location(b);
    this.locations.add(path);
    // A blob that has no CRC-32 yet gets one computed in the same pass, recorded only if the digest verifies.
    const { content } = this.options.metadata;
    const checksum = b.hasChecksum ? null : runningChecksum();
    const problem = await this.verify(b, path, checksum);
    this.report.checked.blobs++;
    this.report.checked.bytes += b.size;
    progress.advance(b.size, b.digest);
    if (!problem) {
      // Only fills in what reads would record; a failure to write it is no finding.
      if (checksum && await content.recordBlobChecksum(b.digest, checksum.value).catch(() => false)) this.report.checksumsRecorded++;
      return;
    }
    // Garbage collection may have taken it meanwhile (mark, delete, drop): then it is not a finding.
    const now = await fsck.blob(b.digest);
    if (!now || now.markedAt !== null || now.location !== b.location) return;
    if (problem.kind === 'missing-blob' && (await this.options.storage.stat(path)) !== null) return;
    this.bad.set(b.digest, problem.kind === 'missing-blob' ? 'missing' : 'corrupt');
    const finding = this.add({
      kind: problem.kind, digest: b.digest, repository: null, path, reference: null, detail: problem.detail,
      action: problem.kind === 'corrupt-blob' ? 'quarantine' : 'drop-record',
    });
    if (this.repair) await this.repairBlob(finding, b);
    this.note(finding);
  }

  /** Quarantines a corrupt blob, or drops the record of a missing one (see the top of this file). */
  private async repairBlob(finding: Finding, b: FsckBlob): Promise<void> {
    const { fsck, gc } = this.options.metadata;
    const { storage } = this.options;
    const at = Date.now();
    const marked = await fsck.markBlob(b.digest, at);
    if (!marked) {
      finding.detail += '; garbage collection is deleting it, so fsck left it';
      return;
    }
    const path = this.location(marked);
    const again = await this.verify(marked, path);
    if (!again) {
      // An upload of the same digest put good bytes there since (a filesystem's content address).
      await fsck.unmarkBlob(b.digest, at);
      this.bad.delete(b.digest);
      finding.detail += '; on a second check the bytes verify (a push stored them again), so nothing was changed';
      finding.action = 'none';
      finding.repaired = true;
      return;
    }
    if (again.kind === 'corrupt-blob') {
      const to = quarantinePath(b.digest, at);
      try {
        await storage.move(path, to);
        finding.quarantinedTo = to;
      } catch (err) {
        if (!(err instanceof PathNotFoundError)) {
          await fsck.unmarkBlob(b.digest, at).catch(() => undefined);
          throw err;
        }
      }
    }
    await gc.dropMarkedBlobs([b.digest]);
    finding.repaired = true;
  }

  // ---- 2. manifests -----------------------------------------------------

  async manifests(): Promise<void> {
    const { fsck, content } = this.options.metadata;
    const progress = this.phase('checking manifests', (await fsck.totals()).manifests, 'items');
    let after: { repository: string; digest: string } | undefined;
    for (;;) {
      const page = await fsck.manifests({ after, limit: PAGE });
      if (page.length === 0) break;
      const last = page[page.length - 1];
      if (last) after = { repository: last.repository, digest: last.digest };
      for (const m of page) {
        this.report.checked.manifests++;
        progress.advance(1, `${m.repository}@${m.digest}`);
        const base = { digest: m.digest, repository: m.repository, path: null };
        const parsedDigest = tryParseDigest(m.digest);
        const actual = parsedDigest ? `${parsedDigest.algorithm}:${createHash(parsedDigest.algorithm).update(m.content).digest('hex')}` : null;
        if (actual !== m.digest) {
          this.note(this.add({ ...base, kind: 'corrupt-manifest', reference: null, detail: `the stored manifest hashes to ${actual ?? 'nothing: its digest is invalid'}; delete it and push it again`, action: 'none' }));
          continue;
        }
        let parsed;
        try {
          parsed = parseManifest(m.content, m.mediaType);
        } catch (err) {
          this.note(this.add({ ...base, kind: 'corrupt-manifest', reference: null, detail: `the stored manifest does not parse: ${(err as Error).message}`, action: 'none' }));
          continue;
        }
        const sparse = this.options.sparse.allows(m.repository);
        const blobs = parsed.references.filter((r) => r.kind === 'blob').map((r) => r.digest);
        const children = parsed.references.filter((r) => r.kind === 'manifest').map((r) => r.digest);
        const missingBlobs = new Set(await content.missingBlobs(m.repository, blobs));
        const missingChildren = new Set(await content.missingManifests(m.repository, children));
        const broken: { reference: string; detail: string }[] = [];
        for (const digest of new Set(blobs)) {
          const what = digest === parsed.config ? 'config blob' : 'layer';
          const bad = this.bad.get(digest);
          if (bad && (!this.repair || missingBlobs.has(digest))) {
            const done = !this.repair ? '' : bad === 'corrupt' ? '; this repair quarantined it: push it again' : '; this repair dropped its record: push it again';
            broken.push({ reference: digest, detail: `its ${what} ${digest} is ${bad === 'corrupt' ? 'corrupt' : 'missing from the storage'}${done}` });
          } else if (missingBlobs.has(digest)) {
            if (sparse && digest !== parsed.config) this.add({ ...base, kind: 'sparse', reference: digest, detail: `its ${what} ${digest} is absent, as manifests.sparse allows here`, action: 'none' });
            else broken.push({ reference: digest, detail: `its ${what} ${digest} is not in the repository; push it again` });
          }
        }
        for (const digest of missingChildren) {
          if (sparse) this.add({ ...base, kind: 'sparse', reference: digest, detail: `its child manifest ${digest} is absent, as manifests.sparse allows here`, action: 'none' });
          else broken.push({ reference: digest, detail: `its child manifest ${digest} is not in the repository, and manifests.sparse does not allow that here; push it, or allow sparse indexes for the repository` });
        }
        if (broken.length > 0 && (await content.getManifest(m.repository, m.digest))) {
          for (const b of broken) this.note(this.add({ ...base, kind: 'broken-manifest', reference: b.reference, detail: b.detail, action: 'none' }));
        }
        if (parsed.subject !== null && (await content.missingManifests(m.repository, [parsed.subject])).length > 0) {
          this.add({ ...base, kind: 'absent-subject', reference: parsed.subject, detail: `its subject ${parsed.subject} is not in the repository (a referrer may be pushed before its subject)`, action: 'none' });
        }
      }
    }
    progress.finish();
  }

  // ---- 3. records -------------------------------------------------------

  async records(): Promise<void> {
    const { fsck, uploads } = this.options.metadata;
    const progress = this.phase('checking tags and uploads', undefined, 'items');
    for (const t of await fsck.danglingTags(LISTED * 10)) {
      this.report.checked.tags++;
      const finding = this.add({ kind: 'dangling-tag', digest: t.digest, repository: t.repository, path: null, reference: t.name, detail: `the tag ${t.name} points at a manifest that is not in the repository`, action: 'drop-tag' });
      if (this.repair) finding.repaired = await fsck.deleteTagIfDangling(t.repository, t.name) || finding.repaired;
      this.note(finding);
      progress.advance(1);
    }
    const quietSince = Date.now() - (this.options.quietMs ?? QUIET_MS);
    let after: string | undefined;
    for (;;) {
      const page = await fsck.uploads({ after, limit: PAGE });
      if (page.length === 0) break;
      after = page[page.length - 1]?.id;
      for (const u of page) {
        this.sessions.add(u.id);
        this.report.checked.uploads++;
        progress.advance(1, u.id);
        if (u.size === 0 || u.updatedAt > quietSince) continue;
        const path = this.options.placement.dataPath(u.id);
        const info = await this.options.storage.stat(path);
        if (info && info.size >= u.size) continue;
        const now = await uploads.get(u.id);
        if (!now || now.updatedAt !== u.updatedAt) continue;
        const finding = this.add({
          kind: 'dangling-upload', digest: null, repository: u.repository, path, reference: u.id,
          detail: `the upload session received ${u.size} bytes; the storage holds ${info ? info.size : 'none'} of them`, action: 'drop-session',
        });
        if (this.repair) {
          if (await uploads.delete(u.id)) await this.options.placement.discard(u.id);
          finding.repaired = true;
        }
        this.note(finding);
      }
    }
    progress.finish();
  }

  // ---- 4. storage -------------------------------------------------------

  async storageObjects(): Promise<void> {
    const { storage } = this.options;
    const { fsck, content, uploads } = this.options.metadata;
    const progress = this.phase('checking storage objects', undefined, 'items');
    const quietSince = Date.now() - (this.options.quietMs ?? QUIET_MS);
    const walk = async (dir: string, visit: (path: string, modifiedAt: number) => Promise<void>): Promise<void> => {
      for (const name of await storage.list(dir)) {
        const p = `${dir}/${name}`;
        const info = await storage.stat(p);
        if (info) await visit(p, info.modifiedAt.getTime());
        else await walk(p, visit);
      }
    };
    const orphan = (path: string, detail: string) => this.add({ kind: 'orphan', digest: null, repository: null, path, reference: null, detail, action: 'none' });
    await walk('/blobs', async (p, modifiedAt) => {
      this.report.checked.objects++;
      progress.advance(1, p);
      if (this.locations.has(p) || modifiedAt > quietSince) return;
      const [, , algorithm, , hex] = p.split('/');
      const rec = await fsck.blob(`${algorithm}:${hex}`);
      if (rec && this.location(rec) === p) return;
      const f = orphan(p, 'no blob record names these bytes; fsck leaves them (a push of the same digest uses them again)');
      f.digest = `${algorithm}:${hex}`;
    });
    await walk(STORED_ROOT, async (p, modifiedAt) => {
      this.report.checked.objects++;
      progress.advance(1, p);
      const id = p.slice(STORED_ROOT.length + 1);
      if (this.locations.has(p) || this.sessions.has(id) || modifiedAt > quietSince) return;
      if ((await content.blobLocationsInUse([p])).length > 0 || (await uploads.get(id))) return;
      orphan(p, 'neither a blob record nor an upload session names this object; upload purging deletes it');
    });
    await walk(UPLOADS_ROOT, async (p, modifiedAt) => {
      this.report.checked.objects++;
      progress.advance(1, p);
      const id = p.split('/')[2] ?? '';
      if (this.sessions.has(id) || modifiedAt > quietSince || (await uploads.get(id))) return;
      orphan(p, 'no upload session owns this data; fsck leaves it');
    });
    await walk(QUARANTINE_ROOT, async () => {
      this.report.quarantined++;
    });
    progress.finish();
  }
}
