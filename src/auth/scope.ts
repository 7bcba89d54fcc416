import type { AccessRequest, Action } from './access.js';

/**
 * Scopes as the Docker token protocol writes them:
 * `repository:library/busybox:pull,push`, `registry:catalog:*`. A repository
 * name may contain `:` (a registry host with a port, as Notary clients send:
 * `repository:localhost:5000/app:push,pull`), so the actions are after the
 * last colon and the type before the first.
 */
/** Actions named in a scope or claim; `*` means all of them, anything unknown is dropped. */
export function expandActions(actions: readonly unknown[]): Action[] {
  const out = new Set<Action>();
  for (const a of actions) {
    if (a === '*') for (const all of ['pull', 'push', 'delete'] as const) out.add(all);
    else if (a === 'pull' || a === 'push' || a === 'delete') out.add(a);
  }
  return [...out];
}

export function parseScope(scope: string): AccessRequest | null {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first) return null;
  const type = scope.slice(0, first);
  if (type !== 'repository' && type !== 'registry') return null;
  const name = scope.slice(first + 1, last);
  const actions = scope.slice(last + 1).split(',').map((a) => a.trim()).filter(Boolean);
  if (!name || actions.length === 0) return null;
  return { type, name, actions: expandActions(actions) };
}

/** The challenge scope of an access request, e.g. `repository:app:pull,push`. */
export function formatScope(r: AccessRequest): string {
  return `${r.type}:${r.name}:${r.actions.join(',')}`;
}

/** Whether `granted` (token claims) cover every action of every request. */
export function covers(granted: readonly AccessRequest[], wanted: readonly AccessRequest[]): boolean {
  return wanted.every((w) => w.actions.every((a) => granted.some((g) => g.type === w.type && g.name === w.name && (g.actions.includes(a) || g.actions.includes('*' as Action)))));
}
