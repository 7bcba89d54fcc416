import { openApiDocument } from '../../openapi.js';
import { sendJson } from '../../respond.js';
import type { RequestContext } from '../../context.js';

const cache = new WeakMap<object, unknown>();

/** GET /api/v1/openapi.json: the document of the route table this request was routed by. */
export async function openApi(ctx: RequestContext): Promise<void> {
  let doc = cache.get(ctx.routes);
  if (!doc) {
    doc = openApiDocument(ctx.routes);
    cache.set(ctx.routes, doc);
  }
  sendJson(ctx.res, 200, doc);
}
