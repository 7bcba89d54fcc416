import { ExitError } from '../exit-error.js';
import { output, withIdentity, type IdentityFlags } from './identity-context.js';

/** `user:alice` or `team:acme/ci`; `repository:acme/app` or `namespace:acme`. */
function pair(value: string, what: string, kinds: string[]): [string, string] {
  const i = value.indexOf(':');
  const kind = value.slice(0, i);
  if (i <= 0 || !kinds.includes(kind)) throw new ExitError(`${what} must be ${kinds.map((k) => `${k}:NAME`).join(' or ')}, got "${value}"`, 2);
  return [kind, value.slice(i + 1)];
}

const subjectOf = (s: string) => pair(s, 'the subject', ['user', 'team']);
const resourceOf = (r: string) => pair(r, 'the resource', ['repository', 'namespace']);

/** `berth grant add user:alice namespace:acme write` */
export async function grantAdd(subject: string, resource: string, role: string, flags: IdentityFlags): Promise<void> {
  const [subjectKind, s] = subjectOf(subject);
  const [resourceKind, r] = resourceOf(resource);
  const g = await withIdentity(flags, (id) => id.grant({ subjectKind, subject: s, resourceKind, resource: r, role }));
  output(flags, g, `${subject} has ${role} on ${resource}`);
}

export async function grantRemove(subject: string, resource: string, flags: IdentityFlags): Promise<void> {
  const [subjectKind, s] = subjectOf(subject);
  const [resourceKind, r] = resourceOf(resource);
  await withIdentity(flags, (id) => id.revokeGrant({ subjectKind, subject: s, resourceKind, resource: r }));
  output(flags, { removed: { subject, resource } }, `removed the grant of ${subject} on ${resource}`);
}

export async function grantList(flags: IdentityFlags & { subject?: string }): Promise<void> {
  const filter = flags.subject ? subjectOf(flags.subject) : undefined;
  const grants = await withIdentity(flags, (id) => id.listGrants(filter ? { subjectKind: filter[0] as 'user' | 'team', subject: filter[1] } : undefined));
  output(flags, grants, grants.map((g) => `${g.subjectKind}:${g.subject}\t${g.resourceKind}:${g.resource}\t${g.role}`).join('\n'));
}

/** `berth grant public namespace:acme [--private]` */
export async function grantPublic(resource: string, flags: IdentityFlags & { private?: boolean }): Promise<void> {
  const [resourceKind, r] = resourceOf(resource);
  const v = await withIdentity(flags, (id) => id.setVisibility({ resourceKind, resource: r, public: !flags.private }));
  output(flags, v, `${resource} is ${v.isPublic ? 'public' : 'private'}`);
}
