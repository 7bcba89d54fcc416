import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The secret that seals the trust server's keys (key-vault.ts): read from
 * `trust.keysecretfile`, or created there on first start (48 random bytes,
 * mode 0600). Creation is exclusive (a hard link, which fails when the file
 * exists), so instances starting together on a shared folder all end up
 * with the one secret that won.
 */
export async function loadOrCreateKeySecret(file: string): Promise<Buffer> {
  try {
    return checked(await readFile(file), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, randomBytes(48).toString('base64'), { mode: 0o600 });
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  return checked(await readFile(file), file);
}

function checked(secret: Buffer, file: string): Buffer {
  const trimmed = Buffer.from(secret.toString('utf8').trim(), 'utf8');
  if (trimmed.length < 32) throw new Error(`trust.keysecretfile: ${file} holds ${trimmed.length} bytes; it needs at least 32 (e.g. head -c 48 /dev/urandom | base64 > ${file})`);
  return trimmed;
}
