import { RegistryError } from '../../../errors/index.js';
import { parseInput, subjectKindSchema } from '../../../identity/index.js';
import { sendEmpty, sendJson } from '../../respond.js';
import { readObject, type ApiCall } from './common.js';

/** GET /api/v1/grants[?subjectKind=user&subject=alice] */
export async function listGrants({ ctx, identity }: ApiCall): Promise<void> {
  const q = ctx.url.searchParams;
  const kind = q.get('subjectKind');
  const subject = q.get('subject');
  if ((kind === null) !== (subject === null)) throw new RegistryError('BERTH_INVALID', 'subjectKind and subject go together', { detail: [{ field: 'subject', message: 'give both subjectKind and subject, or neither' }] });
  const filter = kind !== null && subject !== null ? { subjectKind: parseInput(subjectKindSchema, kind), subject } : undefined;
  sendJson(ctx.res, 200, { grants: await identity.listGrants(filter) });
}

/** POST /api/v1/grants {subjectKind, subject, resourceKind, resource, role}: creates or changes the role. */
export async function createGrant({ ctx, identity }: ApiCall): Promise<void> {
  sendJson(ctx.res, 200, await identity.grant(await readObject(ctx)));
}

/** DELETE /api/v1/grants?subjectKind=&subject=&resourceKind=&resource= */
export async function deleteGrant({ ctx, identity }: ApiCall): Promise<void> {
  const q = ctx.url.searchParams;
  await identity.revokeGrant({
    subjectKind: q.get('subjectKind'), subject: q.get('subject'), resourceKind: q.get('resourceKind'), resource: q.get('resource'),
  });
  sendEmpty(ctx.res, 204);
}

export async function listVisibility({ ctx, identity }: ApiCall): Promise<void> {
  sendJson(ctx.res, 200, { visibility: await identity.listVisibility() });
}

/** PUT /api/v1/visibility {resourceKind, resource, public} */
export async function putVisibility({ ctx, identity }: ApiCall): Promise<void> {
  sendJson(ctx.res, 200, await identity.setVisibility(await readObject(ctx)));
}
