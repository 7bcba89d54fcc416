import { readFile } from 'node:fs/promises';
import { RegistryError } from '../../../errors/index.js';
import { bundleSchema, createClientBundle } from '../../../identity/index.js';
import { readJson, type ApiCall } from './common.js';

/**
 * POST /api/v1/bundle: a client bundle for the caller (UCP's "download client
 * bundle"): CA certificate, a fresh access token (default: pull and push on
 * the caller's own namespace) in an auth file, env.sh and install-ca.sh.
 */
export async function createBundle(call: ApiCall): Promise<void> {
  const { ctx } = call;
  const hasBody = ctx.req.headers['content-length'] !== undefined && ctx.req.headers['content-length'] !== '0';
  const parsed = bundleSchema.safeParse(hasBody ? await readJson(ctx) : {});
  if (!parsed.success) {
    throw new RegistryError('BERTH_INVALID', 'invalid bundle request', { detail: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
  }
  const tls = ctx.services.config.http.tls;
  const caCertificate = tls ? await readFile(tls.caCertificate, 'utf8').catch(() => null) : null;
  const bundle = await createClientBundle(call.identity, {
    user: call.caller.name,
    registryHost: new URL(ctx.baseUrl).host,
    caCertificate,
    scopes: parsed.data.scopes,
    expiresInDays: parsed.data.expiresInDays,
  });
  ctx.res.writeHead(200, {
    'Content-Type': 'application/gzip',
    'Content-Length': bundle.archive.length,
    'Content-Disposition': `attachment; filename="berth-bundle-${call.caller.name}.tar.gz"`,
    'X-Berth-Token-Id': bundle.tokenId,
    'Cache-Control': 'no-store',
  });
  ctx.res.end(bundle.archive);
}
