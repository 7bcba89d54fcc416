// A private Docker engine (dockerd, vfs storage, no networking) for one test
// file, the tiny test images, and helpers to run docker / skopeo / podman with
// error messages that include the command's stdout and stderr.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildRootfsTar,
  describeResult,
  run,
  runExpectFailure,
  RingLog,
  settlesWithin,
  sleep,
  type RunOptions,
  type RunResult,
} from './util.js';

// ---------------------------------------------------------------------------
// Cleanup helpers
// ---------------------------------------------------------------------------

/** Lazily unmount anything still mounted below `dir` (deepest first). */
async function unmountBelow(dir: string): Promise<void> {
  let mounts: string[] = [];
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .map((p) => p.replace(/\\040/g, ' '))
      .filter((p) => p === dir || p.startsWith(dir + '/'));
  } catch {
    return;
  }
  mounts.sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    await run('umount', ['-l', m], { allowFailure: true });
  }
}

async function removeTree(dir: string): Promise<void> {
  await unmountBelow(dir);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

const liveChildren = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  liveChildren.add(child);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const c of liveChildren) c.kill('SIGKILL');
    });
  }
}

// ---------------------------------------------------------------------------
// Docker engine
// ---------------------------------------------------------------------------

export interface TestImages {
  /** 1 layer: busybox rootfs. */
  one: string;
  /** 2 layers: bb:1 + /f containing "hi". */
  two: string;
  /** 4 layers: bb:2 + /g ("two") + /h ("three"). */
  multi: string;
}

export interface DockerStartOptions {
  /** How long to wait for the engine to answer. Default 60 s. */
  readyTimeoutMs?: number;
  /**
   * Storage drivers to try, in order; the first that starts is used. Default
   * vfs, which works everywhere. The image test prefers overlay2: building a
   * Dockerfile makes a container per instruction, and vfs copies the whole
   * root filesystem for each.
   */
  storageDrivers?: readonly string[];
}

export class DockerEnv {
  readonly images: TestImages = { one: 'bb:1', two: 'bb:2', multi: 'bb:multi' };
  /** Path of the busybox rootfs tarball used to build the images (set by buildImages). */
  rootfsTar = '';

  private constructor(
    /** Short temp dir, e.g. /tmp/bde-AbC123 (unix socket paths must stay short). */
    readonly dir: string,
    /** The storage driver the engine runs on. */
    readonly storageDriver: string,
    readonly env: NodeJS.ProcessEnv,
    private readonly daemon: ChildProcess,
    private readonly daemonLog: RingLog,
    private readonly daemonExited: Promise<void>,
  ) {}

  /**
   * Start a private dockerd. Throws (never skips) when that is impossible, so a
   * CI run without a working Docker engine fails loudly.
   */
  static async start(opts: DockerStartOptions = {}): Promise<DockerEnv> {
    const uid = process.getuid?.();
    if (uid !== 0) {
      throw new Error(
        `the docker e2e tests start their own dockerd and must run as root (current uid ${uid}); ` +
          `run them as root, e.g. in a privileged CI container`,
      );
    }
    const failures: string[] = [];
    for (const driver of opts.storageDrivers ?? ['vfs']) {
      const started = await DockerEnv.tryStart(driver, opts.readyTimeoutMs ?? 60_000);
      if (started instanceof DockerEnv) return started;
      failures.push(`--storage-driver=${driver}: ${started}`);
    }
    throw new Error(`dockerd did not start:\n${failures.join('\n')}`);
  }

  /** The engine on `driver`, or why it did not start (its folder is then removed). */
  private static async tryStart(driver: string, readyTimeoutMs: number): Promise<DockerEnv | string> {
    const dir = await mkdtemp('/tmp/bde-');
    const sock = join(dir, 'docker.sock');
    const args = [
      `--storage-driver=${driver}`,
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--data-root',
      join(dir, 'root'),
      '--exec-root',
      join(dir, 'exec'),
      '-H',
      `unix://${sock}`,
      '--pidfile',
      join(dir, 'pid'),
    ];
    const log = new RingLog();
    const daemon = spawn('dockerd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    track(daemon);
    let exitInfo: string | null = null;
    const exited = new Promise<void>((resolve) => {
      daemon.on('error', (e) => {
        exitInfo = `could not be started: ${e.message}${(e as NodeJS.ErrnoException).code === 'ENOENT' ? ' (install the Debian package docker.io)' : ''}`;
        resolve();
      });
      daemon.on('exit', (code, signal) => {
        exitInfo ??= `exited with code ${code} signal ${signal}`;
        resolve();
      });
    });
    daemon.stdout?.on('data', (b: Buffer) => log.push(b));
    daemon.stderr?.on('data', (b: Buffer) => log.push(b));

    const cliConfig = join(dir, 'cli');
    await mkdir(cliConfig, { recursive: true });
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: cliConfig };
    for (const k of ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_API_VERSION']) delete env[k];
    const denv = new DockerEnv(dir, driver, env, daemon, log, exited);

    const deadline = Date.now() + readyTimeoutMs;
    let last: RunResult | null = null;
    while (true) {
      if (exitInfo) {
        liveChildren.delete(daemon);
        await removeTree(dir);
        return `dockerd ${exitInfo}.\n--- dockerd ${args.join(' ')} output ---\n${log.text().slice(-8000)}`;
      }
      if (existsSync(sock)) {
        last = await run('docker', ['info', '--format', '{{.Driver}}'], { env, allowFailure: true, timeoutMs: 15_000 });
        if (last.code === 0) {
          if (last.stdout.trim() === driver) return denv;
          await denv.stop();
          return `dockerd runs on ${last.stdout.trim()} instead`;
        }
      }
      if (Date.now() > deadline) {
        await denv.stop();
        return `dockerd did not become ready.\n${last ? describeResult(last) : 'socket never appeared'}\n--- dockerd output ---\n${log.text().slice(-8000)}`;
      }
      await sleep(200);
    }
  }

  /** Output of the engine so far (for debugging failures). */
  logs(): string {
    return this.daemonLog.text();
  }

  docker(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('docker', args, { ...opts, env: { ...this.env, ...opts.env } }).catch((e: Error) => {
      throw this.withDaemonLog(e);
    });
  }

  dockerExpectFailure(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return runExpectFailure('docker', args, { ...opts, env: { ...this.env, ...opts.env } });
  }

  private withDaemonLog(e: Error): Error {
    if (/Cannot connect to the Docker daemon|Is the docker daemon running/i.test(e.message)) {
      e.message += `\n--- dockerd output ---\n${this.daemonLog.text().slice(-4000)}`;
    }
    return e;
  }

  /** Build bb:1, bb:2 and bb:multi (see TestImages). */
  async buildImages(): Promise<void> {
    const work = join(this.dir, 'build');
    await mkdir(work, { recursive: true });
    this.rootfsTar = await buildRootfsTar(work);
    await this.docker(['import', '--change', 'CMD ["sh"]', this.rootfsTar, this.images.one]);
    const layer = async (from: string, to: string, script: string, name: string): Promise<void> => {
      await this.docker(['run', '--network', 'none', '--name', name, from, 'sh', '-c', script]);
      await this.docker(['commit', name, to]);
      await this.docker(['rm', name]);
    };
    await layer(this.images.one, this.images.two, 'echo hi > /f', 'e2e-build-2');
    await layer(this.images.two, 'bb:3', 'echo two > /g', 'e2e-build-3');
    await layer('bb:3', this.images.multi, 'echo three > /h', 'e2e-build-4');
    await this.docker(['rmi', 'bb:3']);
  }

  /** Remove every container and image from this engine. */
  async removeAllImages(): Promise<void> {
    const ps = await this.docker(['ps', '-aq']);
    const containers = ps.stdout.split(/\s+/).filter(Boolean);
    if (containers.length) await this.docker(['rm', '-f', ...containers]);
    // Removes every image no container uses, tagged or not, parents included.
    await this.docker(['image', 'prune', '--all', '--force']);
    const left = await this.docker(['images', '-aq']);
    if (left.stdout.trim()) throw new Error(`images left after removing all: ${left.stdout}`);
  }

  async inspect<T = Record<string, unknown>>(ref: string): Promise<T> {
    const r = await this.docker(['image', 'inspect', ref]);
    const arr = JSON.parse(r.stdout) as T[];
    const first = arr[0];
    if (!first) throw new Error(`docker image inspect ${ref} returned nothing`);
    return first;
  }

  async imageId(ref: string): Promise<string> {
    return (await this.docker(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
  }

  /** Uncompressed layer digests (diff IDs) of a local image. */
  async diffIds(ref: string): Promise<string[]> {
    const r = await this.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', ref]);
    return JSON.parse(r.stdout) as string[];
  }

  async stop(): Promise<void> {
    if (this.daemon.exitCode === null && this.daemon.signalCode === null) {
      this.daemon.kill('SIGTERM');
      if (!(await settlesWithin(this.daemonExited, 20_000))) {
        this.daemon.kill('SIGKILL');
        await this.daemonExited;
      }
    }
    liveChildren.delete(this.daemon);
    // dockerd normally stops its containerd; make sure nothing keeps running.
    const containerdPid = join(this.dir, 'exec', 'containerd', 'containerd.pid');
    if (existsSync(containerdPid)) {
      const pid = Number(readFileSync(containerdPid, 'utf8').trim());
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    await removeTree(this.dir);
  }
}

// ---------------------------------------------------------------------------
// docker push / pull output parsing
// ---------------------------------------------------------------------------

/** `TAG: digest: sha256:... size: N` from `docker push`. */
export function parsePushDigest(output: string): { digest: string; size: number } {
  const m = /: digest: (sha256:[0-9a-f]{64}) size: (\d+)/.exec(output);
  if (!m?.[1] || !m[2]) throw new Error(`no digest in docker push output:\n${output}`);
  return { digest: m[1], size: Number(m[2]) };
}

/** Per-layer final status lines of docker push/pull keyed by 12-char short id. */
export function layerStatuses(output: string): Map<string, string> {
  const res = new Map<string, string>();
  for (const line of output.split('\n')) {
    const m = /^([0-9a-f]{12}): (.+)$/.exec(line.trim());
    if (m?.[1] && m[2]) res.set(m[1], m[2]);
  }
  return res;
}

export function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

// ---------------------------------------------------------------------------
// skopeo
// ---------------------------------------------------------------------------

let skopeoDir: string | null = null;

async function skopeoSetup(): Promise<{ policy: string; auth: string; tmp: string }> {
  if (!skopeoDir) {
    skopeoDir = await mkdtemp(join(tmpdir(), 'berth-e2e-skopeo-'));
    const dirToRemove = skopeoDir;
    process.on('exit', () => {
      try {
        // best effort; synchronous because we are exiting
        rmSync(dirToRemove, { recursive: true, force: true });
      } catch {
        /* ignore */
      }
    });
    await writeFile(join(skopeoDir, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    await mkdir(join(skopeoDir, 'tmp'));
    await writeFile(join(skopeoDir, 'auth.json'), '{"auths":{}}\n');
  }
  return { policy: join(skopeoDir, 'policy.json'), auth: join(skopeoDir, 'auth.json'), tmp: join(skopeoDir, 'tmp') };
}

/**
 * Run skopeo with a private, permissive signature policy and an empty auth
 * file (independent of /etc/containers and ~/.docker). Pass the
 * --tls-verify=false style flags yourself, per subcommand.
 */
export async function skopeo(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const s = await skopeoSetup();
  return run('skopeo', ['--policy', s.policy, '--tmpdir', s.tmp, ...args], {
    ...opts,
    env: { ...process.env, REGISTRY_AUTH_FILE: s.auth, ...opts.env },
  });
}

export async function skopeoExpectFailure(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const s = await skopeoSetup();
  return runExpectFailure('skopeo', ['--policy', s.policy, '--tmpdir', s.tmp, ...args], {
    ...opts,
    env: { ...process.env, REGISTRY_AUTH_FILE: s.auth, ...opts.env },
  });
}

// ---------------------------------------------------------------------------
// podman
// ---------------------------------------------------------------------------

/**
 * Small RLIMIT_NOFILE / RLIMIT_NPROC values for containers: at most 1024 and
 * never above this process's own soft limits.
 */
function containerLimits(): { nofile: number; nproc: number } {
  const res = { nofile: 1024, nproc: 1024 };
  try {
    const text = readFileSync('/proc/self/limits', 'utf8');
    const nf = /^Max open files\s+(\d+|unlimited)/m.exec(text)?.[1];
    const np = /^Max processes\s+(\d+|unlimited)/m.exec(text)?.[1];
    if (nf && nf !== 'unlimited') res.nofile = Math.min(Number(nf), res.nofile);
    if (np && np !== 'unlimited') res.nproc = Math.min(Number(np), res.nproc);
  } catch {
    /* keep defaults */
  }
  return res;
}

/**
 * podman with private storage under a temp dir: vfs driver, cgroupfs, file
 * events, its own registries.conf / auth file.
 */
export class PodmanEnv {
  private constructor(
    readonly dir: string,
    private readonly globalArgs: string[],
    readonly env: NodeJS.ProcessEnv,
  ) {}

  /**
   * Returns a working PodmanEnv, or the reason podman cannot run here (to be
   * shown as the skip reason). `podman info` with the private storage is the probe.
   */
  static async tryStart(): Promise<{ env: PodmanEnv } | { reason: string }> {
    const dir = await mkdtemp('/tmp/bpm-');
    const globalArgs = [
      '--root',
      join(dir, 'root'),
      '--runroot',
      join(dir, 'run'),
      '--tmpdir',
      join(dir, 'libpod-tmp'),
      '--storage-driver',
      'vfs',
      '--cgroup-manager',
      'cgroupfs',
      '--events-backend',
      'file',
    ];
    await mkdir(join(dir, 'tmp'), { recursive: true });
    // podman insists that REGISTRY_AUTH_FILE exists.
    await writeFile(join(dir, 'auth.json'), '{"auths":{}}\n');
    await writeFile(join(dir, 'registries.conf'), 'unqualified-search-registries = []\n');
    await writeFile(
      join(dir, 'storage.conf'),
      `[storage]\ndriver = "vfs"\nrunroot = ${JSON.stringify(join(dir, 'run'))}\ngraphroot = ${JSON.stringify(join(dir, 'root'))}\n`,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
      CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
      REGISTRY_AUTH_FILE: join(dir, 'auth.json'),
      TMPDIR: join(dir, 'tmp'),
    };
    const penv = new PodmanEnv(dir, globalArgs, env);
    const version = await run('podman', ['--version'], { env, allowFailure: true }).catch((e: Error) => e);
    if (version instanceof Error) {
      await removeTree(dir);
      return { reason: `podman is not installed (${version.message.split('\n')[0]}); install the Debian package podman` };
    }
    const info = await penv.podman(['info', '--format', '{{.Store.GraphDriverName}}'], { allowFailure: true });
    if (info.code !== 0) {
      await penv.stop();
      const uid = process.getuid?.();
      return {
        reason:
          `podman cannot run here (${(version.stdout || version.stderr).trim()}, uid ${uid}): \`podman info\` failed: ` +
          `${(info.stderr || info.stdout).trim().split('\n').slice(-3).join(' | ')}`,
      };
    }
    return { env: penv };
  }

  podman(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('podman', [...this.globalArgs, ...args], { ...opts, env: { ...this.env, ...opts.env } });
  }

  podmanExpectFailure(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return runExpectFailure('podman', [...this.globalArgs, ...args], { ...opts, env: { ...this.env, ...opts.env } });
  }

  /**
   * Flags for `podman run`. podman asks runc for RLIMIT_NOFILE/NPROC of
   * 1048576 by default; where root lacks the privilege to raise limits (VMs,
   * sandboxes, some CI runners) that fails with "error setting rlimit type 7:
   * operation not permitted", and here even nproc=65536 fails. Small limits work.
   */
  runFlags(): string[] {
    const l = containerLimits();
    return ['--network', 'none', '--ulimit', `nofile=${l.nofile}:${l.nofile}`, '--ulimit', `nproc=${l.nproc}:${l.nproc}`];
  }

  async stop(): Promise<void> {
    await this.podman(['rm', '-af'], { allowFailure: true, timeoutMs: 30_000 }).catch(() => undefined);
    await removeTree(this.dir);
  }
}
