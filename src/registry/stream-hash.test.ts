import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BLOCK_BYTES, MAX_BLOCKS, StreamHash, terminateHashThreadForTests } from './stream-hash.js';

const MiB = 1024 * 1024;

/** Feeds `data` in chunks of varying sizes, waiting whenever update asks to. */
async function feed(hash: StreamHash, data: Buffer): Promise<void> {
  let at = 0;
  let i = 0;
  while (at < data.length) {
    const n = [1, 65_536, 300_000, 7, 2 * MiB][i++ % 5] as number;
    const wait = hash.update(data.subarray(at, at + n));
    at += n;
    if (wait) await wait;
  }
}

describe('StreamHash', () => {
  for (const algorithm of ['sha256', 'sha512'] as const) {
    for (const size of [0, 10, MiB - 1, MiB, 5 * MiB + 3]) {
      it(`${algorithm} of ${size} bytes equals node:crypto's`, async () => {
        const data = randomBytes(size);
        const hash = new StreamHash(algorithm);
        await feed(hash, data);
        assert.equal(await hash.digest(), createHash(algorithm).update(data).digest('hex'));
      });
    }
  }

  it('many streams at once each get their own digest', async () => {
    const datas = Array.from({ length: 12 }, (_, i) => randomBytes(2 * MiB + i));
    const digests = await Promise.all(datas.map(async (d) => {
      const hash = new StreamHash('sha256');
      await feed(hash, d);
      return hash.digest();
    }));
    assert.deepEqual(digests, datas.map((d) => createHash('sha256').update(d).digest('hex')));
  });

  it('asks the caller to wait once every block is with the thread, and the wait ends', async () => {
    const hash = new StreamHash('sha256');
    const data = randomBytes((MAX_BLOCKS + 8) * BLOCK_BYTES);
    let wait: Promise<void> | undefined;
    let fed = 0;
    // Acks arrive as messages, so none can arrive while this loop runs.
    while (!wait && fed < data.length) {
      wait = hash.update(data.subarray(fed, fed + BLOCK_BYTES));
      fed += BLOCK_BYTES;
    }
    assert.ok(wait, 'update returned no wait after every block was sent');
    assert.equal(fed, (MAX_BLOCKS + 1) * BLOCK_BYTES);
    await wait;
    for (; fed < data.length; fed += BLOCK_BYTES) await hash.update(data.subarray(fed, fed + BLOCK_BYTES));
    assert.equal(await hash.digest(), createHash('sha256').update(data).digest('hex'));
  });

  it('an upload paused between chunks holds no bytes: flush sends what is gathered, and the digest is unchanged', async () => {
    const data = randomBytes(3 * BLOCK_BYTES + 12_345);
    const hash = new StreamHash('sha256');
    await feed(hash, data.subarray(0, BLOCK_BYTES + 5));
    await hash.flush();
    await feed(hash, data.subarray(BLOCK_BYTES + 5));
    await hash.flush();
    assert.equal(await hash.digest(), createHash('sha256').update(data).digest('hex'));
  });

  it('a stream whose thread died rejects its digest (the caller re-reads), and the next stream gets a new thread', async () => {
    const hash = new StreamHash('sha256');
    await feed(hash, randomBytes(3 * MiB));
    await terminateHashThreadForTests();
    await assert.rejects(hash.digest(), /hashing thread exited/);
    const data = randomBytes(3 * MiB);
    const next = new StreamHash('sha256');
    await feed(next, data);
    assert.equal(await next.digest(), createHash('sha256').update(data).digest('hex'));
  });

  it('a finished hash refuses more bytes', async () => {
    const hash = new StreamHash('sha256');
    assert.equal(hash.update(Buffer.from('abc')), undefined);
    assert.equal(await hash.digest(), createHash('sha256').update('abc').digest('hex'));
    assert.throws(() => hash.update(Buffer.from('d')), /finished/);
    await assert.rejects(hash.digest(), /finished/);
  });

  it('keeps a process alive while a digest is pending, and lets it exit once every stream is done or given up', async () => {
    const module = fileURLToPath(new URL('./stream-hash.js', import.meta.url));
    const script = `
      const { StreamHash } = await import(${JSON.stringify(module)});
      const { randomBytes } = await import('node:crypto');
      const given = new StreamHash('sha256');
      given.update(randomBytes(4 * 1024 * 1024));
      given.dispose();
      const hash = new StreamHash('sha256');
      hash.update(randomBytes(4 * 1024 * 1024));
      hash.digest().then((hex) => console.log('digest', hex.length));
    `;
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-hash-'));
    const file = path.join(dir, 'child.mjs');
    await writeFile(file, script);
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    await rm(dir, { recursive: true, force: true });
    assert.equal(code, 0);
    assert.equal(out.trim(), 'digest 64');
  });
});
