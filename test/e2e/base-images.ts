// Local stand-ins for the official node:20-bookworm and node:20-bookworm-slim
// images, which the Dockerfile builds FROM. Nothing can be pulled here, so
// the image test makes them from this Debian 12 machine's own installed
// packages: the files dpkg lists for a set of packages and everything they
// depend on, as one `docker import`ed layer. They stand in for the official
// images only as far as the Dockerfile uses them:
//
//   node:20-bookworm       Debian 12 + node 20 + npm + python3, make, g++ (the
//                          official image has these through buildpack-deps)
//   node:20-bookworm-slim  Debian 12 + node 20 + npm, no toolchain, no python
//
// Both have the `node` user and group with id 1000, as the official images do.
// One difference is deliberate: the build stand-in sets npm_config_nodedir to
// the headers of the nodejs package, because node-gyp would otherwise download
// them from nodejs.org, which cannot be reached here (the official image does
// download them; that is the one step of the real build this cannot run).

import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run, type RunOptions, type RunResult } from './util.js';

/** What is needed of a Docker engine: its CLI. */
export interface DockerCli {
  docker(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

interface DpkgPackage {
  name: string;
  depends: string[][];
}

/** Installed packages from /var/lib/dpkg/status, and which installed package provides each virtual name. */
function readDpkgStatus(): { packages: Map<string, DpkgPackage>; providers: Map<string, string> } {
  const packages = new Map<string, DpkgPackage>();
  const providers = new Map<string, string>();
  const text = readFileSync('/var/lib/dpkg/status', 'utf8');
  for (const stanza of text.split(/\n\n+/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const line of stanza.split('\n')) {
      if (/^\s/.test(line) && last) fields.set(last, `${fields.get(last)}\n${line}`);
      else {
        const i = line.indexOf(':');
        if (i > 0) fields.set((last = line.slice(0, i)), line.slice(i + 1).trim());
      }
    }
    const name = fields.get('Package');
    if (!name || !/\binstall ok installed\b/.test(fields.get('Status') ?? '')) continue;
    const relation = (field: string): string[][] =>
      (fields.get(field) ?? '')
        .split(',')
        .map((dep) => dep.split('|').map((alt) => alt.trim().split(/[\s:(]/)[0] ?? '').filter(Boolean))
        .filter((alts) => alts.length > 0);
    packages.set(name, { name, depends: [...relation('Pre-Depends'), ...relation('Depends')] });
    for (const [virtual] of relation('Provides')) if (virtual && !providers.has(virtual)) providers.set(virtual, name);
  }
  return { packages, providers };
}

/** `roots` and everything they depend on (first installed alternative), minus `skip` and its dependencies. */
export function packageClosure(roots: readonly string[], skip: readonly string[] = []): string[] {
  const { packages, providers } = readDpkgStatus();
  const resolve = (name: string): string | undefined => (packages.has(name) ? name : providers.get(name));
  const seen = new Set<string>();
  const queue: string[] = [];
  for (const root of roots) {
    const name = resolve(root);
    if (!name) throw new Error(`the Debian package ${root} is not installed; the stand-in base images are made from installed packages`);
    queue.push(name);
  }
  while (queue.length > 0) {
    const name = queue.pop() as string;
    if (seen.has(name) || skip.includes(name)) continue;
    seen.add(name);
    for (const alternatives of packages.get(name)?.depends ?? []) {
      const found = alternatives.map(resolve).find((p) => p !== undefined);
      if (found && !seen.has(found)) queue.push(found);
    }
  }
  return [...seen].sort();
}

/** Documentation and translations: not needed to build or run anything. */
const LEFT_OUT = /^\/usr\/share\/(doc|man|info|locale|lintian|bug|doc-base)(\/|$)/;

/**
 * The installed files of `packages`, each with its directory resolved (Debian 12
 * lists /lib/... for what lives in /usr/lib/... on a merged-/usr system), as
 * paths relative to /. Alternatives (/usr/bin/cc -> /etc/alternatives/cc) are
 * made by maintainer scripts, not listed: they are added when their target is in.
 * `trees` are taken whole as they are on this machine: npm may have been
 * upgraded in place (`npm install -g npm`), which dpkg's list does not know.
 */
export function packageFiles(packages: readonly string[], trees: readonly string[] = []): string[] {
  const dirCache = new Map<string, string>();
  const canonical = (p: string): string | null => {
    const dir = dirname(p);
    let real = dirCache.get(dir);
    if (real === undefined) {
      try {
        real = realpathSync(dir);
      } catch {
        return null;
      }
      dirCache.set(dir, real);
    }
    const full = real === '/' ? `/${p.slice(dir.length + 1)}` : `${real}/${p.slice(dir.length + 1)}`;
    try {
      lstatSync(full);
    } catch {
      return null; // diverted or removed since installation
    }
    return full;
  };
  const files = new Set<string>();
  for (const pkg of packages) {
    const list = [`/var/lib/dpkg/info/${pkg}.list`, `/var/lib/dpkg/info/${pkg}:amd64.list`, `/var/lib/dpkg/info/${pkg}:all.list`].find((f) => {
      try {
        return lstatSync(f).isFile();
      } catch {
        return false;
      }
    });
    if (!list) throw new Error(`no file list for the installed package ${pkg} in /var/lib/dpkg/info`);
    for (const line of readFileSync(list, 'utf8').split('\n')) {
      if (!line || line === '/.' || LEFT_OUT.test(line)) continue;
      const c = canonical(line);
      if (c && !LEFT_OUT.test(c)) files.add(c);
    }
  }
  for (const tree of trees) {
    const real = realpathSync(tree);
    files.add(real);
    for (const rel of walk(real)) files.add(`${real}/${rel}`);
  }
  for (const binDir of ['/usr/bin', '/usr/sbin']) {
    for (const entry of readdirSync(binDir)) {
      const link = join(binDir, entry);
      let target: string;
      try {
        if (!lstatSync(link).isSymbolicLink()) continue;
        target = readlinkSync(link);
      } catch {
        continue;
      }
      if (!target.startsWith('/etc/alternatives/')) continue;
      try {
        if (files.has(realpathSync(link))) files.add(link).add(target);
      } catch {
        /* dangling alternative */
      }
    }
  }
  return [...files].map((f) => f.slice(1)).filter(Boolean).sort();
}

/** Where npm, installed under /usr, reads its global npmrc. */
const NPM_GLOBAL_CONFIG = '/usr/etc/npmrc';

const PASSWD = 'root:x:0:0:root:/root:/bin/bash\nnode:x:1000:1000::/home/node:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n';
const GROUP = 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n';

/** Relative paths of everything below `dir`, parents first. */
function walk(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    out.push(rel);
    if (entry.isDirectory()) out.push(...walk(dir, rel));
  }
  return out;
}

/** A root filesystem tarball of `packages` plus users, /tmp and the merged-/usr links. */
async function rootfsTar(work: string, name: string, packages: readonly string[], trees: readonly string[]): Promise<string> {
  const extra = join(work, `${name}-extra`);
  for (const d of ['etc/ssl/certs', 'home/node', 'root', 'tmp', 'usr/local/bin', 'usr/local/lib', 'var/tmp']) {
    await mkdir(join(extra, d), { recursive: true });
  }
  await chmod(join(extra, 'tmp'), 0o1777);
  await chmod(join(extra, 'var/tmp'), 0o1777);
  await chmod(join(extra, 'root'), 0o700);
  await chown(join(extra, 'home/node'), 1000, 1000);
  await writeFile(join(extra, 'etc/passwd'), PASSWD);
  await writeFile(join(extra, 'etc/group'), GROUP);
  // Generated on installation, so in no package's file list.
  await copyFile('/etc/ssl/certs/ca-certificates.crt', join(extra, 'etc/ssl/certs/ca-certificates.crt'));
  await copyFile('/etc/ld.so.cache', join(extra, 'etc/ld.so.cache'));
  // npm's global config as set up on this machine (e.g. cafile, when the way
  // to the registry needs the system's CA bundle rather than node's own).
  if (existsSync(NPM_GLOBAL_CONFIG)) {
    await mkdir(join(extra, dirname(NPM_GLOBAL_CONFIG).slice(1)), { recursive: true });
    await copyFile(NPM_GLOBAL_CONFIG, join(extra, NPM_GLOBAL_CONFIG.slice(1)));
  }
  // The merged-/usr links.
  for (const [link, target] of [['bin', 'usr/bin'], ['sbin', 'usr/sbin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64']] as const) {
    await symlink(target, join(extra, link));
  }

  // docker import refuses a tarball that names a path twice: the extras
  // leave out what the packages already have (/tmp, /root, /etc, ...).
  const system = packageFiles(packages, trees);
  const inSystem = new Set(system);
  // "." too: without it docker leaves the image's / at mode 0700, closed to
  // every user but root.
  await chmod(extra, 0o755);
  const extras = ['.', ...walk(extra).filter((p) => !inSystem.has(p))];
  const systemList = join(work, `${name}.files`);
  const extraList = join(work, `${name}.extra-files`);
  await writeFile(systemList, system.join('\0') + '\0');
  await writeFile(extraList, extras.join('\0') + '\0');
  const tar = join(work, `${name}.tar`);
  const listed = ['--no-recursion', '--null', '--verbatim-files-from', '--files-from'];
  await run('tar', ['--create', '--file', tar, '--directory', '/', ...listed, systemList], { timeoutMs: 300_000 });
  await run('tar', ['--append', '--file', tar, '--directory', extra, '--numeric-owner', ...listed, extraList], { timeoutMs: 60_000 });
  return tar;
}

export interface StandInImages {
  /** Stands in for node:20-bookworm (the Dockerfile's NODE_IMAGE). */
  build: string;
  /** Stands in for node:20-bookworm-slim (the Dockerfile's NODE_RUNTIME_IMAGE). */
  runtime: string;
}

/** The packages each stand-in is made of (with their dependencies). */
export const STAND_IN_PACKAGES = {
  build: ['base-files', 'bash', 'coreutils', 'dash', 'diffutils', 'findutils', 'grep', 'gzip', 'sed', 'tar', 'nodejs', 'python3', 'make', 'g++'],
  runtime: ['base-files', 'bash', 'coreutils', 'dash', 'findutils', 'grep', 'gzip', 'sed', 'tar', 'nodejs'],
  /** node:20-bookworm-slim has no python; the nodesource package depends on it. */
  runtimeSkip: ['python3'],
  /** npm as installed here, which may be newer than the nodejs package's. */
  trees: ['/usr/lib/node_modules/npm'],
} as const;

/** Import both stand-ins into `denv` as berth-test/node:20-bookworm and berth-test/node:20-bookworm-slim. */
export async function importStandInImages(denv: DockerCli, work: string): Promise<StandInImages> {
  await mkdir(work, { recursive: true });
  const images: StandInImages = { build: 'berth-test/node:20-bookworm', runtime: 'berth-test/node:20-bookworm-slim' };
  const path = ['--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
  const buildTar = await rootfsTar(work, 'build', packageClosure(STAND_IN_PACKAGES.build), STAND_IN_PACKAGES.trees);
  await denv.docker(['import', ...path, '--change', 'ENV npm_config_nodedir=/usr', '--change', 'CMD ["node"]', buildTar, images.build], {
    timeoutMs: 300_000,
  });
  const runtimeTar = await rootfsTar(work, 'runtime', packageClosure(STAND_IN_PACKAGES.runtime, STAND_IN_PACKAGES.runtimeSkip), STAND_IN_PACKAGES.trees);
  await denv.docker(['import', ...path, '--change', 'CMD ["node"]', runtimeTar, images.runtime], { timeoutMs: 300_000 });
  return images;
}
