import { RegistryError } from '../errors/index.js';
import type { LifecycleScopeKind } from '../metadata/index.js';
import { isValidRepositoryName } from '../registry/index.js';

/** Where a rule applies: the whole registry, a namespace (`acme` covers `acme/…`), or one repository. */
export interface RuleScope {
  kind: LifecycleScopeKind;
  /** '' for the registry. */
  name: string;
}

const invalid = (field: string, message: string) => new RegistryError('BERTH_INVALID', `${field}: ${message}`, { detail: [{ field, message }] });

/**
 * A scope from its text form, spelled as trust policies spell theirs:
 * `registry`, `namespace:acme`, `repository:acme/app`. BERTH_INVALID
 * naming `field` otherwise.
 *
 * @example
 * parseRuleScope('namespace:acme') // { kind: 'namespace', name: 'acme' }
 */
export function parseRuleScope(text: string, field = 'scope'): RuleScope {
  if (text === 'registry') return { kind: 'registry', name: '' };
  const i = text.indexOf(':');
  const kind = text.slice(0, i);
  const name = text.slice(i + 1);
  if (i > 0 && (kind === 'namespace' || kind === 'repository') && isValidRepositoryName(name)) return { kind, name };
  throw invalid(field, `"${text.slice(0, 300)}" is not a scope; write registry, namespace:NAME or repository:NAME (e.g. namespace:acme, repository:acme/app)`);
}

export function formatRuleScope(scope: RuleScope): string {
  return scope.kind === 'registry' ? 'registry' : `${scope.kind}:${scope.name}`;
}

/** Whether a scope covers a repository. A namespace covers the repositories under it, not one of its own name. */
export function covers(scope: RuleScope, repository: string): boolean {
  if (scope.kind === 'registry') return true;
  if (scope.kind === 'repository') return scope.name === repository;
  return repository.startsWith(`${scope.name}/`);
}

/** A namespace name, checked: BERTH_INVALID naming `field` otherwise. */
export function parseNamespace(text: string, field = 'namespace'): string {
  if (isValidRepositoryName(text)) return text;
  throw invalid(field, `"${text.slice(0, 300)}" is not a namespace; write a repository-name prefix such as acme or acme/team`);
}

/** Tag patterns: the characters of a tag, plus `*` (any run) and `?` (one character). */
const PATTERN = /^[A-Za-z0-9_.*?-]{1,128}$/;

/** BERTH_INVALID naming `field` unless `pattern` is a tag glob. */
export function checkTagPattern(pattern: string, field = 'tags'): string {
  if (PATTERN.test(pattern)) return pattern;
  throw invalid(field, `"${pattern.slice(0, 300)}" is not a tag pattern; use tag characters with * (any run) and ? (one character), e.g. *, v*, release-?.?`);
}

const compiled = new Map<string, RegExp>();

/**
 * Whether a tag matches a glob: `*` any run of characters (also none), `?`
 * exactly one; everything else literal, case-sensitive as tags are.
 *
 * @example
 * tagMatches('v*', 'v1.2') // true
 * tagMatches('v*', 'latest') // false
 */
export function tagMatches(pattern: string, tag: string): boolean {
  let re = compiled.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.replace(/[.\-]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
    if (compiled.size > 1000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re.test(tag);
}

const UNITS: Record<string, number> = {
  '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/**
 * A size in bytes from a number or text: `1073741824`, `500MB`, `10GiB`,
 * `1.5 TB` (decimal units are powers of 1000, binary ones of 1024).
 * BERTH_INVALID naming `field` otherwise.
 */
export function parseSize(value: unknown, field = 'limit'): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const m = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value) : null;
  const unit = m ? UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (m && unit !== undefined) {
    const bytes = Math.floor(Number(m[1]) * unit);
    if (Number.isSafeInteger(bytes)) return bytes;
  }
  throw invalid(field, `${JSON.stringify(value)?.slice(0, 100) ?? String(value)} is not a size; write bytes or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (e.g. 10GiB)`);
}

/** A size for messages: `1.5 MiB`, `999 B`. */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${bytes} B` : `${Number(v.toFixed(2))} ${units[i]}`;
}

const DURATION_UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** A retention age: `30d`, `12h`, `2w`, `90m`. BERTH_INVALID naming `field` otherwise. */
export function parseAge(value: unknown, field = 'keepWithin'): number {
  const m = typeof value === 'string' ? /^(\d{1,6})([mhdw])$/.exec(value.trim()) : null;
  if (m) return Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
  throw invalid(field, `${JSON.stringify(value)?.slice(0, 100) ?? String(value)} is not an age; write a whole number with m, h, d or w (e.g. 30d, 12h)`);
}

/** The shortest text form of an age in ms (as parseAge reads it). */
export function formatAge(ms: number): string {
  for (const [unit, size] of [['w', 604_800_000], ['d', 86_400_000], ['h', 3_600_000]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${Math.round(ms / 60_000)}m`;
}
