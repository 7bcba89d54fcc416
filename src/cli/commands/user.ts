import { randomBytes } from 'node:crypto';
import { output, readPasswordFromStdin, withIdentity, type IdentityFlags } from './identity-context.js';

type Flags = IdentityFlags & { passwordStdin?: boolean; admin?: boolean };

/** `berth user create NAME [--admin] [--password-stdin]`: without a password on stdin, one is generated and printed once. */
export async function userCreate(name: string, flags: Flags): Promise<void> {
  const given = flags.passwordStdin ? await readPasswordFromStdin() : undefined;
  const password = given ?? randomBytes(18).toString('base64url');
  const user = await withIdentity(flags, (id) => id.createUser({ name, password, admin: flags.admin ?? false }));
  const shown = given === undefined ? { password } : {};
  output(flags, { ...user, ...shown }, `created user ${user.name}${user.admin ? ' (administrator)' : ''}${given === undefined ? `\npassword: ${password}\n(shown once; change it with \`berth user passwd ${name} --password-stdin\`)` : ''}`);
}

export async function userList(flags: IdentityFlags): Promise<void> {
  const users = await withIdentity(flags, (id) => id.listUsers());
  output(flags, users, users.map((u) => `${u.name}${u.admin ? '\tadmin' : ''}${u.disabled ? '\tdisabled' : ''}`).join('\n'));
}

export async function userPasswd(name: string, flags: Flags): Promise<void> {
  const given = flags.passwordStdin ? await readPasswordFromStdin() : undefined;
  const password = given ?? randomBytes(18).toString('base64url');
  await withIdentity(flags, (id) => id.setPassword(name, password));
  output(flags, { name, ...(given === undefined ? { password } : {}) }, given === undefined ? `new password of ${name}: ${password}\n(shown once)` : `password of ${name} changed`);
}

export async function userSet(name: string, change: { admin?: boolean; disabled?: boolean }, flags: IdentityFlags): Promise<void> {
  const user = await withIdentity(flags, (id) => id.updateUser(name, change));
  output(flags, user, `${user.name}: ${user.admin ? 'administrator' : 'user'}, ${user.disabled ? 'disabled' : 'enabled'}`);
}

export async function userDelete(name: string, flags: IdentityFlags): Promise<void> {
  await withIdentity(flags, (id) => id.deleteUser(name));
  output(flags, { deleted: name }, `deleted user ${name}`);
}
