import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { KeyVault } from './key-vault.js';

const pem = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';

test('seals and opens a key; the ciphertext does not contain it', () => {
  const vault = new KeyVault(randomBytes(32));
  const sealed = vault.seal(pem, 'app/timestamp/abc');
  assert.match(sealed, /^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.ok(!sealed.includes('PRIVATE'));
  assert.equal(vault.open(sealed, 'app/timestamp/abc'), pem);
  assert.notEqual(vault.seal(pem, 'app/timestamp/abc'), sealed, 'a fresh IV each time');
});

test('refuses another secret, another row, an altered ciphertext and a short secret', () => {
  const vault = new KeyVault(randomBytes(32));
  const sealed = vault.seal(pem, 'app/timestamp/abc');
  assert.throws(() => new KeyVault(randomBytes(32)).open(sealed, 'app/timestamp/abc'), /secret differs/);
  assert.throws(() => vault.open(sealed, 'other/timestamp/abc'), /secret differs/);
  const parts = sealed.split('.');
  parts[3] = Buffer.from('tampered').toString('base64url');
  assert.throws(() => vault.open(parts.join('.'), 'app/timestamp/abc'), /secret differs/);
  assert.throws(() => vault.open('plaintext', 'x'), /not a sealed key/);
  assert.throws(() => new KeyVault(randomBytes(16)), /at least 32 bytes/);
});
