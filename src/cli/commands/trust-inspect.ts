import { RegistryHostNames } from '../../auth/index.js';
import { inspectTrust, prettyTrust } from '../../trust/index.js';
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
function canonical(hosts: RegistryHostNames, name: string): string {
  const first = name.slice(0, Math.max(0, name.indexOf('/')));
  if (/^(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/i.test(first)) return name.slice(first.length + 1);
  return hosts.canonicalRepository(name);
}

/**
 * `berth trust inspect NAME[:TAG]…`: what `docker trust inspect` prints
 * (`--pretty`: its text; default or `--json`: its JSON document), read from
 * the server's database. NAME may carry this registry's host
 * (`registry.example.com:5000/app`, the GUN) or not (`app`).
 */
export async function trustInspect(refs: string[], flags: IdentityFlags & { pretty?: boolean }): Promise<void> {
  const docs = await withStore(flags, async (store, config) => {
    const hosts = new RegistryHostNames([config.http.baseUrl, ...config.http.aliases]);
    const out = [];
    for (const ref of refs) {
      const { name, tag } = splitReference(ref);
      const repository = canonical(hosts, name);
      const inspection = inspectTrust(await store.trust.current(repository), ref, tag, new Date());
      if (!inspection) throw new ExitError(`no trust data for ${name}${repository !== name ? ` (repository ${repository})` : ''}: nothing was signed there, or the name is not on this registry (its host must be http.host, one of http.aliases or localhost)`, 3);
      out.push(inspection);
    }
    return out;
  }, { users: false });
  if (flags.pretty && !flags.json) process.stdout.write(docs.map(prettyTrust).join('\n\n'));
  else process.stdout.write(`${JSON.stringify(docs, null, 4)}\n`);
}
