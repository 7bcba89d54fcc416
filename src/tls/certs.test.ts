import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createCertificateAuthority, createServerCertificate, verifyServerCertificate } from './certs.js';

test('a private CA issues a server certificate for names and addresses', () => {
  const ca = createCertificateAuthority();
  const caCert = new X509Certificate(ca.cert);
  assert.equal(caCert.ca, true);
  const server = createServerCertificate(ca, ['registry.example.com', '10.0.0.5']);
  const s = new X509Certificate(server.cert);
  assert.equal(s.ca, false);
  assert.match(s.subjectAltName ?? '', /DNS:registry\.example\.com/);
  assert.match(s.subjectAltName ?? '', /IP Address:10\.0\.0\.5/);
  assert.ok(verifyServerCertificate(ca.cert, server.cert, 'registry.example.com'));
  assert.ok(verifyServerCertificate(ca.cert, server.cert, '10.0.0.5'));
  assert.equal(verifyServerCertificate(ca.cert, server.cert, 'other.example.com'), false);
  assert.equal(verifyServerCertificate(createCertificateAuthority().cert, server.cert, 'registry.example.com'), false, 'another CA did not issue it');
  assert.ok(createPrivateKey(server.key).asymmetricKeyType === 'rsa');
  assert.throws(() => createServerCertificate(ca, []), /at least one host/);
});
