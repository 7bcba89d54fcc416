// Shared helpers for the end-to-end suite: running external commands with
// useful error messages, hashing, talking to the registry over HTTP, and
// building tiny OCI images/layouts by hand (no network, no npm packages).

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

/** Whether 127.0.0.1:`port` can be bound right now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * A free port in `range` (each e2e file has its own, so files running at
 * once do not collide), not in `exclude`. The search starts at a random
 * place, so two runs rarely pick the same port.
 */
export async function freePortIn(range: { min: number; max: number }, exclude: ReadonlySet<number> = new Set()): Promise<number> {
  const span = range.max - range.min + 1;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const port = range.min + ((start + i) % span);
    if (!exclude.has(port) && (await portIsFree(port))) return port;
  }
  throw new Error(`no free TCP port in ${range.min}-${range.max} on 127.0.0.1`);
}

// ---------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the child's stdin. */
  input?: string | Buffer;
  /** Kill the command (SIGKILL) and fail after this long. Default 120 s. */
  timeoutMs?: number;
  /** Resolve instead of throwing when the exit code is not 0. */
  allowFailure?: boolean;
}

export interface RunResult {
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const MAX_SHOWN = 8000;

function tail(s: string, max = MAX_SHOWN): string {
  return s.length > max ? `...[${s.length - max} chars cut]...\n${s.slice(-max)}` : s;
}

export function quoteArgs(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

export class CommandError extends Error {
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

export function describeResult(r: RunResult): string {
  const how = r.signal ? `was killed by ${r.signal}` : `exited with code ${r.code}`;
  return (
    `command ${how}: ${r.command}\n` +
    `--- stdout ---\n${tail(r.stdout) || '(empty)'}\n` +
    `--- stderr ---\n${tail(r.stderr) || '(empty)'}`
  );
}

/** Run a command to completion. Throws CommandError (with stdout+stderr) unless it exits 0. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const command = quoteArgs(cmd, args);
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT') {
        reject(new Error(`command not found: ${cmd} (needed for: ${command}); is it installed and on PATH?`));
      } else {
        reject(new Error(`cannot run ${command}: ${e.message}`));
      }
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: RunResult = {
        command,
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (timedOut) {
        reject(new CommandError(`timed out after ${timeoutMs} ms\n${describeResult(result)}`, result));
      } else if (code !== 0 && !opts.allowFailure) {
        reject(new CommandError(describeResult(result), result));
      } else {
        resolve(result);
      }
    });
    child.stdin.on('error', () => {
      /* the child may exit without reading stdin */
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Run a command that is expected to FAIL; returns the result, throws if it succeeded. */
export async function runExpectFailure(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, { ...opts, allowFailure: true });
  if (r.code === 0) {
    throw new Error(`expected this command to fail but it succeeded:\n${describeResult(r)}`);
  }
  return r;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves to true if `p` settled within `ms`, false otherwise (no timer left behind). */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Keeps the last `max` characters written to it (process logs). */
export class RingLog {
  private buf = '';
  constructor(private readonly max = 256 * 1024) {}
  push(chunk: Buffer | string): void {
    this.buf += chunk.toString();
    if (this.buf.length > this.max) this.buf = this.buf.slice(-this.max);
  }
  text(): string {
    return this.buf;
  }
}

// ---------------------------------------------------------------------------
// Hashing / JSON
// ---------------------------------------------------------------------------

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function digestOf(data: Buffer | string): string {
  return `sha256:${sha256(data)}`;
}

export async function digestOfFile(path: string): Promise<string> {
  return digestOf(await readFile(path));
}

export function parseJson<T = unknown>(text: string | Buffer, what: string): T {
  try {
    return JSON.parse(text.toString()) as T;
  } catch (e) {
    throw new Error(`${what} is not valid JSON (${(e as Error).message}):\n${tail(text.toString(), 2000)}`);
  }
}

// ---------------------------------------------------------------------------
// OCI / Docker media types and manifest shapes
// ---------------------------------------------------------------------------

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const ALL_MANIFEST_TYPES = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ManifestIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface ImageConfig {
  architecture: string;
  os: string;
  rootfs: { type: string; diff_ids: string[] };
}

// ---------------------------------------------------------------------------
// Registry HTTP helpers (plain fetch, no auth)
// ---------------------------------------------------------------------------

export interface HttpResult {
  status: number;
  headers: Headers;
  body: Buffer;
}

export async function http(url: string, init: RequestInit = {}): Promise<HttpResult> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow', ...init });
  } catch (e) {
    throw new Error(`${init.method ?? 'GET'} ${url} failed: ${(e as Error).message} (${String((e as Error).cause ?? '')})`);
  }
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body };
}

export function describeHttp(method: string, url: string, r: HttpResult): string {
  const hdrs = [...r.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n');
  return `${method} ${url} -> ${r.status}\n${hdrs}\n\n${tail(r.body.toString('utf8'), 2000)}`;
}

/** GET, and fail with a full description of the response unless the status is `expect`. */
export async function httpExpect(expect: number, url: string, init: RequestInit = {}): Promise<HttpResult> {
  const r = await http(url, init);
  if (r.status !== expect) {
    throw new Error(`expected HTTP ${expect}\n${describeHttp(init.method ?? 'GET', url, r)}`);
  }
  return r;
}

export async function getJson<T>(url: string, init: RequestInit = {}): Promise<T> {
  const r = await httpExpect(200, url, init);
  return parseJson<T>(r.body, `response of GET ${url}`);
}

export async function getManifest(
  registryUrl: string,
  repo: string,
  reference: string,
  accept = ALL_MANIFEST_TYPES,
): Promise<{ body: Buffer; digest: string | null; contentType: string | null; status: number; raw: HttpResult }> {
  const url = `${registryUrl}/v2/${repo}/manifests/${reference}`;
  const r = await http(url, { headers: { Accept: accept } });
  return {
    body: r.body,
    digest: r.headers.get('docker-content-digest'),
    contentType: r.headers.get('content-type'),
    status: r.status,
    raw: r,
  };
}

// ---------------------------------------------------------------------------
// Building tiny images by hand
// ---------------------------------------------------------------------------

export function findBusybox(): string {
  for (const p of ['/bin/busybox', '/usr/bin/busybox']) {
    if (existsSync(p)) {
      const head = readFileSync(p).subarray(0, 4);
      if (head.toString('latin1') !== '\x7fELF') continue;
      return p;
    }
  }
  throw new Error('busybox not found at /bin/busybox or /usr/bin/busybox; install the Debian package busybox-static');
}

/**
 * Create DIR/rootfs (static busybox + sh/echo/cat/ls symlinks) and DIR/rootfs.tar.
 * Returns the path of rootfs.tar.
 */
export async function buildRootfsTar(dir: string): Promise<string> {
  const busybox = findBusybox();
  const rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await run('cp', [busybox, join(rootfs, 'bin', 'busybox')]);
  for (const name of ['sh', 'echo', 'cat', 'ls']) {
    await run('ln', ['-sf', 'busybox', join(rootfs, 'bin', name)]);
  }
  const tarPath = join(dir, 'rootfs.tar');
  // Fixed owner and mtime so the layer is reproducible across runs.
  await run('tar', ['--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', rootfs, '-cf', tarPath, '.']);
  return tarPath;
}

function tarHeaderField(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, length, 'ascii');
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** A tar archive with regular files only (ustar), enough for a tiny extra image layer. */
export function makeTar(files: Array<{ name: string; content: string | Buffer; mode?: number }>): Buffer {
  const blocks: Buffer[] = [];
  for (const f of files) {
    const content = Buffer.isBuffer(f.content) ? f.content : Buffer.from(f.content);
    if (f.name.length > 99) throw new Error(`tar name too long: ${f.name}`);
    const h = Buffer.alloc(512, 0);
    tarHeaderField(h, 0, 100, f.name);
    tarHeaderField(h, 100, 8, octal(f.mode ?? 0o644, 8));
    tarHeaderField(h, 108, 8, octal(0, 8));
    tarHeaderField(h, 116, 8, octal(0, 8));
    tarHeaderField(h, 124, 12, octal(content.length, 12));
    tarHeaderField(h, 136, 12, octal(0, 12));
    tarHeaderField(h, 148, 8, '        ');
    tarHeaderField(h, 156, 1, '0');
    tarHeaderField(h, 257, 6, 'ustar\0');
    tarHeaderField(h, 263, 2, '00');
    let sum = 0;
    for (const b of h) sum += b;
    tarHeaderField(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
    blocks.push(h, content);
    const pad = (512 - (content.length % 512)) % 512;
    if (pad) blocks.push(Buffer.alloc(pad, 0));
  }
  blocks.push(Buffer.alloc(1024, 0));
  return Buffer.concat(blocks);
}

export interface LayoutImage {
  arch: string;
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  configDigest: string;
  /** Uncompressed layer digests (config rootfs.diff_ids). */
  diffIds: string[];
  /** Compressed layer digests (manifest layers). */
  layerDigests: string[];
}

export interface MultiArchLayout {
  dir: string;
  /** The exact bytes of the image index blob. */
  index: Buffer;
  indexDigest: string;
  images: LayoutImage[];
}

/**
 * Write an OCI image layout to `dir` containing, for each architecture, a
 * two-layer image (busybox rootfs + a layer with /f containing the arch name)
 * and an image index referencing all of them. index.json names them:
 *   `<arch>` -> the single-arch image manifest, `multi` -> the image index.
 * The index is pretty-printed with 3-space indentation on purpose, so a registry
 * that re-serialises manifests instead of storing the bytes would be caught.
 */
export async function writeMultiArchLayout(
  dir: string,
  rootfsTar: string,
  arches: readonly string[] = ['amd64', 'arm64'],
): Promise<MultiArchLayout> {
  const blobsDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobsDir, { recursive: true });
  const putBlob = async (data: Buffer): Promise<string> => {
    const d = digestOf(data);
    await writeFile(join(blobsDir, d.slice('sha256:'.length)), data);
    return d;
  };

  const baseTar = await readFile(rootfsTar);
  const baseGz = gzipSync(baseTar);
  const baseDiff = digestOf(baseTar);
  const baseDigest = await putBlob(baseGz);

  const images: LayoutImage[] = [];
  for (const arch of arches) {
    const extraTar = makeTar([{ name: 'f', content: `${arch}\n` }]);
    const extraGz = gzipSync(extraTar);
    const extraDigest = await putBlob(extraGz);
    const diffIds = [baseDiff, digestOf(extraTar)];
    const config = Buffer.from(
      JSON.stringify({
        created: '2024-01-01T00:00:00Z',
        architecture: arch,
        os: 'linux',
        config: { Cmd: ['sh'], Env: ['PATH=/bin'] },
        rootfs: { type: 'layers', diff_ids: diffIds },
        history: [
          { created: '2024-01-01T00:00:00Z', created_by: 'berth-e2e: busybox rootfs' },
          { created: '2024-01-01T00:00:00Z', created_by: `berth-e2e: echo ${arch} > /f` },
        ],
      }),
    );
    const configDigest = await putBlob(config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: configDigest, size: config.length },
        layers: [
          { mediaType: MT.ociLayerGzip, digest: baseDigest, size: baseGz.length },
          { mediaType: MT.ociLayerGzip, digest: extraDigest, size: extraGz.length },
        ],
      }),
    );
    const manifestDigest = await putBlob(manifest);
    images.push({
      arch,
      manifest,
      manifestDigest,
      config,
      configDigest,
      diffIds,
      layerDigests: [baseDigest, extraDigest],
    });
  }

  const index = Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: MT.ociIndex,
        manifests: images.map((im) => ({
          mediaType: MT.ociManifest,
          digest: im.manifestDigest,
          size: im.manifest.length,
          platform: { architecture: im.arch, os: 'linux' },
        })),
      },
      null,
      3,
    ) + '\n',
  );
  const indexDigest = await putBlob(index);

  const refs: Descriptor[] = [
    { mediaType: MT.ociIndex, digest: indexDigest, size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } },
    ...images.map((im) => ({
      mediaType: MT.ociManifest,
      digest: im.manifestDigest,
      size: im.manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': im.arch },
    })),
  ];
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: refs }));
  return { dir, index, indexDigest, images };
}

/** Read the manifest named `ref` (org.opencontainers.image.ref.name) from an OCI layout. */
export async function readLayoutRef(dir: string, ref: string): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
  const idx = parseJson<ManifestIndex>(await readFile(join(dir, 'index.json')), `${dir}/index.json`);
  const desc = idx.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref);
  if (!desc) throw new Error(`no ref ${ref} in ${dir}/index.json: ${JSON.stringify(idx)}`);
  const bytes = await readFile(layoutBlobPath(dir, desc.digest));
  return { descriptor: desc, bytes };
}

export function layoutBlobPath(dir: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  if (!alg || !hex) throw new Error(`bad digest ${digest}`);
  return join(dir, 'blobs', alg, hex);
}
