import { z } from 'zod';
import { RegistryError } from '../errors/index.js';
import { isValidNameComponent, isValidRepositoryName } from '../registry/index.js';

/**
 * What the identity services accept, checked once here for the API, the CLI
 * and start-up alike. User, organization and team names are single
 * repository path components, so `<user>/app` and `<org>/app` are valid
 * repository names; a namespace may be nested (`acme/ci`).
 */
export const nameSchema = z.string().min(1).max(64).refine(isValidNameComponent, 'lower-case letters, digits and . _ - between them');
/** bcrypt reads at most 72 bytes; a longer password would be silently cut, so it is refused. */
export const passwordSchema = z.string().min(8, 'at least 8 characters').refine((p) => Buffer.byteLength(p) <= 72, 'at most 72 bytes');
export const roleSchema = z.enum(['read', 'write', 'admin']);
export const resourceKindSchema = z.enum(['repository', 'namespace']);
export const subjectKindSchema = z.enum(['user', 'team']);
export const repositoryPathSchema = z.string().min(1).max(255).refine(isValidRepositoryName, 'a repository name or namespace (lower-case path components)');
export const actionSchema = z.enum(['pull', 'push', 'delete']);

export const createUserSchema = z.object({
  name: nameSchema,
  password: passwordSchema,
  admin: z.boolean().optional(),
}).strict();

export const updateUserSchema = z.object({
  password: passwordSchema.optional(),
  admin: z.boolean().optional(),
  disabled: z.boolean().optional(),
}).strict();

export const grantSchema = z.object({
  subjectKind: subjectKindSchema,
  /** A user name, or `org/team`. */
  subject: z.string().min(1).max(129),
  resourceKind: resourceKindSchema,
  resource: repositoryPathSchema,
  role: roleSchema,
}).strict();

export const grantKeySchema = grantSchema.omit({ role: true });

export const visibilitySchema = z.object({
  resourceKind: resourceKindSchema,
  resource: repositoryPathSchema,
  public: z.boolean(),
}).strict();

export const tokenScopeSchema = z.object({
  type: resourceKindSchema,
  name: repositoryPathSchema,
  actions: z.array(actionSchema).min(1).max(3),
}).strict();

export const createTokenSchema = z.object({
  name: z.string().min(1).max(64).regex(/^[\x20-\x7e]+$/, 'printable ASCII'),
  scopes: z.array(tokenScopeSchema).min(1).max(50),
  /** Lifetime in days; none: never expires. */
  expiresInDays: z.number().int().min(1).max(3650).optional(),
}).strict();

export const bundleSchema = z.object({
  scopes: z.array(tokenScopeSchema).min(1).max(50).optional(),
  expiresInDays: z.number().int().min(1).max(3650).optional(),
}).strict();

export type CreateUserInput = z.input<typeof createUserSchema>;
export type UpdateUserInput = z.input<typeof updateUserSchema>;
export type GrantInput = z.input<typeof grantSchema>;
export type GrantKeyInput = z.input<typeof grantKeySchema>;
export type VisibilityInput = z.input<typeof visibilitySchema>;
export type CreateTokenInput = z.input<typeof createTokenSchema>;

/** Parses `value`, or throws BERTH_INVALID whose detail lists each problem as `path: message`. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
  throw new RegistryError('BERTH_INVALID', issues.map((i) => `${i.field}: ${i.message}`).join('; '), { detail: issues });
}
