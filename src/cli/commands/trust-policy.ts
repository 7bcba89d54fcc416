import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { TrustPolicies, type PolicyActor, type PolicyView } from '../../policy/index.js';
import { ExitError } from '../exit-error.js';
import { output, withStore, type IdentityFlags } from './identity-context.js';

/** The audit log's author of CLI changes: `cli:<OS user>`. */
function actor(): PolicyActor {
  try {
    return { name: `cli:${userInfo().username}`, remoteAddress: null };
  } catch {
    return { name: 'cli', remoteAddress: null };
  }
}

const withPolicies = <T>(flags: IdentityFlags, fn: (p: TrustPolicies) => Promise<T>) => withStore(flags, (store) => fn(new TrustPolicies({ store: store.policies, audit: store.audit })), { users: false });

function render(p: PolicyView): string {
  return [
    `scope: ${p.scope}`,
    `mode: ${p.mode}`,
    `keys: ${p.keys.length ? p.keys.map((k) => `${k.name} (${k.kind})`).join(', ') : '-'}`,
    `dct signers: ${p.dctSigners.length ? p.dctSigners.join(', ') : '-'}`,
    `revision ${p.revision}, updated ${p.updatedAt}${p.updatedBy ? ` by ${p.updatedBy}` : ''}`,
  ].join('\n');
}

/** `--key NAME=FILE.pem`: the key's name and PEM text (its kind is read from the PEM). */
async function readKey(spec: string): Promise<{ name: string; pem: string }> {
  const i = spec.indexOf('=');
  if (i <= 0 || i === spec.length - 1) throw new ExitError(`--key ${spec}: write NAME=FILE.pem, e.g. --key release=cosign.pub`, 2);
  const file = spec.slice(i + 1);
  try {
    return { name: spec.slice(0, i), pem: await readFile(file, 'utf8') };
  } catch (err) {
    throw new ExitError(`--key ${spec}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give the path of a PEM public key (cosign) or certificate (notation)`, 2);
  }
}

/** `berth trust policy set namespace:acme --key release=cosign.pub --dct-signer alice [--mode audit]` */
export async function trustPolicySet(scope: string, flags: IdentityFlags & { key: string[]; dctSigner: string[]; mode?: string }): Promise<void> {
  const keys = await Promise.all(flags.key.map(readKey));
  const p = await withPolicies(flags, (policies) => policies.put(scope, { mode: flags.mode ?? 'enforce', keys, dctSigners: flags.dctSigner }, actor()));
  output(flags, p, render(p));
}

export async function trustPolicyGet(scope: string, flags: IdentityFlags): Promise<void> {
  const p = await withPolicies(flags, (policies) => policies.get(scope));
  output(flags, p, render(p));
}

export async function trustPolicyList(flags: IdentityFlags): Promise<void> {
  const list = await withPolicies(flags, (policies) => policies.list());
  output(flags, list, list.policies.length === 0 ? 'no trust policies: every pull is allowed'
    : list.policies.map((p) => `${p.scope}\t${p.mode}\tkeys: ${p.keys.map((k) => k.name).join(',') || '-'}\tdct signers: ${p.dctSigners.join(',') || '-'}`).join('\n'));
}

export async function trustPolicyDelete(scope: string, flags: IdentityFlags): Promise<void> {
  await withPolicies(flags, (policies) => policies.delete(scope, actor()));
  output(flags, { deleted: scope }, `deleted the trust policy of ${scope}`);
}
