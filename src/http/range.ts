import type { ByteRange } from '../registry/index.js';

/**
 * `Range: bytes=…` of a blob GET, against the blob's size.
 * - null: no usable range (absent, malformed, or several ranges): serve it all (RFC 9110 §14.2);
 * - 'unsatisfiable': a well-formed range past the end: 416;
 * - a range otherwise.
 */
export function parseRangeHeader(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return null;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (b !== '' && Number(b) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/**
 * `Content-Range: <start>-<end>` of an upload PATCH (the registry form,
 * without a unit; `bytes ` and `/total` are tolerated). Undefined when
 * absent; 'invalid' when malformed.
 */
export function parseContentRange(header: string | undefined): ByteRange | undefined | 'invalid' {
  if (header === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(\d+|\*))?$/.exec(header.trim());
  if (!m) return 'invalid';
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return 'invalid';
  // A total, when given, must hold the range (`0-9/5` contradicts itself).
  if (m[3] !== undefined && m[3] !== '*' && !(Number(m[3]) > end)) return 'invalid';
  return { start, end };
}
