import { sendJson, type RouteGroup } from '../http/index.js';
import type { SignatureSource, TrustedKey } from './types.js';
import { listSignatures } from './verify.js';

export interface SignatureRoutesOptions {
  /** Where signatures are read: the registry core (reading a signature is not a pull, and must not meet the pull policy). */
  source: SignatureSource;
  /**
   * The keys a repository trusts, which every listed signature is verified
   * against. This is where the trust policy plugs in; without it every
   * signature is listed as unknown-key (or worse).
   */
  keysFor?: (repository: string) => Promise<readonly TrustedKey[]>;
}

export const SIGNATURES_PATH = '/api/v1/repositories/{name+}/signatures/{reference}';

/**
 * The signatures of an image by API: who may pull a repository may list
 * the signatures of its images, found as referrers or by cosign's `.sig`
 * tag, with the verdict of each against the repository's trusted keys.
 */
export function signatureRoutes(options: SignatureRoutesOptions): RouteGroup {
  const keysFor = options.keysFor ?? (async () => []);
  return {
    name: 'signatures',
    description: 'OCI signatures (cosign / sigstore simple signing, notation JWS) of an image, with their verification against the repository\'s trusted keys.',
    routes: [
      {
        name: 'api.signatures.list', method: 'GET', path: SIGNATURES_PATH,
        access: { kind: 'repository', actions: ['pull'], param: 'name', hostPrefixed: true },
        doc: { summary: 'the signatures of an image (by tag or digest): { repository, reference, digest, signatures: [{ format, artifactDigest, via, index, verified, keyName, problem, detail, signer, signedAt }] }' },
        handler: async (ctx) => {
          const repository = ctx.match.name;
          const reference = ctx.match.params.reference;
          if (repository === undefined || reference === undefined) throw new Error('a signatures route without {name} or {reference}');
          const { digest, signatures } = await listSignatures(options.source, repository, reference, await keysFor(repository));
          sendJson(ctx.res, 200, { repository, reference, digest, signatures });
        },
      },
    ],
  };
}
