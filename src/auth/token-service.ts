import { jwtVerify, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import { RegistryError } from '../errors/index.js';
import { isValidRepositoryName } from '../registry/index.js';
import type { AccessRequest, Principal } from './access.js';
import type { Authenticator } from './authenticator.js';
import { parseBasic } from './basic.js';
import type { AccessPolicy } from './policy.js';
import type { RegistryHostNames } from './repository-name.js';
import { parseScope } from './scope.js';
import { issueToken } from './tokens.js';
import type { SigningKey } from './keys.js';

const MAX_SCOPES = 20;

export interface TokenServiceOptions {
  authenticator: Authenticator;
  policy: AccessPolicy;
  key: SigningKey;
  service: string;
  issuer: string;
  ttlSeconds: number;
  refreshTtlSeconds: number;
  /** Realm named in the token endpoint's own Basic challenge. */
  realm: string;
  /** The configured names of this registry (http.host, http.aliases): a scope's host prefix is removed only for these. */
  hosts: RegistryHostNames;
}

export interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
}

/** A token request, from the GET query or the OAuth2 POST form. */
export interface TokenRequest {
  authorization: string | undefined;
  remoteAddress: string;
  /** Host names the request reached this registry by (Host header, external base URL): also names of this registry. */
  requestHosts: readonly (string | undefined)[];
  service: string | null;
  scopes: string[];
  /** GET `offline_token=true` or POST `access_type=offline`: also return a refresh token. */
  offline: boolean;
  /** POST only. */
  grantType?: string | null;
  username?: string | null;
  password?: string | null;
  refreshToken?: string | null;
}

/**
 * Berth's own token endpoint (Docker token spec: GET with Basic credentials;
 * OAuth2 POST with grant_type=password or refresh_token, which `docker login`
 * uses). Grants only what the AccessPolicy allows for each requested scope;
 * anonymous requests get anonymous grants.
 */
export class TokenService {
  private readonly refreshAudience: string;

  constructor(private readonly o: TokenServiceOptions) {
    this.refreshAudience = `${o.service}#refresh`;
  }

  get service(): string {
    return this.o.service;
  }

  private unauthorized(message: string): RegistryError {
    return new RegistryError('UNAUTHORIZED', message, { headers: { 'WWW-Authenticate': `Basic realm="${this.o.realm.replace(/"/g, '')}"` } });
  }

  async handle(req: TokenRequest): Promise<TokenResponse> {
    if (req.service !== null && req.service !== this.o.service) {
      throw new RegistryError('BERTH_TOKEN_REQUEST_INVALID', `this token service issues tokens for service "${this.o.service}"`);
    }
    if (req.scopes.length > MAX_SCOPES) throw new RegistryError('BERTH_TOKEN_REQUEST_INVALID', `at most ${MAX_SCOPES} scopes per request`);
    const principal = await this.authenticate(req);
    const access = await this.grant(principal, req.scopes, this.o.hosts.with(req.requestHosts));
    const { token, issuedAt, expiresIn } = await issueToken(this.o.key, {
      issuer: this.o.issuer, subject: principal.name ?? '', audience: this.o.service, access, ttlSeconds: this.o.ttlSeconds,
      accessTokenLogin: principal.kind === 'token',
      session: principal.session,
    });
    const res: TokenResponse = { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt.toISOString() };
    if (req.offline && principal.kind === 'user' && principal.name) {
      res.refresh_token = req.refreshToken ?? (await this.refreshTokenFor(principal.name, principal.session));
    }
    return res;
  }

  private async authenticate(req: TokenRequest): Promise<Principal> {
    if (req.grantType !== undefined && req.grantType !== null) {
      if (req.grantType === 'password') {
        if (!req.username || req.password === null || req.password === undefined) throw new RegistryError('BERTH_TOKEN_REQUEST_INVALID', 'username and password are required');
        const p = await this.o.authenticator.login(req.username, req.password, req.remoteAddress);
        if (!p) throw this.unauthorized('invalid username or password');
        return p;
      }
      if (req.grantType === 'refresh_token') {
        if (!req.refreshToken) throw new RegistryError('BERTH_TOKEN_REQUEST_INVALID', 'refresh_token is required');
        return this.principalOfRefreshToken(req.refreshToken);
      }
      throw new RegistryError('BERTH_TOKEN_REQUEST_INVALID', 'grant_type must be password or refresh_token');
    }
    const creds = parseBasic(req.authorization);
    if (creds === 'invalid') throw this.unauthorized('malformed credentials');
    if (creds === null) return { kind: 'anonymous', name: null };
    const p = await this.o.authenticator.login(creds.username, creds.password, req.remoteAddress);
    if (!p) throw this.unauthorized('invalid username or password');
    return p;
  }

  /**
   * What the principal gets for each scope. The name that is authorized is
   * the name written into the claim: the canonical repository name, with a
   * host prefix removed only when it names this registry.
   */
  private async grant(principal: Principal, scopes: string[], hosts: RegistryHostNames): Promise<AccessRequest[]> {
    const out: AccessRequest[] = [];
    for (const s of scopes.flatMap((x) => x.split(' ')).filter(Boolean)) {
      const request = parseScope(s);
      if (!request) continue;
      const name = request.type === 'repository' ? hosts.canonicalRepository(request.name) : request.name;
      if (request.type === 'repository' && !isValidRepositoryName(name)) continue;
      const granted = await this.o.policy.grant(principal, { ...request, name });
      const actions = request.actions.filter((a) => granted.includes(a));
      if (actions.length > 0) out.push({ type: request.type, name, actions });
    }
    return out;
  }

  /** A refresh token bound to the login session: a password change or a disabled user ends it. */
  private async refreshTokenFor(username: string, session: string | undefined): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(session ? { berth_session: session } : {})
      .setProtectedHeader({ alg: this.o.key.alg, kid: this.o.key.kid, typ: 'JWT' })
      .setIssuer(this.o.issuer).setSubject(username).setAudience(this.refreshAudience)
      .setIssuedAt(now).setExpirationTime(now + this.o.refreshTtlSeconds).setJti(randomUUID())
      .sign(this.o.key.privateKey);
  }

  private async principalOfRefreshToken(token: string): Promise<Principal> {
    try {
      const { payload } = await jwtVerify(token, this.o.key.publicKey, { issuer: this.o.issuer, audience: this.refreshAudience, algorithms: [this.o.key.alg] });
      const session = typeof payload.berth_session === 'string' ? payload.berth_session : undefined;
      const { authenticator } = this.o;
      if (payload.sub && authenticator.sessionValid) {
        if (session && (await authenticator.sessionValid(payload.sub, session))) return { kind: 'user', name: payload.sub, session };
      } else if (payload.sub && (await authenticator.exists(payload.sub))) {
        return { kind: 'user', name: payload.sub };
      }
    } catch {
      // fall through: any failure is the same answer
    }
    throw this.unauthorized('invalid or expired refresh token');
  }
}
