import { RegistryError } from '../../errors/index.js';
import { LifecycleRules, Retention, type QuotaView, type RetentionReport, type RuleActor, type RuleView } from '../../lifecycle/index.js';
import type { MetadataStore } from '../../metadata/index.js';
import { ExitError } from '../exit-error.js';
import { cliActor, output, withStore, type IdentityFlags } from './identity-context.js';

const actor = (): RuleActor => ({ name: cliActor(), remoteAddress: null });
const withRules = <T>(flags: IdentityFlags, fn: (rules: LifecycleRules, store: MetadataStore) => Promise<T>) =>
  withStore(flags, (store) => fn(new LifecycleRules({ store: store.lifecycle, audit: store.audit }), store), { users: false });

function renderRule(r: RuleView): string {
  const keep = [r.keepLast !== null ? `keep last ${r.keepLast}` : null, r.keepWithin !== null ? `keep within ${r.keepWithin}` : null].filter(Boolean).join(', ');
  return `${r.id}\t${r.kind}\t${r.scope}\ttags ${r.tags}${keep ? `\t${keep}` : ''}\tadded ${r.createdAt}${r.createdBy ? ` by ${r.createdBy}` : ''}`;
}

function renderQuota(q: QuotaView): string {
  return `${q.namespace}\tlimit ${q.limitBytes} B\tused ${q.usage.bytes} B (${q.percent}%)\t${q.usage.blobs} blobs, ${q.usage.manifests} manifests`;
}

/** A whole number for --keep-last, or exit 2 naming the flag. */
function keepLast(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,7}$/.test(text)) throw new ExitError(`--keep-last ${text}: write a whole number of tags, e.g. --keep-last 10`, 2);
  return Number(text);
}

/** `berth immutable add namespace:acme --tags 'v*'` */
export async function immutableAdd(scope: string, flags: IdentityFlags & { tags: string }): Promise<void> {
  const r = await withRules(flags, (rules) => rules.add({ kind: 'immutable', scope, tags: flags.tags }, actor()));
  output(flags, r, `added immutable rule ${r.id}: tags ${r.tags} in ${r.scope} can no longer be pushed with other content or deleted`);
}

/** `berth retention add repository:acme/app --tags 'build-*' --keep-last 10 --keep-within 30d` */
export async function retentionAdd(scope: string, flags: IdentityFlags & { tags: string; keepLast?: string; keepWithin?: string }): Promise<void> {
  const body = { kind: 'retention', scope, tags: flags.tags, keepLast: keepLast(flags.keepLast), keepWithin: flags.keepWithin };
  const r = await withRules(flags, (rules) => rules.add(body, actor()));
  output(flags, r, `added retention rule ${r.id}; see what it would remove with: berth retention run --dry-run`);
}

export async function ruleList(kind: 'immutable' | 'retention', flags: IdentityFlags): Promise<void> {
  const list = await withRules(flags, (rules) => rules.list(kind));
  output(flags, { rules: list }, list.length === 0 ? `no ${kind} rules` : list.map(renderRule).join('\n'));
}

export async function ruleDelete(kind: 'immutable' | 'retention', id: string, flags: IdentityFlags): Promise<void> {
  await withRules(flags, async (rules) => {
    // `berth immutable delete` only deletes immutable rules: an id of the other kind is named, not deleted.
    const r = await rules.get(id);
    if (r.kind !== kind) throw new RegistryError('BERTH_NOT_FOUND', `${id} is a ${r.kind} rule, not a ${kind} rule; delete it with berth ${r.kind} delete ${id}`);
    await rules.delete(id, actor());
  });
  output(flags, { deleted: id }, `deleted ${kind} rule ${id}`);
}

/**
 * `berth retention run [--dry-run]` on the configured database. Tags are
 * removed in the database directly (each only if it still names the
 * digest the plan saw); the server's listeners (webhooks) do not see these
 * deletes, as with every CLI change. The run is audited.
 */
export async function retentionRun(flags: IdentityFlags & { dryRun?: boolean }): Promise<void> {
  const report = await withStore(flags, (store) => new Retention({
    store: store.lifecycle, audit: store.audit,
    deleteTag: async (repository, tag, digest) => {
      const current = await store.content.resolveTag(repository, tag);
      if (current?.digest !== digest) throw new RegistryError('BERTH_CONFLICT', `tag ${repository}:${tag} was pushed again or deleted since retention planned its removal; left alone`);
      await store.content.deleteTag(repository, tag);
    },
  }).run({ dryRun: flags.dryRun === true, actor: actor() }), { users: false });
  output(flags, report, renderReport(report));
}

function renderReport(r: RetentionReport): string {
  const verb = r.dryRun ? 'would remove' : 'removed';
  const lines = r.removed.map((i) => `${verb}\t${i.repository}:${i.tag}\t${i.digest}\tpushed ${i.pushedAt}\trules ${i.rules.join(',')}`);
  for (const f of r.failed) lines.push(`failed\t${f.repository}:${f.tag}\t${f.code}\t${f.message}`);
  lines.push(`${r.rules} retention rules; ${r.matched} tags matched, ${r.removed.length} ${verb}, ${r.protected} kept as immutable, ${r.failed.length} failed${r.dryRun ? ' (dry run: nothing changed)' : ''}; untagged manifests stay until garbage collection`);
  return lines.join('\n');
}

/** `berth quota set acme 50GiB` */
export async function quotaSet(namespace: string, limit: string, flags: IdentityFlags): Promise<void> {
  const q = await withRules(flags, (rules) => rules.setQuota(namespace, { limit: /^\d+$/.test(limit) ? Number(limit) : limit }, actor()));
  output(flags, q, renderQuota(q));
}

export async function quotaGet(namespace: string, flags: IdentityFlags): Promise<void> {
  const q = await withRules(flags, (rules) => rules.quota(namespace));
  output(flags, q, renderQuota(q));
}

export async function quotaList(flags: IdentityFlags): Promise<void> {
  const list = await withRules(flags, (rules) => rules.quotas());
  output(flags, { quotas: list }, list.length === 0 ? 'no quotas' : list.map(renderQuota).join('\n'));
}

export async function quotaDelete(namespace: string, flags: IdentityFlags): Promise<void> {
  await withRules(flags, (rules) => rules.deleteQuota(namespace, actor()));
  output(flags, { deleted: namespace }, `deleted the quota of ${namespace}`);
}

/** `berth quota usage acme`: what a namespace stores, with or without a quota. */
export async function quotaUsage(namespace: string, flags: IdentityFlags): Promise<void> {
  const u = await withRules(flags, (rules) => rules.usage(namespace));
  output(flags, u, `${u.usage.namespace}\t${u.usage.bytes} B\t${u.usage.blobs} blobs (${u.usage.blobBytes} B), ${u.usage.manifests} manifests (${u.usage.manifestBytes} B)${u.quota ? `\tquota ${u.quota.limitBytes} B (${u.quota.percent}%)` : '\tno quota'}`);
}
