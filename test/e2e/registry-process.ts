// Starts the registry under test as a child process on 127.0.0.1 with a fresh
// storage directory: Berth (dist/src/cli/main.js) or the reference registry
// (Distribution 2.8, /usr/bin/docker-registry), selected by E2E_TARGET.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePortIn, RingLog, run, settlesWithin, sleep } from './util.js';

export type RegistryTarget = 'berth' | 'reference';

export interface RunningRegistry {
  target: RegistryTarget;
  /** 127.0.0.1:PORT — use as the registry part of image references. */
  host: string;
  /** http://127.0.0.1:PORT */
  url: string;
  /** Where the registry stores its data (removed by stop()). */
  dataDir: string;
  /** Combined stdout+stderr of the registry so far (last 256 KiB). */
  logs(): string;
  stop(): Promise<void>;
}

/**
 * Runs `fn`; if it throws, appends the tail of the registry's output to the
 * error, so a failing end-to-end test shows what the server said.
 */
export async function withRegistryLog<R>(reg: RunningRegistry | undefined, fn: () => Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Error && reg) e.message += `\n--- registry output (tail) ---\n${reg.logs().slice(-4000)}`;
    throw e;
  }
}

export interface StartRegistryOptions {
  target?: RegistryTarget;
  /** How long to wait for GET /v2/ to answer. Default 20 s. */
  readyTimeoutMs?: number;
  /** Extra environment for Berth (REGISTRY_AUTH_…, REGISTRY_HTTP_TLS_…). */
  env?: Record<string, string>;
  /** Address to listen on (default 127.0.0.1), e.g. a non-loopback address for TLS tests with docker. */
  listenHost?: string;
  /** PEM CA file: the registry serves HTTPS, and readiness is probed with this CA. */
  tlsCa?: string;
}

const PORT_MIN = 15000;
const PORT_MAX = 15099;

/** Repository root: this file is compiled to <root>/dist/test/e2e/registry-process.js. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BERTH_CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
export const REFERENCE_REGISTRY = process.env.E2E_REFERENCE_REGISTRY_BIN ?? '/usr/bin/docker-registry';

export function targetFromEnv(): RegistryTarget {
  const t = process.env.E2E_TARGET ?? 'berth';
  if (t !== 'berth' && t !== 'reference') {
    throw new Error(`E2E_TARGET must be "berth" or "reference", got ${JSON.stringify(t)}`);
  }
  return t;
}

/** A free port in 15000-15099 (random start so concurrent files rarely collide). */
export function pickFreePort(exclude: ReadonlySet<number> = new Set()): Promise<number> {
  return freePortIn({ min: PORT_MIN, max: PORT_MAX }, exclude);
}

function referenceConfig(addr: string, dataDir: string): string {
  // JSON is valid YAML; avoids quoting issues with odd temp paths.
  return JSON.stringify(
    {
      version: 0.1,
      log: { level: 'info', formatter: 'text', accesslog: { disabled: false } },
      storage: {
        filesystem: { rootdirectory: dataDir },
        delete: { enabled: true },
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: { addr },
    },
    null,
    2,
  );
}

interface Spawned {
  child: ChildProcess;
  log: RingLog;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null;
}

function spawnLogged(cmd: string, args: string[], env: NodeJS.ProcessEnv): Spawned {
  const log = new RingLog();
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (b: Buffer) => log.push(b));
  child.stderr?.on('data', (b: Buffer) => log.push(b));
  const s: Spawned = {
    child,
    log,
    exitInfo: null,
    exited: new Promise((resolve) => {
      child.on('error', (e) => {
        log.push(`\n[spawn error] ${e.message}\n`);
        s.exitInfo = { code: -1, signal: null };
        resolve(s.exitInfo);
      });
      child.on('exit', (code, signal) => {
        s.exitInfo = { code, signal };
        resolve(s.exitInfo);
      });
    }),
  };
  return s;
}

/** GET /v2/ status; over HTTPS trusting only `ca`. */
function probe(url: string, ca: string | undefined): Promise<number> {
  if (!ca) {
    return fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2000) }).then(async (res) => {
      await res.arrayBuffer();
      return res.status;
    });
  }
  return new Promise((resolve, reject) => {
    const req = httpsGet(`${url}/v2/`, { ca, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

async function waitReady(url: string, s: Spawned, timeoutMs: number, ca?: string): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (s.exitInfo) return 'exited';
    try {
      const status = await probe(url, ca);
      // 401 counts as "answering" (a registry with auth enabled).
      if (status === 200 || status === 401) return 'ready';
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  return s.exitInfo ? 'exited' : 'timeout';
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function killLeftoversOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

async function stopChild(s: Spawned, graceMs = 10_000): Promise<void> {
  if (s.exitInfo) return;
  s.child.kill('SIGTERM');
  if (!(await settlesWithin(s.exited, graceMs))) {
    s.child.kill('SIGKILL');
    await s.exited;
  }
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const target = opts.target ?? targetFromEnv();
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;

  if (target === 'berth' && !existsSync(BERTH_CLI)) {
    throw new Error(`Berth CLI not found at ${BERTH_CLI}; build first with: npm run build`);
  }
  if (target === 'reference' && !existsSync(REFERENCE_REGISTRY)) {
    throw new Error(
      `reference registry not found at ${REFERENCE_REGISTRY}; install the Debian package docker-registry ` +
        `(or set E2E_REFERENCE_REGISTRY_BIN)`,
    );
  }

  const tried = new Set<number>();
  for (let attempt = 1; ; attempt++) {
    const port = await pickFreePort(tried);
    tried.add(port);
    const host = `${opts.listenHost ?? '127.0.0.1'}:${port}`;
    const ca = opts.tlsCa ? await readFile(opts.tlsCa, 'utf8') : undefined;
    const url = `${ca ? 'https' : 'http'}://${host}`;
    const tmp = await mkdtemp(join(tmpdir(), `berth-e2e-${target}-`));
    const dataDir = join(tmp, 'data');

    let s: Spawned;
    if (target === 'berth') {
      s = spawnLogged(process.execPath, [BERTH_CLI, 'serve', '--addr', host, '--data-dir', dataDir], {
        ...process.env,
        REGISTRY_STORAGE_DELETE_ENABLED: 'true',
        ...opts.env,
      });
    } else {
      const configPath = join(tmp, 'config.yml');
      await writeFile(configPath, referenceConfig(host, dataDir));
      // Distribution lets REGISTRY_* variables override the config file; drop
      // any inherited ones so the generated config is what runs.
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
      s = spawnLogged(REFERENCE_REGISTRY, ['serve', configPath], env);
    }
    live.add(s.child);
    killLeftoversOnExit();

    const state = await waitReady(url, s, readyTimeoutMs, ca);
    if (state === 'ready') {
      let stopped = false;
      return {
        target,
        host,
        url,
        dataDir,
        logs: () => s.log.text(),
        stop: async () => {
          if (stopped) return;
          stopped = true;
          await stopChild(s);
          live.delete(s.child);
          await rm(tmp, { recursive: true, force: true });
        },
      };
    }

    await stopChild(s, 2000);
    live.delete(s.child);
    await rm(tmp, { recursive: true, force: true });
    const logs = s.log.text();
    if (state === 'exited' && /address already in use|EADDRINUSE/i.test(logs) && attempt < 5) {
      continue; // lost a race for the port; try another one
    }
    const why =
      state === 'exited'
        ? `exited early (code ${s.exitInfo?.code}, signal ${s.exitInfo?.signal})`
        : `did not answer GET ${url}/v2/ within ${readyTimeoutMs} ms`;
    throw new Error(`${target} registry ${why}.\n--- registry output ---\n${logs.slice(-8000) || '(empty)'}`);
  }
}

/**
 * Berth over HTTPS on `localhost`, with a private CA from `berth certs init`
 * written to `<work>/certs` (ca.crt for clients that verify). The docker CLI
 * and the notary CLI reach trust data at https://<registry host:port>.
 */
export async function startTlsBerth(work: string): Promise<{ reg: RunningRegistry; certs: string }> {
  const certs = join(work, 'certs');
  await run(process.execPath, [BERTH_CLI, 'certs', 'init', '--host', 'localhost', '--ip', '127.0.0.1', '--dir', certs]);
  const reg = await startRegistry({
    env: { REGISTRY_HTTP_TLS_CERTIFICATE: join(certs, 'server.crt'), REGISTRY_HTTP_TLS_KEY: join(certs, 'server.key') },
    tlsCa: join(certs, 'ca.crt'),
    listenHost: 'localhost',
  });
  return { reg, certs };
}
