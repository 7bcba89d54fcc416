// Several Berth processes sharing one PostgreSQL database and one object
// store, behind nginx as a round-robin load balancer: the pieces of
// cluster.test.ts. Unlike registry-process.ts, an instance here keeps a fixed
// port across restarts (nginx's upstream list names it) and can be killed
// with any signal.
//
//                       ┌──────────────── nginx (127.0.0.1:LB) ───────────────┐
//   client / docker ──► │ upstream: berth-1, berth-2, berth-3 (round robin)  │
//                       └─────────┬──────────────────┬──────────────────┬─────┘
//                              berth-1            berth-2            berth-3
//                                 └──── PostgreSQL (scratch db) + s3rver ─┘

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer as httpCreateServer, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { BERTH_CLI } from './registry-process.js';
import { freePortIn, portIsFree, RingLog, run, settlesWithin, sleep } from './util.js';

/** The ports this file's processes may use (other e2e files use 15000-15099). */
const PORT_MIN = 15100;
const PORT_MAX = 15199;

/** `count` distinct free ports in 15100-15199 (random start, so two runs rarely collide). */
export async function pickClusterPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePortIn({ min: PORT_MIN, max: PORT_MAX }, ports));
  return [...ports];
}

// Children still running when the test process exits (a crash, a timeout)
// are killed, so a failed run leaves nothing behind.
const live = new Set<ChildProcess>();
const exitHooks: Array<() => void> = [];
let exitHookInstalled = false;
/** Runs `fn` (synchronously) if the test process exits with children still about. */
export function onProcessExit(fn?: () => void): void {
  if (fn) exitHooks.push(fn);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
    for (const f of exitHooks) {
      try {
        f();
      } catch {
        /* best effort while exiting */
      }
    }
  });
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
}

export interface AccessLogEntry {
  method: string;
  path: string;
  status: number;
  /** The OCI error code answered, if any. */
  code: string | undefined;
  line: string;
}

/**
 * One `berth serve` process on 127.0.0.1:port. `start` may be called again
 * after `kill`/`stop`: the same port, environment and data folder.
 */
export class BerthNode {
  readonly host: string;
  readonly url: string;
  private readonly log = new RingLog(128 * 1024);
  private proc: Running | null = null;
  private partialLine = '';
  /** Every request this instance logged as completed, over every run (from its JSON access log). */
  readonly requests: AccessLogEntry[] = [];

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly env: Record<string, string>,
    readonly dataDir: string,
  ) {
    this.host = `127.0.0.1:${port}`;
    this.url = `http://${this.host}`;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exit === null;
  }

  /** Output of every run so far (last 128 KiB), each run headed by a marker line. */
  logs(): string {
    return this.log.text();
  }

  private record(b: Buffer): void {
    this.log.push(b);
    const lines = (this.partialLine + b.toString('utf8')).split('\n');
    this.partialLine = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.includes('"request completed"')) continue;
      try {
        const e = JSON.parse(line) as Record<string, unknown>;
        this.requests.push({
          method: String(e['http.request.method']),
          path: String(e['http.request.path']),
          status: Number(e['http.response.status']),
          code: typeof e['err.code'] === 'string' ? e['err.code'] : undefined,
          line,
        });
      } catch {
        /* not a log line of ours */
      }
    }
  }

  /** Requests answered 500: an internal error, never expected. */
  internalErrors(): string[] {
    return this.requests.filter((r) => r.status === 500).map((r) => r.line);
  }

  /** Starts the process and waits until GET /v2/ answers 200. */
  async start(readyTimeoutMs = 30_000): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    if (!existsSync(BERTH_CLI)) throw new Error(`Berth CLI not found at ${BERTH_CLI}; build first with: npm run build`);
    await mkdir(this.dataDir, { recursive: true });
    // Inherited REGISTRY_* variables would change the configuration under test.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_') && !k.startsWith('BERTH_')));
    this.partialLine = '';
    this.log.push(`\n===== ${this.name} started at ${new Date().toISOString()} =====\n`);
    const child = spawn(process.execPath, [BERTH_CLI, 'serve', '--addr', this.host, '--data-dir', this.dataDir], {
      env: { ...inherited, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    onProcessExit();
    child.stdout?.on('data', (b: Buffer) => this.record(b));
    child.stderr?.on('data', (b: Buffer) => this.log.push(b));
    const p: Running = { child, exit: null, exited: Promise.resolve() };
    p.exited = new Promise((resolve) => {
      child.on('error', (e) => {
        this.log.push(`\n[spawn error] ${e.message}\n`);
        p.exit ??= { code: -1, signal: null };
        resolve();
      });
      child.on('exit', (code, signal) => {
        p.exit ??= { code, signal };
        this.log.push(`\n===== ${this.name} exited (code ${code}, signal ${signal}) =====\n`);
        live.delete(child);
        resolve();
      });
    });
    this.proc = p;

    const deadline = Date.now() + readyTimeoutMs;
    while (Date.now() < deadline) {
      if (p.exit) break;
      try {
        const res = await fetch(`${this.url}/v2/`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        /* not listening yet */
      }
      await sleep(100);
    }
    const why = p.exit ? `exited early (code ${p.exit.code}, signal ${p.exit.signal})` : `did not answer GET ${this.url}/v2/ within ${readyTimeoutMs} ms`;
    await this.kill('SIGKILL');
    throw new Error(`${this.name} ${why}\n--- ${this.name} output ---\n${this.log.text().slice(-6000)}`);
  }

  /** Sends `signal` and waits for the process to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (!p || p.exit) return;
    p.child.kill(signal);
    await p.exited;
  }

  /** SIGTERM (graceful drain), SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    const p = this.proc;
    if (!p || p.exit) return;
    p.child.kill('SIGTERM');
    if (!(await settlesWithin(p.exited, graceMs))) await this.kill('SIGKILL');
  }
}

export interface LoadBalancerServer {
  /** Port nginx listens on (127.0.0.1). */
  listen: number;
  /** Ports of the Berth instances behind it, in round-robin order. */
  upstreams: number[];
}

export interface LoadBalancer {
  /** `127.0.0.1:PORT` of each server, in the order given. */
  hosts: string[];
  /** nginx's error log so far. */
  errorLog(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts Debian's nginx as a round-robin load balancer. Request and response
 * bodies stream through (no buffering, no size limit), HTTP/1.1 to the
 * upstreams (chunked PATCH bodies). An upstream that refuses the connection
 * is skipped (nothing was sent yet, so that is safe for POST/PATCH too); once
 * a request has reached an instance it is never replayed on another
 * (no `non_idempotent`), and a PUT whose body is streamed cannot be replayed.
 */
export async function startLoadBalancer(dir: string, servers: LoadBalancerServer[]): Promise<LoadBalancer> {
  const tmp = join(dir, 'tmp');
  await mkdir(tmp, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  const pidFile = join(dir, 'nginx.pid');
  const errorLog = join(dir, 'error.log');
  const blocks = servers.map((s, i) => `
  upstream berth_${i} {
${s.upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=5s;`).join('\n')}
  }
  server {
    listen 127.0.0.1:${s.listen};
    client_max_body_size 0;
    location / {
      proxy_pass http://berth_${i};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
      proxy_connect_timeout 2s;
      proxy_read_timeout 120s;
      proxy_send_timeout 120s;
    }
  }`).join('\n');
  await writeFile(conf, `
worker_processes 1;
user root;
pid ${pidFile};
error_log ${errorLog} warn;
events {}
http {
  access_log off;
  client_body_temp_path ${tmp}; proxy_temp_path ${tmp}; fastcgi_temp_path ${tmp}; uwsgi_temp_path ${tmp}; scgi_temp_path ${tmp};
${blocks}
}
`);
  await run('nginx', ['-t', '-c', conf]);
  await run('nginx', ['-c', conf]);
  const masterPid = (): number | null => {
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      return pid > 0 ? pid : null;
    } catch {
      return null;
    }
  };
  // nginx daemonizes; if the test process dies first, stop our master by its pid.
  onProcessExit(() => {
    const pid = masterPid();
    if (pid) process.kill(pid, 'SIGTERM');
  });
  // Wait until every listener accepts connections.
  for (const s of servers) {
    const deadline = Date.now() + 10_000;
    while (await portIsFree(s.listen)) {
      if (Date.now() > deadline) throw new Error(`nginx did not listen on 127.0.0.1:${s.listen}`);
      await sleep(50);
    }
  }
  let stopped = false;
  return {
    hosts: servers.map((s) => `127.0.0.1:${s.listen}`),
    errorLog: () => readFile(errorLog, 'utf8').catch(() => ''),
    async stop() {
      if (stopped) return;
      stopped = true;
      const pid = masterPid();
      await run('nginx', ['-c', conf, '-s', 'stop'], { allowFailure: true });
      if (pid) {
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline) {
          try {
            process.kill(pid, 0);
          } catch {
            return;
          }
          await sleep(50);
        }
        process.kill(pid, 'SIGKILL');
      }
    },
  };
}

/**
 * Runs `fn`; if it throws, appends the tail of every instance's output and
 * of nginx's error log to the error, so a failure shows what the servers said.
 */
export async function withClusterLogs<R>(nodes: readonly BerthNode[], lb: LoadBalancer | undefined, fn: () => Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Error) {
      for (const n of nodes) e.message += `\n--- ${n.name} (${n.host}) output (tail) ---\n${n.logs().slice(-2500)}`;
      if (lb) e.message += `\n--- nginx error log (tail) ---\n${(await lb.errorLog()).slice(-2000)}`;
    }
    throw e;
  }
}

export interface FaultyProxy {
  /** http://127.0.0.1:PORT — give it to an instance as its S3 endpoint. */
  readonly url: string;
  /** Answer every request with this HTTP status and S3 error code (after reading its body) until `heal`. */
  fail(status: number, code: string): void;
  heal(): void;
  /** Requests answered with an injected error so far. */
  readonly injected: number;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of the object store that can be told to answer
 * errors, as a store does when it is overloaded or failing (500
 * InternalError, 503 SlowDown). Requests pass unchanged otherwise (the Host
 * header too, so SigV4 signatures stay valid). When the store itself cannot
 * be reached, the client's connection is reset, as an unreachable store looks.
 */
export async function startFaultyProxy(listenPort: number, target: string): Promise<FaultyProxy> {
  const to = new URL(target);
  let failure: { status: number; code: string } | null = null;
  let injected = 0;
  const server = httpCreateServer((req, res) => {
    if (failure) {
      const { status, code } = failure;
      injected++;
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'Content-Type': 'application/xml', Connection: 'close' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected by the test</Message><RequestId>test</RequestId></Error>`);
      });
      return;
    }
    const up = httpRequest({ host: to.hostname, port: Number(to.port), method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
    });
    up.on('error', () => req.socket.destroy());
    req.on('error', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${listenPort}`,
    fail(status, code) {
      failure = { status, code };
    },
    heal() {
      failure = null;
    },
    get injected() {
      return injected;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
