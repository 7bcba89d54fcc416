import { createHash } from 'node:crypto';

/**
 * Byte encodings as Go's encoding/json reads them for `[]byte` fields (key
 * material, signatures, hashes): `base64.StdEncoding`, which ignores `\r` and
 * `\n`, requires `=` padding and the standard alphabet. Node's own base64
 * decoder accepts far more (URL-safe letters, missing padding, junk), so every
 * base64 value from a client goes through {@link decodeGoBase64} first.
 */

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The bytes of `text` as Go's `base64.StdEncoding` decodes them, or `undefined` where Go fails. */
export function decodeGoBase64(text: string): Buffer | undefined {
  const s = text.replace(/[\r\n]/g, '');
  if (!STD_BASE64.test(s)) return undefined;
  return Buffer.from(s, 'base64');
}

/** Standard, padded base64 (what Go writes for `[]byte`). */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** SHA-256 digest of `bytes`. */
export function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** SHA-512 digest of `bytes`. */
export function sha512(bytes: Uint8Array): Buffer {
  return createHash('sha512').update(bytes).digest();
}

/** Lower-case hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
