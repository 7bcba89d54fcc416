import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { LRUCache } from 'lru-cache';
import { bcryptPool, type BcryptPool } from './bcrypt-pool.js';

/** An htpasswd line Berth cannot use, reported at warn level at every load. */
export interface HtpasswdProblem {
  line: number;
  /** The user name, when the line has one. */
  user: string | null;
  message: string;
}

export interface HtpasswdOptions {
  /** How often the file's mtime and size are checked (default 1 s). */
  recheckMs?: number;
  /** Told about unusable lines at every load that finds any (a warn-level log line). */
  onProblems?: (problems: readonly HtpasswdProblem[]) => void;
  pool?: BcryptPool;
}

/** What kind of non-bcrypt hash a line holds, for a message that names the fix. */
function weakScheme(hash: string): string | null {
  if (hash.startsWith('$apr1$')) return 'MD5 ($apr1$)';
  if (hash.startsWith('{SHA}')) return 'SHA-1 ({SHA})';
  if (/^\$[15]\$/.test(hash)) return 'MD5-crypt ($1$)';
  if (/^\$[56]\$/.test(hash)) return 'SHA-crypt';
  if (/^[./0-9A-Za-z]{13}$/.test(hash)) return 'DES crypt';
  return null;
}

const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/**
 * Users from an Apache htpasswd file, bcrypt entries only (`htpasswd -B`),
 * as registry:2 accepts. Other schemes (MD5 `$apr1$`, `{SHA}`, crypt) are
 * weak and refused; every load names each such line and its user at warn
 * level, and a login that fails because of one says why.
 *
 * The file is re-read when its modification time or size changes (checked
 * at most once a second), so edits take effect without a restart.
 * Passwords are compared by bcrypt in worker threads (bcrypt-pool.ts).
 * Successful checks are remembered (keyed by a hash of user, password and
 * entry) until the file changes, so a client that sends Basic credentials
 * on every request costs one bcrypt, not one per request. An unknown user
 * costs a bcrypt at the cost the file's entries use, so timing does not
 * reveal which users exist.
 */
export class HtpasswdFile {
  private users = new Map<string, string>();
  private weak = new Map<string, { line: number; scheme: string }>();
  /** Successful checks (keys: hashes of user, password and entry), forgotten when the file changes. */
  private readonly verified = new LRUCache<string, true>({ max: 10_000 });
  private signature = '';
  private checkedAt = 0;
  private loading: Promise<void> | null = null;
  private dummy: { cost: number; hash: Promise<string> } | null = null;
  private readonly recheckMs: number;
  private readonly pool: BcryptPool;
  /** Lines that could not be used at the last load. */
  problems: HtpasswdProblem[] = [];

  constructor(readonly path: string, private readonly options: HtpasswdOptions = {}) {
    this.recheckMs = options.recheckMs ?? 1000;
    this.pool = options.pool ?? bcryptPool;
  }

  /** Line numbers that could not be used at the last load. */
  get invalidLines(): number[] {
    return this.problems.map((p) => p.line);
  }

  /** Loads the file; throws when it cannot be read (a start-up error). */
  async load(): Promise<void> {
    const s = await stat(this.path);
    this.parse(await readFile(this.path, 'utf8'));
    this.signature = `${s.mtimeMs}:${s.size}`;
    this.checkedAt = Date.now();
  }

  private parse(text: string): void {
    const users = new Map<string, string>();
    const weak = new Map<string, { line: number; scheme: string }>();
    const problems: HtpasswdProblem[] = [];
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const colon = line.indexOf(':');
      const user = colon > 0 ? line.slice(0, colon) : null;
      const hash = colon > 0 ? line.slice(colon + 1) : '';
      if (user && BCRYPT.test(hash)) {
        users.set(user, hash);
        return;
      }
      const scheme = weakScheme(hash);
      if (user && scheme) {
        weak.set(user, { line: i + 1, scheme });
        problems.push({ line: i + 1, user, message: `${scheme} is a weak hash and is not accepted; re-create the entry with htpasswd -B` });
      } else {
        problems.push({ line: i + 1, user, message: user ? 'not a bcrypt hash; create entries with htpasswd -B' : 'not USER:HASH' });
      }
    });
    this.users = users;
    this.weak = weak;
    this.verified.clear();
    this.problems = problems;
    if (problems.length > 0) this.options.onProblems?.(problems);
  }

  private async refresh(): Promise<void> {
    if (Date.now() - this.checkedAt < this.recheckMs) return;
    this.loading ??= (async () => {
      try {
        const s = await stat(this.path);
        const sig = `${s.mtimeMs}:${s.size}`;
        if (sig !== this.signature) {
          this.parse(await readFile(this.path, 'utf8'));
          this.signature = sig;
        }
      } catch {
        // Keep the last good users if the file is briefly missing (an editor's rename).
      } finally {
        this.checkedAt = Date.now();
        this.loading = null;
      }
    })();
    await this.loading;
  }

  async has(user: string): Promise<boolean> {
    await this.refresh();
    return this.users.has(user);
  }

  /** Why a user cannot log in with any password, when its line is unusable (for the log; never sent to clients). */
  async unusableReason(user: string): Promise<string | null> {
    await this.refresh();
    const w = this.weak.get(user);
    return w ? `line ${w.line} of ${this.path} holds a ${w.scheme} hash, which Berth does not accept; re-create it with htpasswd -B` : null;
  }

  /** True when the user exists and the password matches. */
  async verify(user: string, password: string): Promise<boolean> {
    await this.refresh();
    const hash = this.users.get(user);
    if (!hash) {
      // Spend what a real check costs, so unknown users are not revealed by timing.
      await this.pool.compare(password, await this.dummyHash());
      return false;
    }
    const key = createHash('sha256').update(user).update('\0').update(password).update('\0').update(hash).digest('base64');
    if (this.verified.has(key)) return true;
    const ok = await this.pool.compare(password, hash);
    if (ok && this.users.get(user) === hash) this.verified.set(key, true);
    return ok;
  }

  /** A bcrypt hash of a random secret at the cost most entries use (htpasswd -B's default, 5, when the file is empty). */
  private dummyHash(): Promise<string> {
    const counts = new Map<number, number>();
    for (const h of this.users.values()) {
      const cost = Number(BCRYPT.exec(h)?.[1] ?? 5);
      counts.set(cost, (counts.get(cost) ?? 0) + 1);
    }
    let cost = 5;
    let best = 0;
    for (const [c, n] of counts) if (n > best) [cost, best] = [c, n];
    if (this.dummy?.cost !== cost) this.dummy = { cost, hash: this.pool.hash(randomBytes(18).toString('base64'), cost) };
    return this.dummy.hash;
  }
}
