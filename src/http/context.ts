import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log/index.js';
import type { Registry } from '../registry/index.js';
import type { AccessController, Authenticator, Principal, TokenService } from '../auth/index.js';
import type { IdentityService } from '../identity/index.js';
import type { AuditStore } from '../metadata/index.js';
import type { BerthConfig } from '../config/index.js';
import type { RouteMatch } from './routes.js';

/** What a handler gets: the request, its route parameters and the services. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  match: RouteMatch;
  log: Logger;
  requestId: string;
  /** Aborted when the client goes away before the request completes. */
  signal: AbortSignal;
  principal: Principal;
  services: HttpServices;
  /** The registry's external base URL for this request. */
  baseUrl: string;
  /** Builds a Location/Link URL for a path, absolute unless http.relativeurls. */
  location(path: string): string;
}

export interface HttpServices {
  registry: Registry;
  access: AccessController;
  /** Checks Basic credentials of the management API; null without users. */
  authenticator: Authenticator | null;
  /** The audit log (pushes, pulls, deletes); null unless users come from Berth's database. */
  audit: AuditStore | null;
  /** Users, organizations, teams, grants and tokens; null unless users come from Berth's database. */
  identity: IdentityService | null;
  /** Berth's token endpoint, when it issues tokens. */
  tokens: TokenService | null;
  config: BerthConfig;
  /** Liveness, for /healthz: the process is up and the database answers. */
  health(): Promise<{ ok: boolean; checks: Record<string, string> }>;
  /** Readiness of every backing service (database, storage), for /readyz. */
  ready(): Promise<{ ok: boolean; checks: Record<string, string> }>;
}

export type Handler = (ctx: RequestContext) => Promise<void>;
