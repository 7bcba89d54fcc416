import { RegistryError } from '../errors/index.js';
import type { AuditStore, LifecycleRule, LifecycleStore, TaggedRecord } from '../metadata/index.js';
import { describeRule } from './rules.js';
import { covers, tagMatches, type RuleScope } from './scope.js';

/**
 * Deletes one tag if it still names `digest` (a tag pushed again since the
 * plan was made is left alone). Throws a RegistryError when it cannot.
 */
export type TagDeleter = (repository: string, tag: string, digest: string) => Promise<void>;

export interface RetentionOptions {
  store: LifecycleStore;
  deleteTag: TagDeleter;
  audit?: AuditStore | null | undefined;
  now?: () => number;
  /** Tags read per statement (default 1000). */
  pageSize?: number;
}

/** One tag retention removes (or, in a dry run, would remove). */
export interface RetentionItem {
  repository: string;
  tag: string;
  digest: string;
  pushedAt: string;
  /** The rules that matched the tag; none of them keeps it. */
  rules: string[];
}

export interface RetentionReport {
  dryRun: boolean;
  startedAt: string;
  durationMs: number;
  rules: number;
  /** Tags some retention rule matched. */
  matched: number;
  /** Matched tags an immutable rule protects: never removed. */
  protected: number;
  /** Removed (or, in a dry run, to be removed). */
  removed: RetentionItem[];
  /** Tags that could not be removed, with the code and message why. */
  failed: (RetentionItem & { code: string; message: string })[];
}

/** cosign's signature, attestation and SBOM tags go with their subject, not with retention. */
const COSIGN_TAG = /^sha256-[a-f0-9]{64}\.(sig|att|sbom)$/;

const scopeOf = (r: LifecycleRule): RuleScope => ({ kind: r.scopeKind, name: r.scopeName });

/**
 * Retention: for each repository, every retention rule that covers it
 * matches tags by pattern and keeps the newest `keepLast` of them (by push
 * time; of tags pushed in the same millisecond, the greater name counts as
 * newer) and those pushed within `keepWithin`. A tag some rule
 * matches and none keeps is removed, unless an immutable rule protects it.
 * Only tags go: a manifest left untagged stays until garbage collection
 * removes untagged manifests. cosign's `sha256-….sig|att|sbom` tags are
 * never matched: they go with their subject.
 */
export class Retention {
  constructor(private readonly options: RetentionOptions) {}

  /** Works out what goes; removes it unless `dryRun`. Recorded in the audit log (by `actor`) when asked for or when it changed something. */
  async run(options: { dryRun: boolean; actor?: { name: string | null; remoteAddress: string | null } }): Promise<RetentionReport> {
    const now = (this.options.now ?? Date.now)();
    const started = Date.now();
    const { store } = this.options;
    const rules = await store.listRules('retention');
    const immutable = await store.listRules('immutable');
    const report: RetentionReport = { dryRun: options.dryRun, startedAt: new Date(now).toISOString(), durationMs: 0, rules: rules.length, matched: 0, protected: 0, removed: [], failed: [] };
    // Every tag any rule's scope holds, once (scopes may overlap), grouped by repository.
    const byRepository = new Map<string, Map<string, TaggedRecord>>();
    const limit = this.options.pageSize ?? 1000;
    const scanned = new Set<string>();
    for (const rule of rules) {
      const key = `${rule.scopeKind}:${rule.scopeName}`;
      if (scanned.has(key)) continue;
      scanned.add(key);
      let after: { repository: string; tag: string } | undefined;
      for (;;) {
        const page = await store.tagsIn(scopeOf(rule), { after, limit });
        for (const t of page) {
          let tags = byRepository.get(t.repository);
          if (!tags) byRepository.set(t.repository, (tags = new Map()));
          tags.set(t.tag, t);
        }
        const last = page[page.length - 1];
        if (page.length < limit || !last) break;
        after = { repository: last.repository, tag: last.tag };
      }
    }
    for (const [repository, tagMap] of [...byRepository].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const tags = [...tagMap.values()].filter((t) => !COSIGN_TAG.test(t.tag));
      const matchedBy = new Map<string, string[]>();
      const kept = new Set<string>();
      for (const rule of rules.filter((r) => covers(scopeOf(r), repository))) {
        const matching = tags.filter((t) => tagMatches(rule.tagPattern, t.tag))
          .sort((a, b) => b.updatedAt - a.updatedAt || (a.tag < b.tag ? 1 : a.tag > b.tag ? -1 : 0));
        matching.forEach((t, i) => {
          matchedBy.set(t.tag, [...(matchedBy.get(t.tag) ?? []), rule.id]);
          const byCount = rule.keepLast !== null && i < rule.keepLast;
          const byAge = rule.keepWithinMs !== null && t.updatedAt >= now - rule.keepWithinMs;
          if (byCount || byAge) kept.add(t.tag);
        });
      }
      const guards = immutable.filter((r) => covers(scopeOf(r), repository));
      for (const [tag, ruleIds] of [...matchedBy].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        report.matched++;
        if (kept.has(tag)) continue;
        if (guards.some((r) => tagMatches(r.tagPattern, tag))) {
          report.protected++;
          continue;
        }
        const t = tagMap.get(tag) as TaggedRecord;
        const item: RetentionItem = { repository, tag, digest: t.digest, pushedAt: new Date(t.updatedAt).toISOString(), rules: ruleIds };
        if (options.dryRun) {
          report.removed.push(item);
          continue;
        }
        try {
          await this.options.deleteTag(repository, tag, t.digest);
          report.removed.push(item);
        } catch (err) {
          if (!(err instanceof RegistryError)) throw err;
          report.failed.push({ ...item, code: err.code, message: err.message });
        }
      }
    }
    report.durationMs = Date.now() - started;
    // Asked by someone, or something changed: recorded. A scheduled run that removed nothing is not.
    if (options.actor || report.removed.length > 0 || report.failed.length > 0) {
      await this.options.audit?.record({
        time: Date.now(), actor: options.actor?.name ?? null, action: 'lifecycle.retention.run', target: null, remoteAddress: options.actor?.remoteAddress ?? null,
        outcome: report.failed.length === 0 ? 'success' : 'failure',
        detail: { dryRun: options.dryRun, rules: rules.map(describeRule).slice(0, 50), matched: report.matched, removed: report.removed.length, protected: report.protected, failed: report.failed.length },
      });
    }
    return report;
  }
}
