import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, SignJWT, exportPKCS8 } from 'jose';
import { createPublicKey } from 'node:crypto';
import { issueToken, TokenInvalidError, verifyToken } from './tokens.js';
import { libtrustKeyId, type SigningKey } from './keys.js';

async function key(): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const publicKey = createPublicKey(await exportPKCS8(privateKey));
  return { alg: 'ES256', kid: libtrustKeyId(publicKey), privateKey, publicKey };
}

const expect = { issuer: 'berth', audience: 'registry' };
const access = [{ type: 'repository' as const, name: 'app', actions: ['pull' as const] }];

test('a token Berth issues verifies, with its claims, its session and its access', async () => {
  const k = await key();
  const { token } = await issueToken(k, { issuer: 'berth', subject: 'alice', audience: 'registry', access, ttlSeconds: 300, session: 'u:stamp' });
  const claims = await verifyToken(token, { own: [k] }, expect);
  assert.equal(claims.subject, 'alice');
  assert.equal(claims.session, 'u:stamp');
  assert.equal(claims.accessTokenLogin, false);
  assert.deepEqual(claims.access, access);
});

test('refuses another key, issuer, audience, an expired token, alg none and garbage', async () => {
  const k = await key();
  const other = await key();
  const reason = async (token: string, keys = { own: [k] }) => {
    try {
      await verifyToken(token, keys, expect);
      return 'accepted';
    } catch (err) {
      assert.ok(err instanceof TokenInvalidError, String(err));
      return err.reason;
    }
  };
  const sign = (o: { iss?: string; aud?: string; exp?: number; kid?: string }) => new SignJWT({ access })
    .setProtectedHeader({ alg: 'ES256', kid: o.kid ?? k.kid }).setIssuer(o.iss ?? 'berth').setSubject('alice').setAudience(o.aud ?? 'registry')
    .setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 60).sign(k.privateKey);
  assert.equal(await reason(await sign({})), 'accepted');
  assert.equal(await reason(await sign({}), { own: [other] }), 'unknown signing key');
  assert.equal(await reason(await sign({ iss: 'mallory' })), 'claim iss rejected');
  assert.equal(await reason(await sign({ aud: 'elsewhere' })), 'claim aud rejected');
  assert.equal(await reason(await sign({ exp: Math.floor(Date.now() / 1000) - 120 })), 'expired');
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"alice"}').toString('base64url')}.`;
  assert.equal(await reason(none), 'algorithm not allowed');
  assert.equal(await reason('not.a.jwt'), 'malformed');
  const tampered = (await sign({})).replace(/\.[^.]+\./, `.${Buffer.from(JSON.stringify({ sub: 'admin', iss: 'berth', aud: 'registry', exp: 9e9, access })).toString('base64url')}.`);
  assert.equal(await reason(tampered), 'signature or format rejected');
});
