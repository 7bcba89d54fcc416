import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactUrl } from './redact.js';

test('redactUrl hides the password, wherever the URL carries it', () => {
  assert.equal(redactUrl('postgres://berth:s3cret@db.internal:5432/berth'), 'postgres://berth:***@db.internal:5432/berth');
  assert.equal(redactUrl('postgresql://berth:p%40ss%2Fw@db/berth?sslmode=require'), 'postgresql://berth:***@db/berth?sslmode=require');
  assert.equal(redactUrl('postgres://db/berth?user=berth&password=s3cret'), 'postgres://db/berth?user=berth&password=***');
  assert.equal(redactUrl('postgres://berth@db/berth'), 'postgres://berth@db/berth', 'nothing to hide');
  assert.equal(redactUrl('sqlite:/srv/berth.db'), 'sqlite:/srv/berth.db');
  assert.equal(redactUrl('postgres://berth:s3cret@db:port/x'), '(unparseable URL, not shown)');
});
