#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ExitError } from './exit-error.js';

/**
 * The `berth` command. Commands live in commands/<name>.ts, are loaded only
 * when run, return data, and leave printing to this file or their own output
 * helpers; expected failures throw ExitError with a message naming the fix.
 */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const program = new Command()
  .name('berth')
  .description('Berth: a self-hosted, trusted container registry (OCI Distribution v1.1, Docker Registry API v2)')
  .version(version(), '-v, --version')
  .showHelpAfterError('(run `berth --help` for usage)')
  .exitOverride();

program
  .command('serve')
  .description('start the registry (embedded default: SQLite + filesystem under --data-dir)')
  .option('-c, --config <file>', 'YAML config file (registry:2 config.yml keys work); also BERTH_CONFIG or REGISTRY_CONFIGURATION_PATH')
  .option('-a, --addr <host:port>', 'listen address (http.addr), e.g. :5000 or 127.0.0.1:5000')
  .option('-d, --data-dir <dir>', 'data folder (datadir), default ./data')
  .action(async (opts: { config?: string; addr?: string; dataDir?: string }) => {
    const { serve } = await import('./commands/serve.js');
    await serve(opts);
  });

const config = program.command('config').description('inspect the configuration');
config
  .command('check')
  .description('validate the configuration (file, REGISTRY_* environment, flags) without starting')
  .option('-c, --config <file>', 'YAML config file')
  .option('-a, --addr <host:port>', 'listen address')
  .option('-d, --data-dir <dir>', 'data folder')
  .option('--json', 'print the resolved configuration as JSON')
  .action(async (opts: { config?: string; addr?: string; dataDir?: string; json?: boolean }) => {
    const { configCheck } = await import('./commands/config.js');
    await configCheck(opts);
  });
config
  .command('schema')
  .description('print the JSON Schema of the configuration file, with a description of every key')
  .action(async () => {
    const { configSchemaCommand } = await import('./commands/config.js');
    configSchemaCommand();
  });

const collect = (value: string, previous: string[]) => [...previous, value];
const certs = program.command('certs').description('TLS certificates for a self-hosted registry');
certs
  .command('init')
  .description('create a private CA (or reuse the one in --dir) and a server certificate, and say where clients put the CA')
  .option('--host <name>', 'DNS name of the registry (repeatable)', collect, [])
  .option('--ip <address>', 'IP address of the registry (repeatable)', collect, [])
  .option('--port <port>', 'port clients use, for the client paths printed', '5000')
  .option('--dir <dir>', 'where to write ca.crt, ca.key, server.crt, server.key (default <data-dir>/certs)')
  .option('-d, --data-dir <dir>', 'data folder (default ./data)')
  .option('--force', 'replace an existing server certificate')
  .option('--json', 'print the result as JSON')
  .action(async (opts: { host: string[]; ip: string[]; port: string; dir?: string; dataDir?: string; force?: boolean; json?: boolean }) => {
    const { certsInit, printCertsInit } = await import('./commands/certs.js');
    const result = await certsInit(opts);
    process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : printCertsInit(result));
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
  } else if (err instanceof ExitError) {
    process.stderr.write(`berth: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`berth: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 70;
  }
}
