import { ExitError } from '../exit-error.js';
import { output, withIdentity, type IdentityFlags } from './identity-context.js';

/** `org/team` → its parts. */
function split(ref: string): [string, string] {
  const [org, team, ...rest] = ref.split('/');
  if (!org || !team || rest.length > 0) throw new ExitError(`a team is named ORG/TEAM, got "${ref}"`, 2);
  return [org, team];
}

export async function teamCreate(ref: string, flags: IdentityFlags): Promise<void> {
  const [org, team] = split(ref);
  const t = await withIdentity(flags, (id) => id.createTeam(org, team));
  output(flags, t, `created team ${ref}`);
}

export async function teamList(org: string, flags: IdentityFlags): Promise<void> {
  const teams = await withIdentity(flags, (id) => id.listTeams(org));
  output(flags, teams, teams.map((t) => `${org}/${t}`).join('\n'));
}

export async function teamDelete(ref: string, flags: IdentityFlags): Promise<void> {
  const [org, team] = split(ref);
  await withIdentity(flags, (id) => id.deleteTeam(org, team));
  output(flags, { deleted: ref }, `deleted team ${ref}`);
}

export async function teamAdd(ref: string, user: string, flags: IdentityFlags): Promise<void> {
  const [org, team] = split(ref);
  await withIdentity(flags, (id) => id.addMember(org, team, user));
  output(flags, { team: ref, added: user }, `${user} is a member of ${ref}`);
}

export async function teamRemove(ref: string, user: string, flags: IdentityFlags): Promise<void> {
  const [org, team] = split(ref);
  await withIdentity(flags, (id) => id.removeMember(org, team, user));
  output(flags, { team: ref, removed: user }, `${user} left ${ref}`);
}

export async function teamMembers(ref: string, flags: IdentityFlags): Promise<void> {
  const [org, team] = split(ref);
  const members = await withIdentity(flags, (id) => id.listMembers(org, team));
  output(flags, members, members.join('\n'));
}
