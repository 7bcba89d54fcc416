import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { RegistryError, errorCatalog } from '../errors/index.js';
import { addressMatcher } from '../config/index.js';
import { RegistryHostNames } from '../auth/index.js';
import { isValidRepositoryName } from '../registry/index.js';
import type { Logger } from '../log/index.js';
import type { HttpServices, RequestContext } from './context.js';
import { authorizeRoute } from './access.js';
import { coreRouteGroups, frontRouteGroups } from './groups/index.js';
import { RouteTable, type RouteGroup } from './route-table.js';
import type { RouteMatch } from './routes.js';
import { sendError } from './respond.js';
import { serverCipherOptions } from '../tls/ciphers.js';

const REQUEST_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
const HOST_RE = /^[A-Za-z0-9.\-:[\]]{1,255}$/;
const ABORT_CODES = new Set(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'ABORT_ERR', 'EPIPE']);

export interface RegistryServer {
  readonly server: http.Server;
  /** The route table it serves (core groups, then features'). */
  readonly routes: RouteTable;
  /** Requests being answered right now. */
  inFlight(): number;
  listen(host: string, port: number): Promise<AddressInfo>;
  /** Stops accepting, lets in-flight requests finish for up to `drainMs`, then closes the rest. */
  close(drainMs: number): Promise<void>;
}

/**
 * The HTTP front of the registry: routing, authorization, error bodies and
 * access logs. Handlers (handlers/*.ts) turn requests into Registry calls.
 */
export function createRequestHandler(services: HttpServices, logger: Logger, counters: { inFlight: number } = { inFlight: 0 }, routes: RouteTable = new RouteTable(coreRouteGroups)) {
  const { config } = services;
  const extraHeaders = Object.entries(config.http.headers);
  const secure = config.http.tls !== undefined;
  const trustedProxy = addressMatcher(config.http.trustedProxies);
  const hosts = new RegistryHostNames([config.http.baseUrl, ...config.http.aliases]);
  const observer = services.observer;
  // Bytes a connection had read and written when its previous request ended: a request's share is the difference.
  const connectionBytes = new WeakMap<Socket, { read: number; written: number }>();

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    counters.inFlight++;
    const incomingId = req.headers['x-request-id'];
    const requestId = typeof incomingId === 'string' && REQUEST_ID_RE.test(incomingId) ? incomingId : randomUUID();
    // Made on first use: a child logger and an AbortSignal cost a few percent of a manifest GET that needs neither.
    let childLog: Logger | null = null;
    const log = () => (childLog ??= logger.child({ 'http.request.id': requestId }));
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    for (const [name, values] of extraHeaders) res.setHeader(name, values as string[]);

    let ac: AbortController | null = null;
    let closedEarly = false;
    res.once('close', () => {
      if (res.writableFinished) return;
      closedEarly = true;
      ac?.abort(new Error('client closed the connection'));
    });
    const signal = (): AbortSignal => {
      if (!ac) {
        ac = new AbortController();
        if (closedEarly) ac.abort(new Error('client closed the connection'));
      }
      return ac.signal;
    };
    const method = req.method ?? 'GET';
    const head = method === 'HEAD';
    // Read now: once the connection is gone, req.socket is null.
    const remoteAddress = req.socket?.remoteAddress;
    const socket = req.socket as Socket | null;
    let routeName: string | null = null;
    let status = 500;
    let errCode: string | undefined;
    let repo: string | undefined;
    let path = '';
    try {
      // Routing is on the raw path, never a normalised one: `/v2/a/../b` is
      // the repository name `a/../b` (refused below), exactly what a proxy
      // with path rules in front of Berth saw.
      const rawUrl = req.url ?? '/';
      const query = rawUrl.indexOf('?');
      path = query < 0 ? rawUrl : rawUrl.slice(0, query);
      let url: URL;
      try {
        if (!path.startsWith('/')) throw new Error('not origin-form');
        url = new URL(rawUrl, 'http://berth.invalid');
      } catch {
        throw new RegistryError('BERTH_ROUTE_UNKNOWN', 'malformed request URL');
      }
      const found = routes.lookup(method, path);
      if (found.kind === 'not-found') throw new RegistryError('BERTH_ROUTE_UNKNOWN');
      if (found.kind === 'method-not-allowed') throw new RegistryError('BERTH_METHOD_NOT_ALLOWED', undefined, { headers: { Allow: found.allow.join(', ') } });
      const { route: r, params } = found;
      routeName = r.name;
      observer?.routed(r.name);
      const auth = { authorization: req.headers.authorization, remoteAddress: remoteAddress ?? '', baseUrl: baseUrl(req) };
      // The one canonical repository name: authorized below, acted on by the handler.
      const nameParam = r.access.kind === 'repository' ? (r.access.param ?? 'name') : 'name';
      const written = params[nameParam];
      repo = written !== undefined && r.access.kind === 'repository' && r.access.hostPrefixed
        ? hosts.with([req.headers.host, new URL(auth.baseUrl).host]).canonicalRepository(written)
        : written;
      if (repo !== undefined && !isValidRepositoryName(repo)) {
        throw new RegistryError('NAME_INVALID', 'invalid repository name', { detail: { name: repo.slice(0, 256) } });
      }
      const match: RouteMatch = { route: r.name, params, name: repo, reference: params.reference, digest: params.digest, uuid: params.uuid };
      const { principal, caller } = await authorizeRoute(r.access, repo, params, url, auth, services);
      const agent = req.headers['user-agent'];
      const registry = services.registryFor({
        actor: { kind: principal.kind, name: principal.name }, requestId, remoteAddress: remoteAddress ?? null, userAgent: typeof agent === 'string' ? agent.slice(0, 512) : null,
      });
      const ctx: RequestContext = {
        req, res, url, match, requestId, principal, caller, routes, registry, services, baseUrl: auth.baseUrl,
        get log() { return log(); },
        get signal() { return signal(); },
        location: (p) => (config.http.relativeUrls ? p : `${auth.baseUrl}${p}`),
      };
      await r.handler(ctx);
      status = res.statusCode;
    } catch (err) {
      const aborted = closedEarly || ABORT_CODES.has((err as NodeJS.ErrnoException)?.code ?? '') || (err as Error)?.message === 'aborted';
      if (aborted && !(err instanceof RegistryError)) {
        // The client went away (e.g. mid-upload): nothing to answer, nothing kept.
        status = 499;
        errCode = 'CLIENT_CLOSED';
        res.destroy();
      } else {
        if (!req.complete) res.setHeader('Connection', 'close'); // never read an unbounded body we refused
        const report = sendError(res, err, head);
        status = report.status;
        errCode = report.code;
        // 5xx of any kind: a bug, or a backing service down (503, whose cause says why).
        if (report.internal || report.status >= 500) log().error({ err, 'http.request.method': method, 'http.request.path': path }, 'request failed');
      }
    } finally {
      counters.inFlight--;
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (observer) {
        const before = (socket && connectionBytes.get(socket)) ?? { read: 0, written: 0 };
        const now = { read: socket?.bytesRead ?? before.read, written: socket?.bytesWritten ?? before.written };
        if (socket) connectionBytes.set(socket, now);
        observer.finished({ route: routeName, method, status, durationMs, bytesIn: now.read - before.read, bytesOut: now.written - before.written });
      }
      if (config.log.accessLog || status >= 500) {
        const fields = {
          'http.request.method': method,
          'http.request.path': path,
          'http.response.status': status,
          'http.response.duration_ms': durationMs,
          'http.request.remote_addr': remoteAddress,
          repo,
          'err.code': errCode,
        };
        if (status >= 500 && status !== 499) log().error(fields, 'request completed');
        else if (logger.isLevelEnabled('info')) log().info(fields, 'request completed');
      }
    }
  };

  /**
   * The registry's external base URL for a request: http.host when set;
   * else from the Host header, or from X-Forwarded-Proto/-Host when the
   * peer is a trusted proxy (http.trustedproxies). From anyone else those
   * headers are ignored: a client must not choose where Location headers
   * and the token realm point.
   */
  function baseUrl(req: IncomingMessage): string {
    if (config.http.baseUrl) return config.http.baseUrl;
    const viaProxy = trustedProxy(req.socket?.remoteAddress);
    const fwdProto = viaProxy ? firstValue(req.headers['x-forwarded-proto']) : undefined;
    const proto = fwdProto === 'https' || fwdProto === 'http' ? fwdProto : secure ? 'https' : 'http';
    const host = (viaProxy ? firstValue(req.headers['x-forwarded-host']) : undefined) ?? req.headers.host;
    return `${proto}://${host && HOST_RE.test(host) ? host : `${config.http.host}:${config.http.port}`}`;
  }
}

function firstValue(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s?.split(',')[0]?.trim() || undefined;
}

/**
 * The HTTP server of Berth's route table: its own groups, then the groups
 * features contribute (trust, metrics, search, UI), each route with its
 * access kind.
 */
export interface RegistryServerOptions {
  /** `all` (default): the registry, management API, token and health, then the extra groups. `front`: only health, the token endpoint and /v2/, then the extra groups (a listener for one feature, e.g. trust.addr). `none`: only the extra groups (the debug listener). */
  core?: 'all' | 'front' | 'none';
  /** Plain HTTP even when http.tls is set (the debug listener, as registry:2's). */
  plain?: boolean;
}

export function createRegistryServer(services: HttpServices, logger: Logger, extraGroups: readonly RouteGroup[] = [], serverOptions: RegistryServerOptions = {}): RegistryServer {
  const counters = { inFlight: 0 };
  const core = { all: coreRouteGroups, front: frontRouteGroups, none: [] }[serverOptions.core ?? 'all'];
  const routes = new RouteTable([...core, ...extraGroups]);
  const handler = createRequestHandler(services, logger, counters, routes);
  const tls = serverOptions.plain ? undefined : services.config.http.tls;
  const options: http.ServerOptions = {
    // Blob uploads can take long: no whole-request deadline, but headers must
    // arrive promptly and an idle socket is closed (no hang on a stalled client).
    requestTimeout: 0,
    headersTimeout: 60_000,
    // Node checks these deadlines every connectionsCheckingInterval (30 s by
    // default), so a slow-header client lasted up to 90 s: check every second.
    connectionsCheckingInterval: 1_000,
    keepAliveTimeout: 5_000,
    maxHeaderSize: 16 * 1024,
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    // handle() answers every error itself; this is the last guard, so that no
    // request can ever take the process down.
    handler(req, res).catch((err: unknown) => {
      logger.error({ err }, 'request handler failed');
      if (!res.headersSent) res.writeHead(500);
      res.destroy();
    });
  };
  const server = tls
    ? https.createServer({ ...options, cert: readFileSync(tls.certificate), key: readFileSync(tls.key), minVersion: tls.minVersion, ...serverCipherOptions(), ...(tls.clientCas.length ? { ca: tls.clientCas.map((p) => readFileSync(p)), requestCert: true, rejectUnauthorized: true } : {}) }, listener)
    : http.createServer(options, listener);
  server.setTimeout(300_000);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') {
      const code = err.code === 'HPE_HEADER_OVERFLOW' ? 'BERTH_HEADERS_TOO_LARGE' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'BERTH_REQUEST_TIMEOUT' : 'BERTH_BAD_REQUEST';
      const { status, message } = errorCatalog[code];
      const body = JSON.stringify({ errors: [{ code, message }] });
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    } else socket.destroy();
  });

  return {
    server,
    routes,
    inFlight: () => counters.inFlight,
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    async close(drainMs) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + drainMs;
      while (counters.inFlight > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        server.closeIdleConnections();
      }
      server.closeAllConnections();
      await closed;
    },
  };
}
