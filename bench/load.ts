// Request-rate load generators: wrk (C, for GET) and a raw-socket keep-alive
// client (for HEAD, where wrk stalls with keep-alive on this machine, and as a
// GET fallback when wrk is missing).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { RawConn, type RawResponse } from './raw-http.js';
import { Samples, nowMs, percentile } from './stats.js';
import { ticksPerSecond, trackChild } from './targets.js';

export const WRK_BIN = '/usr/bin/wrk';

export interface LoadResult {
  generator: 'wrk' | 'raw';
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Transport errors + non-2xx responses (must be 0 for a valid figure). */
  errors: number;
  /** CPU seconds the load generator used during the measured window. */
  clientCpuS: number;
}

export interface LoadOptions {
  host: string;
  port: number;
  paths: string[];
  headers: Record<string, string>;
  connections: number;
  durationS: number;
  warmupS: number;
  /** Called right when the measured window starts / ends (for CPU snapshots); gets the external generator's CPU seconds (wrk), 0 for the in-process one. */
  onMeasureStart?: () => void;
  onMeasureEnd?: (externalClientCpuS: number) => void;
}

export function wrkAvailable(): boolean {
  return fs.existsSync(WRK_BIN);
}

function luaString(s: string): string {
  return JSON.stringify(s); // JSON string escapes are valid Lua for our ASCII paths/headers
}

/** How long wrk holds back the first request on each connection (see wrkScript). */
const WRK_FIRST_DELAY_MS = 500;

function wrkScript(paths: string[], headers: Record<string, string>, connsPerThread: number): string {
  // Rotating over many image tags (not one hot URL) so that neither server is
  // measured on a single cached key. Each wrk thread starts at a different offset.
  //
  // wrk connects all its sockets when the run starts and sends at once, so a
  // server that is slow to accept a burst of 64 connections while busy (Node
  // is, Go is not) gets that one-time cost into its p99 (observed: p99 0.6-1.2 s
  // vs ~80 ms steady state). The raw client connects before its clock starts;
  // to measure the same steady state, delay() holds back only the first request
  // of each connection by WRK_FIRST_DELAY_MS (latency is timed from the send),
  // and the rate is computed over the run minus that delay.
  return `
local paths = { ${paths.map(luaString).join(',\n')} }
local n = #paths
local idx = 0
local counter = 0
wrk.method = "GET"
${Object.entries(headers)
  .map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`)
  .join('\n')}
local first_left = 0
function setup(thread)
  thread:set("start_offset", counter * 7919)
  thread:set("first_requests", ${connsPerThread})
  counter = counter + 1
end
function init(args)
  idx = (start_offset or 0) % n
  first_left = first_requests or 0
end
function delay()
  if first_left > 0 then
    first_left = first_left - 1
    return ${WRK_FIRST_DELAY_MS}
  end
  return 0
end
function request()
  idx = idx % n + 1
  return wrk.format(nil, paths[idx])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%f,"p99_us":%f,"max_us":%f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50.0), latency:percentile(99.0), latency.max))
  -- wrk's own CPU (all threads, also those already finished), for reporting the generator's share.
  local f = io.open("/proc/self/stat", "r")
  if f then
    local st = f:read("*a")
    f:close()
    local fields = {}
    for w in st:match("%) (.*)"):gmatch("%S+") do fields[#fields + 1] = w end
    io.write(string.format('WRKCPU %s %s\\n', fields[12], fields[13]))
  end
end
`;
}

async function wrkOnce(
  url: string,
  script: string,
  connections: number,
  durationS: number,
): Promise<{ json: Record<string, number>; cpuS: number }> {
  const threads = Math.min(2, connections); // 2 cores: one event loop per core
  const child = spawn(WRK_BIN, [`-t${threads}`, `-c${connections}`, `-d${durationS}s`, '--timeout', '10s', '-s', script, url], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  const text = /WRKJSON (\{.*\})/.exec(out)?.[1];
  if (code !== 0 || text === undefined) throw new Error(`wrk failed (exit ${code}): ${err.trim() || out.trim()}`);
  const json = JSON.parse(text) as Record<string, number>;
  // The generator competes with the server for the 2 cores: its CPU is reported.
  const cpu = /WRKCPU (\d+) (\d+)/.exec(out);
  return { json, cpuS: cpu ? (Number(cpu[1]) + Number(cpu[2])) / ticksPerSecond() : NaN };
}

export async function runWrkGet(opts: LoadOptions, workDir: string): Promise<LoadResult> {
  const script = path.join(workDir, 'manifest-get.lua');
  const threads = Math.min(2, opts.connections);
  if (opts.connections % threads !== 0) throw new Error('connections must be a multiple of the wrk thread count');
  fs.writeFileSync(script, wrkScript(opts.paths, opts.headers, opts.connections / threads));
  const url = `http://${opts.host}:${opts.port}`;
  if (opts.warmupS > 0) await wrkOnce(url, script, opts.connections, opts.warmupS);
  opts.onMeasureStart?.();
  const { json, cpuS } = await wrkOnce(url, script, opts.connections, opts.durationS);
  opts.onMeasureEnd?.(cpuS);
  const n = (k: string): number => json[k] ?? 0;
  const durationS = n('duration_us') / 1e6 - WRK_FIRST_DELAY_MS / 1000;
  return {
    generator: 'wrk',
    requests: n('requests'),
    durationS,
    rps: n('requests') / durationS,
    p50Ms: n('p50_us') / 1000,
    p99Ms: n('p99_us') / 1000,
    maxMs: n('max_us') / 1000,
    errors: n('connect') + n('read') + n('write') + n('status') + n('timeout'),
    clientCpuS: cpuS,
  };
}

/**
 * Closed-loop load: `connections` keep-alive sockets, each sending the next
 * request as soon as the previous response is complete. Only requests that
 * start and finish inside the measured window are counted.
 */
export async function runRawLoad(
  opts: LoadOptions & { method: 'GET' | 'HEAD'; check?: (r: RawResponse, path: string) => boolean },
): Promise<LoadResult> {
  if (opts.paths.length === 0) throw new Error('a raw load needs at least one path');
  // Reused read buffers (see RawConn): less client CPU per request.
  const conns = Array.from({ length: opts.connections }, () => new RawConn(opts.host, opts.port, { readBufferSize: 64 * 1024 }));
  await Promise.all(conns.map((c) => c.connect()));
  const [first] = conns;
  if (!first) throw new Error('a raw load needs at least one connection');
  const n = opts.paths.length;
  // Request heads are formatted once per path, not per request.
  const targets = opts.paths.map((path) => ({ path, head: Buffer.from(first.buildHead({ method: opts.method, path, headers: opts.headers }), 'latin1') }));
  let phase: 'warm' | 'measure' | 'stop' = 'warm';
  let tStart = Infinity;
  let tEnd = Infinity;
  let count = 0;
  let errors = 0;
  const lat = new Samples();

  const loop = async (c: RawConn, k: number): Promise<void> => {
    let i = k * 7919;
    while (phase !== 'stop') {
      const target = targets[i++ % n];
      if (!target) throw new Error('unreachable: the index is taken modulo the number of paths');
      const { path: p, head } = target;
      const t0 = nowMs();
      let ok = false;
      try {
        const r = await c.request({ method: opts.method, path: p, head, timeoutMs: 10_000 });
        ok = r.status >= 200 && r.status < 300 && (opts.check ? opts.check(r, p) : true);
      } catch {
        ok = false;
        c.close();
      }
      const t1 = nowMs();
      if (t0 >= tStart && t1 <= tEnd) {
        if (ok) {
          count++;
          lat.push(t1 - t0);
        } else errors++;
      }
      if (!ok) await new Promise((r) => setTimeout(r, 10));
    }
  };

  const running = conns.map((c, k) => loop(c, k));
  await new Promise((r) => setTimeout(r, opts.warmupS * 1000));
  opts.onMeasureStart?.();
  const cpu0 = process.cpuUsage();
  tStart = nowMs();
  phase = 'measure';
  await new Promise((r) => setTimeout(r, opts.durationS * 1000));
  tEnd = nowMs();
  const cpu1 = process.cpuUsage(cpu0);
  opts.onMeasureEnd?.(0);
  phase = 'stop';
  await Promise.all(running);
  for (const c of conns) c.close();
  const durationS = (tEnd - tStart) / 1000;
  const v = lat.values();
  let max = 0;
  for (const x of v) if (x > max) max = x;
  return {
    generator: 'raw',
    requests: count,
    durationS,
    rps: count / durationS,
    p50Ms: percentile(v, 50),
    p99Ms: percentile(v, 99),
    maxMs: max,
    errors,
    clientCpuS: (cpu1.user + cpu1.system) / 1e6,
  };
}
