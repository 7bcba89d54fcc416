import { RegistryError } from '../../../errors/index.js';
import { sendEmpty, sendJson } from '../../respond.js';
import { readObject, type ApiCall } from './common.js';

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

/** Whose tokens: the caller's own, or (administrators only) `?user=`. */
function owner({ ctx, caller }: ApiCall): string {
  const user = ctx.url.searchParams.get('user');
  if (user === null || user === caller.name) return caller.name;
  if (!caller.isAdmin) throw new RegistryError('DENIED', 'only administrators may manage other users\' tokens');
  return user;
}

export async function listTokens(call: ApiCall): Promise<void> {
  sendJson(call.ctx.res, 200, { tokens: await call.identity.listTokens(owner(call)) }, NO_STORE);
}

/** The secret is in this response only; it is never shown again. */
export async function createToken(call: ApiCall): Promise<void> {
  const body = await readObject(call.ctx);
  const { token, secret } = await call.identity.createToken(owner(call), body);
  sendJson(call.ctx.res, 201, { ...token, secret }, NO_STORE);
}

export async function revokeToken(call: ApiCall): Promise<void> {
  await call.identity.revokeToken(owner(call), call.param('id'));
  sendEmpty(call.ctx.res, 204);
}
