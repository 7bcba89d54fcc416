// Garbage collection figures (issue 12): time and memory of one collection
// over N blobs (default 100,000, half of them referenced by a manifest, half
// garbage), on SQLite + the filesystem; then push and manifest GET rates of
// an in-process Berth with a collection running back to back, against none.
//
//   npm run build && node dist/bench/gc.js [--blobs 100000] [--seconds 10]
//
// The blob records are written straight into the database in one
// transaction and their files without fsync (setting up, not measured).
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { startBerth } from '../src/app.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log/index.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;

async function seed(dataDir: string, blobs: number): Promise<void> {
  const db = new SqliteDatabase(path.join(dataDir, 'berth.db'));
  const old = Date.now() - 7_200_000;
  const digests: string[] = [];
  const files: { file: string; data: string }[] = [];
  for (let i = 0; i < blobs; i++) {
    const data = `blob ${i} ${randomUUID()}`;
    const hex = createHash('sha256').update(data).digest('hex');
    digests.push(`sha256:${hex}`);
    files.push({ file: path.join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex), data });
  }
  db.transaction(() => {
    db.prepare('insert into repositories (name, created_at) values (?, ?) on conflict do nothing').run('bench/gc', old);
    const blob = db.prepare('insert into blobs (digest, size, created_at) values (?, ?, ?)');
    const link = db.prepare('insert into repository_blobs (repository, digest, created_at) values (?, ?, ?)');
    const ref = db.prepare('insert into manifest_references (repository, manifest_digest, child_digest, kind) values (?, ?, ?, ?)');
    const manifest = `sha256:${'0'.repeat(64)}`;
    db.prepare('insert into manifests (repository, digest, media_type, size, content, created_at) values (?, ?, ?, ?, ?, ?) on conflict do nothing')
      .run('bench/gc', manifest, 'application/vnd.oci.image.manifest.v1+json', 2, Buffer.from('{}'), old);
    for (const [i, d] of digests.entries()) {
      blob.run(d, Buffer.byteLength(files[i]?.data ?? ''), old);
      link.run('bench/gc', d, old);
      if (i % 2 === 0) ref.run('bench/gc', manifest, d, 'blob');
    }
  })();
  db.close();
  for (let i = 0; i < files.length; i += 256) {
    await Promise.all(files.slice(i, i + 256).map(async ({ file, data }) => {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, data);
    }));
  }
}

async function start(dataDir: string) {
  const { config, errors } = await loadConfig({ env: { REGISTRY_GC_ENABLED: 'false' }, flags: { addr: '127.0.0.1:0', dataDir } });
  if (!config) throw new Error(errors.join('; '));
  return startBerth(config, silentLogger(), { env: {} });
}

/** Pushes (one blob + manifest) and manifest GETs for `seconds` each, 16 at a time; returns per-second rates. */
async function rates(url: string, seconds: number): Promise<{ push: number; get: number }> {
  const pushed: string[] = [];
  const run = async (fn: (n: number) => Promise<void>) => {
    const until = Date.now() + seconds * 1000;
    let done = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (Date.now() < until) await fn(done++);
    }));
    return done / seconds;
  };
  const push = await run(async (n) => {
    const repo = `bench/rate${n % 8}`;
    const data = `layer ${randomUUID()}`;
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const b = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data });
    if (b.status !== 201) throw new Error(`blob ${b.status}`);
    const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: data.length }, layers: [] });
    const m = await fetch(`${url}/v2/${repo}/manifests/t${n}`, { method: 'PUT', body, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
    if (m.status !== 201) throw new Error(`manifest ${m.status} ${await m.text()}`);
    pushed.push(`${repo}/manifests/t${n}`);
  });
  const get = await run(async (n) => {
    const r = await fetch(`${url}/v2/${pushed[n % pushed.length] ?? ''}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`get ${r.status}`);
  });
  return { push, get };
}

async function main(): Promise<void> {
  const blobs = arg('blobs', 100_000);
  const seconds = arg('seconds', 10);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'berth-bench-gc-'));
  try {
    let berth = await start(dataDir); // creates and migrates the database
    await berth.close();
    const t0 = Date.now();
    await seed(dataDir, blobs);
    process.stdout.write(`seeded ${blobs} blobs (half referenced) in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
    berth = await start(dataDir);
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
    const dry = await berth.gc.run({ dryRun: true, graceMs: 3_600_000, trigger: 'bench' });
    const real = await berth.gc.run({ graceMs: 3_600_000, trigger: 'bench' });
    clearInterval(sampler);
    process.stdout.write(`gc over ${blobs} blobs: dry run ${(dry.durationMs / 1000).toFixed(1)}s (${dry.blobsDeleted} candidates); run ${(real.durationMs / 1000).toFixed(1)}s, deleted ${real.blobsDeleted} blobs, ${real.bytesFreed} bytes; rss ${mib(rssBefore)} before, peak ${mib(peak)}\n`);

    const url = `http://127.0.0.1:${berth.address.port}`;
    const quiet = await rates(url, seconds);
    // Garbage for the concurrent collections to chew on, then collections back to back while measuring.
    await berth.close();
    await seed(dataDir, Math.min(blobs, 20_000));
    berth = await start(dataDir);
    const url2 = `http://127.0.0.1:${berth.address.port}`;
    let stop = false;
    let runs = 0;
    const loop = (async () => {
      while (!stop) {
        await berth.gc.run({ graceMs: 3_600_000, trigger: 'bench' });
        runs++;
      }
    })();
    const busy = await rates(url2, seconds);
    stop = true;
    await loop;
    process.stdout.write(`push/s ${quiet.push.toFixed(0)} without gc, ${busy.push.toFixed(0)} with gc running (${runs} runs); manifest GET/s ${quiet.get.toFixed(0)} without, ${busy.get.toFixed(0)} with\n`);
    await berth.close();
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
