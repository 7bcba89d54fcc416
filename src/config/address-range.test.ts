import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressMatcher, parseAddressRange } from './address-range.js';

test('addresses and CIDR ranges parse; anything else does not', () => {
  assert.deepEqual(parseAddressRange('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
  assert.deepEqual(parseAddressRange('::1'), { address: '::1', prefix: 128, family: 'ipv6' });
  for (const bad of ['', 'nginx', '10.0.0.0/33', '10.0.0.0/8/8', '::1/129', '1.2.3.4/x', '300.1.1.1']) assert.equal(parseAddressRange(bad), null, bad);
});

test('a matcher matches its ranges, IPv4-mapped IPv6 peers included, and nothing by default', () => {
  const trusted = addressMatcher(['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
  assert.equal(trusted('10.1.2.3'), true);
  assert.equal(trusted('::ffff:10.1.2.3'), true);
  assert.equal(trusted('127.0.0.1'), true);
  assert.equal(trusted('127.0.0.2'), false);
  assert.equal(trusted('fd12::1'), true);
  assert.equal(trusted('192.168.1.1'), false);
  assert.equal(trusted(undefined), false);
  assert.equal(addressMatcher([])('127.0.0.1'), false);
});
