import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { NewTrustFile, TrustStore } from './trust-store.js';
import { openedStore, type MetadataSuiteOptions } from './store-suite.js';

const file = (role: string, version: number, text = `${role} v${version}`): NewTrustFile => {
  const data = Buffer.from(text);
  return { role, version, sha256: createHash('sha256').update(data).digest('hex'), data };
};

/** The contract suite of the trust store (trust-store.ts), run by every metadata backend. */
export function runTrustSuite(options: MetadataSuiteOptions): void {
  describe(`trust store: ${options.name}`, { skip: options.skipReason ?? false }, () => {
    const opened = openedStore(options);
    let trust: TrustStore;
    before(() => {
      trust = opened.store.trust;
    });
    const change = (version: number, time = 1000) => ({ gun: 'localhost:5000/t/app', version, sha256: 'ab'.repeat(32), time });

    it('keeps every version byte for byte; serves the newest, by version and by checksum', async () => {
      const binary = { ...file('root', 1), data: Buffer.from([0x7b, 0xff, 0x00, 0x7d]) };
      binary.sha256 = createHash('sha256').update(binary.data).digest('hex');
      assert.equal(await trust.publish('t/app', [binary, file('targets', 2), file('snapshot', 1), file('timestamp', 1)], change(1)), true);
      assert.equal(await trust.publish('t/app', [file('targets', 3), file('snapshot', 2), file('timestamp', 2)], change(2)), true);
      const current = await trust.current('t/app');
      assert.deepEqual([...current.keys()].sort(), ['root', 'snapshot', 'targets', 'timestamp']);
      assert.equal(current.get('targets')?.version, 3);
      assert.deepEqual(current.get('root')?.data, Buffer.from([0x7b, 0xff, 0x00, 0x7d]), 'exact bytes');
      assert.equal((await trust.latest('t/app', 'timestamp'))?.version, 2);
      assert.equal((await trust.byVersion('t/app', 'targets', 2))?.data.toString(), 'targets v2');
      assert.equal((await trust.byChecksum('t/app', 'targets', file('targets', 2).sha256))?.version, 2);
      assert.equal(await trust.byChecksum('t/app', 'targets', '00'.repeat(32)), null);
      assert.equal(await trust.latest('t/none', 'root'), null);
      assert.equal((await trust.current('t/none')).size, 0);
    });

    it('writes a version once: a publish that repeats one changes nothing (one winner among racers)', async () => {
      await trust.publish('t/race', [file('root', 1), file('targets', 2), file('timestamp', 1)], change(1));
      const racers = await Promise.all([
        trust.publish('t/race', [file('targets', 3, 'a'), file('timestamp', 2, 'a')], change(2)),
        trust.publish('t/race', [file('targets', 4, 'b'), file('timestamp', 2, 'b')], change(2)),
      ]);
      assert.deepEqual(racers.filter(Boolean).length, 1, JSON.stringify(racers));
      const winner = racers[0] ? 'a' : 'b';
      assert.equal((await trust.latest('t/race', 'timestamp'))?.data.toString(), winner);
      assert.equal((await trust.latest('t/race', 'targets'))?.data.toString(), winner, 'the loser wrote none of its files');
    });

    it('holds sealed server keys per role, newest first', async () => {
      await trust.addKey({ repository: 't/keys', role: 'timestamp', keyId: 'k1', publicKey: '{"k":1}', sealedPrivateKey: 'v1.a.b.c', createdAt: 1 });
      await trust.addKey({ repository: 't/keys', role: 'timestamp', keyId: 'k2', publicKey: '{"k":2}', sealedPrivateKey: 'v1.d.e.f', createdAt: 2 });
      await trust.addKey({ repository: 't/keys', role: 'snapshot', keyId: 'k3', publicKey: '{"k":3}', sealedPrivateKey: 'v1.g.h.i', createdAt: 3 });
      assert.deepEqual((await trust.keys('t/keys', 'timestamp')).map((k) => k.keyId), ['k2', 'k1']);
      assert.deepEqual((await trust.keys('t/keys', 'snapshot')).map((k) => [k.keyId, k.sealedPrivateKey]), [['k3', 'v1.g.h.i']]);
    });

    it('deletes a repository\'s files and keys, and the changefeed records updates and the deletion in order', async () => {
      await trust.publish('t/gone', [file('root', 1), file('timestamp', 1)], { ...change(1), time: 5000 });
      await trust.addKey({ repository: 't/gone', role: 'timestamp', keyId: 'kg', publicKey: '{}', sealedPrivateKey: 'v1.x.y.z', createdAt: 5000 });
      await trust.deleteRepository('t/gone', { gun: 'localhost:5000/t/gone', time: 5001 });
      assert.equal((await trust.current('t/gone')).size, 0);
      assert.deepEqual(await trust.keys('t/gone', 'timestamp'), []);
      const feed = await trust.changes({ repository: 't/gone', limit: 10 });
      assert.deepEqual(feed.map((c) => [c.category, c.version, c.gun]), [['update', 1, 'localhost:5000/t/app'], ['deletion', 0, 'localhost:5000/t/gone']]);
      const after = await trust.changes({ repository: 't/gone', after: feed[0]?.id, limit: 10 });
      assert.deepEqual(after.map((c) => c.category), ['deletion']);
      assert.ok((await trust.changes({ limit: 1000 })).length >= 4, 'all repositories');
    });
  });
}
