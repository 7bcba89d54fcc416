import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log/index.js';
import type { RegistryService } from '../registry/index.js';
import type { EventContext } from '../events/index.js';
import type { AccessController, Authenticator, LoginLimiter, Principal, TokenService } from '../auth/index.js';
import type { IdentityService } from '../identity/index.js';
import type { AuditStore, UserRecord } from '../metadata/index.js';
import type { BerthConfig } from '../config/index.js';
import type { RouteMatch } from './routes.js';
import type { RouteTable } from './route-table.js';

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
  /** For `user`, `admin` and `org-admin` routes: the signed-in user (else null). */
  caller: UserRecord | null;
  /** The route table this request was routed by (the OpenAPI document is derived from it). */
  routes: RouteTable;
  /** The registry as this request sees it: pre-hooks and events stamped with its actor and id. */
  registry: RegistryService;
  services: HttpServices;
  /** The registry's external base URL for this request. */
  baseUrl: string;
  /** Builds a Location/Link URL for a path, absolute unless http.relativeurls. */
  location(path: string): string;
}

export interface HttpServices {
  /** The registry for one request: the core, wrapped in pre-hooks and event listeners by the composition root. */
  registryFor(context: EventContext): RegistryService;
  access: AccessController;
  /** The audit log, for the management API's reader (records come from an event listener); null unless users come from Berth's database. */
  audit: AuditStore | null;
  /** Checks Basic credentials of the management API; null without users. */
  authenticator: Authenticator | null;
  /** Users, organizations, teams, grants and tokens; null unless users come from Berth's database. */
  identity: IdentityService | null;
  /** Berth's token endpoint, when it issues tokens. */
  tokens: TokenService | null;
  /** The failed-login limiter, for the lockout routes; null or absent without authentication. */
  lockouts?: LoginLimiter | null;
  config: BerthConfig;
  /** Liveness, for /healthz: the process is up and the database answers. */
  health(): Promise<{ ok: boolean; checks: Record<string, string> }>;
  /** Readiness of every backing service (database, storage), for /readyz. */
  ready(): Promise<{ ok: boolean; checks: Record<string, string> }>;
  /** Told about every request (Prometheus metrics); absent: nothing is measured. */
  observer?: RequestObserver | undefined;
}

/**
 * The server's one measuring hook: `routed` once a request matched a route
 * (before its access check), `finished` for every request when its answer
 * ended. Routes are named by the route table's names, never by path.
 */
export interface RequestObserver {
  routed(route: string): void;
  /** `route` is null when the request matched no route (and `routed` was not called). Bytes are on the connection, heads included. */
  finished(request: { route: string | null; method: string; status: number; durationMs: number; bytesIn: number; bytesOut: number }): void;
}

export type Handler = (ctx: RequestContext) => Promise<void>;
