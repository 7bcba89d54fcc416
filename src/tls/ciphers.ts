/**
 * The cipher suites Berth's HTTPS listeners offer, in the server's order of
 * preference (`honorCipherOrder`): AES-128-GCM first, as Go's crypto/tls
 * (and so registry:2) picks on machines with AES instructions. OpenSSL's
 * default order puts AES-256-GCM first, which costs more CPU per byte for no
 * practical gain in strength; a client that offers only AES-256-GCM or
 * ChaCha20-Poly1305 still gets it.
 *
 * Strong suites only: TLS 1.3's AEAD suites, and for TLS 1.2 ECDHE (forward
 * secrecy) with an AEAD cipher. No CBC, no RSA key exchange, no SHA-1 MACs.
 * The lowest protocol stays `http.tls.minimumtls` (TLS 1.2 or 1.3).
 */
export const TLS13_CIPHER_SUITES = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
] as const;

export const TLS12_CIPHER_SUITES = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
] as const;

/**
 * Options for `https.createServer` / `tls.createSecureContext`: Node takes
 * the TLS 1.3 suites (names starting `TLS_`) in the same `ciphers` string.
 *
 * @example
 * https.createServer({ cert, key, minVersion: 'TLSv1.2', ...serverCipherOptions() }, handler);
 */
export function serverCipherOptions(): { ciphers: string; honorCipherOrder: true } {
  return { ciphers: [...TLS13_CIPHER_SUITES, ...TLS12_CIPHER_SUITES].join(':'), honorCipherOrder: true };
}
