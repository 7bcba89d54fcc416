import { redactUrl, type BerthConfig } from '../../config/index.js';
import { isRegistryError } from '../../errors/index.js';
import { IdentityService } from '../../identity/index.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { userInfo } from 'node:os';
import { createMetadataStore, type MetadataStore } from '../../metadata/index.js';
import { ExitError } from '../exit-error.js';
import { loadOrExit, type ConfigFlags } from './config.js';

export interface IdentityFlags extends ConfigFlags {
  json?: boolean | undefined;
}

/** The audit log's author of CLI changes: `cli:<OS user>`. */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

/** Runs `fn` with the configured database's metadata store open (for `berth audit`). */
export async function withStore<T>(flags: IdentityFlags, fn: (store: MetadataStore, config: BerthConfig) => Promise<T>, options: { users?: boolean } = {}): Promise<T> {
  const { config, file } = await loadOrExit(flags);
  const db = config.database;
  // A management command works on the server's database. It never creates
  // one in a folder nobody named (run from another folder, it would answer
  // "user not found" from a new, empty ./data/berth.db): only in a data
  // folder given explicitly (--config, BERTH_CONFIG, --data-dir) that exists,
  // to set users up before the first start.
  const named = file !== null || flags.dataDir !== undefined || process.env.BERTH_DATA_DIR !== undefined;
  if (db.kind === 'sqlite' && !existsSync(db.path) && !(named && existsSync(path.dirname(db.path)))) {
    const how = file ? `the configuration ${file}` : flags.dataDir ? `--data-dir ${flags.dataDir}` : 'the default data folder ./data of the working folder (no --config, BERTH_CONFIG, REGISTRY_CONFIGURATION_PATH or --data-dir given)';
    throw new ExitError(`no Berth database at ${db.path} (from ${how}). Run the command with the server's configuration: --config FILE (or BERTH_CONFIG), or --data-dir DIR.`, 2);
  }
  // Only commands about users warn that the server would not use them.
  if (options.users !== false && !(config.auth.kind === 'token' && config.auth.database)) {
    process.stderr.write(`berth: warning: ${file ? `the configuration ${file}` : 'this configuration'} does not take users from Berth's database (it needs auth.token without auth.htpasswd and rootcertbundle), so a server started with it does not use these users\n`);
  }
  const store = createMetadataStore(db.kind === 'postgres'
    ? { kind: 'postgres', url: db.url, logUrl: redactUrl(db.url), poolSize: 2, connect: { attempts: 3 } }
    : { kind: 'sqlite', path: db.path });
  try {
    await store.init();
    return await fn(store, config);
  } catch (err) {
    if (isRegistryError(err)) throw new ExitError(err.message, EXIT[err.code] ?? 1);
    throw err;
  } finally {
    await store.close().catch(() => {});
  }
}

/** Exit codes of the identity commands, by catalogue code. */
const EXIT: Record<string, number> = { BERTH_INVALID: 2, BERTH_NOT_FOUND: 3, BERTH_CONFLICT: 4, BERTH_UNAVAILABLE: 1 };

/**
 * Runs `fn` with the identity services on the configured database (the same
 * one `berth serve` uses, loaded the same way), then closes it. Service
 * errors become ExitErrors with the service's message.
 */
export async function withIdentity<T>(flags: IdentityFlags, fn: (identity: IdentityService) => Promise<T>): Promise<T> {
  return withStore(flags, (store) => fn(new IdentityService({ store: store.identity, audit: store.audit }).as({ name: cliActor(), remoteAddress: null })));
}

/** Prints a result: JSON with --json, else the text rendering. */
export function output(flags: IdentityFlags, data: unknown, text: string): void {
  process.stdout.write(flags.json ? `${JSON.stringify(data, null, 2)}\n` : text.endsWith('\n') || text === '' ? text : `${text}\n`);
}

/** Reads a password from stdin (one line), for --password-stdin. */
export async function readPasswordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (!password) throw new ExitError('no password on stdin; pipe one in, e.g. `printf %s "$PASSWORD" | berth user create alice --password-stdin`', 2);
  return password;
}
