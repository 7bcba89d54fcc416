// Starting and stopping the registries under test, plus /proc readings.
//
// Every start gets a fresh temp dir (data, config, log) so neither target
// benefits from data or caches left by an earlier round. All children and temp
// dirs are tracked here so run.ts can remove them on exit, error and Ctrl-C.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RawConn } from './raw-http.js';

/**
 * berth: the embedded default (SQLite + filesystem in a data dir);
 * berth-scale: Berth on PostgreSQL + S3 (s3rver), see scale.ts;
 * reference: Distribution 2.8.
 */
export type TargetName = 'berth' | 'berth-scale' | 'reference';

export function isBerth(name: TargetName): boolean {
  return name === 'berth' || name === 'berth-scale';
}

export const PORT_MIN = 17000;
export const PORT_MAX = 17099;

/** Repository root: this file compiles to dist/bench/targets.js. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BERTH_MAIN = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
export const REFERENCE_BIN = '/usr/bin/docker-registry';

// ---------------------------------------------------------------- cleanup

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
/** Other synchronous cleanups (e.g. stopping a throwaway PostgreSQL), run after children are killed. */
const cleanups = new Set<() => void>();

/** Registers a synchronous cleanup for exit, error and signals; returns a function that unregisters it. */
export function registerCleanup(fn: () => void): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

export function trackChild(c: ChildProcess): void {
  children.add(c);
  c.once('exit', () => children.delete(c));
}

export function makeTempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `berth-bench-${prefix}-`));
  tempDirs.add(d);
  return d;
}

export function removeTempDir(d: string): void {
  try {
    fs.rmSync(d, { recursive: true, force: true });
  } catch {
    /* best effort */
  }
  tempDirs.delete(d);
}

/** Synchronous, for process 'exit' and signal handlers: kill what we started (by pid), delete our temp dirs. */
export function cleanupAllSync(): void {
  for (const c of children) {
    try {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  children.clear();
  for (const fn of [...cleanups]) {
    cleanups.delete(fn);
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
  for (const d of [...tempDirs]) removeTempDir(d);
}

// ---------------------------------------------------------------- /proc

let clkTck = 0;
export function ticksPerSecond(): number {
  if (clkTck === 0) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

function statFields(pid: number): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields[0] is field 3 (state), fields[1] the ppid; utime is field 14, stime 15, cutime 16, cstime 17.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** User+system CPU seconds consumed so far by a process (all its threads). */
export function procCpuSeconds(pid: number): number {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / ticksPerSecond() : NaN;
}

/**
 * CPU seconds of a process tree's root, its reaped children (cutime/cstime)
 * and its live direct children: for PostgreSQL, whose postmaster forks one
 * backend per connection.
 */
export function procTreeCpuSeconds(rootPid: number): number {
  const root = statFields(rootPid);
  if (!root) return NaN;
  let ticks = Number(root[11]) + Number(root[12]) + Number(root[13]) + Number(root[14]);
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && Number(f[1]) === rootPid) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / ticksPerSecond();
}

/** Direct children of `rootPid` (from /proc). */
export function childPids(rootPid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f && Number(f[1]) === rootPid) out.push(Number(name));
  }
  return out;
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
export function systemBusySeconds(): number {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
    return busy / ticksPerSecond();
  } catch {
    return NaN;
  }
}

export interface CpuShares {
  wallS: number;
  server: number;
  client: number;
  /** The storage services of berth-scale (s3rver, PostgreSQL); 0 for the other targets. */
  store: number;
  other: number;
}

/**
 * CPU accounting for one measured phase, in cores (CPU seconds / wall second):
 * server = the registry process(es), client = the load generator (this
 * process, plus wrk's CPU when wrk drives the load), store = s3rver and
 * PostgreSQL for berth-scale, other = everything else on the machine (other
 * jobs compete for the same 2 cores and make a figure suspect).
 */
export class CpuMeter {
  private s0 = 0;
  private st0 = 0;
  private c0: NodeJS.CpuUsage = { user: 0, system: 0 };
  private b0 = 0;
  private t0 = 0;
  constructor(
    private readonly pids: number | readonly number[],
    private readonly storeCpuSeconds: (() => number) | null = null,
  ) {}
  private serverCpu(): number {
    const pids = typeof this.pids === 'number' ? [this.pids] : this.pids;
    let s = 0;
    for (const p of pids) s += procCpuSeconds(p);
    return s;
  }
  start(): this {
    this.s0 = this.serverCpu();
    this.st0 = this.storeCpuSeconds ? this.storeCpuSeconds() : 0;
    this.c0 = process.cpuUsage();
    this.b0 = systemBusySeconds();
    this.t0 = performance.now();
    return this;
  }
  end(extraClientCpuS = 0): CpuShares {
    const wallS = (performance.now() - this.t0) / 1000;
    const server = this.serverCpu() - this.s0;
    const store = this.storeCpuSeconds ? this.storeCpuSeconds() - this.st0 : 0;
    const c = process.cpuUsage(this.c0);
    const client = (c.user + c.system) / 1e6 + extraClientCpuS;
    const busy = systemBusySeconds() - this.b0;
    return {
      wallS,
      server: server / wallS,
      client: client / wallS,
      store: store / wallS,
      other: Math.max(0, busy - server - client - store) / wallS,
    };
  }
}

/** VmRSS / VmHWM in MiB. */
export function procMem(pid: number): { rssMiB: number; hwmMiB: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => {
      const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) : NaN;
    };
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
  } catch {
    return { rssMiB: NaN, hwmMiB: NaN };
  }
}

// ---------------------------------------------------------------- ports

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A free port in 17000-17099 (the only range the benchmark may use), from a random start. */
export async function pickPort(exclude: Set<number> = new Set()): Promise<number> {
  const span = PORT_MAX - PORT_MIN + 1;
  const start = crypto.randomInt(span);
  for (let i = 0; i < span; i++) {
    const port = PORT_MIN + ((start + i) % span);
    if (exclude.has(port)) continue;
    if (await portFree(port)) return port;
  }
  throw new Error(`no free port in ${PORT_MIN}-${PORT_MAX}`);
}

// ---------------------------------------------------------------- targets

export interface RunningTarget {
  name: TargetName;
  host: string;
  port: number;
  baseUrl: string;
  pid: number;
  dir: string;
  logFile: string;
  startupMs: number;
  /** CPU seconds of the target's storage services so far (berth-scale: s3rver + PostgreSQL), for CpuMeter. */
  storeCpuSeconds: (() => number) | null;
  stop(): Promise<void>;
  logTail(): string;
}

export function targetAvailable(name: TargetName): string | null {
  if (isBerth(name) && !fs.existsSync(BERTH_MAIN)) return `${path.relative(REPO_ROOT, BERTH_MAIN)} not found (build Berth first)`;
  if (name === 'berth') return null;
  if (name === 'berth-scale') return scaleUnavailable();
  return fs.existsSync(REFERENCE_BIN) ? null : `${REFERENCE_BIN} is not installed`;
}

/** Why berth-scale cannot run (s3rver or PostgreSQL missing), or null. */
function scaleUnavailable(): string | null {
  if (!fs.existsSync(S3RVER_MAIN)) return `${path.relative(REPO_ROOT, S3RVER_MAIN)} not found (build first)`;
  if (!fs.existsSync(path.join(REPO_ROOT, 'node_modules', 's3rver'))) return 's3rver (a devDependency) is not installed: npm install';
  if (process.env.BERTH_BENCH_POSTGRES_URL) return null;
  const haveInitdb =
    (process.env.PG_BIN && fs.existsSync(path.join(process.env.PG_BIN, 'initdb'))) ||
    (fs.existsSync('/usr/lib/postgresql') && fs.readdirSync('/usr/lib/postgresql').some((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/initdb`)));
  return haveInitdb ? null : 'PostgreSQL is not installed (apt-get install postgresql) and BERTH_BENCH_POSTGRES_URL is not set';
}

/** The S3-compatible test server's entry point (test/helpers/s3rver-main.ts, compiled). */
export const S3RVER_MAIN = path.join(REPO_ROOT, 'dist', 'test', 'helpers', 's3rver-main.js');

/** HTTPS for a target: PEM files of the server certificate and key (the same pair for Berth and the reference). */
export interface TargetTls {
  certFile: string;
  keyFile: string;
}

function referenceConfig(dataDir: string, port: number, tls?: TargetTls): string {
  // Distribution 2.8 defaults otherwise. The in-memory blob-descriptor cache is
  // the usual production setting (and what the performance notes measured);
  // the access log is off because Berth at level warn does not log requests.
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${dataDir}`,
    '  delete:',
    '    enabled: true',
    '  cache:',
    '    blobdescriptor: inmemory',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${crypto.randomBytes(16).toString('hex')}`,
    ...(tls ? ['  tls:', `    certificate: ${tls.certFile}`, `    key: ${tls.keyFile}`] : []),
    '',
  ].join('\n');
}

/** GET /v2/ over HTTPS (certificate not checked: readiness only); resolves with the status. */
function httpsStatus(host: string, port: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host, port, path: '/v2/', rejectUnauthorized: false, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitReady(host: string, port: number, child: ChildProcess, timeoutMs: number, tls = false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited during startup (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    if (tls) {
      try {
        const status = await httpsStatus(host, port, 2000);
        if (status === 200) return;
        lastErr = `GET /v2/ answered ${status}`;
      } catch (e) {
        lastErr = (e as Error).message;
      }
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const c = new RawConn(host, port);
    try {
      const r = await c.request({ method: 'GET', path: '/v2/', timeoutMs: 2000 });
      if (r.status === 200) return;
      lastErr = `GET /v2/ answered ${r.status}`;
    } catch (e) {
      lastErr = (e as Error).message;
    } finally {
      c.close();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready after ${timeoutMs} ms (${lastErr})`);
}

export function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts a registry on a fresh temp dir and port. `env` is added to Berth's
 * environment (berth-scale: the database URL and storage.s3 settings).
 */
export async function startTarget(
  name: TargetName,
  options: { env?: Record<string, string>; tls?: TargetTls; /** Berth only: serve this existing data dir (left in place at stop) instead of a fresh one. */ dataDir?: string } = {},
): Promise<RunningTarget> {
  const tls = options.tls;
  const tlsEnv: Record<string, string> = tls ? { REGISTRY_HTTP_TLS_CERTIFICATE: tls.certFile, REGISTRY_HTTP_TLS_KEY: tls.keyFile } : {};
  const tried = new Set<number>();
  let lastErr: Error | null = null;
  // Retry on another port if something grabbed ours between the check and the bind.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await pickPort(tried);
    tried.add(port);
    const dir = makeTempDir(name);
    const dataDir = options.dataDir ?? path.join(dir, 'data');
    if (!options.dataDir) fs.mkdirSync(dataDir);
    const logFile = path.join(dir, 'server.log');
    const logFd = fs.openSync(logFile, 'w');
    let child: ChildProcess;
    if (isBerth(name)) {
      // BERTH_BENCH_NODE_ARGS: extra node flags for Berth, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (not allowed in NODE_OPTIONS).
      const nodeArgs = (process.env.BERTH_BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
      // BERTH_BENCH_ENV: settings for Berth only, e.g. "REGISTRY_STORAGE_VERIFYREADS=false" (the reference reads REGISTRY_* too, and stops at keys it does not know).
      const berthEnv = Object.fromEntries((process.env.BERTH_BENCH_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      child = spawn(
        process.execPath,
        [...nodeArgs, BERTH_MAIN, 'serve', '--addr', `127.0.0.1:${port}`, '--data-dir', dataDir],
        { cwd: REPO_ROOT, env: { ...process.env, REGISTRY_LOG_LEVEL: 'warn', ...berthEnv, ...tlsEnv, ...options.env }, stdio: ['ignore', logFd, logFd] },
      );
    } else {
      const cfg = path.join(dir, 'config.yml');
      fs.writeFileSync(cfg, referenceConfig(dataDir, port, tls));
      child = spawn(REFERENCE_BIN, ['serve', cfg], { cwd: dir, stdio: ['ignore', logFd, logFd] });
    }
    fs.closeSync(logFd);
    trackChild(child);
    child.on('error', () => {
      /* reported through waitReady (exitCode) */
    });
    const t0 = Date.now();
    try {
      if (child.pid === undefined) throw new Error('spawn failed');
      await waitReady('127.0.0.1', port, child, 30_000, tls !== undefined);
    } catch (e) {
      lastErr = new Error(`${name} failed to start: ${(e as Error).message}\n--- log tail ---\n${tail(logFile)}`);
      await stopChild(child);
      removeTempDir(dir);
      continue;
    }
    const pid = child.pid;
    return {
      name,
      host: '127.0.0.1',
      port,
      baseUrl: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
      pid,
      dir,
      logFile,
      startupMs: Date.now() - t0,
      storeCpuSeconds: null,
      logTail: () => tail(logFile),
      stop: async () => {
        await stopChild(child);
        removeTempDir(dir);
      },
    };
  }
  throw lastErr ?? new Error(`${name} failed to start`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, 5000);
  await exited;
  clearTimeout(t);
}
