import { output, withIdentity, type IdentityFlags } from './identity-context.js';

export async function orgCreate(name: string, flags: IdentityFlags): Promise<void> {
  const org = await withIdentity(flags, (id) => id.createOrganization(name));
  output(flags, org, `created organization ${name}`);
}

export async function orgList(flags: IdentityFlags): Promise<void> {
  const orgs = await withIdentity(flags, (id) => id.listOrganizations());
  output(flags, orgs, orgs.join('\n'));
}

export async function orgDelete(name: string, flags: IdentityFlags): Promise<void> {
  await withIdentity(flags, (id) => id.deleteOrganization(name));
  output(flags, { deleted: name }, `deleted organization ${name} and its teams`);
}
