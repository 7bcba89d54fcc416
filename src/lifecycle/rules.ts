import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { RegistryError } from '../errors/index.js';
import type { AuditStore, LifecycleRule, LifecycleRuleKind, LifecycleStore, NamespaceQuota, NamespaceUsage } from '../metadata/index.js';
import { checkTagPattern, formatAge, formatRuleScope, parseAge, parseNamespace, parseRuleScope, parseSize } from './scope.js';

/** The body of `POST /api/v1/lifecycle/rules` (and of `berth immutable add` / `berth retention add`). */
export const ruleInputSchema = z.object({
  kind: z.enum(['immutable', 'retention']).describe('immutable: the matching tags cannot be pushed with other content or deleted; retention: the matching tags not kept are deleted by the retention job'),
  scope: z.string().describe('registry, namespace:NAME (every repository under NAME/) or repository:NAME'),
  tags: z.string().default('*').describe('glob over tag names: * any run, ? one character (e.g. *, v*, release-?)'),
  keepLast: z.number().int().min(0).max(1_000_000).optional().describe('retention: keep the newest N matching tags of each repository, by push time'),
  keepWithin: z.string().optional().describe('retention: keep matching tags pushed within this age (30d, 12h, 2w, 90m)'),
}).strict();

/** The body of `PUT /api/v1/lifecycle/quotas/{namespace}`. */
export const quotaInputSchema = z.object({
  limit: z.union([z.number(), z.string()]).describe('bytes, or a number with B, KB, MB, GB, TB, KiB, MiB, GiB, TiB (e.g. 10GiB)'),
}).strict();

/** A rule as the API and CLI show it. */
export interface RuleView {
  id: string;
  kind: LifecycleRuleKind;
  scope: string;
  tags: string;
  keepLast: number | null;
  keepWithin: string | null;
  createdAt: string;
  createdBy: string | null;
}

export function ruleView(r: LifecycleRule): RuleView {
  return {
    id: r.id, kind: r.kind, scope: formatRuleScope({ kind: r.scopeKind, name: r.scopeName }), tags: r.tagPattern,
    keepLast: r.keepLast, keepWithin: r.keepWithinMs === null ? null : formatAge(r.keepWithinMs), createdAt: new Date(r.createdAt).toISOString(), createdBy: r.createdBy,
  };
}

/** How a rule reads in refusals and logs: `rule 1a2b3c (immutable v* in namespace:acme)`. */
export function describeRule(r: LifecycleRule): string {
  const keep = [r.keepLast !== null ? `keep last ${r.keepLast}` : null, r.keepWithinMs !== null ? `keep within ${formatAge(r.keepWithinMs)}` : null].filter(Boolean).join(', ');
  return `rule ${r.id} (${r.kind} ${r.tagPattern} in ${formatRuleScope({ kind: r.scopeKind, name: r.scopeName })}${keep ? `, ${keep}` : ''})`;
}

export interface QuotaView {
  namespace: string;
  limitBytes: number;
  usage: NamespaceUsage;
  /** usage.bytes / limitBytes, rounded to 0.1 %; 100 or more when full or over. */
  percent: number;
  updatedAt: string;
  updatedBy: string | null;
}

function quotaView(q: NamespaceQuota, usage: NamespaceUsage): QuotaView {
  const percent = q.limitBytes === 0 ? (usage.bytes > 0 ? Infinity : 100) : Math.round((usage.bytes / q.limitBytes) * 1000) / 10;
  return { namespace: q.namespace, limitBytes: q.limitBytes, usage, percent: Number.isFinite(percent) ? percent : 100, updatedAt: new Date(q.updatedAt).toISOString(), updatedBy: q.updatedBy };
}

/** Who changes rules, for the audit log. */
export interface RuleActor {
  name: string | null;
  remoteAddress: string | null;
}

function issuesOf(error: z.ZodError): { field: string; message: string }[] {
  return error.issues.map((i) => ({ field: i.path.map(String).join('.') || '(body)', message: i.message }));
}

/** A rule body checked and normalized (without id and author): BERTH_INVALID naming the field otherwise. */
export function parseRuleInput(input: unknown): Pick<LifecycleRule, 'kind' | 'scopeKind' | 'scopeName' | 'tagPattern' | 'keepLast' | 'keepWithinMs'> {
  const r = ruleInputSchema.safeParse(input ?? {});
  if (!r.success) {
    const issues = issuesOf(r.error);
    throw new RegistryError('BERTH_INVALID', issues.map((i) => `${i.field}: ${i.message}`).join('; '), { detail: issues });
  }
  const { kind, keepLast, keepWithin } = r.data;
  const scope = parseRuleScope(r.data.scope);
  const tagPattern = checkTagPattern(r.data.tags);
  const bad = (field: string, message: string) => new RegistryError('BERTH_INVALID', `${field}: ${message}`, { detail: [{ field, message }] });
  if (kind === 'immutable' && (keepLast !== undefined || keepWithin !== undefined)) throw bad(keepLast !== undefined ? 'keepLast' : 'keepWithin', 'only a retention rule keeps; an immutable rule takes kind, scope and tags');
  if (kind === 'retention' && keepLast === undefined && keepWithin === undefined) throw bad('keepLast', 'a retention rule needs keepLast, keepWithin or both (a tag is kept when either keeps it)');
  return { kind, scopeKind: scope.kind, scopeName: scope.name, tagPattern, keepLast: keepLast ?? null, keepWithinMs: keepWithin === undefined ? null : parseAge(keepWithin) };
}

/**
 * Lifecycle rules and quotas as the management API and the CLI see them:
 * add, list and delete rules, set and read quotas with their usage; each
 * change recorded in the audit log with its author (success, or failure
 * with its code). Enforcement is LifecycleEnforcer's; the retention job is
 * Retention's.
 */
export class LifecycleRules {
  constructor(private readonly options: { store: LifecycleStore; audit?: AuditStore | null | undefined; now?: () => number }) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  async list(kind?: string): Promise<RuleView[]> {
    if (kind !== undefined && kind !== 'immutable' && kind !== 'retention') {
      throw new RegistryError('BERTH_INVALID', 'kind: write immutable or retention', { detail: [{ field: 'kind', message: 'write immutable or retention' }] });
    }
    return (await this.options.store.listRules(kind)).map(ruleView);
  }

  async get(id: string): Promise<RuleView> {
    const r = await this.options.store.getRule(id);
    if (!r) throw new RegistryError('BERTH_NOT_FOUND', `no lifecycle rule ${id.slice(0, 100)}; list them with GET /api/v1/lifecycle/rules (berth immutable list, berth retention list)`);
    return ruleView(r);
  }

  async add(input: unknown, actor: RuleActor): Promise<RuleView> {
    const target = typeof (input as { scope?: unknown } | null)?.scope === 'string' ? (input as { scope: string }).scope : '(invalid)';
    return this.audited('lifecycle.rule.add', target, actor, async () => {
      const body = parseRuleInput(input);
      const rule = await this.options.store.addRule({ ...body, id: randomBytes(6).toString('hex'), createdAt: this.now(), createdBy: actor.name });
      const view = ruleView(rule);
      return { result: view, detail: { id: view.id, kind: view.kind, tags: view.tags, keepLast: view.keepLast, keepWithin: view.keepWithin } };
    });
  }

  async delete(id: string, actor: RuleActor): Promise<void> {
    await this.audited('lifecycle.rule.delete', id, actor, async () => {
      const rule = await this.options.store.getRule(id);
      if (!rule || !(await this.options.store.deleteRule(id))) throw new RegistryError('BERTH_NOT_FOUND', `no lifecycle rule ${id.slice(0, 100)}`);
      const view = ruleView(rule);
      return { result: undefined, detail: { kind: view.kind, scope: view.scope, tags: view.tags } };
    });
  }

  async quotas(): Promise<QuotaView[]> {
    const quotas = await this.options.store.listQuotas();
    return Promise.all(quotas.map(async (q) => quotaView(q, await this.options.store.usage(q.namespace))));
  }

  async quota(namespaceText: string): Promise<QuotaView> {
    const namespace = parseNamespace(namespaceText);
    const q = await this.options.store.getQuota(namespace);
    if (!q) throw new RegistryError('BERTH_NOT_FOUND', `namespace ${namespace} has no quota; set one with PUT /api/v1/lifecycle/quotas/${namespace} (berth quota set ${namespace} SIZE)`);
    return quotaView(q, await this.options.store.usage(namespace));
  }

  /** A namespace's usage and quota (null without one). */
  async usage(namespaceText: string): Promise<{ usage: NamespaceUsage; quota: QuotaView | null }> {
    const namespace = parseNamespace(namespaceText);
    const [usage, q] = await Promise.all([this.options.store.usage(namespace), this.options.store.getQuota(namespace)]);
    return { usage, quota: q ? quotaView(q, usage) : null };
  }

  async setQuota(namespaceText: string, input: unknown, actor: RuleActor): Promise<QuotaView> {
    return this.audited('lifecycle.quota.put', namespaceText, actor, async () => {
      const namespace = parseNamespace(namespaceText);
      const r = quotaInputSchema.safeParse(input ?? {});
      if (!r.success) {
        const issues = issuesOf(r.error);
        throw new RegistryError('BERTH_INVALID', issues.map((i) => `${i.field}: ${i.message}`).join('; '), { detail: issues });
      }
      const limitBytes = parseSize(r.data.limit);
      const previous = await this.options.store.getQuota(namespace);
      const q = await this.options.store.putQuota({ namespace, limitBytes, updatedAt: this.now(), updatedBy: actor.name });
      return { result: quotaView(q, await this.options.store.usage(namespace)), detail: { limitBytes, previousLimitBytes: previous?.limitBytes ?? null } };
    });
  }

  async deleteQuota(namespaceText: string, actor: RuleActor): Promise<void> {
    await this.audited('lifecycle.quota.delete', namespaceText, actor, async () => {
      const namespace = parseNamespace(namespaceText);
      const previous = await this.options.store.getQuota(namespace);
      if (!previous || !(await this.options.store.deleteQuota(namespace))) throw new RegistryError('BERTH_NOT_FOUND', `namespace ${namespace} has no quota`);
      return { result: undefined, detail: { previousLimitBytes: previous.limitBytes } };
    });
  }

  /** Runs a change and records it (success, or failure with its code) in the audit log. */
  private async audited<T>(action: string, target: string, actor: RuleActor, fn: () => Promise<{ result: T; detail: Record<string, unknown> | null }>): Promise<T> {
    const record = (outcome: 'success' | 'failure', detail: Record<string, unknown> | null) => this.options.audit?.record({
      time: this.now(), actor: actor.name, action, target: target.slice(0, 300), remoteAddress: actor.remoteAddress, outcome, detail,
    });
    let out: { result: T; detail: Record<string, unknown> | null };
    try {
      out = await fn();
    } catch (err) {
      if (err instanceof RegistryError) await record('failure', { code: err.code })?.catch(() => {});
      throw err;
    }
    await record('success', out.detail);
    return out.result;
  }
}
