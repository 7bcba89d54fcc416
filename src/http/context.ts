import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log/index.js';
import type { Registry } from '../registry/index.js';
import type { AccessController, Principal, TokenService } from '../auth/index.js';
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
  /** Builds a Location/Link URL for a path, absolute unless http.relativeurls. */
  location(path: string): string;
}

export interface HttpServices {
  registry: Registry;
  access: AccessController;
  /** Berth's token endpoint, when it issues tokens. */
  tokens: TokenService | null;
  config: BerthConfig;
  /** Liveness, for /healthz: the process is up and the database answers. */
  health(): Promise<{ ok: boolean; checks: Record<string, string> }>;
  /** Readiness of every backing service (database, storage), for /readyz. */
  ready(): Promise<{ ok: boolean; checks: Record<string, string> }>;
}

export type Handler = (ctx: RequestContext) => Promise<void>;
