import { readFile, stat } from 'node:fs/promises';
import bcrypt from 'bcryptjs';

/**
 * Users from an Apache htpasswd file, bcrypt entries only (`htpasswd -B`),
 * as registry:2 accepts. The file is re-read when its modification time or
 * size changes (checked at most once a second), so edits take effect without a
 * restart. Passwords are compared by bcrypt, whose cost makes the comparison
 * time independent of where a wrong password differs.
 */
export class HtpasswdFile {
  private users = new Map<string, string>();
  private signature = '';
  private checkedAt = 0;
  private loading: Promise<void> | null = null;
  /** Lines that could not be used at the last load, for a warning. */
  invalidLines: number[] = [];

  constructor(readonly path: string, private readonly recheckMs = 1000) {}

  /** Loads the file; throws when it cannot be read (a start-up error). */
  async load(): Promise<void> {
    const s = await stat(this.path);
    this.parse(await readFile(this.path, 'utf8'));
    this.signature = `${s.mtimeMs}:${s.size}`;
    this.checkedAt = Date.now();
  }

  private parse(text: string): void {
    const users = new Map<string, string>();
    const invalid: number[] = [];
    text.split(/\r?\n/).forEach((line, i) => {
      const trimmed = line.trim();
      if (trimmed === '' || trimmed.startsWith('#')) return;
      const colon = trimmed.indexOf(':');
      const user = trimmed.slice(0, colon);
      const hash = trimmed.slice(colon + 1);
      if (colon <= 0 || !/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
        invalid.push(i + 1);
        return;
      }
      users.set(user, hash);
    });
    this.users = users;
    this.invalidLines = invalid;
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

  /** True when the user exists and the password matches. */
  async verify(user: string, password: string): Promise<boolean> {
    await this.refresh();
    const hash = this.users.get(user);
    if (!hash) {
      // Spend the same time as a real check, so unknown users are not revealed by timing.
      await bcrypt.compare(password, DUMMY_HASH);
      return false;
    }
    return bcrypt.compare(password, hash);
  }
}

/** bcrypt of a random string at cost 10 (htpasswd -B's default). */
const DUMMY_HASH = '$2b$10$ezy9QrKoApOsUpx7NEorde2ICSrMpYsNs.q4RWrateSHrx.8Gvy1u';
