import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryError } from '../errors/index.js';
import type { LifecycleRule, LifecycleStore, TaggedRecord } from '../metadata/index.js';
import { Retention } from './retention.js';

const DAY = 86_400_000;
const NOW = 100 * DAY;
const rule = (id: string, extra: Partial<LifecycleRule>): LifecycleRule => ({
  id, kind: 'retention', scopeKind: 'namespace', scopeName: 'acme', tagPattern: '*', keepLast: null, keepWithinMs: null, createdAt: 0, createdBy: null, ...extra,
});
const tag = (repository: string, name: string, ageDays: number): TaggedRecord => ({ repository, tag: name, digest: `sha256:${name.length}`, updatedAt: NOW - ageDays * DAY });

/** A store with just what retention reads: rules, and tags in pages. */
function fakeStore(rules: LifecycleRule[], tags: TaggedRecord[]): LifecycleStore {
  const sorted = [...tags].sort((a, b) => (a.repository + '\0' + a.tag < b.repository + '\0' + b.tag ? -1 : 1));
  return {
    listRules: async (kind?: string) => rules.filter((r) => r.kind === kind),
    tagsIn: async (scope: { kind: string; name: string }, page: { after?: { repository: string; tag: string } | undefined; limit: number }) => sorted
      .filter((t) => scope.kind === 'registry' || (scope.kind === 'repository' ? t.repository === scope.name : t.repository.startsWith(`${scope.name}/`)))
      .filter((t) => !page.after || t.repository + '\0' + t.tag > page.after.repository + '\0' + page.after.tag)
      .slice(0, page.limit),
  } as unknown as LifecycleStore;
}

test('keeps the newest N or those within an age (either keeps), across overlapping rules; immutable and cosign tags stay', async () => {
  const sig = `sha256-${'a'.repeat(64)}.sig`;
  const store = fakeStore([
    rule('age', { tagPattern: 'nightly-*', keepWithinMs: 7 * DAY }),
    rule('last', { scopeKind: 'repository', scopeName: 'acme/app', tagPattern: 'nightly-*', keepLast: 1 }),
    rule('pr', { tagPattern: 'pr-*', keepLast: 1, keepWithinMs: 2 * DAY }),
    rule('pin', { kind: 'immutable', tagPattern: 'pr-1' }),
  ], [
    tag('acme/app', 'nightly-1', 30), tag('acme/app', 'nightly-2', 20), tag('acme/app', 'nightly-3', 3),
    tag('acme/lib', 'nightly-1', 30), tag('acme/lib', 'nightly-2', 8),
    tag('acme/app', 'pr-1', 50), tag('acme/app', 'pr-2', 40), tag('acme/app', 'pr-3', 1), tag('acme/app', 'pr-4', 0.5),
    tag('acme/app', 'latest', 365), tag('acme/app', sig, 365), tag('other/app', 'nightly-1', 30),
  ]);
  const deleted: string[] = [];
  const retention = new Retention({ store, now: () => NOW, pageSize: 2, deleteTag: async (repo, t) => { deleted.push(`${repo}:${t}`); } });
  const plan = await retention.run({ dryRun: true });
  const expected = ['acme/app:nightly-1', 'acme/app:nightly-2', 'acme/app:pr-2', 'acme/lib:nightly-1', 'acme/lib:nightly-2'];
  assert.deepEqual(plan.removed.map((r) => `${r.repository}:${r.tag}`), expected);
  assert.deepEqual(plan.removed[0]?.rules, ['age', 'last'], 'both rules matched, neither kept it');
  assert.deepEqual([plan.matched, plan.protected, deleted], [9, 1, []]);
  const run = await retention.run({ dryRun: false });
  assert.deepEqual(run.removed.map((r) => `${r.repository}:${r.tag}`), expected);
  assert.deepEqual(deleted, expected);
});

test('a tag that cannot be deleted is reported with its code, and the run goes on', async () => {
  const store = fakeStore([rule('r', { keepLast: 0 })], [tag('acme/a', 'x', 1), tag('acme/a', 'y', 1)]);
  const retention = new Retention({
    store, now: () => NOW,
    deleteTag: async (_repo, t) => {
      if (t === 'x') throw new RegistryError('BERTH_CONFLICT', 'tag acme/a:x was pushed again since retention planned its removal; left alone');
    },
  });
  const run = await retention.run({ dryRun: false });
  assert.deepEqual(run.removed.map((r) => r.tag), ['y']);
  assert.deepEqual(run.failed.map((f) => [f.tag, f.code, f.message]), [['x', 'BERTH_CONFLICT', 'tag acme/a:x was pushed again since retention planned its removal; left alone']]);
});
