/**
 * The one function that turns a repository name as a client wrote it in a
 * token scope into the repository Berth acts on. The token service
 * authorizes that canonical name and writes that same name into the token's
 * `access` claim, so no spelling is authorized on one side and acted on with
 * another (house style, rule 20).
 *
 * Notary clients name repositories with the registry host
 * (`registry.example.com:5000/app`); the registry itself names the same
 * repository `app`. A first path component that looks like a host (Docker's
 * rule: it contains `.` or `:`, or is `localhost`) is removed only when it is
 * one of the names this registry answers to: its configured `http.host`,
 * `http.aliases`, or the host the request reached it by. Anything else is
 * part of the repository name: `john.doe/app` is the repository `john.doe/app`
 * in the namespace of the user john.doe, never `app`.
 */
export class RegistryHostNames {
  private readonly names: ReadonlySet<string>;

  /** `hosts`: `HOST`, `HOST:PORT` or a base URL (`https://registry.example.com`). */
  constructor(hosts: Iterable<string | undefined>) {
    const names = new Set<string>();
    for (const h of hosts) for (const n of hostForms(h)) names.add(n);
    this.names = names;
  }

  /** These names plus the ones a request arrived by (its Host header, its external base URL). */
  with(hosts: Iterable<string | undefined>): RegistryHostNames {
    return new RegistryHostNames([...this.names, ...hosts]);
  }

  has(host: string): boolean {
    return this.names.has(host.toLowerCase());
  }

  /** The repository a scope name designates on this registry (see the class comment). */
  canonicalRepository(name: string): string {
    const slash = name.indexOf('/');
    if (slash <= 0) return name;
    const first = name.slice(0, slash);
    const hostLike = first.includes('.') || first.includes(':') || first === 'localhost';
    return hostLike && this.has(first) ? name.slice(slash + 1) : name;
  }
}

/**
 * The spellings of one host name a client may use: lower case, with and
 * without a default port (`registry.example.com` and
 * `registry.example.com:443` for an https base URL; both default ports for a
 * bare host name, since the scheme is not known).
 */
function hostForms(value: string | undefined): string[] {
  const v = value?.trim().toLowerCase();
  if (!v) return [];
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//.test(v);
  let url: URL;
  try {
    url = new URL(hasScheme ? v : `http://${v}`);
  } catch {
    return [];
  }
  if (url.port !== '') return [url.host];
  // No port, or the scheme's default one (which URL drops).
  const defaults = !hasScheme ? ['80', '443'] : url.protocol === 'https:' ? ['443'] : url.protocol === 'http:' ? ['80'] : [];
  return [url.hostname, ...defaults.map((p) => `${url.hostname}:${p}`)];
}
