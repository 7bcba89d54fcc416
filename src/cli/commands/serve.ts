import { startBerth } from '../../app.js';
import { redactUrl } from '../../config/index.js';
import { isRegistryError } from '../../errors/index.js';
import { createLogger } from '../../log/index.js';
import { ExitError } from '../exit-error.js';
import { loadOrExit, type ConfigFlags } from './config.js';

/** `berth serve`: runs until SIGTERM/SIGINT, then drains and exits 0. */
export async function serve(flags: ConfigFlags): Promise<void> {
  const { config, file } = await loadOrExit(flags);
  const logger = createLogger({ level: config.log.level, fields: config.log.fields });
  let berth;
  try {
    berth = await startBerth(config, logger);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') throw new ExitError(`cannot listen on ${config.http.host}:${config.http.port}: the address is in use. Choose another with --addr or http.addr.`, 1);
    if (e.code === 'EACCES') throw new ExitError(`cannot listen on ${config.http.host}:${config.http.port} or write ${config.dataDir}: permission denied.`, 1);
    // The database could not be reached or used; the message names database.url, never its password.
    if (isRegistryError(err) && err.code === 'BERTH_UNAVAILABLE') throw new ExitError(err.message, 1);
    // The blob storage could not be reached or is misconfigured (the message names the key).
    if (err instanceof Error && /^storage\./.test(err.message)) throw new ExitError(err.message, 1);
    // A bad first-administrator password (BERTH_ADMIN_PASSWORD).
    if (isRegistryError(err) && err.code === 'BERTH_INVALID') throw new ExitError(err.message, 2);
    throw err;
  }
  const scheme = config.http.tls ? 'https' : 'http';
  logger.info({
    addr: `${berth.address.address}:${berth.address.port}`,
    url: `${scheme}://${berth.address.address.includes(':') ? `[${berth.address.address}]` : berth.address.address}:${berth.address.port}/v2/`,
    'data.dir': config.dataDir,
    'storage.driver': config.storage.driver,
    ...(config.storage.s3
      ? { 'storage.s3.bucket': config.storage.s3.bucket, 'storage.s3.endpoint': config.storage.s3.endpoint ?? `aws:${config.storage.s3.region}`, 'storage.s3.rootdirectory': config.storage.s3.rootDirectory }
      : { 'storage.root': config.storage.rootDirectory }),
    'database.kind': config.database.kind,
    ...(config.database.kind === 'postgres' ? { 'database.url': redactUrl(config.database.url) } : { 'database.path': config.database.path }),
    config: file,
    'delete.enabled': config.storage.deleteEnabled,
  }, 'berth listening');

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal, inFlight: berth.http.inFlight(), drainMs: config.http.drainTimeoutMs }, 'shutting down');
      berth.close().then(() => {
        logger.info('stopped');
        resolve();
      }, (err: unknown) => {
        logger.error({ err }, 'failed to stop cleanly');
        process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  logger.flush();
}
