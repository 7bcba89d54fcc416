// A private dockerd for the image test (image.test.ts), like DockerEnv in
// docker-env.ts but on the overlay2 storage driver where the kernel allows
// it. Building the Dockerfile makes a container per instruction, and vfs
// copies the whole root filesystem (half a gigabyte with the toolchain) for
// each: the build takes several times as long on vfs. Falls back to vfs when
// overlay2 cannot start, and says which one it got.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describeResult, RingLog, run, settlesWithin, sleep, type RunOptions, type RunResult } from './util.js';

export class ImageDockerd {
  private constructor(
    readonly dir: string,
    readonly storageDriver: string,
    readonly env: NodeJS.ProcessEnv,
    private readonly daemon: ChildProcess,
    private readonly log: RingLog,
    private readonly exited: Promise<void>,
  ) {}

  /** Starts dockerd on overlay2, else on vfs. Throws (never skips) when neither starts: the suite needs an engine. */
  static async start(): Promise<ImageDockerd> {
    if (process.getuid?.() !== 0) throw new Error('the image test starts its own dockerd and must run as root');
    const failures: string[] = [];
    for (const driver of ['overlay2', 'vfs']) {
      const r = await ImageDockerd.tryStart(driver);
      if (r instanceof ImageDockerd) return r;
      failures.push(`${driver}: ${r}`);
    }
    throw new Error(`dockerd did not start with any storage driver:\n${failures.join('\n')}`);
  }

  private static async tryStart(driver: string): Promise<ImageDockerd | string> {
    const dir = await mkdtemp('/tmp/bdi-');
    const sock = join(dir, 'docker.sock');
    const args = [
      `--storage-driver=${driver}`, '--iptables=false', '--ip6tables=false', '--bridge=none',
      '--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'), '-H', `unix://${sock}`, '--pidfile', join(dir, 'pid'),
    ];
    const log = new RingLog();
    const daemon = spawn('dockerd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    process.on('exit', () => daemon.kill('SIGKILL'));
    let exitInfo: string | null = null;
    const exited = new Promise<void>((resolve) => {
      daemon.on('error', (e) => {
        exitInfo = `could not be started: ${e.message}`;
        resolve();
      });
      daemon.on('exit', (code, signal) => {
        exitInfo ??= `exited with code ${code} signal ${signal}`;
        resolve();
      });
    });
    daemon.stdout?.on('data', (b: Buffer) => log.push(b));
    daemon.stderr?.on('data', (b: Buffer) => log.push(b));
    await mkdir(join(dir, 'cli'), { recursive: true });
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: join(dir, 'cli') };
    for (const k of ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_API_VERSION']) delete env[k];
    const d = new ImageDockerd(dir, driver, env, daemon, log, exited);
    const deadline = Date.now() + 60_000;
    let last: RunResult | null = null;
    while (true) {
      if (exitInfo) {
        await d.removeTree();
        return `dockerd ${exitInfo}: ${log.text().slice(-2000)}`;
      }
      if (existsSync(sock)) {
        last = await run('docker', ['info', '--format', '{{.Driver}}'], { env, allowFailure: true, timeoutMs: 15_000 });
        if (last.code === 0) {
          if (last.stdout.trim() === driver) return d;
          await d.stop();
          return `dockerd runs on ${last.stdout.trim()} instead`;
        }
      }
      if (Date.now() > deadline) {
        await d.stop();
        return `not ready after 60 s: ${last ? describeResult(last) : 'no socket'}\n${log.text().slice(-2000)}`;
      }
      await sleep(200);
    }
  }

  docker(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('docker', args, { ...opts, env: { ...this.env, ...opts.env } }).catch((e: Error) => {
      if (/Cannot connect to the Docker daemon/i.test(e.message)) e.message += `\n--- dockerd output ---\n${this.log.text().slice(-4000)}`;
      throw e;
    });
  }

  async inspect<T>(ref: string): Promise<T> {
    const arr = JSON.parse((await this.docker(['image', 'inspect', ref])).stdout) as T[];
    if (!arr[0]) throw new Error(`docker image inspect ${ref} returned nothing`);
    return arr[0];
  }

  async stop(): Promise<void> {
    if (this.daemon.exitCode === null && this.daemon.signalCode === null) {
      this.daemon.kill('SIGTERM');
      if (!(await settlesWithin(this.exited, 20_000))) {
        this.daemon.kill('SIGKILL');
        await this.exited;
      }
    }
    const containerdPid = join(this.dir, 'exec', 'containerd', 'containerd.pid');
    if (existsSync(containerdPid)) {
      const pid = Number(readFileSync(containerdPid, 'utf8').trim());
      try {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await this.removeTree();
  }

  /** Unmounts what dockerd left mounted below its folder (overlay2 mounts), then removes it. */
  private async removeTree(): Promise<void> {
    let mounts: string[] = [];
    try {
      mounts = readFileSync('/proc/self/mounts', 'utf8')
        .split('\n')
        .map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
        .filter((p) => p === this.dir || p.startsWith(`${this.dir}/`));
    } catch {
      /* no /proc: nothing to unmount */
    }
    for (const m of mounts.sort((a, b) => b.length - a.length)) await run('umount', ['-l', m], { allowFailure: true });
    await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}
