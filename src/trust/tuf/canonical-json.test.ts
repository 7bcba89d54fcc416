import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CanonicalJsonError, canonicalBytes, canonicalJson } from './canonical-json.js';

test('object keys are sorted, no whitespace anywhere', () => {
  assert.equal(canonicalJson({ b: 1, a: [1, { d: null, c: true }], _type: 'x', A: false }), '{"A":false,"_type":"x","a":[1,{"c":true,"d":null}],"b":1}');
  assert.equal(canonicalJson({}), '{}');
  assert.equal(canonicalJson([]), '[]');
  assert.equal(canonicalJson([[], {}, ''] as unknown[]), '[[],{},""]');
  assert.equal(canonicalJson(Object.assign(Object.create(null) as object, { z: 1, y: 2 })), '{"y":2,"z":1}');
});

test('keys sort by UTF-8 bytes as Go does, not by UTF-16 code units', () => {
  // U+FF5E is EF BD 9E in UTF-8 and 0xFF5E in UTF-16; U+1F600 is F0 9F 98 80 and 0xD83D 0xDE00.
  // UTF-16 order would put the emoji first; Go's byte order puts U+FF5E first.
  assert.equal(canonicalJson({ '\u{1F600}': 1, '\uFF5E': 2 }), '{"\uFF5E":2,"\u{1F600}":1}');
  assert.equal(canonicalJson({ é: 1, z: 2, Z: 3 }), '{"Z":3,"z":2,"é":1}');
  assert.equal(canonicalJson({ ab: 1, a: 2, b: 3 }), '{"a":2,"ab":1,"b":3}');
});

test('strings escape only the quote and the backslash; everything else is raw UTF-8', () => {
  assert.equal(canonicalJson('a"b\\c'), '"a\\"b\\\\c"');
  // Go's canonical encoder writes control characters raw (no \n, no \u0001), and no HTML escaping.
  assert.equal(canonicalJson('line\nfeed\ttab\r\u0001\u001f'), '"line\nfeed\ttab\r\u0001\u001f"');
  assert.equal(canonicalJson('<a href="x">&</a>'), '"<a href=\\"x\\">&</a>"');
  assert.equal(canonicalJson('\u2028\u2029'), '"\u2028\u2029"');
  assert.deepEqual(canonicalBytes('é€😀'), Buffer.from('"é€😀"', 'utf8'));
  assert.equal(canonicalJson({ 'k"\\': 'v' }), '{"k\\"\\\\":"v"}');
});

test('a lone surrogate becomes U+FFFD in the bytes, as Go decodes it', () => {
  const parsed = JSON.parse('"a\\ud800b"') as string;
  assert.deepEqual(canonicalBytes(parsed), Buffer.from('"a\uFFFDb"', 'utf8'));
});

test('numbers must be integers and are printed exactly', () => {
  assert.equal(canonicalJson([0, -0, 1, -1, 2 ** 53 - 1, -(2 ** 53)]), '[0,0,1,-1,9007199254740991,-9007199254740992]');
  // JSON.parse('1.0') and ('1e2') give integers; Go decodes them to float64 and prints int64(f).
  assert.equal(canonicalJson(JSON.parse('[1.0,1e2,-5E0]')), '[1,100,-5]');
  // Above 2^53 the exact value of the double is printed (Go's int64(f)), not JavaScript's shortest digits.
  assert.equal(canonicalJson(36028797018963970), '36028797018963968');
  assert.equal(canonicalJson(2 ** 62), '4611686018427387904');
  assert.equal(canonicalJson(123n), '123');
  for (const [bad, msg] of [
    [1.5, 'json: unsupported value: 1.5'],
    [-0.25, 'json: unsupported value: -0.25'],
    [1234567.5, 'json: unsupported value: 1.2345675e+06'],
    [NaN, 'json: unsupported value: NaN'],
    [Infinity, 'json: unsupported value: +Inf'],
    [2 ** 63, 'json: unsupported value: 9.223372036854776e+18'],
  ] as const) {
    assert.throws(() => canonicalJson({ v: bad }), (e: unknown) => e instanceof CanonicalJsonError && e.message === msg, String(bad));
  }
  assert.throws(() => canonicalJson(2n ** 63n), CanonicalJsonError);
});

test('values JSON cannot hold are refused', () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  for (const bad of [undefined, { a: undefined }, () => 1, Symbol('s'), new Date(0), new Map(), Buffer.from('x'), cyclic, [1, , 3]]) {
    assert.throws(() => canonicalJson(bad), CanonicalJsonError);
  }
  // The same object twice is not a cycle.
  const shared = { x: 1 };
  assert.equal(canonicalJson({ a: shared, b: [shared] }), '{"a":{"x":1},"b":[{"x":1}]}');
});

test('duplicate keys in parsed JSON keep the last value, as Go does', () => {
  assert.equal(canonicalJson(JSON.parse('{"a":1,"b":2,"a":3}')), '{"a":3,"b":2}');
});

test('matches an independent encoder on a targets document with non-ASCII names', () => {
  // Expected output from Python 3: json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
  // which sorts by code point (= UTF-8 byte order) and escapes nothing else here.
  const doc = JSON.parse(
    '{"signed":{"_type":"Targets","targets":{"v1":{"hashes":{"sha256":"abc="},"length":527},"été":{"length":1,"hashes":{}},' +
      '"\\ud83d\\ude00":{"length":2,"hashes":{}},"\\uff5e":{"length":3,"hashes":{}}},"version":2,"delegations":{"roles":[],"keys":{}}}}',
  ) as unknown;
  assert.equal(
    canonicalJson(doc),
    '{"signed":{"_type":"Targets","delegations":{"keys":{},"roles":[]},"targets":{"v1":{"hashes":{"sha256":"abc="},"length":527},' +
      '"été":{"hashes":{},"length":1},"～":{"hashes":{},"length":3},"😀":{"hashes":{},"length":2}},"version":2}}',
  );
});
