import type { z } from 'zod';
import type { AccessRequest, Action } from '../auth/index.js';
import type { Handler } from './context.js';

export type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

/**
 * What a route needs before its handler runs. Every route states one; the
 * server enforces it in one place (access.ts), so no handler authenticates
 * or authorizes by itself.
 *
 * - `public`: anyone, no credentials read (health, the OpenAPI document);
 * - `login`: anyone may call; the route checks the credentials it is sent
 *   itself, because checking them is what it is for (the token endpoint);
 * - `registry`: whoever the access controller lets in, with no scope (the
 *   base route `/v2/`, whose 401 is how clients discover authentication);
 * - `repository`: these actions on the repository in the path, plus any
 *   more the request needs (`also`: a mount needs pull on its source);
 * - `catalog`: the registry-wide listing (`registry:catalog:*`);
 * - `user`: a signed-in user with a password (Basic or Bearer; access
 *   tokens are refused), as Berth's database knows it;
 * - `admin`: a signed-in system administrator;
 * - `org-admin`: a signed-in administrator, or an admin of the
 *   organization named by the path parameter `org`.
 */
export type Access =
  | { kind: 'public' }
  | { kind: 'login' }
  | { kind: 'registry' }
  | {
      kind: 'repository';
      actions: readonly Action[];
      also?: (params: RouteParams, url: URL) => AccessRequest[];
      /**
       * The path parameter holding the repository (default `name`). With
       * `hostPrefixed`, it may start with this registry's host
       * (`registry.example.com:5000/app`, a Notary GUN): the repository
       * authorized and acted on is the canonical name (`app`), found by the
       * same function the token service uses.
       */
      param?: string;
      hostPrefixed?: boolean;
    }
  | { kind: 'catalog' }
  | { kind: 'user' }
  | { kind: 'admin' }
  | { kind: 'org-admin' };

export type AccessKind = Access['kind'];

export const ACCESS_KINDS: readonly AccessKind[] = ['public', 'login', 'registry', 'repository', 'catalog', 'user', 'admin', 'org-admin'];

/** Path parameters by name (`name`, `reference`, `digest`, `uuid`, `user`, `org`, …), raw (undecoded). */
export type RouteParams = Readonly<Record<string, string>>;

/** What the OpenAPI document says about a route beyond its path, method and access. */
export interface RouteDoc {
  /** One line. */
  summary: string;
  /** The JSON body's schema (validated by the service, documented from the same zod schema). */
  body?: z.ZodType;
  /** Query parameters. */
  query?: readonly { name: string; description?: string; required?: boolean; schema?: Record<string, unknown> }[];
  /** The success status (default 200). */
  status?: number;
  /** A registry route that answers with a blob or manifest body, not JSON. */
  binary?: boolean;
}

/** One route: a name, a method, a path template, the access it needs and its handler. */
export interface Route {
  /** Unique, stable, dotted: `manifest.get`, `api.users.create`. Used in logs, metrics and tests. */
  name: string;
  method: Method;
  /**
   * The path template: literal segments and `{param}` segments. `{name}`
   * (a repository name, `library/busybox`) and any `{param+}` may span
   * several segments; every other parameter is one segment. A template
   * ending in `/` also matches without it.
   */
  path: string;
  access: Access;
  handler: Handler;
  doc: RouteDoc;
}

/** The routes one module contributes (registry, token, management API, health; later trust, metrics, search, UI). */
export interface RouteGroup {
  name: string;
  /** Tag of these routes in the OpenAPI document. */
  description: string;
  routes: readonly Route[];
}

interface CompiledPath {
  path: string;
  re: RegExp;
  params: string[];
  byMethod: Map<Method, Route>;
}

export type RouteLookup =
  | { kind: 'found'; route: Route; params: RouteParams }
  /** The path exists, the method does not: 405 with `Allow`. */
  | { kind: 'method-not-allowed'; allow: Method[] }
  | { kind: 'not-found' };

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function compilePath(path: string): { re: RegExp; params: string[] } {
  const params: string[] = [];
  let src = '';
  for (const part of path.split(/(\{[a-z]+\+?\})/i)) {
    const m = /^\{([a-z]+)(\+?)\}$/i.exec(part);
    if (m) {
      const name = m[1] as string;
      params.push(name);
      src += name === 'name' || m[2] === '+' ? `(?<${name}>.+)` : `(?<${name}>[^/]+)`;
    } else {
      src += escapeRe(part);
    }
  }
  if (src.endsWith('/') && src !== '/') src += '?';
  return { re: new RegExp(`^${src}$`), params };
}

/**
 * The router of one route table: paths are tried in the order the groups
 * list them (so `/v2/{name}/blobs/uploads/` comes before
 * `/v2/{name}/blobs/{digest}`), on the raw request path: a percent-encoded
 * `/` or `..` can never become part of a parameter's structure.
 */
export class RouteTable {
  private readonly paths: CompiledPath[] = [];
  readonly routes: readonly Route[];
  readonly groups: readonly RouteGroup[];

  constructor(groups: readonly RouteGroup[]) {
    this.groups = groups;
    const names = new Set<string>();
    const all: Route[] = [];
    for (const group of groups) {
      for (const route of group.routes) {
        if (names.has(route.name)) throw new Error(`route ${route.name} is defined twice`);
        if (!ACCESS_KINDS.includes(route.access?.kind)) throw new Error(`route ${route.name} has no access kind`);
        names.add(route.name);
        all.push(route);
        let compiled = this.paths.find((p) => p.path === route.path);
        if (!compiled) {
          compiled = { path: route.path, ...compilePath(route.path), byMethod: new Map() };
          this.paths.push(compiled);
        }
        if (compiled.byMethod.has(route.method)) throw new Error(`${route.method} ${route.path} is defined twice`);
        compiled.byMethod.set(route.method, route);
      }
    }
    this.routes = all;
  }

  lookup(method: string, rawPath: string): RouteLookup {
    for (const p of this.paths) {
      const m = p.re.exec(rawPath);
      if (!m) continue;
      const route = p.byMethod.get(method as Method);
      if (!route) return { kind: 'method-not-allowed', allow: [...p.byMethod.keys()] };
      return { kind: 'found', route, params: { ...m.groups } };
    }
    return { kind: 'not-found' };
  }

  byName(name: string): Route {
    const r = this.routes.find((x) => x.name === name);
    if (!r) throw new Error(`no route named ${name}`);
    return r;
  }
}

/**
 * A path from a template and its parameters, which are already valid
 * (repository names, digests, tags, ids): a repository name keeps its `/`;
 * any other value must be one segment.
 */
export function fillPath(template: string, params: Readonly<Record<string, string>>): string {
  return template.replace(/\{([a-z]+)(\+?)\}/gi, (_, name: string, multi: string) => {
    const v = params[name];
    if (v === undefined || v === '') throw new Error(`path ${template} needs ${name}`);
    if (name !== 'name' && multi !== '+' && v.includes('/')) throw new Error(`path parameter ${name} must be one segment`);
    return v;
  });
}
