import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';

/** A request whose Host and X-Forwarded-* headers are exactly as given (fetch would not let a test set Host). */
function post(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers }, (res) => {
      res.resume().on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject).end();
  });
}

describe('X-Forwarded-Host and X-Forwarded-Proto', () => {
  const started: TestBerth[] = [];
  after(async () => {
    for (const t of started) await t.close();
  });

  it('are ignored from a client that is not a trusted proxy', async () => {
    const t = await startTestBerth();
    started.push(t);
    const res = await post(t.berth.address.port, '/v2/app/blobs/uploads/', { Host: 'registry.example.com:5000', 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https' });
    assert.equal(res.status, 202);
    assert.match(res.headers.location ?? '', /^http:\/\/registry\.example\.com:5000\/v2\/app\/blobs\/uploads\/[0-9a-f-]+$/);
  });

  it('are believed from a proxy in http.trustedproxies', async () => {
    const t = await startTestBerth({ REGISTRY_HTTP_TRUSTEDPROXIES: '10.0.0.0/8,127.0.0.1' });
    started.push(t);
    const res = await post(t.berth.address.port, '/v2/app/blobs/uploads/', { Host: 'berth-1:5000', 'X-Forwarded-Host': 'registry.example.com', 'X-Forwarded-Proto': 'https' });
    assert.equal(res.status, 202);
    assert.match(res.headers.location ?? '', /^https:\/\/registry\.example\.com\/v2\/app\/blobs\/uploads\/[0-9a-f-]+$/);
  });

  it('a trusted proxy entry that is not an address stops the start with the key named', async () => {
    await assert.rejects(startTestBerth({ REGISTRY_HTTP_TRUSTEDPROXIES: 'nginx' }), /http\.trustedproxies\[0\]: expected an IP address or CIDR range/);
  });
});
