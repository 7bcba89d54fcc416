import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPrivateKey, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import {
  TufKeyError,
  generateEcdsaKey,
  keyId,
  publicKeyFromPrivate,
  publicKeyJson,
  sign,
  toKeyObject,
  verifySignature,
  x509Key,
  type TufKey,
} from './keys.js';
import { makeRootKey } from './testkit.js';

const message = Buffer.from('{"_type":"Targets","version":2}');

function pem(key: { export(o: { type: 'pkcs8'; format: 'pem' }): string | Buffer }): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

test('key ID is sha256 of the canonical key with "private":null (vector from an independent encoder)', () => {
  // Python: sha256(json.dumps({"keytype":"ecdsa","keyval":{"private":None,"public":P}}, sort_keys=True, separators=(",",":")))
  const key: TufKey = { keytype: 'ecdsa', keyval: { public: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE', private: null } };
  assert.equal(keyId(key), 'd75abc40977f095edee128ce87b5301f5c3ff9181267ce6598a5d1d6f536ae4d');
  // Go decodes base64 ignoring line breaks and re-encodes it for the ID.
  assert.equal(keyId({ keytype: 'ecdsa', keyval: { public: 'MFkwEwYHKoZI\nzj0CAQYIKoZIzj0D\r\nAQcDQgAE', private: null } }), keyId(key));
  for (const bad of ['MFkw-_', 'MFk', 'MFkwEw==x', 'MF kw']) {
    assert.throws(() => keyId({ keytype: 'ecdsa', keyval: { public: bad, private: null } }), TufKeyError, bad);
  }
});

test('generated server keys are P-256 ecdsa with SPKI public bytes and a PKCS#8 private key', () => {
  const k = generateEcdsaKey();
  assert.equal(k.publicKey.keytype, 'ecdsa');
  assert.ok(k.publicKey.keyval.public.startsWith('MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE'));
  assert.equal(k.publicKey.keyval.private, null);
  assert.equal(k.keyId, keyId(k.publicKey));
  assert.match(k.keyId, /^[0-9a-f]{64}$/);
  assert.match(k.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.deepEqual(publicKeyFromPrivate(k.privateKeyPem), k.publicKey);
  assert.equal(toKeyObject(k.publicKey).asymmetricKeyDetails?.namedCurve, 'prime256v1');
});

test('public key JSON is written in Go struct order, public before private', () => {
  const k = generateEcdsaKey().publicKey;
  const text = publicKeyJson(k);
  assert.equal(text, `{"keytype":"ecdsa","keyval":{"public":"${k.keyval.public}","private":null}}`);
  assert.equal(keyId(JSON.parse(text) as TufKey), keyId(k));
});

test('ecdsa signatures are raw r‖s of exactly 64 bytes over SHA-256; other lengths are refused', () => {
  const k = generateEcdsaKey();
  const s = sign(k.privateKeyPem, message);
  assert.equal(s.method, 'ecdsa');
  assert.equal(s.keyid, k.keyId);
  const sig = Buffer.from(s.sig, 'base64');
  assert.equal(sig.length, 64);
  assert.equal(verifySignature(k.publicKey, 'ecdsa', sig, message), true);
  assert.equal(verifySignature(k.publicKey, 'ECDSA', sig, message), true, 'method is case-insensitive');
  assert.equal(verifySignature(k.publicKey, 'ecdsa', sig, Buffer.from('other')), false);
  assert.equal(verifySignature(generateEcdsaKey().publicKey, 'ecdsa', sig, message), false, 'another key');
  // The ASN.1 DER form that Go's crypto/ecdsa would produce is not accepted, nor truncated or padded r‖s.
  const der = cryptoSign('sha256', message, createPrivateKey(k.privateKeyPem));
  assert.equal(verifySignature(k.publicKey, 'ecdsa', der, message), false);
  assert.equal(verifySignature(k.publicKey, 'ecdsa', sig.subarray(0, 63), message), false);
  assert.equal(verifySignature(k.publicKey, 'ecdsa', Buffer.concat([sig, Buffer.from([0])]), message), false);
  // Other methods with an ECDSA key are simply invalid.
  for (const m of ['eddsa', 'rsapss', 'rsapkcs1v15', 'hmac']) assert.equal(verifySignature(k.publicKey, m, sig, message), false, m);
});

test('ecdsa on P-384 uses 96-byte signatures (twice the curve size), still SHA-256', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const s = sign(pem(privateKey), message);
  const sig = Buffer.from(s.sig, 'base64');
  assert.equal(sig.length, 96);
  assert.equal(verifySignature(publicKeyFromPrivate(pem(privateKey)), 'ecdsa', sig, message), true);
});

test('ecdsa-x509 keys verify with the certificate\'s key; the signature names the certificate key ID', () => {
  const root = makeRootKey('localhost:5002/test/bb');
  assert.equal(root.tufKey.keytype, 'ecdsa-x509');
  assert.equal(Buffer.from(root.tufKey.keyval.public, 'base64').toString(), root.certPem);
  const s = sign(root.privateKeyPem, message, { keyId: root.keyId });
  assert.equal(s.keyid, root.keyId);
  assert.equal(verifySignature(root.tufKey, 'ecdsa', Buffer.from(s.sig, 'base64'), message), true);
  assert.equal(toKeyObject(root.tufKey).asymmetricKeyType, 'ec');
});

test('eddsa: ed25519 keys are the raw 32 bytes, signatures 64 bytes', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const key = publicKeyFromPrivate(pem(privateKey));
  assert.equal(key.keytype, 'ed25519');
  assert.equal(Buffer.from(key.keyval.public, 'base64').length, 32);
  const s = sign(pem(privateKey), message);
  assert.equal(s.method, 'eddsa');
  const sig = Buffer.from(s.sig, 'base64');
  assert.equal(verifySignature(key, 'eddsa', sig, message), true);
  assert.equal(verifySignature(key, 'ecdsa', sig, message), false);
  assert.equal(verifySignature(key, 'eddsa', sig, Buffer.from('x')), false);
  assert.throws(() => toKeyObject({ keytype: 'ed25519', keyval: { public: Buffer.alloc(31).toString('base64'), private: null } }), TufKeyError);
});

test('rsapss and rsapkcs1v15 with SHA-256 and keys of at least 2048 bits, for rsa and rsa-x509 keys', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = publicKeyFromPrivate(pem(privateKey));
  assert.equal(key.keytype, 'rsa');
  const pss = sign(pem(privateKey), message);
  assert.equal(pss.method, 'rsapss');
  assert.equal(verifySignature(key, 'rsapss', Buffer.from(pss.sig, 'base64'), message), true);
  assert.equal(verifySignature(key, 'rsapkcs1v15', Buffer.from(pss.sig, 'base64'), message), false);
  const pkcs1 = cryptoSign('sha256', message, { key: privateKey, padding: constants.RSA_PKCS1_PADDING });
  assert.equal(verifySignature(key, 'rsapkcs1v15', pkcs1, message), true);
  assert.equal(verifySignature(key, 'rsapss', pkcs1, message), false);
  // PSS with another salt length than 32 is refused, as Go's fixed SaltLength refuses it.
  const salt20 = cryptoSign('sha256', message, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 });
  assert.equal(verifySignature(key, 'rsapss', salt20, message), false);
  // pycrypto-pkcs#1 pss: an rsa key whose public bytes are PEM text.
  const pemKey: TufKey = { keytype: 'rsa', keyval: { public: Buffer.from(publicKey.export({ type: 'spki', format: 'pem' })).toString('base64'), private: null } };
  assert.equal(verifySignature(pemKey, 'pycrypto-pkcs#1 pss', Buffer.from(pss.sig, 'base64'), message), true);
  assert.equal(verifySignature(key, 'pycrypto-pkcs#1 pss', Buffer.from(pss.sig, 'base64'), message), false);
  // rsa-x509
  const certKey = makeRootKey('x', { rsaBits: 2048 });
  assert.equal(certKey.tufKey.keytype, 'rsa-x509');
  const s = sign(certKey.privateKeyPem, message, { keyId: certKey.keyId });
  assert.equal(verifySignature(certKey.tufKey, 'rsapss', Buffer.from(s.sig, 'base64'), message), true);
});

test('RSA keys under 2048 bits never verify', () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const key = publicKeyFromPrivate(pem(privateKey));
  const pss = sign(pem(privateKey), message);
  assert.equal(verifySignature(key, 'rsapss', Buffer.from(pss.sig, 'base64'), message), false);
  const pkcs1 = cryptoSign('sha256', message, { key: privateKey, padding: constants.RSA_PKCS1_PADDING });
  assert.equal(verifySignature(key, 'rsapkcs1v15', pkcs1, message), false);
});

test('key material of the wrong kind, unknown key types and junk never verify', () => {
  const rsa = publicKeyFromPrivate(pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey));
  const mislabelled: TufKey = { keytype: 'ecdsa', keyval: rsa.keyval };
  assert.throws(() => toKeyObject(mislabelled), TufKeyError);
  assert.throws(() => toKeyObject({ keytype: 'dsa', keyval: rsa.keyval }), /unsupported key type: dsa/);
  assert.throws(() => toKeyObject({ keytype: 'ecdsa-x509', keyval: { public: Buffer.from('no pem').toString('base64'), private: null } }), TufKeyError);
  const k = generateEcdsaKey();
  const sig = Buffer.from(sign(k.privateKeyPem, message).sig, 'base64');
  assert.equal(verifySignature({ keytype: 'ecdsa', keyval: { public: 'AAAA', private: null } }, 'ecdsa', sig, message), false);
  assert.equal(verifySignature({ keytype: 'unknown', keyval: k.publicKey.keyval }, 'ecdsa', sig, message), false);
});

test('x509Key picks ecdsa-x509 or rsa-x509 from the certificate', () => {
  assert.equal(x509Key(makeRootKey('g').certPem).keytype, 'ecdsa-x509');
  assert.equal(x509Key(makeRootKey('g', { rsaBits: 2048 }).certPem).keytype, 'rsa-x509');
  assert.throws(() => x509Key('not a certificate'), TufKeyError);
});
