import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { createCertificateAuthority, createServerCertificate } from '../../src/tls/certs.js';

interface Handshake {
  protocol: string | null;
  cipher: string;
}

/** One TLS handshake with Berth's listener offering `options`' suites; rejects when the server refuses them all. */
function handshake(port: number, ca: string, options: tls.ConnectionOptions): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: undefined, ...options }, () => {
      const result = { protocol: socket.getProtocol(), cipher: socket.getCipher().standardName };
      socket.end();
      resolve(result);
    });
    socket.once('error', reject);
  });
}

describe('HTTPS cipher order', () => {
  let t: TestBerth;
  let dir: string;
  let ca: string;
  let port: number;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-tls-'));
    const authority = createCertificateAuthority();
    const leaf = createServerCertificate(authority, ['127.0.0.1']);
    ca = authority.cert;
    await writeFile(path.join(dir, 'server.crt'), leaf.cert);
    await writeFile(path.join(dir, 'server.key'), leaf.key);
    t = await startTestBerth({
      REGISTRY_HTTP_TLS_CERTIFICATE: path.join(dir, 'server.crt'),
      REGISTRY_HTTP_TLS_KEY: path.join(dir, 'server.key'),
    });
    port = t.berth.address.port;
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('picks AES-128-GCM on TLS 1.3 even when the client prefers AES-256-GCM', async () => {
    const h = await handshake(port, ca, { ciphers: 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256' });
    assert.deepEqual(h, { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' });
  });

  it('picks ECDHE with AES-128-GCM on TLS 1.2 even when the client prefers AES-256-GCM', async () => {
    const h = await handshake(port, ca, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256' });
    assert.deepEqual(h, { protocol: 'TLSv1.2', cipher: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256' });
  });

  it('still serves a client that offers only AES-256-GCM or ChaCha20-Poly1305', async () => {
    assert.equal((await handshake(port, ca, { ciphers: 'TLS_AES_256_GCM_SHA384' })).cipher, 'TLS_AES_256_GCM_SHA384');
    assert.equal((await handshake(port, ca, { ciphers: 'TLS_CHACHA20_POLY1305_SHA256' })).cipher, 'TLS_CHACHA20_POLY1305_SHA256');
    assert.equal((await handshake(port, ca, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-CHACHA20-POLY1305' })).cipher, 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256');
  });

  it('refuses TLS 1.2 suites without forward secrecy or AEAD, and TLS 1.1', async () => {
    for (const ciphers of ['AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA', 'AES256-SHA256']) {
      await assert.rejects(handshake(port, ca, { maxVersion: 'TLSv1.2', ciphers }), (err: NodeJS.ErrnoException) => {
        // The server's handshake_failure alert (40): OpenSSL 3.0 (Node 20) names it SSLV3_ALERT, 3.5 (Node 22) SSL/TLS_ALERT.
        assert.match(err.code ?? '', /^(ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE|ERR_SSL_SSL\/TLS_ALERT_HANDSHAKE_FAILURE|ERR_SSL_NO_SHARED_CIPHER)$/, `${ciphers}: ${err.message}`);
        return true;
      });
    }
    await assert.rejects(handshake(port, ca, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }), (err: NodeJS.ErrnoException) => {
      assert.match(err.code ?? '', /ERR_SSL_/, err.message);
      return true;
    });
  });

  it('answers registry requests over the negotiated connection', async () => {
    const res = await new Promise<{ status: number; version: string | undefined }>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca }, () => {
        socket.write('GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => { text += d; });
      socket.once('end', () => resolve({ status: Number(text.slice(9, 12)), version: /docker-distribution-api-version: (\S+)/i.exec(text)?.[1] }));
      socket.once('error', reject);
    });
    assert.deepEqual(res, { status: 200, version: 'registry/2.0' });
  });
});
