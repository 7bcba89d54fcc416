/**
 * TUF role names as notary accepts them (`tuf/data/roles.go`).
 *
 * A delegation is `targets/<name>[/<name>…]` using only `[-a-z0-9_/]`, shorter
 * than 256 characters and path-clean (Go's `path.Clean` leaves it unchanged:
 * with that alphabet, no empty segment and no trailing `/`).
 */

export const ROOT_ROLE = 'root';
export const TARGETS_ROLE = 'targets';
export const SNAPSHOT_ROLE = 'snapshot';
export const TIMESTAMP_ROLE = 'timestamp';

/** The four roles every root must define, in notary's order. */
export const BASE_ROLES = [ROOT_ROLE, TARGETS_ROLE, SNAPSHOT_ROLE, TIMESTAMP_ROLE] as const;
export type BaseRole = (typeof BASE_ROLES)[number];

const DELEGATION_CHARS = /^[-a-z0-9_/]+$/;

/** Whether `name` is a valid delegation role name (`targets/releases`, `targets/a/b`). */
export function isDelegationRole(name: string): boolean {
  return (
    name.startsWith('targets/') &&
    DELEGATION_CHARS.test(name) &&
    name.length < 256 &&
    !name.endsWith('/') &&
    !name.includes('//')
  );
}

/** Whether `name` is one of the four base roles or a valid delegation. */
export function isValidRole(name: string): boolean {
  return (BASE_ROLES as readonly string[]).includes(name) || isDelegationRole(name);
}

/** Whether `name` is a role a client may upload: a valid role other than `timestamp`. */
export function isUploadableRole(name: string): boolean {
  return name !== TIMESTAMP_ROLE && isValidRole(name);
}

/** The parent of a delegation (`targets/a/b` → `targets/a`, `targets/a` → `targets`), as Go's `path.Dir`. */
export function parentRole(name: string): string {
  const i = name.lastIndexOf('/');
  return i < 0 ? '.' : name.slice(0, i);
}

/** Number of `/`-separated segments: the order notary validates targets roles in (parents first). */
export function roleDepth(name: string): number {
  return name.split('/').length;
}

/**
 * The role named by a multipart part's raw `filename`: a trailing `.json` is
 * removed, as notary does (`filename="targets.json"` is `targets`). The result
 * still has to be checked with {@link isUploadableRole}.
 */
export function roleFromFilename(filename: string): string {
  return filename.endsWith('.json') ? filename.slice(0, -'.json'.length) : filename;
}
