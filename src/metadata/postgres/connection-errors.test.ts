import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryError } from '../../errors/index.js';
import { connectionErrorReason, toUnavailable } from './connection-errors.js';

const withCode = (code: string, message = 'boom') => Object.assign(new Error(message), { code });

test('connection-level failures are recognised, with a short reason', () => {
  assert.equal(connectionErrorReason(withCode('ECONNREFUSED')), 'ECONNREFUSED');
  assert.equal(connectionErrorReason(withCode('ETIMEDOUT')), 'ETIMEDOUT');
  assert.equal(connectionErrorReason(withCode('57P01', 'terminating connection due to administrator command')), '57P01');
  assert.equal(connectionErrorReason(withCode('08006')), '08006');
  assert.equal(connectionErrorReason(new Error('Connection terminated unexpectedly')), 'connection terminated unexpectedly');
  assert.equal(connectionErrorReason(new Error('timeout exceeded when trying to connect')), 'timeout exceeded when trying to connect');
  // Node tries each address of a host name and reports them together.
  assert.equal(connectionErrorReason(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')])), 'ECONNREFUSED');
  assert.equal(connectionErrorReason(new Error('wrapped', { cause: withCode('ECONNRESET') })), 'ECONNRESET');
});

test('query errors are not connection errors', () => {
  assert.equal(connectionErrorReason(withCode('23505', 'duplicate key value violates unique constraint')), null);
  assert.equal(connectionErrorReason(withCode('42P01', 'relation "x" does not exist')), null);
  assert.equal(connectionErrorReason(withCode('28P01', 'password authentication failed for user "berth"')), null);
  assert.equal(connectionErrorReason(new Error('anything else')), null);
  assert.equal(connectionErrorReason('a string'), null);
  assert.equal(connectionErrorReason(null), null);
});

test('toUnavailable turns connection failures into 503 BERTH_UNAVAILABLE and leaves the rest alone', () => {
  const cause = withCode('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.5:5432');
  const mapped = toUnavailable(cause);
  assert.ok(mapped instanceof RegistryError);
  assert.equal(mapped.code, 'BERTH_UNAVAILABLE');
  assert.equal(mapped.status, 503);
  assert.equal(mapped.cause, cause);
  assert.doesNotMatch(mapped.message, /10\.0\.0\.5/, 'the client never learns where the database is');
  const other = withCode('23505');
  assert.equal(toUnavailable(other), other);
  const already = new RegistryError('BLOB_UNKNOWN');
  assert.equal(toUnavailable(already), already);
  assert.equal(connectionErrorReason(mapped), 'ECONNREFUSED', 'the reason survives the mapping');
});
