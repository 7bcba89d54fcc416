import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { startTestBerth, errorCode, type TestBerth } from '../helpers/berth.js';

async function untar(archive: Buffer): Promise<Map<string, { mode: number; text: string }>> {
  const files = new Map<string, { mode: number; text: string }>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        files.set(header.name, { mode: header.mode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        next();
      });
    });
    ex.on('finish', () => resolve());
    ex.on('error', reject);
  });
  Readable.from([gunzipSync(archive)]).pipe(ex);
  await done;
  return files;
}

describe('client bundle API', () => {
  let t: TestBerth;
  const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
  before(async () => {
    t = await startTestBerth({ REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: 'Adm1n-passw0rd!' });
  });
  after(async () => {
    await t.close();
  });

  it('returns a tar.gz whose auth file holds a working, scoped access token', async () => {
    const res = await fetch(`${t.url}/api/v1/bundle`, { method: 'POST', headers: { Authorization: basic('admin', 'Adm1n-passw0rd!') } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/gzip');
    assert.match(res.headers.get('content-disposition') ?? '', /berth-bundle-admin\.tar\.gz/);
    const files = await untar(Buffer.from(await res.arrayBuffer()));
    assert.deepEqual([...files.keys()].sort(), ['berth-bundle/README.txt', 'berth-bundle/config.json', 'berth-bundle/env.sh'], 'no ca.crt without TLS');
    assert.equal((files.get('berth-bundle/config.json')?.mode ?? 0) & 0o077, 0, 'the auth file is private');
    const host = new URL(t.url).host;
    const auth = (JSON.parse(files.get('berth-bundle/config.json')?.text ?? '{}') as { auths: Record<string, { auth: string }> }).auths[host]?.auth ?? '';
    const [user, secret] = Buffer.from(auth, 'base64').toString().split(':');
    assert.equal(user, 'admin');
    assert.match(secret ?? '', /^berth_/);
    assert.match(files.get('berth-bundle/env.sh')?.text ?? '', /export DOCKER_CONFIG=/);
    // The token works as a password, limited to the admin's namespace.
    const token = await fetch(`${t.url}/auth/token?service=berth&scope=repository:admin/app:push,pull&scope=repository:other/app:pull`, { headers: { Authorization: basic('admin', secret ?? '') } });
    assert.equal(token.status, 200);
    const jwt = ((await token.json()) as { token: string }).token;
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as { access: { name: string; actions: string[] }[] };
    assert.deepEqual(claims.access.map((a) => [a.name, a.actions.sort()]), [['admin/app', ['pull', 'push']]]);
  });

  it('refuses anonymous callers and bad requests', async () => {
    assert.equal((await fetch(`${t.url}/api/v1/bundle`, { method: 'POST' })).status, 401);
    const bad = await fetch(`${t.url}/api/v1/bundle`, {
      method: 'POST', headers: { Authorization: basic('admin', 'Adm1n-passw0rd!'), 'Content-Type': 'application/json' },
      body: JSON.stringify({ expiresInDays: -3 }),
    });
    assert.equal(bad.status, 400);
    assert.equal(await errorCode(bad), 'BERTH_INVALID');
  });
});
