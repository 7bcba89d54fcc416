import { RegistryError } from '../errors/index.js';

/**
 * The one place that decides who may do what. Every HTTP route declares the
 * access it needs and asks the AccessController before doing anything; the
 * registry core never learns how a client authenticated.
 *
 * Implementations: `openAccess` (no `auth` section: anyone may do anything,
 * as registry:2 without auth); htpasswd, bearer tokens and grants arrive
 * with the identity-and-access issue behind this same interface.
 */
export type Action = 'pull' | 'push' | 'delete';

export interface AccessRequest {
  type: 'repository' | 'registry';
  /** Repository name, or `catalog` for the registry-wide listing. */
  name: string;
  actions: Action[];
}

export interface Principal {
  kind: 'anonymous' | 'user' | 'token';
  /** User name (for `token`, the user the access token belongs to); null when anonymous. */
  name: string | null;
  /**
   * An access token's limits: the principal may do at most these actions
   * on these repositories (`repository`) or repositories under these
   * namespaces (`namespace`). The policy intersects them with the user's grants.
   */
  scopes?: readonly PrincipalScope[] | undefined;
  /**
   * The login session this principal came from, when its authenticator
   * can revoke sessions (users from Berth's database): a stamp of the
   * user's credentials, or the access token used. Tokens carry it, and a
   * token whose session ended (password changed, user disabled or deleted,
   * access token revoked) stops working at once.
   */
  session?: string | undefined;
}

export interface PrincipalScope {
  type: 'repository' | 'namespace';
  name: string;
  actions: readonly Action[];
}

export interface AuthRequest {
  /** The raw Authorization header, if any. Never logged. */
  authorization: string | undefined;
  remoteAddress: string;
  /** The registry's external base URL for this request (builds the token realm). */
  baseUrl: string;
}

export interface AccessController {
  /**
   * Authenticates the caller and checks every requested access. Throws
   * RegistryError UNAUTHORIZED (with a `WWW-Authenticate` challenge header)
   * when credentials are missing or wrong, DENIED when they are right but
   * insufficient, TOOMANYREQUESTS when rate limited.
   */
  authorize(request: AuthRequest, access: readonly AccessRequest[]): Promise<Principal>;
}

const anonymous: Principal = Object.freeze({ kind: 'anonymous', name: null });

/** No authentication configured: every request is allowed, as anonymous. */
export const openAccess: AccessController = {
  async authorize(): Promise<Principal> {
    return anonymous;
  },
};

/** Refuses everything; a safe default for code paths that must be configured first. */
export const closedAccess: AccessController = {
  async authorize(): Promise<Principal> {
    throw new RegistryError('DENIED');
  },
};
