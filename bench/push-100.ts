// Workload "push-100" (issue 14 item 4): 100 pushes of distinct 16 MiB blobs
// at once, each on its own keep-alive connection (POST, then PUT ?digest= with
// the whole body), timed from the first POST to the last 201. The server's
// RSS is sampled every 20 ms while they run: Berth's peak is the figure the
// issue asks for (VmHWM would include whatever ran earlier in the round).
import crypto from 'node:crypto';
import { RawConn, addQuery, toPath } from './raw-http.js';
import { MiB, nowMs } from './stats.js';
import { CpuMeter, procMem } from './targets.js';
import type { Ctx } from './workloads.js';

export const PUSH100_COUNT = 100;
export const PUSH100_SIZE = 16 * MiB;
/** Only the last 64 KiB differ between the blobs: the shared prefix is hashed once and its hash state copied. */
const TAIL = 64 * 1024;

interface Blob100 {
  tail: Buffer;
  digest: string;
}

let prefix: { data: Buffer; hash: crypto.Hash } | null = null;

/** 100 distinct blobs of 16 MiB: one shared random prefix, a random tail each (fresh per call, so every round pushes new content). */
function makeBlobs(): { prefix: Buffer; blobs: Blob100[] } {
  if (!prefix) {
    const data = crypto.randomBytes(PUSH100_SIZE - TAIL);
    prefix = { data, hash: crypto.createHash('sha256').update(data) };
  }
  const p = prefix;
  const blobs = Array.from({ length: PUSH100_COUNT }, () => {
    const tail = crypto.randomBytes(TAIL);
    return { tail, digest: 'sha256:' + p.hash.copy().update(tail).digest('hex') };
  });
  return { prefix: p.data, blobs };
}

async function pushOne(ctx: Ctx, c: RawConn, repo: string, body: Buffer[], digest: string): Promise<void> {
  const post = await c.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/` });
  if (post.status !== 202) throw new Error(`POST upload ${repo}: HTTP ${post.status}`);
  const loc = post.headers.get('location');
  if (!loc) throw new Error(`POST upload ${repo}: no Location header`);
  const put = await c.request({
    method: 'PUT',
    path: addQuery(toPath(loc, ctx.target.baseUrl), 'digest', digest),
    headers: { 'Content-Type': 'application/octet-stream' },
    body,
    timeoutMs: 600_000,
  });
  if (put.status !== 201) throw new Error(`PUT blob ${repo}: HTTP ${put.status} ${put.body.toString('utf8', 0, 300)}`);
  const got = put.headers.get('docker-content-digest');
  if (got && got !== digest) throw new Error(`PUT blob ${repo}: server digest ${got} != ${digest}`);
}

export async function wlPush100(ctx: Ctx): Promise<void> {
  const { prefix: head, blobs } = makeBlobs();
  // Connections are opened before the clock starts, as the other raw-socket workloads do.
  const conns = blobs.map(() => new RawConn(ctx.target.host, ctx.target.port));
  try {
    await Promise.all(conns.map((c) => c.connect()));
    const pid = ctx.target.pid;
    let peak = procMem(pid).rssMiB;
    const sampler = setInterval(() => {
      const r = procMem(pid).rssMiB;
      if (r > peak) peak = r;
    }, 20);
    const meter = new CpuMeter([pid, ...ctx.extraServerPids], ctx.target.storeCpuSeconds).start();
    const t0 = nowMs();
    try {
      await Promise.all(blobs.map((b, i) => pushOne(ctx, conns[i] as RawConn, `bench/push100-${i % 10}`, [head, b.tail], b.digest)));
    } finally {
      clearInterval(sampler);
    }
    const wallS = (nowMs() - t0) / 1000;
    const cpu = meter.end();
    peak = Math.max(peak, procMem(pid).rssMiB);
    ctx.metrics['push100_s'] = wallS;
    ctx.metrics['push100_MBps'] = (PUSH100_COUNT * PUSH100_SIZE) / 1e6 / wallS;
    ctx.metrics['push100_peak_rss_MiB'] = peak;
    ctx.metrics['cpu:push100:server'] = cpu.server;
    ctx.metrics['cpu:push100:client'] = cpu.client;
    ctx.metrics['cpu:push100:other'] = cpu.other;
    if (ctx.target.storeCpuSeconds) ctx.metrics['cpu:push100:store'] = cpu.store;
    ctx.log(
      `  ${PUSH100_COUNT} concurrent pushes of ${PUSH100_SIZE / MiB} MiB: ${wallS.toFixed(2)} s (${(ctx.metrics['push100_MBps'] ?? 0).toFixed(0)} MB/s), ` +
        `peak RSS ${peak.toFixed(0)} MiB; cores: server ${cpu.server.toFixed(2)}, client ${cpu.client.toFixed(2)}, other ${cpu.other.toFixed(2)}`,
    );
  } finally {
    for (const c of conns) c.close();
  }
}
