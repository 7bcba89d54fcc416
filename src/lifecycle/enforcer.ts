import { RegistryError } from '../errors/index.js';
import type { PreHook } from '../events/index.js';
import type { ContentStore, LifecycleRule, LifecycleStore, NamespaceQuota } from '../metadata/index.js';
import type { RegistryChange } from '../registry/index.js';
import { describeRule } from './rules.js';
import { formatSize, tagMatches } from './scope.js';

export interface LifecycleEnforcerOptions {
  store: LifecycleStore;
  /** Where a tag's current digest is read. */
  content: Pick<ContentStore, 'resolveTag'>;
}

/** Every tag a manifest push names: `tags` (OCI's `?tag=` parameters too), and `tag` in case a caller set only that. */
export function pushedTags(change: Extract<RegistryChange, { type: 'manifest.push' }>): string[] {
  return [...new Set([...(change.tag ? [change.tag] : []), ...change.tags])];
}

/** The first immutable rule that protects `tag`, or null. */
function protecting(rules: readonly LifecycleRule[], tag: string): LifecycleRule | null {
  return rules.find((r) => tagMatches(r.tagPattern, tag)) ?? null;
}

/**
 * Immutable tags and namespace quotas, enforced as two pre-hooks on the
 * event bus: nothing is committed when either refuses.
 *
 * Rules and quotas are read from the database at every change they concern
 * (an indexed statement on a small table), not cached: a rule or quota
 * changed on any instance holds for the very next request everywhere, even
 * in the middle of a push (a quota lowered between an upload's start and
 * its completion refuses the completion).
 *
 * Quotas are checked, not reserved: two pushes into the same namespace at
 * the same moment are each checked against the usage before either, so
 * together they may overshoot by what they store concurrently.
 */
export class LifecycleEnforcer {
  constructor(private readonly options: LifecycleEnforcerOptions) {}

  /** Refuses overwriting or deleting a tag an immutable rule protects (BERTH_TAG_IMMUTABLE). */
  readonly immutableHook: PreHook = async (change) => {
    if (change.type !== 'manifest.push' && change.type !== 'tag.delete' && change.type !== 'manifest.delete') return;
    const rules = await this.options.store.rulesFor(change.repository, 'immutable');
    if (rules.length === 0) return;
    const repo = change.repository;
    if (change.type === 'manifest.push') {
      for (const tag of pushedTags(change)) {
        const rule = protecting(rules, tag);
        if (!rule) continue;
        const current = await this.options.content.resolveTag(repo, tag);
        // A new tag, or the same content pushed again: nothing changes.
        if (!current || current.digest === change.digest) continue;
        throw refusal(`tag ${repo}:${tag} is immutable under ${describeRule(rule)}: it names ${current.digest} and cannot be pushed with other content (${change.digest}); push under a new tag`, {
          repository: repo, tag, digest: current.digest, pushed: change.digest, rule,
        });
      }
    } else if (change.type === 'tag.delete') {
      const rule = protecting(rules, change.tag);
      if (rule) throw refusal(`tag ${repo}:${change.tag} is immutable under ${describeRule(rule)}: it cannot be deleted`, { repository: repo, tag: change.tag, digest: change.digest, rule });
    } else {
      for (const tag of await this.options.store.tagsOf(repo, change.digest)) {
        const rule = protecting(rules, tag);
        if (rule) throw refusal(`manifest ${repo}@${change.digest} has the immutable tag ${tag} under ${describeRule(rule)}: it cannot be deleted`, { repository: repo, tag, digest: change.digest, rule });
      }
    }
  };

  /**
   * Refuses storing what would take a namespace over its quota
   * (BERTH_QUOTA_EXCEEDED): an upload's start when a namespace is already
   * full, and a blob (at an upload's completion, before it becomes a blob),
   * a mount or a manifest that would take it over. Content the namespace
   * already holds costs nothing.
   */
  readonly quotaHook: PreHook = async (change) => {
    if (change.type !== 'upload.start' && change.type !== 'blob.push' && change.type !== 'blob.mount' && change.type !== 'manifest.push') return;
    const quotas = await this.options.store.quotasFor(change.repository);
    for (const quota of quotas) {
      if (change.type === 'upload.start') {
        const usage = await this.options.store.usage(quota.namespace);
        if (usage.bytes >= quota.limitBytes) {
          throw quotaRefusal(quota, usage.bytes, 0, `namespace ${quota.namespace} is full: it uses ${formatSize(usage.bytes)} of its quota of ${formatSize(quota.limitBytes)}, so no upload to ${change.repository} can start`, change.repository);
        }
        continue;
      }
      if (await this.options.store.holds(quota.namespace, change.digest)) continue;
      const usage = await this.options.store.usage(quota.namespace);
      if (usage.bytes + change.size > quota.limitBytes) {
        const what = change.type === 'manifest.push' ? 'manifest' : 'blob';
        throw quotaRefusal(quota, usage.bytes, change.size,
          `storing ${what} ${change.digest} (${formatSize(change.size)}) in ${change.repository} would take namespace ${quota.namespace} over its quota: it uses ${formatSize(usage.bytes)} of ${formatSize(quota.limitBytes)}`, change.repository);
      }
    }
  };
}

function refusal(message: string, facts: { repository: string; tag: string; digest: string; pushed?: string; rule: LifecycleRule }): RegistryError {
  const { rule, ...rest } = facts;
  return new RegistryError('BERTH_TAG_IMMUTABLE', message, { detail: { ...rest, rule: rule.id, pattern: rule.tagPattern, scope: rule.scopeKind === 'registry' ? 'registry' : `${rule.scopeKind}:${rule.scopeName}` } });
}

function quotaRefusal(quota: NamespaceQuota, used: number, needed: number, message: string, repository: string): RegistryError {
  return new RegistryError('BERTH_QUOTA_EXCEEDED', `${message}; delete content or raise the quota (berth quota set ${quota.namespace} SIZE)`, {
    detail: { namespace: quota.namespace, repository, usedBytes: used, limitBytes: quota.limitBytes, neededBytes: needed },
  });
}
