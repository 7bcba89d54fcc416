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
  .option('--lenient', 'warn about unknown config keys instead of refusing to start')
  .action(async (opts: { config?: string; addr?: string; dataDir?: string; lenient?: boolean }) => {
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
  .option('--lenient', 'report unknown config keys as warnings instead of errors')
  .action(async (opts: { config?: string; addr?: string; dataDir?: string; json?: boolean; lenient?: boolean }) => {
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

/** Options every identity command takes: where the config (and so the database) is, and --json. */
function identityCommand(parent: Command, spec: string, description: string): Command {
  return parent.command(spec).description(description)
    .option('-c, --config <file>', 'YAML config file (the database of `berth serve`)')
    .option('-d, --data-dir <dir>', 'data folder (datadir)')
    .option('--json', 'print the result as JSON');
}
type Opts = { config?: string; dataDir?: string; json?: boolean };

const user = program.command('user').description('users of Berth\'s database (auth.token without htpasswd)');
identityCommand(user, 'create <name>', 'create a user; without --password-stdin a password is generated and printed once')
  .option('--admin', 'a system administrator')
  .option('--password-stdin', 'read the password from stdin')
  .action(async (name: string, opts: Opts & { admin?: boolean; passwordStdin?: boolean }) => (await import('./commands/user.js')).userCreate(name, opts));
identityCommand(user, 'list', 'list users').action(async (opts: Opts) => (await import('./commands/user.js')).userList(opts));
identityCommand(user, 'passwd <name>', 'set a password (from stdin, or generated and printed once)')
  .option('--password-stdin', 'read the password from stdin')
  .action(async (name: string, opts: Opts & { passwordStdin?: boolean }) => (await import('./commands/user.js')).userPasswd(name, opts));
for (const [spec, change, what] of [
  ['disable', { disabled: true }, 'disable a user (logins and tokens stop working)'],
  ['enable', { disabled: false }, 'enable a disabled user'],
  ['promote', { admin: true }, 'make a user a system administrator'],
  ['demote', { admin: false }, 'take administrator rights away'],
] as const) {
  identityCommand(user, `${spec} <name>`, what).action(async (name: string, opts: Opts) => (await import('./commands/user.js')).userSet(name, change, opts));
}
identityCommand(user, 'delete <name>', 'delete a user with its memberships, grants and tokens')
  .action(async (name: string, opts: Opts) => (await import('./commands/user.js')).userDelete(name, opts));

const org = program.command('org').description('organizations (namespaces owned by teams)');
identityCommand(org, 'create <name>', 'create an organization').action(async (name: string, opts: Opts) => (await import('./commands/org.js')).orgCreate(name, opts));
identityCommand(org, 'list', 'list organizations').action(async (opts: Opts) => (await import('./commands/org.js')).orgList(opts));
identityCommand(org, 'delete <name>', 'delete an organization and its teams').action(async (name: string, opts: Opts) => (await import('./commands/org.js')).orgDelete(name, opts));

const team = program.command('team').description('teams of an organization (ORG/TEAM)');
identityCommand(team, 'create <org/team>', 'create a team').action(async (ref: string, opts: Opts) => (await import('./commands/team.js')).teamCreate(ref, opts));
identityCommand(team, 'list <org>', 'list the teams of an organization').action(async (o: string, opts: Opts) => (await import('./commands/team.js')).teamList(o, opts));
identityCommand(team, 'delete <org/team>', 'delete a team').action(async (ref: string, opts: Opts) => (await import('./commands/team.js')).teamDelete(ref, opts));
identityCommand(team, 'add <org/team> <user>', 'add a member').action(async (ref: string, u: string, opts: Opts) => (await import('./commands/team.js')).teamAdd(ref, u, opts));
identityCommand(team, 'remove <org/team> <user>', 'remove a member').action(async (ref: string, u: string, opts: Opts) => (await import('./commands/team.js')).teamRemove(ref, u, opts));
identityCommand(team, 'members <org/team>', 'list members').action(async (ref: string, opts: Opts) => (await import('./commands/team.js')).teamMembers(ref, opts));

const grant = program.command('grant').description('roles (read, write, admin) of users and teams on repositories and namespaces');
identityCommand(grant, 'add <subject> <resource> <role>', 'grant a role, e.g. `berth grant add team:acme/ci namespace:acme write`')
  .action(async (subject: string, resource: string, role: string, opts: Opts) => (await import('./commands/grant.js')).grantAdd(subject, resource, role, opts));
identityCommand(grant, 'remove <subject> <resource>', 'remove a grant')
  .action(async (subject: string, resource: string, opts: Opts) => (await import('./commands/grant.js')).grantRemove(subject, resource, opts));
identityCommand(grant, 'list', 'list grants').option('--subject <subject>', 'only those of user:NAME or team:ORG/TEAM')
  .action(async (opts: Opts & { subject?: string }) => (await import('./commands/grant.js')).grantList(opts));
identityCommand(grant, 'public <resource>', 'let everyone pull a repository or namespace (anonymous clients too with auth.anonymous)')
  .option('--private', 'make it private again')
  .action(async (resource: string, opts: Opts & { private?: boolean }) => (await import('./commands/grant.js')).grantPublic(resource, opts));

const token = program.command('token').description('access tokens: docker-login passwords limited to scopes');
identityCommand(token, 'create <user>', 'create a token; its secret is printed once')
  .requiredOption('--name <name>', 'what the token is for')
  .option('--scope <scope>', 'repository:NAME:ACTIONS or namespace:NAME:ACTIONS, actions pull,push,delete (repeatable)', collect, [])
  .option('--expires-days <days>', 'lifetime in days (default: no expiry)')
  .action(async (u: string, opts: Opts & { name: string; scope: string[]; expiresDays?: string }) => (await import('./commands/token.js')).tokenCreate(u, opts));
identityCommand(token, 'list <user>', 'list a user\'s tokens (never their secrets)').action(async (u: string, opts: Opts) => (await import('./commands/token.js')).tokenList(u, opts));
identityCommand(program, 'bundle <user>', 'write a client bundle: CA certificate, a new scoped access token in an auth file, env.sh, install-ca.sh')
  .requiredOption('--host <host:port>', 'the registry address clients use')
  .option('--scope <scope>', 'token scope (repeatable; default namespace:<user>:pull,push)', collect, [])
  .option('--expires-days <days>', 'token lifetime in days (default 30)')
  .option('--ca <file>', 'CA certificate to include (e.g. data/certs/ca.crt)')
  .option('--out <file>', 'where to write the .tar.gz (default berth-bundle-<user>.tar.gz)')
  .action(async (u: string, opts: Opts & { host: string; scope: string[]; expiresDays?: string; ca?: string; out?: string }) => (await import('./commands/token.js')).bundleCreate(u, opts));
const audit = program.command('audit').description('the audit log: logins, pushes, pulls, deletes and identity changes');
identityCommand(audit, 'list', 'list audit events, newest first')
  .option('--actor <name>', 'only this actor')
  .option('--action <action>', 'only this action (login, manifest.push, manifest.pull, manifest.delete, user.create, grant.put, ...)')
  .option('--since <time>', 'ISO 8601 time or epoch milliseconds')
  .option('--limit <n>', 'most events shown (1-1000)', '100')
  .action(async (opts: Opts & { actor?: string; action?: string; since?: string; limit: string }) => (await import('./commands/audit.js')).auditList(opts));
const trustCommand = program.command('trust').description('content trust: Docker Content Trust data, OCI signatures and trust policies');
identityCommand(trustCommand, 'inspect <name...>', 'for NAME[:TAG], from the server\'s data: what `docker trust inspect --pretty` shows (signed tags, signers, keys), the trust policy\'s verdict per tag, and the OCI signatures')
  .option('--docker', 'exactly docker trust inspect\'s JSON document (DCT only)')
  .action(async (refs: string[], opts: Opts & { docker?: boolean }) => (await import('./commands/trust-inspect.js')).trustInspect(refs, opts));
const trustPolicy = trustCommand.command('policy').description('trust policies: which keys or DCT signers must have signed what is pulled (scope: registry, namespace:NAME, repository:NAME)');
identityCommand(trustPolicy, 'set <scope>', 'create or replace a policy; a pull then needs a valid signature by ANY listed key or signer')
  .option('--key <name=file>', 'a cosign public key or notation certificate (PEM), e.g. release=cosign.pub (repeatable)', collect, [])
  .option('--dct-signer <name>', 'a Docker Content Trust signer: targets, releases, alice, ... (repeatable)', collect, [])
  .option('--mode <mode>', 'enforce (refuse) or audit (allow and record)', 'enforce')
  .action(async (scope: string, opts: Opts & { key: string[]; dctSigner: string[]; mode?: string }) => (await import('./commands/trust-policy.js')).trustPolicySet(scope, opts));
identityCommand(trustPolicy, 'get <scope>', 'show a policy').action(async (scope: string, opts: Opts) => (await import('./commands/trust-policy.js')).trustPolicyGet(scope, opts));
identityCommand(trustPolicy, 'list', 'list policies').action(async (opts: Opts) => (await import('./commands/trust-policy.js')).trustPolicyList(opts));
identityCommand(trustPolicy, 'delete <scope>', 'delete a policy').action(async (scope: string, opts: Opts) => (await import('./commands/trust-policy.js')).trustPolicyDelete(scope, opts));
const lockout = program.command('lockout').description('failed-login lockouts, kept in the database and shared by every instance');
identityCommand(lockout, 'list', 'list current lockouts: kind (user-address, address, user), user, address, failures, until')
  .action(async (opts: Opts) => (await import('./commands/lockout.js')).lockoutList(opts));
identityCommand(lockout, 'clear', 'clear failed logins, at once on every instance: of a user, of an address, of a user at an address, or all')
  .option('--user <name>', 'a user name: its failures from every address')
  .option('--address <address>', 'a client address: its failures for every user')
  .option('--all', 'every failed-login window')
  .action(async (opts: Opts & { user?: string; address?: string; all?: boolean }) => (await import('./commands/lockout.js')).lockoutClear(opts));
const immutable = program.command('immutable').description('immutable tags: rules that refuse pushing a matching tag with other content, and deleting it (scope: registry, namespace:NAME, repository:NAME)');
identityCommand(immutable, 'add <scope>', 'add an immutable rule').option('--tags <pattern>', 'tag glob: * any run, ? one character (e.g. v*)', '*')
  .action(async (scope: string, opts: Opts & { tags: string }) => (await import('./commands/lifecycle.js')).immutableAdd(scope, opts));
identityCommand(immutable, 'list', 'list immutable rules').action(async (opts: Opts) => (await import('./commands/lifecycle.js')).ruleList('immutable', opts));
identityCommand(immutable, 'delete <id>', 'delete an immutable rule').action(async (id: string, opts: Opts) => (await import('./commands/lifecycle.js')).ruleDelete('immutable', id, opts));
const retentionCommand = program.command('retention').description('retention: rules that keep the newest N tags or those pushed within an age, by tag pattern; the others are removed hourly');
identityCommand(retentionCommand, 'add <scope>', 'add a retention rule (a tag is kept when --keep-last or --keep-within keeps it)')
  .option('--tags <pattern>', 'tag glob: * any run, ? one character (e.g. build-*)', '*')
  .option('--keep-last <n>', 'keep the newest N matching tags of each repository, by push time')
  .option('--keep-within <age>', 'keep matching tags pushed within this age: 30d, 12h, 2w, 90m')
  .action(async (scope: string, opts: Opts & { tags: string; keepLast?: string; keepWithin?: string }) => (await import('./commands/lifecycle.js')).retentionAdd(scope, opts));
identityCommand(retentionCommand, 'list', 'list retention rules').action(async (opts: Opts) => (await import('./commands/lifecycle.js')).ruleList('retention', opts));
identityCommand(retentionCommand, 'delete <id>', 'delete a retention rule').action(async (id: string, opts: Opts) => (await import('./commands/lifecycle.js')).ruleDelete('retention', id, opts));
identityCommand(retentionCommand, 'run', 'apply the retention rules now: remove the tags none keeps (immutable ones never)')
  .option('--dry-run', 'list what would be removed; change nothing')
  .action(async (opts: Opts & { dryRun?: boolean }) => (await import('./commands/lifecycle.js')).retentionRun(opts));
const quota = program.command('quota').description('storage quotas per namespace: a push that would go over is refused before anything is kept');
identityCommand(quota, 'set <namespace> <size>', 'set or replace a quota: bytes or 500MB, 10GiB, 1TB, ...').action(async (ns: string, size: string, opts: Opts) => (await import('./commands/lifecycle.js')).quotaSet(ns, size, opts));
identityCommand(quota, 'get <namespace>', 'show a quota and the namespace\'s usage').action(async (ns: string, opts: Opts) => (await import('./commands/lifecycle.js')).quotaGet(ns, opts));
identityCommand(quota, 'list', 'list quotas with usage').action(async (opts: Opts) => (await import('./commands/lifecycle.js')).quotaList(opts));
identityCommand(quota, 'delete <namespace>', 'remove a quota').action(async (ns: string, opts: Opts) => (await import('./commands/lifecycle.js')).quotaDelete(ns, opts));
identityCommand(quota, 'usage <namespace>', 'what a namespace stores (distinct blobs and manifests, each counted once), with or without a quota').action(async (ns: string, opts: Opts) => (await import('./commands/lifecycle.js')).quotaUsage(ns, opts));
identityCommand(trustCommand, 'migrate <name>', 'sign, with your key, every digest the repository\'s DCT data signs, as OCI signatures (cosign sha256-<hex>.sig) naming NAME')
  .requiredOption('--key <file>', 'PEM private key: ECDSA P-256 (cosign\'s default), P-384, Ed25519 or RSA')
  .option('--passphrase-file <file>', 'passphrase of an encrypted PKCS#8 key')
  .option('--dry-run', 'list what would be signed; write nothing')
  .action(async (name: string, opts: Opts & { key: string; passphraseFile?: string; dryRun?: boolean }) => (await import('./commands/trust-migrate.js')).trustMigrate(name, opts));
identityCommand(program, 'gc', 'online garbage collection on the server\'s database and storage (safe while it runs): unreferenced blobs, and with --delete-untagged the manifests nothing needs')
  .option('--dry-run', 'list what would be deleted; delete nothing')
  .option('--delete-untagged', 'also delete manifests no tag, tagged index or kept subject needs, with their signatures and referrers')
  .option('--grace <duration>', 'keep what was pushed, uploaded or mounted this recently (default gc.graceperiod, 1h)')
  .action(async (opts: Opts & { dryRun?: boolean; deleteUntagged?: boolean; grace?: string }) => { await (await import('./commands/gc.js')).gcCommand(opts); });
identityCommand(program, 'fsck', 'check every blob against its digest, every manifest\'s references, every record against the storage; exit 0 when clean, 1 when problems remain')
  .option('--repair', 'quarantine corrupt blobs, drop records whose bytes or manifest are gone, end broken upload sessions; never deletes valid data')
  .exitOverride((err) => { throw err.exitCode === 1 ? new CommanderError(2, err.code, err.message) : err; }) // bad usage is 2: 1 means problems remain
  .action(async (opts: Opts & { repair?: boolean }) => { await (await import('./commands/fsck.js')).fsckCommand(opts); });
identityCommand(program, 'import <file...>', 'import docker save tarballs and OCI image layouts (folders or tars, gzip or not) through the registry core (validation, quotas, immutable tags, events), safe while the server runs; a bad file refuses the whole import')
  .option('--to <repo[:tag]>', 'where the images go (default: the names the file carries); REPO keeps each image\'s tag')
  .option('--expect-id <id>', 'refuse unless the image ID (config digest, sha256:…) is this one, as docker images shows it after docker load')
  .option('--tmp-dir <dir>', 'where a tar is unpacked and checked before import (default the system\'s temporary folder)')
  .option('--skip-trust', 'import a Berth bundle without its Docker Content Trust data (when its GUN names another registry)')
  .action(async (files: string[], opts: Opts & { to?: string; expectId?: string; tmpDir?: string; skipTrust?: boolean }) => { await (await import('./commands/import.js')).importCommand(files, opts); });
identityCommand(program, 'df', 'storage usage per repository (size, shared, unique) and in total, each blob counted once, like docker system df -v')
  .action(async (opts: Opts) => { await (await import('./commands/df.js')).dfCommand(opts); });
identityCommand(program, 'backup <dir>', 'a consistent backup of the database, the blobs and the data folder\'s secrets into DIR, while the server runs; blobs already in DIR are not copied again')
  .option('--wait <duration>', 'how long to wait for a running garbage collection to finish (default 10m)')
  .action(async (dir: string, opts: Opts & { wait?: string }) => { await (await import('./commands/backup.js')).backupCommand(dir, opts); });
identityCommand(program, 'restore <dir>', 'rebuild a registry from a backup into a new data folder (--data-dir NEW), or the empty database and bucket of --config; every blob is verified')
  .option('--generation <name>', 'which backup of DIR (default the newest complete one)')
  .action(async (dir: string, opts: Opts & { generation?: string }) => { await (await import('./commands/backup.js')).restoreCommand(dir, opts); });
identityCommand(program, 'export <ref...>', 'write REPO:TAG or REPO@DIGEST images, with their children, referrers, cosign signatures and Docker Content Trust data, as a verifiable bundle (an OCI image layout tar with berth-bundle.json) for `berth import` on another Berth')
  .requiredOption('-o, --output <file>', 'the bundle to write (a .tar)')
  .option('--no-trust', 'leave the Docker Content Trust data out')
  .action(async (refs: string[], opts: Opts & { output: string; trust?: boolean }) => { await (await import('./commands/export.js')).exportCommand(refs, opts); });
identityCommand(token, 'revoke <user> <id>', 'revoke a token').action(async (u: string, id: string, opts: Opts) => (await import('./commands/token.js')).tokenRevoke(u, id, opts));

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
