import { RegistryError } from '../errors/index.js';
import type { PolicyScopeKind } from '../metadata/index.js';
import { isValidRepositoryName } from '../registry/index.js';

/** Where a policy applies: the whole registry, a namespace (`acme` covers `acme/…`), or one repository. */
export interface PolicyScope {
  kind: PolicyScopeKind;
  /** '' for the registry. */
  name: string;
}

/**
 * A scope from its text form: `registry`, `namespace:acme`,
 * `repository:acme/app`. The same spelling is used by the API path, the
 * CLI and every message that names a policy. BERTH_INVALID otherwise.
 *
 * @example
 * parseScope('namespace:acme') // { kind: 'namespace', name: 'acme' }
 */
export function parseScope(text: string): PolicyScope {
  if (text === 'registry') return { kind: 'registry', name: '' };
  const i = text.indexOf(':');
  const kind = text.slice(0, i);
  const name = text.slice(i + 1);
  if (i > 0 && (kind === 'namespace' || kind === 'repository') && isValidRepositoryName(name)) return { kind, name };
  const message = `scope: "${text.slice(0, 300)}" is not a scope; write registry, namespace:NAME or repository:NAME (e.g. namespace:acme, repository:acme/app)`;
  throw new RegistryError('BERTH_INVALID', message, { detail: [{ field: 'scope', message }] });
}

/** The text form of a scope (see parseScope). */
export function formatScope(scope: PolicyScope): string {
  return scope.kind === 'registry' ? 'registry' : `${scope.kind}:${scope.name}`;
}

/**
 * The policy that applies to `repository`: its own, else the one of its
 * longest namespace (`a/b` before `a` for `a/b/c`), else the registry's;
 * null when none does. A namespace covers the repositories under it, not a
 * repository of the same name.
 */
export function resolvePolicy<P extends PolicyScope>(policies: readonly P[], repository: string): P | null {
  let best: P | null = null;
  let rank = -1;
  for (const p of policies) {
    let r = -1;
    if (p.kind === 'repository' && p.name === repository) r = Number.MAX_SAFE_INTEGER;
    else if (p.kind === 'namespace' && repository.startsWith(`${p.name}/`)) r = p.name.length + 1;
    else if (p.kind === 'registry') r = 0;
    if (r > rank) {
      best = p;
      rank = r;
    }
  }
  return best;
}
