/**
 * Canonical JSON exactly as notary writes and checks it: the canonical mode of
 * docker/go's fork of encoding/json (`json.MarshalCanonical`, applied to the
 * `map[string]interface{}` that Go decodes from the `signed` value).
 *
 * What that encoder does, read from its `encode.go` and reproduced here:
 *
 * - Object keys are sorted by Go string order, i.e. by the bytes of their
 *   UTF-8 encoding (for BMP-only keys this equals JavaScript's UTF-16 order;
 *   it differs once a key mixes astral characters with U+E000–U+FFFF).
 * - No whitespace anywhere.
 * - In strings only `"` and `\` are escaped. Everything else is written raw,
 *   including control characters (a raw newline byte, not `\n`), `<`, `>`,
 *   `&`, U+2028 and U+2029. The output can therefore be invalid JSON when a
 *   string holds a control character; it is signature input, not a document.
 * - Numbers must be integers: Go decodes every number into a float64 and the
 *   canonical encoder refuses a float whose floor differs from itself (and NaN,
 *   ±Inf), then prints `int64(f)`. We print the exact integer value of the
 *   double (`BigInt`), which is what `int64(f)` prints for |f| < 2^63; larger
 *   magnitudes have no defined Go output and are refused.
 * - Strings are written as UTF-8. A lone surrogate (possible in a JS string
 *   decoded from a `\ud800` escape) becomes U+FFFD, which is also what Go's
 *   decoder makes of it.
 */

/** A value that has no canonical JSON form; `message` follows Go's (`json: unsupported value: 1.5`). */
export class CanonicalJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CanonicalJsonError';
  }
}

const INT64_LIMIT = 2 ** 63;

/**
 * Go's `strconv.FormatFloat(f, 'g', -1, 64)`, for the error message: shortest
 * digits, exponent form when the exponent is < -4 or ≥ 6 (two-digit exponent).
 */
function goFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  const [mantissa, e] = n.toExponential().split('e') as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 6) {
    const abs = Math.abs(exp);
    return `${mantissa}e${exp < 0 ? '-' : '+'}${abs < 10 ? '0' : ''}${abs}`;
  }
  return String(n);
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function encodeString(s: string): string {
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

function encodeNumber(n: number | bigint): string {
  if (typeof n === 'bigint') {
    if (n >= BigInt(INT64_LIMIT) || n < -BigInt(INT64_LIMIT)) throw new CanonicalJsonError(`json: unsupported value: ${n}`);
    return n.toString();
  }
  if (!Number.isFinite(n) || !Number.isInteger(n) || Math.abs(n) >= INT64_LIMIT) {
    throw new CanonicalJsonError(`json: unsupported value: ${goFloat(n)}`);
  }
  return BigInt(n).toString();
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function encode(value: unknown, ancestors: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return encodeString(value);
    case 'number':
    case 'bigint':
      return encodeNumber(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`json: unsupported type: ${typeof value}`);
  }
  if (value === null) return 'null';
  if (ancestors.has(value)) throw new CanonicalJsonError('json: unsupported value: encountered a cycle');
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      const parts: string[] = [];
      for (let i = 0; i < value.length; i++) {
        if (!(i in value)) throw new CanonicalJsonError('json: unsupported value: sparse array');
        parts.push(encode(value[i], ancestors));
      }
      return `[${parts.join(',')}]`;
    }
    if (!isPlainObject(value)) {
      throw new CanonicalJsonError(`json: unsupported type: ${value.constructor?.name ?? 'object'}`);
    }
    const keys = Object.keys(value).sort(compareUtf8);
    for (let i = 1; i < keys.length; i++) {
      if (compareUtf8(keys[i - 1] as string, keys[i] as string) === 0) {
        throw new CanonicalJsonError('json: unsupported value: two keys with the same UTF-8 encoding');
      }
    }
    return `{${keys.map((k) => `${encodeString(k)}:${encode(value[k], ancestors)}`).join(',')}}`;
  } finally {
    ancestors.delete(value);
  }
}

/**
 * The canonical JSON text of `value`: the input notary signs and verifies.
 *
 * Accepts what `JSON.parse` produces (plain objects, arrays, strings,
 * booleans, `null`, numbers) plus `bigint`. Refuses, with
 * {@link CanonicalJsonError}: non-integer or non-finite numbers, integers of
 * magnitude ≥ 2^63, `undefined`, functions, symbols, class instances (Date,
 * Map, Buffer…), sparse arrays and cycles.
 *
 * Turn the result into bytes with UTF-8 ({@link canonicalBytes} does).
 *
 * @example
 * canonicalJson({ b: 1, a: ['x"y', null] }) // '{"a":["x\\"y",null],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  return encode(value, new Set());
}

/** {@link canonicalJson} encoded as UTF-8: the exact bytes notary signs. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}
