import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import type { IdentityService } from './service.js';

/**
 * A client bundle, as UCP hands out: everything a new machine needs to push
 * and pull as one user, in a .tar.gz: the registry's CA certificate, a fresh
 * scoped access token in a docker/podman auth file, and scripts to use them.
 * The token is created for this bundle only (revocable by its name).
 */
export interface BundleRequest {
  user: string;
  /** HOST:PORT clients use to reach the registry. */
  registryHost: string;
  /** PEM of the CA that issued the registry's certificate, if it is private. */
  caCertificate: string | null;
  /** Token scopes, checked by IdentityService.createToken (createTokenSchema); none: pull and push on the user's namespace. */
  scopes?: unknown;
  expiresInDays?: number | undefined;
}

export interface Bundle {
  tokenId: string;
  archive: Buffer;
}

function sh(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export async function createClientBundle(identity: IdentityService, req: BundleRequest): Promise<Bundle> {
  if (!/^[A-Za-z0-9.\-[\]:]{1,255}$/.test(req.registryHost)) throw new Error('invalid registry host');
  const scopes = req.scopes ?? [{ type: 'namespace', name: req.user, actions: ['pull', 'push'] }];
  const { token, secret } = await identity.createToken(req.user, {
    name: `bundle ${new Date().toISOString().slice(0, 19)}Z`,
    scopes,
    expiresInDays: req.expiresInDays ?? 30,
  });
  const host = req.registryHost;
  const files: [string, string, number][] = [];
  files.push(['config.json', `${JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${req.user}:${secret}`).toString('base64') } } }, null, 2)}\n`, 0o600]);
  files.push(['env.sh', [
    '# Source this file from the bundle folder: cd berth-bundle && . ./env.sh',
    '# docker reads config.json from DOCKER_CONFIG; podman, skopeo and buildah from REGISTRY_AUTH_FILE.',
    'if [ -n "${BASH_SOURCE:-}" ]; then BERTH_BUNDLE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; else BERTH_BUNDLE_DIR="$(pwd)"; fi',
    'export DOCKER_CONFIG="$BERTH_BUNDLE_DIR"',
    'export REGISTRY_AUTH_FILE="$BERTH_BUNDLE_DIR/config.json"',
    `export BERTH_REGISTRY=${sh(host)}`,
    '',
  ].join('\n'), 0o644]);
  if (req.caCertificate) {
    files.push(['ca.crt', req.caCertificate, 0o644]);
    files.push(['install-ca.sh', [
      '#!/bin/sh',
      '# Trust the registry\'s CA for docker and podman/skopeo (run as root).',
      'set -eu',
      'cd "$(dirname "$0")"',
      `for dir in /etc/docker/certs.d/${host} /etc/containers/certs.d/${host}; do`,
      '  mkdir -p "$dir" && cp ca.crt "$dir/ca.crt"',
      'done',
      `echo "installed ca.crt for ${host}"`,
      '',
    ].join('\n'), 0o755]);
  }
  files.push(['README.txt', [
    `Berth client bundle for ${req.user} at ${host}`,
    '',
    `config.json   an auth file with access token ${token.id} (${token.scopes.map((s) => `${s.type}:${s.name}:${s.actions.join(',')}`).join(' ')}), expires ${token.expiresAt ?? 'never'}`,
    'env.sh        . ./env.sh points docker (DOCKER_CONFIG) and podman/skopeo (REGISTRY_AUTH_FILE) at it',
    ...(req.caCertificate ? ['ca.crt        the CA of the registry\'s certificate', 'install-ca.sh as root: puts ca.crt where docker and podman look for it'] : []),
    '',
    `Revoke it with: berth token revoke ${req.user} ${token.id}  (or DELETE /api/v1/tokens/${token.id})`,
    '',
  ].join('\n'), 0o644]);

  const tar = pack();
  const gzip = createGzip();
  const chunks: Buffer[] = [];
  gzip.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    gzip.on('end', () => resolve());
    gzip.on('error', reject);
    tar.on('error', reject);
  });
  tar.pipe(gzip);
  const mtime = new Date();
  for (const [name, content, mode] of files) tar.entry({ name: `berth-bundle/${name}`, mode, mtime }, content);
  tar.finalize();
  await done;
  return { tokenId: token.id, archive: Buffer.concat(chunks) };
}
