// Berth benchmark: compares Berth with the reference registry (Distribution 2.8),
// and Berth on PostgreSQL + S3 with Berth's embedded default and with S3 itself.
//
//   npm run bench -- [--target berth|reference|both] [--backend embedded|scale|both]
//                    [--rounds N] [--quick]
//                    [--only push,pull,manifest-push,manifest-get,manifest-head,manifest-get-policy,tags,catalog]
//                    [--json FILE] [--duration S] [--get-client wrk|raw] [--tls ecdsa|rsa|both]
//   npm run bench -- --scale [growth options]      (growth.ts: cost as the registry grows)
//
// --backend chooses which Berth is measured: embedded (SQLite + filesystem, the
// default), scale (PostgreSQL + S3 on s3rver: target "berth-scale", see
// scale.ts) or both. Each backend is one more target in the same ABBA rotation.
// Without an explicit --target, --backend scale|both measures Berth only.
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
import { wlPush100 } from './push-100.js';
import { setTlsKinds, wlTlsManifestGet, wlTlsPull, wlTlsPush } from './tls.js';
import { fmtNum, median, renderTable } from './stats.js';
import { startPostgres, startScaleBackend, type PgServer, type ScaleBackend } from './scale.js';
import {
  REFERENCE_BIN,
  cleanupAllSync,
  isBerth,
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
  S3_COMPARISONS,
  S3_MIN,
  WORKLOADS,
  makeConfig,
  newState,
  wlCatalog,
  wlManifestGet,
  wlManifestHead,
  wlManifestGetPolicy,
  wlManifestPush,
  wlPull,
  wlPush,
  wlTags,
  type BenchConfig,
  type Ctx,
  type MetricDef,
  type ScaleCtx,
  type WorkloadName,
} from './workloads.js';

type Backend = 'embedded' | 'scale' | 'both';

interface Options {
  targets: TargetName[];
  backend: Backend;
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
    'usage: node dist/bench/run.js [--target berth|reference|both] [--backend embedded|scale|both] [--rounds N] [--quick]\n' +
      `       [--only ${WORKLOADS.join(',')}] [--json FILE] [--duration SECONDS] [--get-client wrk|raw] [--tls ecdsa|rsa|both]\n` +
      '       node dist/bench/run.js --scale [--sizes 1000,10000,100000] [--tags ...] [--db sqlite|postgres|both] (see growth.ts)',
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { targets: ['berth', 'reference'], backend: 'embedded', rounds: 2, quick: false, only: [...WORKLOADS], json: null, duration: null, getClient: null };
  let targetGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === undefined) break;
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
        targetGiven = true;
        break;
      }
      case '--backend': {
        const v = val();
        if (v !== 'embedded' && v !== 'scale' && v !== 'both') usage(`bad --backend ${v}`);
        o.backend = v;
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
      case '--tls': {
        // Key types of the tls-* workloads' certificates (tls.ts); default both.
        const v = val();
        if (v !== 'ecdsa' && v !== 'rsa' && v !== 'both') usage(`bad --tls ${v}`);
        setTlsKinds(v === 'both' ? ['ecdsa', 'rsa'] : [v]);
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
  // "berth" stands for the chosen backend(s); the reference is left out unless --target asked for it.
  const berths: TargetName[] = o.backend === 'embedded' ? ['berth'] : o.backend === 'scale' ? ['berth-scale'] : ['berth', 'berth-scale'];
  if (!targetGiven && o.backend !== 'embedded') o.targets = ['berth'];
  o.targets = o.targets.flatMap((t) => (t === 'berth' ? berths : [t]));
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
  pgServer: PgServer | null,
): Promise<RoundResult> {
  const res: RoundResult = { round, target: name, metrics: {}, errors: [], notes: [], wallS: 0 };
  const t0 = Date.now();
  log(`\n[round ${round}] ${name}: starting (load avg ${(os.loadavg()[0] ?? NaN).toFixed(2)})`);
  let target: RunningTarget;
  let backend: ScaleBackend | null = null;
  let scale: ScaleCtx | null = null;
  try {
    if (name === 'berth-scale') {
      // A fresh bucket on a fresh s3rver and a fresh database, every round.
      if (!pgServer) throw new Error('berth-scale needs the PostgreSQL server');
      backend = await startScaleBackend(pgServer);
      const b = backend;
      log(`  s3rver ${b.endpoint} bucket ${b.bucket}, database ${b.dbName}`);
      target = await startTarget(name, { env: b.berthEnv(false) });
      target.storeCpuSeconds = b.storeCpuSeconds;
      scale = { backend: b, pgServer, startRedirectInstance: () => startTarget(name, { env: b.berthEnv(true) }) };
    } else {
      target = await startTarget(name);
    }
  } catch (e) {
    res.errors.push((e as Error).message);
    log(`  ERROR ${(e as Error).message}`);
    await backend?.close().catch(() => undefined);
    return res;
  }
  const workDir = makeTempDir('work');
  try {
    log(`  pid ${target.pid}, ${target.baseUrl}, ready in ${target.startupMs} ms`);
    // Idle RSS: after the server has settled, before any request but the readiness probe.
    await sleep(cfg.idleWaitMs);
    const idleRss = procMem(target.pid).rssMiB;
    res.metrics['idle_rss_MiB'] = idleRss;
    log(`  idle RSS ${idleRss.toFixed(1)} MiB`);
    const ctx: Ctx = { cfg, target, round, scale, extraServerPids: [], blobs, nonce, state: newState(), metrics: res.metrics, notes: res.notes, log };
    const steps: Record<WorkloadName, () => Promise<void>> = {
      push: () => wlPush(ctx),
      pull: () => wlPull(ctx),
      'manifest-push': () => wlManifestPush(ctx),
      'manifest-get': () => wlManifestGet(ctx, workDir),
      'manifest-head': () => wlManifestHead(ctx),
      'manifest-get-policy': () => wlManifestGetPolicy(ctx, workDir),
      tags: () => wlTags(ctx),
      catalog: () => wlCatalog(ctx),
      'push-100': () => wlPush100(ctx),
      'tls-push': () => wlTlsPush(ctx),
      'tls-pull': () => wlTlsPull(ctx),
      'tls-manifest-get': () => wlTlsManifestGet(ctx),
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
        const st = backend?.logTail().trim();
        if (st) log(`  --- s3rver log tail ---\n${st.replace(/^/gm, '  | ')}`);
      }
      log(`  (${((Date.now() - ws) / 1000).toFixed(1)} s)`);
    }
    const peakRss = procMem(target.pid).hwmMiB;
    res.metrics['peak_rss_MiB'] = peakRss;
    log(`  peak RSS ${peakRss.toFixed(1)} MiB`);
  } finally {
    await target.stop();
    await backend?.close();
    removeTempDir(workDir);
  }
  res.wallS = (Date.now() - t0) / 1000;
  log(`  ${name} round ${round} took ${res.wallS.toFixed(0)} s`);
  return res;
}

interface PairCell {
  /** a / b, as measured. */
  ratio: number;
  /** How many times better `a` is (>1 = better), whatever the direction of the metric. */
  betterX: number;
  target: string;
  ok: boolean | null;
}

interface Summary {
  key: string;
  label: string;
  unit: string;
  /** Medians over rounds, per target that ran. */
  values: Partial<Record<TargetName, number>>;
  /** The first Berth target that ran against the reference (targets: the issue's, for the embedded default). */
  vsRef: PairCell | null;
  /** berth-scale against the embedded default. */
  vsEmbedded: PairCell | null;
  /** Highest median "other" CPU (cores) seen by any target during this figure's phase. */
  otherCpu: number;
}

interface S3Summary {
  label: string;
  berthKey: string;
  berth: number;
  /** Per direct baseline: median MB/s and the median over rounds of Berth/direct. */
  direct: Array<{ key: string; name: string; value: number; ratio: number }>;
  /** Median over rounds of Berth / (best direct figure of that round). */
  ratioBest: number;
  ok: boolean | null;
  /** Highest median "other" CPU during the phases compared. */
  otherCpu: number;
}

/** Above this many cores used by other processes during a phase, the figure is flagged as disturbed. */
const OTHER_CPU_FLAG = 0.25;

const DIRECT_NAMES: Record<string, string> = {
  s3_put_MBps: 'PutObject',
  s3_mpu_MBps: 'multipart',
  s3_get_1_MBps: 'raw GET',
  s3_get_1_sdk_MBps: 'SDK GetObject',
  s3_get_8_MBps: 'raw GET x8',
};

function medianOf(results: RoundResult[], target: TargetName, key: string): number {
  return median(results.filter((r) => r.target === target).map((r) => r.metrics[key] ?? NaN));
}

function pair(d: MetricDef, a: number, b: number, min: number | null, abs: number | null): PairCell {
  const ratio = a / b;
  const betterX = d.better === 'higher' ? ratio : b / a;
  let target = '';
  let ok: boolean | null = null;
  if (min !== null) {
    target = d.better === 'higher' ? `≥${min}x` : `≥${min}x faster`;
    ok = Number.isFinite(betterX) ? betterX >= min : null;
  } else if (abs !== null) {
    target = `≤${abs} ${d.unit}`;
    ok = Number.isFinite(a) ? a <= abs : null;
  }
  return { ratio, betterX, target, ok };
}

function summarize(results: RoundResult[], defs: MetricDef[], targets: TargetName[]): Summary[] {
  const mainBerth = targets.find(isBerth) ?? null;
  return defs.map((d) => {
    const values: Partial<Record<TargetName, number>> = {};
    for (const t of targets) values[t] = medianOf(results, t, d.key);
    // Every target has a value (NaN when it has no data): `?? NaN` only satisfies the type.
    const valueOf = (t: TargetName): number => values[t] ?? NaN;
    let vsRef: PairCell | null = null;
    if (mainBerth && targets.includes('reference')) {
      // The targets against the reference are for the embedded default; other backends get ratios only.
      const useTargets = mainBerth === 'berth';
      vsRef = pair(
        d,
        valueOf(mainBerth),
        valueOf('reference'),
        useTargets && d.target?.kind === 'ratio' ? d.target.min : null,
        useTargets && d.target?.kind === 'abs' ? d.target.max : null,
      );
    }
    const vsEmbedded =
      targets.includes('berth') && targets.includes('berth-scale') ? pair(d, valueOf('berth-scale'), valueOf('berth'), d.scaleMin ?? null, null) : null;
    const others = d.phase ? targets.map((t) => medianOf(results, t, `cpu:${d.phase}:other`)).filter((x) => Number.isFinite(x)) : [];
    const otherCpu = others.length ? Math.max(...others) : NaN;
    return { key: d.key, label: d.label, unit: d.unit, values, vsRef, vsEmbedded, otherCpu };
  });
}

/** Berth on S3 against the same s3rver used directly: ratios are paired per round (same s3rver, same round), then the median is taken. */
function summarizeS3(results: RoundResult[]): S3Summary[] {
  const rounds = results.filter((r) => r.target === 'berth-scale');
  if (rounds.length === 0) return [];
  const m = (r: RoundResult, k: string): number => r.metrics[k] ?? NaN;
  return S3_COMPARISONS.map((c) => {
    const direct = c.direct.map((k) => ({
      key: k,
      name: DIRECT_NAMES[k] ?? k,
      value: medianOf(results, 'berth-scale', k),
      ratio: median(rounds.map((r) => m(r, c.berth) / m(r, k))),
    }));
    const ratioBest = median(
      rounds.map((r) => {
        const best = Math.max(...c.direct.map((k) => m(r, k)).filter((x) => Number.isFinite(x)));
        return m(r, c.berth) / best;
      }),
    );
    const phases = [c.berth, ...c.direct].map((k) => METRICS.find((d) => d.key === k)?.phase).filter((p): p is string => p !== undefined);
    const others = phases.map((p) => medianOf(results, 'berth-scale', `cpu:${p}:other`)).filter((x) => Number.isFinite(x));
    return {
      label: c.label,
      berthKey: c.berth,
      berth: medianOf(results, 'berth-scale', c.berth),
      direct,
      ratioBest,
      ok: Number.isFinite(ratioBest) ? ratioBest >= S3_MIN : null,
      otherCpu: others.length ? Math.max(...others) : NaN,
    };
  }).filter((s) => Number.isFinite(s.berth) || s.direct.some((d) => Number.isFinite(d.value)));
}

function printSummary(rows: Summary[], s3rows: S3Summary[], results: RoundResult[], targets: TargetName[]): void {
  const okStr = (ok: boolean | null): string => (ok === null ? '' : ok ? 'ok' : 'MISS');
  const mainBerth = targets.find(isBerth) ?? 'berth';
  const hasRef = rows.some((r) => r.vsRef !== null);
  const hasEmb = rows.some((r) => r.vsEmbedded !== null);
  const fx = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '—');
  log('\n=== Results (medians over rounds) ===');
  const header = ['metric', 'unit', ...targets];
  const right = [false, false, ...targets.map(() => true)];
  if (hasRef) {
    header.push(`${mainBerth === 'berth' ? 'berth' : mainBerth}/ref`, 'Berth better by', 'target', '');
    right.push(true, true, false, false);
  }
  if (hasEmb) {
    header.push('scale vs embedded', 'target', '');
    right.push(true, false, false);
  }
  header.push('other CPU');
  right.push(true);
  log(
    renderTable(
      header,
      rows
        .filter((r) => targets.some((t) => Number.isFinite(r.values[t] ?? NaN)))
        .map((r) => {
          const cells = [r.label, r.unit, ...targets.map((t) => fmtNum(r.values[t]))];
          // Every row has a comparison when one has (same targets): the blanks are not reached.
          if (hasRef) {
            const v = r.vsRef;
            cells.push(...(v ? [Number.isFinite(v.ratio) ? v.ratio.toFixed(2) : '—', fx(v.betterX), v.target, okStr(v.ok)] : ['', '', '', '']));
          }
          if (hasEmb) {
            const v = r.vsEmbedded;
            cells.push(...(v ? [fx(v.betterX), v.target, okStr(v.ok)] : ['', '', '']));
          }
          cells.push(Number.isFinite(r.otherCpu) ? `${r.otherCpu.toFixed(2)}${r.otherCpu > OTHER_CPU_FLAG ? ' !' : ''}` : '');
          return cells;
        }),
      right,
    ),
  );
  if (hasEmb) log('"scale vs embedded": how many times better Berth on PostgreSQL + S3 is than the embedded default (below 1 = slower).');
  if (rows.some((r) => r.otherCpu > OTHER_CPU_FLAG) || s3rows.some((r) => r.otherCpu > OTHER_CPU_FLAG)) {
    log(
      `! = other processes used more than ${OTHER_CPU_FLAG} cores (median) while this figure was measured for at least one target;` +
        ' treat it as disturbed and re-run on a quiet machine.',
    );
  }

  if (s3rows.length > 0) {
    log('\n=== Berth on S3 vs the same s3rver used directly (same round, same size, client hashes on every pull) ===');
    log(
      renderTable(
        ['Berth on S3', 'MB/s', 'best direct', 'MB/s', 'Berth/best', 'target', '', 'Berth/each direct', 'other CPU'],
        s3rows.map((r) => {
          const best = r.direct.reduce((x, y) => ((y.value ?? -1) > (x.value ?? -1) ? y : x));
          return [
            r.label,
            fmtNum(r.berth),
            best.name,
            fmtNum(best.value),
            Number.isFinite(r.ratioBest) ? r.ratioBest.toFixed(2) : '—',
            `≥${S3_MIN}`,
            okStr(r.ok),
            r.direct.map((d) => `${d.name} ${Number.isFinite(d.ratio) ? d.ratio.toFixed(2) : '—'}`).join(', '),
            Number.isFinite(r.otherCpu) ? `${r.otherCpu.toFixed(2)}${r.otherCpu > OTHER_CPU_FLAG ? ' !' : ''}` : '',
          ];
        }),
        [false, true, false, true, true, false, false, false, true],
      ),
    );
    log('Ratios are paired per round (Berth and the direct client on the same s3rver in the same round), then the median is taken.');
  }

  const kinds = (t: TargetName): string[] => (t === 'berth-scale' ? ['server', 'client', 'store', 'other'] : ['server', 'client', 'other']);
  const short: Record<string, string> = { server: 'srv', client: 'cli', store: 'sto', other: 'oth' };
  const cpuRows: string[][] = [];
  for (const p of CPU_PHASES) {
    const cells = targets.flatMap((t) => kinds(t).map((k) => medianOf(results, t, `cpu:${p}:${k}`)));
    if (cells.every((x) => !Number.isFinite(x))) continue;
    cpuRows.push([p, ...cells.map((x) => (Number.isFinite(x) ? x.toFixed(2) : '—'))]);
  }
  if (cpuRows.length > 0) {
    log(
      '\nCPU during each phase, in cores (of ' + os.cpus().length + '): srv = registry process(es), cli = load generator (bench process, or wrk),\n' +
        (targets.includes('berth-scale') ? 'sto = s3rver + PostgreSQL (berth-scale), ' : '') +
        'oth = everything else on the machine (high values mean other jobs disturbed the figure)',
    );
    log(
      renderTable(
        ['phase', ...targets.flatMap((t) => kinds(t).map((k) => `${t} ${short[k]}`))],
        cpuRows,
        [false, ...targets.flatMap((t) => kinds(t).map(() => true))],
      ),
    );
  }
  for (const r of results) {
    for (const e of r.errors) log(`ERROR [round ${r.round} ${r.target}] ${e}`);
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--scale')) {
    // Growth mode: a separate program with its own options (growth.ts).
    const { runGrowth } = await import('./growth.js');
    await runGrowth(process.argv.slice(2).filter((a) => a !== '--scale'));
    return;
  }
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

  // One PostgreSQL server for the whole run (a fresh database per berth-scale round).
  let pgServer: PgServer | null = null;
  if (targets.includes('berth-scale')) {
    const t = Date.now();
    pgServer = startPostgres();
    log(`PostgreSQL: ${pgServer.describe}, ready in ${Date.now() - t} ms`);
    if (pgServer.external) runNotes.push('PostgreSQL from BERTH_BENCH_POSTGRES_URL: its CPU is counted as "other", not "store"');
  }

  const results: RoundResult[] = [];
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      // Flip the order every round (ABBA…) so neither target always runs on a cooler/warmer machine.
      const order = round % 2 === 1 ? targets : [...targets].reverse();
      for (const t of order) results.push(await runTargetRound(t, round, cfg, opts, blobs, nonce, pgServer));
    }
  } finally {
    pgServer?.stop();
  }

  const summary = summarize(results, METRICS, targets);
  const s3summary = summarizeS3(results);
  printSummary(summary, s3summary, results, targets);
  for (const n of runNotes) log(`NOTE ${n}`);
  const totalS = (Date.now() - started.getTime()) / 1000;
  log(`\ntotal ${totalS.toFixed(0)} s; load avg now ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);

  if (opts.json) {
    const cpuSummary: Record<string, Record<string, { server: number; client: number; store?: number; other: number }>> = {};
    for (const t of targets) {
      const phases: (typeof cpuSummary)[string] = {};
      cpuSummary[t] = phases;
      for (const p of CPU_PHASES) {
        const [server, client, other, store] = ['server', 'client', 'other', 'store'].map((k) => medianOf(results, t, `cpu:${p}:${k}`)) as [
          number,
          number,
          number,
          number,
        ];
        if (Number.isFinite(server) || Number.isFinite(client)) phases[p] = { server, client, other, ...(t === 'berth-scale' ? { store } : {}) };
      }
    }
    const out = {
      tool: 'berth-bench',
      started: started.toISOString(),
      totalSeconds: totalS,
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? null, node: process.version, loadavgAtEnd: os.loadavg() },
      options: { targets, backend: opts.backend, rounds: opts.rounds, quick: opts.quick, only: opts.only },
      config: cfg,
      notes: runNotes,
      // Non-finite numbers become null (see the replacer below).
      summary,
      s3: s3summary,
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
