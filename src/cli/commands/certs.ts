import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { createCertificateAuthority, createServerCertificate, type Pem } from '../../tls/certs.js';
import { ExitError } from '../exit-error.js';

export interface CertsInitOptions {
  host: string[];
  ip: string[];
  dir?: string | undefined;
  dataDir?: string | undefined;
  port: string;
  force?: boolean | undefined;
  json?: boolean | undefined;
}

export interface CertsInitResult {
  dir: string;
  caCertificate: string;
  caKey: string;
  certificate: string;
  key: string;
  reusedCa: boolean;
  hosts: string[];
  /** Where each kind of client looks for the CA, per registry address. */
  clientCaPaths: { client: string; path: string }[];
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/** `berth certs init`: a private CA (reused when present) and a server certificate. */
export async function certsInit(o: CertsInitOptions): Promise<CertsInitResult> {
  const hosts = [...o.host, ...o.ip];
  if (hosts.length === 0) throw new ExitError('name the registry with --host NAME (DNS) and/or --ip ADDRESS, e.g. `berth certs init --host registry.example.com --ip 10.0.0.5`', 2);
  for (const ip of o.ip) if (!isIP(ip)) throw new ExitError(`--ip ${ip}: not an IP address`, 2);
  for (const h of o.host) if (!/^(?=.{1,253}$)[A-Za-z0-9*](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(h)) throw new ExitError(`--host ${h}: not a DNS name`, 2);
  if (!/^\d{1,5}$/.test(o.port) || Number(o.port) > 65535) throw new ExitError(`--port ${o.port}: not a port number`, 2);
  const dir = path.resolve(o.dir ?? path.join(o.dataDir ?? 'data', 'certs'));
  const files = { caCertificate: path.join(dir, 'ca.crt'), caKey: path.join(dir, 'ca.key'), certificate: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') };
  if (!o.force && (await exists(files.certificate))) {
    throw new ExitError(`${files.certificate} already exists; pass --force to replace the server certificate (the CA is kept)`, 1);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let ca: Pem;
  const reusedCa = await exists(files.caCertificate);
  if (reusedCa) {
    ca = { cert: await readFile(files.caCertificate, 'utf8'), key: await readFile(files.caKey, 'utf8') };
  } else {
    ca = createCertificateAuthority();
    await writeFile(files.caKey, ca.key, { mode: 0o600 });
    await writeFile(files.caCertificate, ca.cert, { mode: 0o644 });
  }
  const server = createServerCertificate(ca, hosts);
  await writeFile(files.key, server.key, { mode: 0o600 });
  await writeFile(files.certificate, server.cert, { mode: 0o644 });
  const clientCaPaths = hosts.flatMap((h) => {
    const addr = `${isIP(h) === 6 ? `[${h}]` : h}:${o.port}`;
    return [
      { client: 'docker', path: `/etc/docker/certs.d/${addr}/ca.crt` },
      { client: 'podman, skopeo, buildah, CRI-O', path: `/etc/containers/certs.d/${addr}/ca.crt` },
    ];
  });
  return { dir, ...files, reusedCa, hosts, clientCaPaths };
}

export function printCertsInit(r: CertsInitResult): string {
  const lines = [
    `${r.reusedCa ? 'Reused the CA' : 'Created a private CA'} in ${r.dir} and a server certificate for ${r.hosts.join(', ')}.`,
    '',
    'Serve HTTPS with these lines in the config file (or REGISTRY_HTTP_TLS_CERTIFICATE / REGISTRY_HTTP_TLS_KEY):',
    '  http:',
    '    tls:',
    `      certificate: ${r.certificate}`,
    `      key: ${r.key}`,
    '',
    `Give each client the CA certificate ${r.caCertificate} (never ca.key):`,
    ...table([
      ...r.clientCaPaths.map((c): [string, string] => [c.client, c.path]),
      ['skopeo, one command', '--cert-dir DIR (a folder holding ca.crt)'],
      ['the system trust store (Debian)', 'cp ca.crt /usr/local/share/ca-certificates/berth-ca.crt && update-ca-certificates'],
      ['the system trust store (RHEL)', 'cp ca.crt /etc/pki/ca-trust/source/anchors/berth-ca.crt && update-ca-trust'],
    ]),
    '',
    `Keep ${r.caKey} private: it can issue certificates every client above will trust.`,
  ];
  return `${lines.join('\n')}\n`;
}

function table(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([a]) => a.length)) + 2;
  return rows.map(([a, b]) => `  ${a.padEnd(width)}${b}`);
}
