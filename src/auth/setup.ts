import type { AuthConfig } from '../config/index.js';
import type { LoginAttemptStore } from '../metadata/index.js';
import { openAccess, type AccessController } from './access.js';
import { HtpasswdAuthenticator } from './authenticator.js';
import { BasicAccessController, BearerAccessController } from './controllers.js';
import { HtpasswdFile, type HtpasswdProblem } from './htpasswd.js';
import { loadCertBundle, loadOrCreateSigningKey } from './keys.js';
import { LoginLimiter } from './login-limiter.js';
import { authenticatedFullAccess, type AccessPolicy } from './policy.js';
import type { Authenticator } from './authenticator.js';
import { TokenService } from './token-service.js';
import { RegistryHostNames } from './repository-name.js';

export interface AuthSetup {
  access: AccessController;
  /** The failed-login limiter, for operators (list and clear lockouts); null without authentication. */
  limiter: LoginLimiter | null;
  /** Checks user names and passwords (Basic credentials of the management API); null without users. */
  authenticator: Authenticator | null;
  /** Berth's own token endpoint, when Berth issues tokens. */
  tokens: TokenService | null;
  /** Start-up facts worth logging (never secrets). */
  summary: Record<string, unknown>;
}

export interface AuthOptions {
  /** The failed-login windows, in the shared database, so that login limits hold across instances. */
  loginAttempts: LoginAttemptStore;
  /**
   * Users and grants from Berth's database (auth.token without htpasswd and
   * rootcertbundle); built by the composition root, which owns the database.
   */
  database?: (limiter: LoginLimiter) => { authenticator: Authenticator; policy: AccessPolicy };
  /** The names this registry answers to (http.host, http.aliases); see RegistryHostNames. */
  hosts?: RegistryHostNames;
  /** Where lockouts are reported (warn level, with the user name and address; never a password). */
  log?: { warn(obj: object, msg: string): void };
}

/** Each unusable htpasswd line, named with its user, at warn level (at start and at every reload). */
function htpasswdWarnings(path: string, log: AuthOptions['log']) {
  return (problems: readonly HtpasswdProblem[]) => {
    for (const p of problems) log?.warn({ 'auth.htpasswd.path': path, line: p.line, user: p.user ?? undefined }, `htpasswd line not usable: ${p.message}`);
  };
}

/** Builds access control from the resolved config; reads files, so it is async and may throw. */
export async function createAuth(config: AuthConfig, options: AuthOptions): Promise<AuthSetup> {
  if (config.kind === 'none') return { access: openAccess, limiter: null, authenticator: null, tokens: null, summary: { 'auth.kind': 'none' } };
  const limiter = new LoginLimiter({
    ...config.limits,
    store: options.loginAttempts,
    onLockout: (l) => options.log?.warn({
      'lockout.kind': l.kind, user: l.user ?? undefined, 'client.address': l.address ?? undefined, 'lockout.failures': l.failures, 'lockout.until': new Date(l.until).toISOString(),
    }, 'login locked out after too many failures'),
  });
  let policy: AccessPolicy = authenticatedFullAccess;

  if (config.kind === 'htpasswd') {
    const file = new HtpasswdFile(config.path, { onProblems: htpasswdWarnings(config.path, options.log) });
    await file.load();
    const authenticator = new HtpasswdAuthenticator(file, limiter, options.log);
    return {
      access: new BasicAccessController({ realm: config.realm, authenticator, policy }),
      limiter,
      authenticator,
      tokens: null,
      summary: { 'auth.kind': 'htpasswd', 'auth.htpasswd.path': config.path, 'auth.htpasswd.invalid_lines': file.invalidLines },
    };
  }

  const bundle = config.rootCertBundle ? await loadCertBundle(config.rootCertBundle) : undefined;
  let tokens: TokenService | null = null;
  let own;
  let users: Authenticator | undefined;
  if (config.htpasswd) {
    const file = new HtpasswdFile(config.htpasswd.path, { onProblems: htpasswdWarnings(config.htpasswd.path, options.log) });
    await file.load();
    users = new HtpasswdAuthenticator(file, limiter, options.log);
  } else if (config.database) {
    if (!options.database) throw new Error('auth: users from the database need the identity services');
    const db = options.database(limiter);
    users = db.authenticator;
    policy = db.policy;
  }
  if (users) {
    own = await loadOrCreateSigningKey(config.signingKey);
    tokens = new TokenService({
      authenticator: users,
      policy,
      key: own,
      service: config.service,
      issuer: config.issuer,
      ttlSeconds: config.ttlSeconds,
      refreshTtlSeconds: 30 * 24 * 3600,
      realm: config.htpasswd?.realm ?? 'berth',
      hosts: options.hosts ?? new RegistryHostNames([]),
    });
  }
  return {
    access: new BearerAccessController({
      realm: config.realm, service: config.service, issuer: config.issuer, keys: { own: own ? [own] : [], bundle },
      // Berth's own users: a missing scope it would grant is 401 insufficient_scope, one it would not is 403.
      policy: users ? policy : undefined,
      // Users from the database can be revoked: tokens must name a live session.
      sessions: config.database && users?.sessionValid ? {
        sessionValid: (u, s) => (users as Authenticator).sessionValid?.(u, s) ?? Promise.resolve(false),
        onSessionsEnded: (fn) => (users as Authenticator).onSessionsEnded?.(fn),
      } : undefined,
    }),
    limiter,
    authenticator: users ?? null,
    tokens,
    summary: {
      'auth.kind': 'token', 'auth.users': config.htpasswd ? 'htpasswd' : config.database ? 'database' : 'external', 'auth.anonymous': config.database ? config.anonymous : undefined,
      'auth.token.service': config.service, 'auth.token.issuer': config.issuer,
      'auth.token.realm': config.realm ?? '<base URL>/auth/token', 'auth.token.issues': tokens !== null, 'auth.token.kid': own?.kid,
    },
  };
}
