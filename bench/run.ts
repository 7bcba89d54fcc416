// Berth benchmark: compares Berth with the reference registry (Distribution 2.8).
//
//   npm run bench -- [--target berth|reference|both] [--rounds N] [--quick]
//                    [--only push,pull,manifest-push,manifest-get,manifest-head,tags,catalog]
//                    [--json FILE] [--duration S] [--get-client wrk|raw]
//
// Fairness: each target-round starts the registry on a fresh data dir; targets
// alternate within a round and the order flips every round (A B, B A, ...);
// results are medians over rounds; every client verifies what it receives
// (digests, counts), and load-generator CPU is reported next to server CPU.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { wrkAvailable } from './load.js';
import { fmtNum, median, renderTable } from './stats.js';
import {
  REFERENCE_BIN,
  cleanupAllSync,
  makeTempDir,
  procMem,
  removeTempDir,
  startTarget,
  targetAvailable,
  type RunningTarget,
  type TargetName,
} from './targets.js';
import {
  BigBlobs,
  CPU_PHASES,
  METRICS,
  WORKLOADS,
  makeConfig,
  newState,
  wlCatalog,
  wlManifestGet,
  wlManifestHead,
  wlManifestPush,
  wlPull,
  wlPush,
  wlTags,
  type BenchConfig,
  type Ctx,
  type MetricDef,
  type WorkloadName,
} from './workloads.js';

interface Options {
  targets: TargetName[];
  rounds: number;
  quick: boolean;
  only: WorkloadName[];
  json: string | null;
  duration: number | null;
  getClient: 'wrk' | 'raw' | null;
}

function usage(msg?: string): never {
  if (msg) console.error(`error: ${msg}`);
  console.error(
    'usage: node dist/bench/run.js [--target berth|reference|both] [--rounds N] [--quick]\n' +
      `       [--only ${WORKLOADS.join(',')}] [--json FILE] [--duration SECONDS] [--get-client wrk|raw]`,
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { targets: ['berth', 'reference'], rounds: 2, quick: false, only: [...WORKLOADS], json: null, duration: null, getClient: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const val = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) usage(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--target': {
        const v = val();
        if (v === 'both') o.targets = ['berth', 'reference'];
        else if (v === 'berth' || v === 'reference') o.targets = [v];
        else usage(`bad --target ${v}`);
        break;
      }
      case '--rounds':
        o.rounds = Number(val());
        if (!Number.isInteger(o.rounds) || o.rounds < 1) usage('--rounds must be a positive integer');
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--only': {
        const names = val().split(',').map((s) => s.trim()).filter(Boolean);
        for (const n of names) if (!(WORKLOADS as readonly string[]).includes(n)) usage(`unknown workload ${n}`);
        o.only = WORKLOADS.filter((w) => names.includes(w));
        break;
      }
      case '--json':
        o.json = val();
        break;
      case '--duration':
        o.duration = Number(val());
        if (!(o.duration > 0)) usage('--duration must be > 0');
        break;
      case '--get-client': {
        const v = val();
        if (v !== 'wrk' && v !== 'raw') usage(`bad --get-client ${v}`);
        o.getClient = v;
        break;
      }
      case '-h':
      case '--help':
        usage();
        break;
      default:
        usage(`unknown option ${a}`);
    }
  }
  return o;
}

interface RoundResult {
  round: number;
  target: TargetName;
  metrics: Record<string, number>;
  errors: string[];
  notes: string[];
  wallS: number;
}

const log = (msg: string): void => {
  process.stdout.write(msg + '\n');
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function runTargetRound(
  name: TargetName,
  round: number,
  cfg: BenchConfig,
  opts: Options,
  blobs: BigBlobs | null,
  nonce: string,
): Promise<RoundResult> {
  const res: RoundResult = { round, target: name, metrics: {}, errors: [], notes: [], wallS: 0 };
  const t0 = Date.now();
  log(`\n[round ${round}] ${name}: starting (load avg ${os.loadavg()[0]!.toFixed(2)})`);
  let target: RunningTarget;
  try {
    target = await startTarget(name);
  } catch (e) {
    res.errors.push((e as Error).message);
    log(`  ERROR ${(e as Error).message}`);
    return res;
  }
  const workDir = makeTempDir('work');
  try {
    log(`  pid ${target.pid}, ${target.baseUrl}, ready in ${target.startupMs} ms`);
    // Idle RSS: after the server has settled, before any request but the readiness probe.
    await sleep(cfg.idleWaitMs);
    res.metrics['idle_rss_MiB'] = procMem(target.pid).rssMiB;
    log(`  idle RSS ${res.metrics['idle_rss_MiB']!.toFixed(1)} MiB`);
    const ctx: Ctx = { cfg, target, blobs, nonce, state: newState(), metrics: res.metrics, notes: res.notes, log };
    const steps: Record<WorkloadName, () => Promise<void>> = {
      push: () => wlPush(ctx),
      pull: () => wlPull(ctx),
      'manifest-push': () => wlManifestPush(ctx),
      'manifest-get': () => wlManifestGet(ctx, workDir),
      'manifest-head': () => wlManifestHead(ctx),
      tags: () => wlTags(ctx),
      catalog: () => wlCatalog(ctx),
    };
    for (const w of opts.only) {
      const ws = Date.now();
      log(` ${w}`);
      try {
        await steps[w]();
      } catch (e) {
        const msg = `${w}: ${(e as Error).message}`;
        res.errors.push(msg);
        log(`  ERROR ${msg}`);
        const t = target.logTail().trim();
        if (t) log(`  --- server log tail ---\n${t.replace(/^/gm, '  | ')}`);
      }
      log(`  (${((Date.now() - ws) / 1000).toFixed(1)} s)`);
    }
    res.metrics['peak_rss_MiB'] = procMem(target.pid).hwmMiB;
    log(`  peak RSS ${res.metrics['peak_rss_MiB']!.toFixed(1)} MiB`);
  } finally {
    await target.stop();
    removeTempDir(workDir);
  }
  res.wallS = (Date.now() - t0) / 1000;
  log(`  ${name} round ${round} took ${res.wallS.toFixed(0)} s`);
  return res;
}

interface Summary {
  key: string;
  label: string;
  unit: string;
  berth: number;
  reference: number;
  /** Berth / reference, as measured. */
  ratio: number;
  /** How many times better Berth is (>1 = Berth better), whatever the direction of the metric. */
  betterX: number;
  target: string;
  ok: boolean | null;
  /** Highest median "other" CPU (cores) seen by either target during this figure's phase. */
  otherCpu: number;
}

/** Above this many cores used by other processes during a phase, the figure is flagged as disturbed. */
const OTHER_CPU_FLAG = 0.25;

function medianOf(results: RoundResult[], target: TargetName, key: string): number {
  return median(results.filter((r) => r.target === target).map((r) => r.metrics[key] ?? NaN));
}

function summarize(results: RoundResult[], defs: MetricDef[], targets: TargetName[]): Summary[] {
  return defs.map((d) => {
    const b = medianOf(results, 'berth', d.key);
    const r = medianOf(results, 'reference', d.key);
    const ratio = b / r;
    const betterX = d.better === 'higher' ? ratio : r / b;
    let target = '';
    let ok: boolean | null = null;
    if (d.target?.kind === 'ratio') {
      target = d.better === 'higher' ? `≥${d.target.min}x` : `≥${d.target.min}x faster`;
      ok = Number.isFinite(betterX) ? betterX >= d.target.min : null;
    } else if (d.target?.kind === 'abs') {
      target = `≤${d.target.max} ${d.unit}`;
      ok = Number.isFinite(b) ? b <= d.target.max : null;
    }
    const others = d.phase ? targets.map((t) => medianOf(results, t, `cpu:${d.phase}:other`)).filter((x) => Number.isFinite(x)) : [];
    const otherCpu = others.length ? Math.max(...others) : NaN;
    return { key: d.key, label: d.label, unit: d.unit, berth: b, reference: r, ratio, betterX, target, ok, otherCpu };
  });
}

function printSummary(rows: Summary[], results: RoundResult[], opts: Options): void {
  const okStr = (ok: boolean | null): string => (ok === null ? '' : ok ? 'ok' : 'MISS');
  log('\n=== Results (medians over rounds) ===');
  log(
    renderTable(
      ['metric', 'unit', 'berth', 'reference', 'berth/ref', 'Berth better by', 'target', '', 'other CPU'],
      rows
        .filter((r) => Number.isFinite(r.berth) || Number.isFinite(r.reference))
        .map((r) => [
          r.label,
          r.unit,
          fmtNum(r.berth),
          fmtNum(r.reference),
          Number.isFinite(r.ratio) ? r.ratio.toFixed(2) : '—',
          Number.isFinite(r.betterX) ? `${r.betterX.toFixed(2)}x` : '—',
          r.target,
          okStr(r.ok),
          Number.isFinite(r.otherCpu) ? `${r.otherCpu.toFixed(2)}${r.otherCpu > OTHER_CPU_FLAG ? ' !' : ''}` : '',
        ]),
      [false, false, true, true, true, true, false, false, true],
    ),
  );
  if (rows.some((r) => r.otherCpu > OTHER_CPU_FLAG)) {
    log(
      `! = other processes used more than ${OTHER_CPU_FLAG} cores (median) while this figure was measured for at least one target;` +
        ' treat it as disturbed and re-run on a quiet machine.',
    );
  }

  const cpuRows: string[][] = [];
  for (const p of CPU_PHASES) {
    const cells = opts.targets.flatMap((t) => ['server', 'client', 'other'].map((k) => medianOf(results, t, `cpu:${p}:${k}`)));
    if (cells.every((x) => !Number.isFinite(x))) continue;
    cpuRows.push([p, ...cells.map((x) => (Number.isFinite(x) ? x.toFixed(2) : '—'))]);
  }
  if (cpuRows.length > 0) {
    log(
      '\nCPU during each phase, in cores (of 2): srv = registry process, cli = load generator (bench process, or wrk),\n' +
        'oth = everything else on the machine (high values mean other jobs disturbed the figure)',
    );
    log(
      renderTable(
        ['phase', ...opts.targets.flatMap((t) => [`${t} srv`, `${t} cli`, `${t} oth`])],
        cpuRows,
        [false, ...opts.targets.flatMap(() => [true, true, true])],
      ),
    );
  }
  for (const r of results) {
    for (const e of r.errors) log(`ERROR [round ${r.round} ${r.target}] ${e}`);
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const cfg = makeConfig(opts.quick);
  if (opts.duration !== null) cfg.loadDurationS = opts.duration;
  if (opts.getClient === 'wrk' && !wrkAvailable()) throw new Error('--get-client wrk: /usr/bin/wrk is not installed');
  if (opts.getClient !== null) cfg.getClient = opts.getClient;
  const started = new Date();
  const runNotes: string[] = [];

  // Decide which targets can run at all.
  const targets: TargetName[] = [];
  for (const t of opts.targets) {
    const why = targetAvailable(t);
    if (why) {
      const msg = `${t}: ${why}; measuring without it`;
      runNotes.push(msg);
      log(`NOTE ${msg}`);
    } else targets.push(t);
  }
  if (targets.length === 0) throw new Error('no target can be run');
  if (opts.targets.includes('reference') && !targets.includes('reference')) {
    log(`NOTE ${REFERENCE_BIN} missing: Berth is measured alone, ratios are not available`);
  }
  if (!wrkAvailable()) runNotes.push('wrk not found: manifest GET uses the raw-socket client');

  log(
    `Berth benchmark: targets ${targets.join(', ')}, ${opts.rounds} round(s), workloads ${opts.only.join(', ')}` +
      `${opts.quick ? ' (quick)' : ''}\n` +
      `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, load avg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}, node ${process.version}`,
  );

  let blobs: BigBlobs | null = null;
  if (opts.only.includes('push') || opts.only.includes('pull')) {
    const t = Date.now();
    blobs = new BigBlobs(cfg.blobSize, cfg.chunkSize);
    log(`prepared ${cfg.blobSize / 1024 / 1024} MiB of random blob data in ${Date.now() - t} ms`);
  }
  const nonce = crypto.randomBytes(8).toString('hex');

  const results: RoundResult[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    // Flip the order every round (ABBA…) so neither target always runs on a cooler/warmer machine.
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    for (const t of order) results.push(await runTargetRound(t, round, cfg, opts, blobs, nonce));
  }

  const summary = summarize(results, METRICS, targets);
  printSummary(summary, results, opts);
  for (const n of runNotes) log(`NOTE ${n}`);
  const totalS = (Date.now() - started.getTime()) / 1000;
  log(`\ntotal ${totalS.toFixed(0)} s; load avg now ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);

  if (opts.json) {
    const cpuSummary: Record<string, Record<string, { server: number; client: number; other: number }>> = {};
    for (const t of targets) {
      cpuSummary[t] = {};
      for (const p of CPU_PHASES) {
        const [server, client, other] = ['server', 'client', 'other'].map((k) => medianOf(results, t, `cpu:${p}:${k}`)) as [number, number, number];
        if (Number.isFinite(server) || Number.isFinite(client)) cpuSummary[t]![p] = { server, client, other };
      }
    }
    const clean = (x: number): number | null => (Number.isFinite(x) ? x : null);
    const out = {
      tool: 'berth-bench',
      started: started.toISOString(),
      totalSeconds: totalS,
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? null, node: process.version, loadavgAtEnd: os.loadavg() },
      options: { targets, rounds: opts.rounds, quick: opts.quick, only: opts.only },
      config: cfg,
      notes: runNotes,
      summary: summary.map((s) => ({
        ...s,
        berth: clean(s.berth),
        reference: clean(s.reference),
        ratio: clean(s.ratio),
        betterX: clean(s.betterX),
      })),
      cpu: cpuSummary,
      rounds: results,
    };
    fs.mkdirSync(path.dirname(path.resolve(opts.json)), { recursive: true });
    fs.writeFileSync(opts.json, JSON.stringify(out, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
    log(`wrote ${opts.json}`);
  }
  const failed = results.some((r) => r.errors.length > 0);
  process.exitCode = failed ? 1 : 0;
}

// Cleanup on every way out: normal exit, error, Ctrl-C, SIGTERM.
process.on('exit', cleanupAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    log(`\n${sig}: stopping registries and removing temp dirs`);
    cleanupAllSync();
    process.exit(130);
  });
}
process.on('uncaughtException', (e) => {
  console.error(e);
  cleanupAllSync();
  process.exit(1);
});

main().catch((e: unknown) => {
  console.error(`bench failed: ${(e as Error).stack ?? String(e)}`);
  cleanupAllSync();
  process.exit(1);
});
