import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { storageFromConfig } from '../../app.js';
import { RegistryHostNames } from '../../auth/index.js';
import { Registry } from '../../registry/index.js';
import { verifySignatures } from '../../signatures/index.js';
import { migrateTrust, type MigrationResult } from '../../trust/index.js';
import { ExitError } from '../exit-error.js';
import { output, withStore, type IdentityFlags } from './identity-context.js';
import { canonicalRepositoryName } from './trust-inspect.js';

export interface MigrateFlags extends IdentityFlags {
  key: string;
  passphraseFile?: string;
  dryRun?: boolean;
}

/** The operator's private key: PEM (PKCS#8, possibly encrypted with --passphrase-file, or SEC1 EC / PKCS#1 RSA). */
async function loadKey(flags: MigrateFlags): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(flags.key, 'utf8');
  } catch (err) {
    throw new ExitError(`--key ${flags.key}: cannot read the key file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 2);
  }
  if (/ENCRYPTED (SIGSTORE|COSIGN) PRIVATE KEY/.test(pem)) {
    throw new ExitError(`--key ${flags.key}: a cosign-encrypted key; export it as PEM first (cosign import-key/export, or openssl pkcs8) and pass --passphrase-file for an encrypted PKCS#8 key`, 2);
  }
  const passphrase = flags.passphraseFile ? (await readFile(flags.passphraseFile, 'utf8').catch(() => { throw new ExitError(`--passphrase-file ${flags.passphraseFile}: cannot read it`, 2); })).replace(/\r?\n$/, '') : undefined;
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase === undefined ? pem : { key: pem, passphrase });
  } catch (err) {
    const encrypted = /ENCRYPTED PRIVATE KEY/.test(pem);
    throw new ExitError(`--key ${flags.key}: not a usable private key (${encrypted && passphrase === undefined ? 'it is encrypted: pass --passphrase-file' : (err as Error).message})`, 2);
  }
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (!(type === 'ed25519' || type === 'rsa' || (type === 'ec' && (curve === 'prime256v1' || curve === 'secp384r1')))) {
    throw new ExitError(`--key ${flags.key}: a ${type}${curve ? ` ${curve}` : ''} key; use ECDSA P-256 (cosign's default), P-384, Ed25519 or RSA`, 2);
  }
  return key;
}

/**
 * `berth trust migrate NAME --key KEY`: signs, with the operator's key, every
 * digest the repository's DCT data signs, as OCI signatures (see
 * trust/migrate.ts). NAME as clients pull it (`registry.example.com:5000/app`)
 * is what each signature names; its host must be this registry's (or a
 * loopback host). Works on the server's database and storage, as the other
 * management commands do.
 */
export async function trustMigrate(name: string, flags: MigrateFlags): Promise<void> {
  const privateKey = await loadKey(flags);
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  const results = await withStore(flags, async (store, config) => {
    const repository = canonicalRepositoryName(new RegistryHostNames([config.http.baseUrl, ...config.http.aliases]), name);
    const trust = await store.trust.current(repository);
    if (trust.size === 0) throw new ExitError(`no trust data for ${name}${repository !== name ? ` (repository ${repository})` : ''}: nothing to migrate`, 3);
    if (config.storage.readOnly && !flags.dryRun) throw new ExitError('storage.maintenance.readonly is on: nothing can be written; run with --dry-run, or turn read-only off', 2);
    const storage = storageFromConfig(config);
    await storage.init();
    try {
      const registry = new Registry({ storage, metadata: store, deleteEnabled: config.storage.deleteEnabled, readOnly: false, manifestMaxBytes: config.limits.manifestMaxBytes });
      return await migrateTrust({
        registry, trust, repository, reference: name, privateKey, dryRun: flags.dryRun ?? false,
        signedByKey: async (digest) => (await verifySignatures(registry, repository, digest, [{ name: 'migration', kind: 'cosign', pem: publicKeyPem }])).some((f) => f.verified),
      });
    } finally {
      await storage.close();
    }
  }, { users: false });
  output(flags, results, results.map(line).join('\n') + (flags.dryRun ? '\n(dry run: nothing was written)' : ''));
}

function line(r: MigrationResult): string {
  const what = { signed: 'signed', 'already-signed': 'already signed by this key', expired: 'skipped: its DCT metadata has expired', 'missing-manifest': 'skipped: the manifest is not in the repository' }[r.outcome];
  return `${r.digest}\t${r.tags.join(',')}\t${r.signers.join(',')}\t${what}`;
}
