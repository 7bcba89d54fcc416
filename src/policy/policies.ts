import { z } from 'zod';
import { RegistryError } from '../errors/index.js';
import type { AuditStore, PolicyKey, PolicyRecord, PolicyStore } from '../metadata/index.js';
import { checkTrustedKey } from '../signatures/index.js';
import { formatScope, parseScope, type PolicyScope } from './scope.js';

const MAX_KEYS = 64;
const MAX_PEM_BYTES = 16 * 1024;

/** The body of `PUT /api/v1/trust/policies/{scope}` (and of `berth trust policy set`). */
export const policyInputSchema = z.object({
  mode: z.enum(['enforce', 'audit']).default('enforce').describe('enforce refuses pulls that do not verify; audit allows them and records each it would have refused'),
  keys: z.array(z.object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a key name is 1 to 64 letters, digits, ".", "_" or "-"').describe('the name refusals and listings show'),
    kind: z.enum(['cosign', 'notation']).optional().describe('cosign (a PEM public key) or notation (a PEM X.509 certificate); read from the PEM when absent'),
    pem: z.string().max(MAX_PEM_BYTES).describe('PEM text: BEGIN PUBLIC KEY for cosign, BEGIN CERTIFICATE for notation'),
  }).strict()).max(MAX_KEYS).default([]).describe('keys whose valid signature satisfies the policy'),
  dctSigners: z.array(z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/, 'a DCT signer is a delegation name without "targets/" (releases, alice) or "targets"'))
    .max(MAX_KEYS).default([]).describe('Docker Content Trust signers (targets, releases, alice) whose valid signature satisfies the policy'),
}).strict();

/** A policy as the API and CLI show it. */
export interface PolicyView {
  scope: string;
  mode: 'enforce' | 'audit';
  keys: PolicyKey[];
  dctSigners: string[];
  revision: number;
  updatedAt: string;
  updatedBy: string | null;
}

export function policyView(p: PolicyRecord): PolicyView {
  return { scope: formatScope(p), mode: p.mode, keys: p.keys, dctSigners: p.dctSigners, revision: p.revision, updatedAt: new Date(p.updatedAt).toISOString(), updatedBy: p.updatedBy };
}

const invalid = (field: string, message: string) => new RegistryError('BERTH_INVALID', `${field}: ${message}`, { detail: [{ field, message }] });

/**
 * The kind a PEM is for (from its label when not given), or why it cannot
 * be used: the verifier's own check (checkTrustedKey), so a key accepted
 * here is a key verification can use.
 */
function checkKey(name: string, pem: string, kind: 'cosign' | 'notation' | undefined): { kind: 'cosign' | 'notation' } | { error: string } {
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem)?.[1];
  const wanted = kind ?? (label === 'CERTIFICATE' ? 'notation' : label === 'PUBLIC KEY' ? 'cosign' : undefined);
  if (!wanted) return { error: `key "${name}": not PEM; expected a public key (-----BEGIN PUBLIC KEY-----, cosign) or a certificate (-----BEGIN CERTIFICATE-----, notation)` };
  const problem = checkTrustedKey({ name, kind: wanted, pem });
  return problem === null ? { kind: wanted } : { error: problem };
}

/** A policy body checked and normalized: BERTH_INVALID naming the field otherwise. */
export function parsePolicyInput(input: unknown): Pick<PolicyRecord, 'mode' | 'keys' | 'dctSigners'> {
  const r = policyInputSchema.safeParse(input ?? {});
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ field: i.path.map((p, n) => (typeof p === 'number' ? `[${p}]` : n === 0 ? String(p) : `.${String(p)}`)).join('') || '(body)', message: i.message }));
    throw new RegistryError('BERTH_INVALID', issues.map((i) => `${i.field}: ${i.message}`).join('; '), { detail: issues });
  }
  const keys: PolicyKey[] = [];
  for (const [i, k] of r.data.keys.entries()) {
    if (keys.some((x) => x.name === k.name)) throw invalid(`keys[${i}].name`, `the name "${k.name}" is used twice`);
    const checked = checkKey(k.name, k.pem, k.kind);
    if ('error' in checked) throw invalid(`keys[${i}].pem`, checked.error);
    keys.push({ name: k.name, kind: checked.kind, pem: k.pem });
  }
  const dctSigners = [...new Set(r.data.dctSigners)];
  if (keys.length === 0 && dctSigners.length === 0) throw invalid('keys', 'a policy needs at least one key or DCT signer (a policy that trusts nobody would refuse every pull)');
  return { mode: r.data.mode, keys, dctSigners };
}

/** Who changes policies, for the audit log. */
export interface PolicyActor {
  name: string | null;
  remoteAddress: string | null;
}

/**
 * Trust policies as the management API and the CLI see them: read, write
 * (validated: scope, keys, signers) and delete, each change recorded in the
 * audit log with its author. Enforcement is PolicyEnforcer's.
 */
export class TrustPolicies {
  constructor(private readonly options: { store: PolicyStore; audit?: AuditStore | null | undefined; now?: () => number }) {}

  async list(): Promise<{ revision: number; policies: PolicyView[] }> {
    const { revision, policies } = await this.options.store.list();
    return { revision, policies: policies.map(policyView) };
  }

  async get(scopeText: string): Promise<PolicyView> {
    const scope = parseScope(scopeText);
    const p = await this.options.store.get(scope.kind, scope.name);
    if (!p) throw new RegistryError('BERTH_NOT_FOUND', `no trust policy for ${formatScope(scope)}`);
    return policyView(p);
  }

  async put(scopeText: string, input: unknown, actor: PolicyActor): Promise<PolicyView> {
    return this.audited('trust.policy.put', scopeText, actor, async (scope) => {
      const body = parsePolicyInput(input);
      const p = await this.options.store.put({ ...scope, ...body, updatedAt: (this.options.now ?? Date.now)(), updatedBy: actor.name });
      return { result: policyView(p), detail: { mode: p.mode, keys: p.keys.map((k) => `${k.kind}:${k.name}`), dctSigners: p.dctSigners, revision: p.revision } };
    });
  }

  async delete(scopeText: string, actor: PolicyActor): Promise<void> {
    await this.audited('trust.policy.delete', scopeText, actor, async (scope) => {
      if (!(await this.options.store.delete(scope.kind, scope.name))) throw new RegistryError('BERTH_NOT_FOUND', `no trust policy for ${formatScope(scope)}`);
      return { result: undefined, detail: null };
    });
  }

  /** Runs a change and records it (success, or failure with its code) in the audit log. */
  private async audited<T>(action: string, scopeText: string, actor: PolicyActor, fn: (scope: PolicyScope) => Promise<{ result: T; detail: Record<string, unknown> | null }>): Promise<T> {
    const record = (outcome: 'success' | 'failure', detail: Record<string, unknown> | null) => this.options.audit?.record({
      time: (this.options.now ?? Date.now)(), actor: actor.name, action, target: scopeText.slice(0, 300), remoteAddress: actor.remoteAddress, outcome, detail,
    });
    let out: { result: T; detail: Record<string, unknown> | null };
    try {
      out = await fn(parseScope(scopeText));
    } catch (err) {
      if (err instanceof RegistryError) await record('failure', { code: err.code })?.catch(() => {});
      throw err;
    }
    await record('success', out.detail);
    return out.result;
  }
}
