import { z } from 'zod';
import { checkFiles, configSchema, loadConfig, redactUrl, type LoadResult } from '../../config/index.js';
import { ExitError } from '../exit-error.js';

export interface ConfigFlags {
  config?: string | undefined;
  addr?: string | undefined;
  dataDir?: string | undefined;
  /** Unknown keys are warnings, not errors. */
  lenient?: boolean | undefined;
}

/** Loads the config, printing warnings; throws ExitError (code 2) listing every error. */
export async function loadOrExit(flags: ConfigFlags): Promise<LoadResult & { config: NonNullable<LoadResult['config']> }> {
  let result = await loadConfig({ file: flags.config, flags: { addr: flags.addr, dataDir: flags.dataDir }, lenient: flags.lenient ?? false });
  for (const w of result.warnings) process.stderr.write(`berth: warning: ${w}\n`);
  // The files and folders the config names, so that a missing htpasswd file or an unwritable
  // data folder is reported here (config check and serve alike), not as a crash later.
  if (result.config) {
    const problems = await checkFiles(result.config);
    if (problems.length > 0) result = { ...result, config: null, errors: [...result.errors, ...problems] };
  }
  if (!result.config) {
    throw new ExitError(`invalid configuration${result.file ? ` (${result.file})` : ''}:\n${result.errors.map((e) => `  ${e}`).join('\n')}\nFix the keys above, then run \`berth config check\` to verify.`, 2);
  }
  return result as LoadResult & { config: NonNullable<LoadResult['config']> };
}

export async function configCheck(flags: ConfigFlags & { json?: boolean | undefined }): Promise<void> {
  const { config, file } = await loadOrExit(flags);
  if (flags.json) {
    // The resolved config, except the secrets (database password, S3 secret key).
    const db = config.database.kind === 'postgres' ? { ...config.database, url: redactUrl(config.database.url) } : config.database;
    const s3 = config.storage.s3 && {
      ...config.storage.s3,
      secretKey: config.storage.s3.secretKey && '***',
      sessionToken: config.storage.s3.sessionToken && '***',
    };
    const metrics = { ...config.metrics, main: config.metrics.main && { token: config.metrics.main.token && '***' } };
    process.stdout.write(`${JSON.stringify({ ...config, database: db, storage: { ...config.storage, s3 }, metrics }, null, 2)}\n`);
  } else process.stdout.write(`configuration ${file ? `${file} ` : ''}is valid: listening on ${config.http.host}:${config.http.port}, data in ${config.dataDir}\n`);
}

export function configSchemaCommand(): void {
  process.stdout.write(`${JSON.stringify(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }), null, 2)}\n`);
}
