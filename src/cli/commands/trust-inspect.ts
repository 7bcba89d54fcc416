import { storageFromConfig } from '../../app.js';
import { RegistryHostNames } from '../../auth/index.js';
import { isRegistryError } from '../../errors/index.js';
import type { MetadataStore } from '../../metadata/index.js';
import { PolicyEnforcer, resolvePolicy, type RepositoryTrust } from '../../policy/index.js';
import { Registry } from '../../registry/index.js';
import { verifySignatures, type SignatureFinding, type TrustedKey } from '../../signatures/index.js';
import { dockerTable, inspectTrust, prettyTrust, signedTargets, type DockerTrustInspection } from '../../trust/index.js';
import { ExitError } from '../exit-error.js';
import { withStore, type IdentityFlags } from './identity-context.js';

/** NAME[:TAG] as docker writes it: the tag is after the last colon that follows the last slash. */
function splitReference(ref: string): { name: string; tag: string | null } {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return { name: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { name: ref, tag: null };
}

/** The repository NAME designates: without this registry's host, or a loopback host with any port (the CLI runs beside the server). */
export function canonicalRepositoryName(hosts: RegistryHostNames, name: string): string {
  const first = name.slice(0, Math.max(0, name.indexOf('/')));
  if (/^(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/i.test(first)) return name.slice(first.length + 1);
  return hosts.canonicalRepository(name);
}

/** One tag's OCI signatures, judged against the keys of the policy that applies (none: every one is unknown-key or worse). */
export interface OciTagSignatures {
  tag: string;
  digest: string;
  signatures: SignatureFinding[];
}

/**
 * What `berth trust inspect --json` gives for one reference: docker trust
 * inspect's document (null when the repository has no DCT data), the trust
 * policy's verdict per tag, and each tag's OCI signatures.
 */
export interface TrustInspection {
  name: string;
  repository: string;
  dct: DockerTrustInspection | null;
  policy: RepositoryTrust['policy'];
  tags: RepositoryTrust['tags'];
  oci: OciTagSignatures[];
}

async function inspectOne(store: MetadataStore, registry: Registry, ref: string, repository: string, tag: string | null): Promise<TrustInspection | null> {
  const dct = inspectTrust(await store.trust.current(repository), ref, tag, new Date());
  const enforcer = new PolicyEnforcer({
    store: store.policies, content: store.content, source: registry, verify: verifySignatures, audit: null,
    dct: { signedTargets: async (repo, now) => signedTargets(await store.trust.current(repo), new Date(now ?? Date.now())) },
    log: { info: () => {}, warn: () => {} },
  });
  let state: RepositoryTrust;
  try {
    state = await enforcer.trustState(repository);
  } catch (err) {
    if (isRegistryError(err) && err.code === 'NAME_UNKNOWN') {
      return dct ? { name: ref, repository, dct, policy: null, tags: [], oci: [] } : null;
    }
    throw err;
  }
  const tags = tag === null ? state.tags : state.tags.filter((t) => t.tag === tag);
  const policy = resolvePolicy((await store.policies.list()).policies, repository);
  const keys: TrustedKey[] = policy ? policy.keys.map((k) => ({ name: k.name, kind: k.kind, pem: k.pem })) : [];
  const oci: OciTagSignatures[] = [];
  for (const t of tags) oci.push({ tag: t.tag, digest: t.digest, signatures: await verifySignatures(registry, repository, t.digest, keys) });
  if (!dct && oci.every((o) => o.signatures.length === 0) && tags.length === 0) return null;
  return { name: ref, repository, dct, policy: state.policy, tags, oci };
}

/** The text: docker trust inspect --pretty's, then the policy's verdict per tag and the OCI signatures. */
function pretty(i: TrustInspection): string {
  let out = i.dct ? prettyTrust(i.dct) : `\nNo Docker Content Trust data for ${i.name}\n`;
  out += i.policy
    ? `\nTrust policy for ${i.name}: ${i.policy.scope} (${i.policy.mode}, revision ${i.policy.revision})\n\n`
    : `\nNo trust policy applies to ${i.name}\n\n`;
  if (i.tags.length > 0) {
    out += dockerTable(['TAG', 'DIGEST', 'STATE', 'BY OR REASON'], i.tags.map((t) => [
      t.tag, t.digest.replace(/^sha256:/, ''), t.state,
      t.state === 'verified' ? [...t.by.keys, ...t.by.dctSigners.map((s) => `dct:${s}`)].join(', ') : `${t.reason}: ${t.detail}`,
    ]));
  }
  const rows = i.oci.flatMap((o) => o.signatures.map((f) => [o.tag, f.format, f.via, f.verified ? 'verified' : f.problem ?? 'invalid', f.keyName ?? '-', f.signer ?? '-']));
  out += rows.length > 0
    ? `\nOCI signatures for ${i.name}\n\n${dockerTable(['TAG', 'FORMAT', 'FOUND BY', 'STATE', 'KEY', 'SIGNER'], rows)}`
    : `\nNo OCI signatures for ${i.name}\n`;
  return out;
}

/**
 * `berth trust inspect NAME[:TAG]…`: what `docker trust inspect --pretty`
 * prints, read from the server's database (default), then the trust
 * policy's verdict per tag and the OCI signatures with their verification
 * state. `--json` gives the same as data; `--docker` gives exactly docker
 * trust inspect's JSON document (DCT only), for scripts written for it.
 * NAME may carry this registry's host (the GUN) or not.
 */
export async function trustInspect(refs: string[], flags: IdentityFlags & { docker?: boolean }): Promise<void> {
  const docs = await withStore(flags, async (store, config) => {
    const hosts = new RegistryHostNames([config.http.baseUrl, ...config.http.aliases]);
    const storage = storageFromConfig(config);
    await storage.init();
    try {
      const registry = new Registry({ storage, metadata: store, deleteEnabled: false, readOnly: true, manifestMaxBytes: config.limits.manifestMaxBytes });
      const out: TrustInspection[] = [];
      for (const ref of refs) {
        const { name, tag } = splitReference(ref);
        const repository = canonicalRepositoryName(hosts, name);
        const inspection = await inspectOne(store, registry, ref, repository, tag);
        if (!inspection) throw new ExitError(`no trust data for ${name}${repository !== name ? ` (repository ${repository})` : ''}: nothing was signed there, or the name is not on this registry (its host must be http.host, one of http.aliases or localhost)`, 3);
        out.push(inspection);
      }
      return out;
    } finally {
      await storage.close();
    }
  }, { users: false });
  if (flags.docker) {
    const missing = docs.find((d) => d.dct === null);
    if (missing) throw new ExitError(`no Docker Content Trust data for ${missing.name}; without --docker the OCI signatures are shown`, 3);
    process.stdout.write(`${JSON.stringify(docs.map((d) => d.dct), null, 4)}\n`);
  } else if (flags.json) process.stdout.write(`${JSON.stringify(docs, null, 2)}\n`);
  else process.stdout.write(docs.map(pretty).join('\n\n'));
}
