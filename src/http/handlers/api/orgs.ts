import { sendEmpty, sendJson } from '../../respond.js';
import { readObject, type ApiCall } from './common.js';

export async function listOrgs({ ctx, identity }: ApiCall): Promise<void> {
  sendJson(ctx.res, 200, { organizations: await identity.listOrganizations() });
}

export async function createOrg({ ctx, identity }: ApiCall): Promise<void> {
  const body = await readObject(ctx);
  sendJson(ctx.res, 201, await identity.createOrganization(body.name));
}

export async function getOrg({ ctx, identity, param }: ApiCall): Promise<void> {
  const org = param('org');
  sendJson(ctx.res, 200, { name: org, teams: await identity.listTeams(org) });
}

export async function deleteOrg({ ctx, identity, param }: ApiCall): Promise<void> {
  await identity.deleteOrganization(param('org'));
  sendEmpty(ctx.res, 204);
}

export async function listTeams({ ctx, identity, param }: ApiCall): Promise<void> {
  sendJson(ctx.res, 200, { teams: await identity.listTeams(param('org')) });
}

export async function createTeam({ ctx, identity, param }: ApiCall): Promise<void> {
  const body = await readObject(ctx);
  sendJson(ctx.res, 201, await identity.createTeam(param('org'), body.name));
}

export async function getTeam({ ctx, identity, param }: ApiCall): Promise<void> {
  const org = param('org');
  const team = param('team');
  sendJson(ctx.res, 200, { org, name: team, members: await identity.listMembers(org, team) });
}

export async function deleteTeam({ ctx, identity, param }: ApiCall): Promise<void> {
  await identity.deleteTeam(param('org'), param('team'));
  sendEmpty(ctx.res, 204);
}

export async function listMembers({ ctx, identity, param }: ApiCall): Promise<void> {
  sendJson(ctx.res, 200, { members: await identity.listMembers(param('org'), param('team')) });
}

export async function addMember({ ctx, identity, param }: ApiCall): Promise<void> {
  await identity.addMember(param('org'), param('team'), param('user'));
  sendEmpty(ctx.res, 204);
}

export async function removeMember({ ctx, identity, param }: ApiCall): Promise<void> {
  await identity.removeMember(param('org'), param('team'), param('user'));
  sendEmpty(ctx.res, 204);
}
