import { RegistryError } from '../../../errors/index.js';
import { sendEmpty, sendJson } from '../../respond.js';
import { readObject, type ApiCall } from './common.js';

const NO_STORE = { 'Cache-Control': 'no-store' };

export async function me({ ctx, identity, caller }: ApiCall): Promise<void> {
  sendJson(ctx.res, 200, { ...(await identity.getUser(caller.name)), teams: await identity.teamsOfUser(caller.name) }, NO_STORE);
}

export async function listUsers({ ctx, identity }: ApiCall): Promise<void> {
  sendJson(ctx.res, 200, { users: await identity.listUsers() }, NO_STORE);
}

export async function createUser({ ctx, identity }: ApiCall): Promise<void> {
  sendJson(ctx.res, 201, await identity.createUser(await readObject(ctx)), NO_STORE);
}

/** Administrators see anyone; a user sees itself. */
export async function getUser({ ctx, identity, caller, param }: ApiCall): Promise<void> {
  const name = param('user');
  if (!caller.isAdmin && caller.name !== name) throw new RegistryError('DENIED', 'only administrators may see other users');
  sendJson(ctx.res, 200, { ...(await identity.getUser(name)), teams: await identity.teamsOfUser(name) }, NO_STORE);
}

/** Administrators change anything; a user may change only its own password. */
export async function updateUser({ ctx, identity, caller, param }: ApiCall): Promise<void> {
  const name = param('user');
  const body = await readObject(ctx);
  if (!caller.isAdmin && (caller.name !== name || Object.keys(body).some((k) => k !== 'password'))) {
    throw new RegistryError('DENIED', 'only administrators may change users other than themselves, or anything but a password');
  }
  if (caller.name === name && (body.admin === false || body.disabled === true)) {
    throw new RegistryError('BERTH_CONFLICT', 'administrators cannot demote or disable themselves; ask another administrator');
  }
  sendJson(ctx.res, 200, await identity.updateUser(name, body), NO_STORE);
}

export async function deleteUser({ ctx, identity, caller, param }: ApiCall): Promise<void> {
  const name = param('user');
  if (name === caller.name) throw new RegistryError('BERTH_CONFLICT', 'administrators cannot delete themselves; ask another administrator');
  await identity.deleteUser(name);
  sendEmpty(ctx.res, 204);
}
