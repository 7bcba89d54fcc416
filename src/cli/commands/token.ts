import { ExitError } from '../exit-error.js';
import { output, withIdentity, type IdentityFlags } from './identity-context.js';

/** `repository:acme/app:pull,push` or `namespace:acme:pull` → a token scope. */
function parseScope(s: string): { type: string; name: string; actions: string[] } {
  const m = /^(repository|namespace):([^:]+):([a-z,]+)$/.exec(s);
  if (!m) throw new ExitError(`--scope must be repository:NAME:ACTIONS or namespace:NAME:ACTIONS (actions: pull,push,delete), got "${s}"`, 2);
  return { type: m[1] as string, name: m[2] as string, actions: (m[3] as string).split(',') };
}

/** Prints the secret once: it cannot be shown again. */
export async function tokenCreate(user: string, flags: IdentityFlags & { name: string; scope: string[]; expiresDays?: string }): Promise<void> {
  if (flags.scope.length === 0) throw new ExitError('give at least one --scope, e.g. --scope repository:acme/app:pull', 2);
  const expiresInDays = flags.expiresDays === undefined ? undefined : Number(flags.expiresDays);
  const { token, secret } = await withIdentity(flags, (id) => id.createToken(user, { name: flags.name, scopes: flags.scope.map(parseScope), ...(expiresInDays !== undefined ? { expiresInDays } : {}) }));
  output(flags, { ...token, secret }, `created token ${token.id} (${token.name}) for ${user}${token.expiresAt ? `, expires ${token.expiresAt}` : ''}\n${secret}\n(shown once; use it as the password: docker login -u ${user} --password-stdin)`);
}

export async function tokenList(user: string, flags: IdentityFlags): Promise<void> {
  const tokens = await withIdentity(flags, (id) => id.listTokens(user));
  output(flags, tokens, tokens.map((t) => `${t.id}\t${t.name}\t${t.scopes.map((s) => `${s.type}:${s.name}:${s.actions.join(',')}`).join(' ')}\t${t.revokedAt ? 'revoked' : t.expiresAt ? `expires ${t.expiresAt}` : 'no expiry'}\t${t.lastUsedAt ? `used ${t.lastUsedAt}` : 'never used'}`).join('\n'));
}

export async function tokenRevoke(user: string, id: string, flags: IdentityFlags): Promise<void> {
  await withIdentity(flags, (identity) => identity.revokeToken(user, id));
  output(flags, { revoked: id }, `revoked token ${id}`);
}

/** `berth bundle <user>`: a client bundle written to a file (the same builder as POST /api/v1/bundle). */
export async function bundleCreate(user: string, flags: IdentityFlags & { host: string; scope: string[]; expiresDays?: string; ca?: string; out?: string }): Promise<void> {
  const { readFile, writeFile } = await import('node:fs/promises');
  const { createClientBundle } = await import('../../identity/index.js');
  const caCertificate = flags.ca ? await readFile(flags.ca, 'utf8').catch(() => {
    throw new ExitError(`--ca ${flags.ca}: cannot read the CA certificate`, 2);
  }) : null;
  if (!/^[A-Za-z0-9.\-[\]:]{1,255}$/.test(flags.host)) throw new ExitError(`--host ${flags.host}: expected HOST:PORT as clients reach the registry`, 2);
  const expiresInDays = flags.expiresDays === undefined ? undefined : Number(flags.expiresDays);
  const bundle = await withIdentity(flags, (id) => createClientBundle(id, {
    user, registryHost: flags.host, caCertificate,
    scopes: flags.scope.length > 0 ? flags.scope.map(parseScope) : undefined,
    expiresInDays,
  }));
  const out = flags.out ?? `berth-bundle-${user}.tar.gz`;
  await writeFile(out, bundle.archive, { mode: 0o600 });
  output(flags, { file: out, tokenId: bundle.tokenId }, `wrote ${out} (access token ${bundle.tokenId}); on the client: tar xzf ${out} && cd berth-bundle && . ./env.sh${caCertificate ? ' && sudo sh install-ca.sh' : ''}`);
}
