import type { AuthConfig } from '../config/index.js';
import { openAccess, type AccessController } from './access.js';
import { HtpasswdAuthenticator } from './authenticator.js';
import { BasicAccessController, BearerAccessController } from './controllers.js';
import { HtpasswdFile } from './htpasswd.js';
import { loadCertBundle, loadOrCreateSigningKey } from './keys.js';
import { LoginLimiter } from './login-limiter.js';
import { authenticatedFullAccess } from './policy.js';
import { TokenService } from './token-service.js';

export interface AuthSetup {
  access: AccessController;
  /** Berth's own token endpoint, when Berth issues tokens. */
  tokens: TokenService | null;
  /** Start-up facts worth logging (never secrets). */
  summary: Record<string, unknown>;
}

/** Builds access control from the resolved config; reads files, so it is async and may throw. */
export async function createAuth(config: AuthConfig): Promise<AuthSetup> {
  if (config.kind === 'none') return { access: openAccess, tokens: null, summary: { 'auth.kind': 'none' } };
  const limiter = new LoginLimiter(config.limits);
  const policy = authenticatedFullAccess;

  if (config.kind === 'htpasswd') {
    const file = new HtpasswdFile(config.path);
    await file.load();
    return {
      access: new BasicAccessController({ realm: config.realm, authenticator: new HtpasswdAuthenticator(file, limiter), policy }),
      tokens: null,
      summary: { 'auth.kind': 'htpasswd', 'auth.htpasswd.path': config.path, 'auth.htpasswd.invalid_lines': file.invalidLines },
    };
  }

  const bundle = config.rootCertBundle ? await loadCertBundle(config.rootCertBundle) : undefined;
  let tokens: TokenService | null = null;
  let own;
  if (config.htpasswd) {
    const file = new HtpasswdFile(config.htpasswd.path);
    await file.load();
    own = await loadOrCreateSigningKey(config.signingKey);
    tokens = new TokenService({
      authenticator: new HtpasswdAuthenticator(file, limiter),
      policy,
      key: own,
      service: config.service,
      issuer: config.issuer,
      ttlSeconds: config.ttlSeconds,
      refreshTtlSeconds: 30 * 24 * 3600,
      realm: config.htpasswd.realm,
    });
  }
  return {
    access: new BearerAccessController({ realm: config.realm, service: config.service, issuer: config.issuer, keys: { own: own ? [own] : [], bundle } }),
    tokens,
    summary: {
      'auth.kind': 'token', 'auth.token.service': config.service, 'auth.token.issuer': config.issuer,
      'auth.token.realm': config.realm ?? '<base URL>/auth/token', 'auth.token.issues': tokens !== null, 'auth.token.kid': own?.kid,
    },
  };
}
