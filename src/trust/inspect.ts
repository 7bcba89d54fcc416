import type { TrustFileRecord } from '../metadata/index.js';
import { encodeBase64 } from './tuf/encoding.js';
import { keyId, parseMetadata, toKeyObject, type TufKey } from './tuf/index.js';
import { rolesInForce, targetDigest } from './signed-targets.js';

/**
 * `docker trust inspect`, computed by the server from the trust data in
 * force: the same document (`--json` gives it as docker does) and the same
 * `--pretty` text, so an operator can read a repository's signers without a
 * docker client, a trust directory or the passphrases.
 *
 * docker's rules, kept here: a tag is listed when the top-level `targets`
 * or `targets/releases` signed it; its signers are the other delegations
 * that signed the same tag and digest (the role name without `targets/`),
 * or "Repo Admin" when none did. Signers are the delegations other than
 * `targets/releases`, with canonical key IDs (a certificate's key is named
 * by its public key). Administrative keys are root's and targets' key IDs
 * as root lists them.
 */
export interface DockerTrustInspection {
  Name: string;
  SignedTags: { SignedTag: string; Digest: string; Signers: string[] }[];
  Signers: { Name: string; Keys: { ID: string }[] }[];
  AdministrativeKeys: { Name: 'Root' | 'Repository'; Keys: { ID: string }[] }[];
}

const RELEASED = new Set(['targets', 'targets/releases']);
const REPO_ADMIN = 'Repo Admin';

/** The inspection named `name` (the reference as the user wrote it, with its tag if any), of one tag or all; null when the repository has no trust data. */
export function inspectTrust(current: ReadonlyMap<string, TrustFileRecord>, name: string, tag: string | null, now: Date): DockerTrustInspection | null {
  const rootFile = current.get('root');
  if (!rootFile || !current.get('targets')) return null;
  let root;
  try {
    root = parseMetadata(rootFile.data, 'root');
  } catch {
    return null;
  }
  const { roles, delegations } = rolesInForce(current, now);

  const released = new Map<string, { tag: string; hex: string; signers: string[] }>();
  for (const r of roles) {
    if (!RELEASED.has(r.role)) continue;
    for (const [t, meta] of r.metadata.targets) {
      const digest = targetDigest(meta);
      if (digest && (tag === null || t === tag)) released.set(`${t}\n${digest}`, { tag: t, hex: digest.slice('sha256:'.length), signers: [] });
    }
  }
  for (const r of roles) {
    if (RELEASED.has(r.role)) continue;
    for (const [t, meta] of r.metadata.targets) {
      const row = released.get(`${t}\n${targetDigest(meta) ?? ''}`);
      if (row) row.signers.push(r.role.slice('targets/'.length));
    }
  }
  const signedTags = [...released.values()]
    .sort((a, b) => naturalCompare(a.tag, b.tag))
    .map((r) => ({ SignedTag: r.tag, Digest: r.hex, Signers: r.signers.length > 0 ? r.signers.sort() : [REPO_ADMIN] }));

  const signers: DockerTrustInspection['Signers'] = [];
  for (const [roleName, spec] of delegations) {
    if (roleName === 'targets/releases') continue;
    const keys = spec.keyids.map((id) => ({ ID: canonicalKeyId(spec.keys.get(id)) ?? id }));
    signers.push({ Name: roleName.slice('targets/'.length), Keys: keys });
  }
  signers.sort((a, b) => (a.Name > b.Name ? -1 : a.Name < b.Name ? 1 : 0));

  const admin: DockerTrustInspection['AdministrativeKeys'] = [];
  const rootKeys = root.roles.get('root')?.keyids ?? [];
  const targetsKeys = root.roles.get('targets')?.keyids ?? [];
  admin.push({ Name: 'Root', Keys: rootKeys.map((ID) => ({ ID })) });
  admin.push({ Name: 'Repository', Keys: targetsKeys.map((ID) => ({ ID })) });
  admin.sort((a, b) => (a.Name > b.Name ? -1 : 1));
  return { Name: name, SignedTags: signedTags, Signers: signers, AdministrativeKeys: admin };
}

/** The text of `docker trust inspect --pretty` for one inspection. */
export function prettyTrust(i: DockerTrustInspection): string {
  let out = '';
  if (i.SignedTags.length > 0) {
    out += `\nSignatures for ${i.Name}\n\n`;
    out += table(['SIGNED TAG', 'DIGEST', 'SIGNERS'], i.SignedTags.map((t) => [t.SignedTag, t.Digest, t.Signers[0] === REPO_ADMIN && t.Signers.length === 1 ? `(${REPO_ADMIN})` : [...t.Signers].sort().join(', ')]));
  } else {
    out += `\nNo signatures for ${i.Name}\n\n`;
  }
  if (i.Signers.length > 0) {
    out += `\nList of signers and their keys for ${i.Name}\n\n`;
    const rows = [...i.Signers].sort((a, b) => naturalCompare(a.Name, b.Name)).map((s) => [s.Name, s.Keys.map((k) => k.ID).sort().map((id) => id.slice(0, 12)).join(', ')]);
    out += table(['SIGNER', 'KEYS'], rows);
  }
  out += `\nAdministrative keys for ${i.Name}\n\n`;
  // docker sorts the roles by name, descending: targets ("Repository Key") before root.
  const repo = i.AdministrativeKeys.find((k) => k.Name === 'Repository');
  const root = i.AdministrativeKeys.find((k) => k.Name === 'Root');
  if (repo) out += `  Repository Key:\t${repo.Keys.map((k) => k.ID).sort().join(', ')}\n`;
  if (root) out += `  Root Key:\t${root.Keys.map((k) => k.ID).sort().join(', ')}\n`;
  return out;
}

/**
 * A table as docker's formatter writes it (Go's tabwriter: minimum cell
 * width 10, padding 3, spaces; the last column is not padded).
 */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(10, ...all.map((r) => (r[c] ?? '').length + 3)));
  return all.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] as number))).join('').trimEnd() + '\n').join('');
}

/**
 * notary's canonical key ID: a certificate key (`ecdsa-x509`, `rsa-x509`,
 * as docker trust signer add writes) is named by the ID of its public key
 * alone, so the ID does not change when the certificate is renewed.
 */
export function canonicalKeyId(key: TufKey | undefined): string | null {
  if (!key) return null;
  if (key.keytype !== 'ecdsa-x509' && key.keytype !== 'rsa-x509') return keyId(key);
  try {
    const spki = toKeyObject(key).export({ type: 'spki', format: 'der' });
    return keyId({ keytype: key.keytype === 'ecdsa-x509' ? 'ecdsa' : 'rsa', keyval: { public: encodeBase64(spki), private: null } });
  } catch {
    return null;
  }
}

/** sortorder.NaturalLess: runs of digits compare as numbers (v2 < v10). */
function naturalCompare(a: string, b: string): number {
  const re = /(\d+|\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] as string;
    const y = pb[i] as string;
    if (x === y) continue;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
      return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}
