// Serving blobs with nginx: Berth answers blob GETs with X-Accel-Redirect and
// nginx sends the file with sendfile. docker pushes and pulls through nginx;
// the bytes, the digest header and Range requests are checked.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerEnv } from './docker-env.js';
import { pickFreePort, startRegistry, withRegistryLog, type RunningRegistry } from './registry-process.js';
import { run } from './util.js';

const T = { timeout: 180_000 };
const PREFIX = '/_berth_blobs/';

describe('blobs served by nginx (http.accelredirect)', () => {
  let work: string;
  let reg: RunningRegistry;
  let env: DockerEnv;
  let front = '';
  let conf = '';

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-nginx-'));
    reg = await startRegistry({ env: { REGISTRY_HTTP_ACCELREDIRECT: PREFIX } });
    const port = await pickFreePort();
    front = `127.0.0.1:${port}`;
    await mkdir(join(work, 'tmp'));
    conf = join(work, 'nginx.conf');
    const tmp = join(work, 'tmp');
    await writeFile(conf, `
worker_processes 1;
user root;  # the test's data folder is private to root; in production nginx's user needs read access to it
pid ${join(work, 'nginx.pid')};
error_log ${join(work, 'error.log')};
events {}
http {
  access_log off;
  client_body_temp_path ${tmp}; proxy_temp_path ${tmp}; fastcgi_temp_path ${tmp}; uwsgi_temp_path ${tmp}; scgi_temp_path ${tmp};
  sendfile on;
  server {
    listen ${front};
    client_max_body_size 0;
    location / {
      proxy_pass ${reg.url};
      proxy_set_header Host $http_host;
      proxy_request_buffering off;
      proxy_http_version 1.1;
    }
    location ${PREFIX} {
      internal;
      alias ${reg.dataDir}/;
      types {}
      default_type application/octet-stream;
      add_header Docker-Content-Digest $upstream_http_docker_content_digest always;
    }
  }
}
`);
    await run('nginx', ['-c', conf]);
    env = await DockerEnv.start();
    await env.buildImages();
  }, T);

  after(async () => {
    if (conf) await run('nginx', ['-c', conf, '-s', 'stop'], { allowFailure: true });
    await env?.stop();
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('docker pushes and pulls through nginx; nginx sends the blob bytes, with the digest header and Range', T, async () => {
    await withRegistryLog(reg, async () => {
      const image = `${front}/served/by-nginx:1`;
      await env.docker(['tag', env.images.two, image]);
      await env.docker(['push', image]);
      await env.removeAllImages(); // so every layer really comes back through nginx
      const pulled = await env.docker(['pull', image]);
      assert.match(pulled.stdout, /Pull complete/);
      const out = await env.docker(['run', '--rm', '--network', 'none', image, 'cat', '/f']);
      assert.equal(out.stdout.trim(), 'hi');

      const data = randomBytes(3 * 1024 * 1024 + 7);
      const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      const up = await fetch(`http://${front}/v2/served/blob/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data });
      assert.equal(up.status, 201);
      // Berth itself answers with the redirect header and no body.
      const direct = await fetch(`${reg.url}/v2/served/blob/blobs/${digest}`);
      assert.equal(direct.status, 200);
      assert.match(direct.headers.get('x-accel-redirect') ?? '', new RegExp(`^${PREFIX}blobs/sha256/`));
      assert.equal((await direct.arrayBuffer()).byteLength, 0);
      // Through nginx: the bytes, the digest, Range.
      const full = await fetch(`http://${front}/v2/served/blob/blobs/${digest}`);
      assert.equal(full.status, 200);
      assert.equal(full.headers.get('docker-content-digest'), digest);
      assert.ok(Buffer.from(await full.arrayBuffer()).equals(data));
      const part = await fetch(`http://${front}/v2/served/blob/blobs/${digest}`, { headers: { Range: 'bytes=100-199' } });
      assert.equal(part.status, 206);
      assert.ok(Buffer.from(await part.arrayBuffer()).equals(data.subarray(100, 200)));
      // Access checks still run in Berth: an unknown blob is Berth's 404, not a file lookup.
      const missing = await fetch(`http://${front}/v2/served/blob/blobs/sha256:${'0'.repeat(64)}`);
      assert.equal(missing.status, 404);
      const internal = await fetch(`http://${front}${PREFIX}blobs/sha256/`);
      assert.equal(internal.status, 404, 'the internal location is not reachable from outside');
    });
  });
});
