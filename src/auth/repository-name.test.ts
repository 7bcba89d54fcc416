import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryHostNames } from './repository-name.js';

test('a host prefix is removed only when it names this registry', () => {
  const hosts = new RegistryHostNames(['https://registry.example.com', 'localhost:5000', 'mirror.internal']);
  assert.equal(hosts.canonicalRepository('registry.example.com/app'), 'app');
  assert.equal(hosts.canonicalRepository('registry.example.com:443/team/app'), 'team/app', 'the default port of https');
  assert.equal(hosts.canonicalRepository('localhost:5000/app'), 'app');
  assert.equal(hosts.canonicalRepository('LOCALHOST:5000/app'), 'app', 'host names compare case-insensitively');
  assert.equal(hosts.canonicalRepository('mirror.internal/app'), 'app');
  assert.equal(hosts.canonicalRepository('mirror.internal:443/app'), 'app', 'a bare alias allows either default port');
});

test('a host-like first component that is not this registry stays part of the name', () => {
  const hosts = new RegistryHostNames(['https://registry.example.com']);
  // Each of these was the namespace escape: the policy checked the rest of the name.
  assert.equal(hosts.canonicalRepository('john.doe/alice/pwn'), 'john.doe/alice/pwn');
  assert.equal(hosts.canonicalRepository('acme.io/alice/x'), 'acme.io/alice/x');
  assert.equal(hosts.canonicalRepository('localhost/alice'), 'localhost/alice');
  assert.equal(hosts.canonicalRepository('localhost:5000/app'), 'localhost:5000/app');
  assert.equal(hosts.canonicalRepository('registry.example.com:5000/app'), 'registry.example.com:5000/app', 'another port is another registry');
  assert.equal(hosts.canonicalRepository('registry.example.com'), 'registry.example.com', 'no slash: a plain name');
});

test('a first component that does not look like a host is never removed, even if it is a configured name', () => {
  const hosts = new RegistryHostNames(['registry']);
  assert.equal(hosts.canonicalRepository('registry/app'), 'registry/app', 'docker reads registry/app as a Docker Hub name, so does Berth');
});

test('the names a request arrived by count too, without changing the configured ones', () => {
  const configured = new RegistryHostNames([]);
  const forRequest = configured.with(['127.0.0.1:5000', undefined, 'not a host name at all ///']);
  assert.equal(forRequest.canonicalRepository('127.0.0.1:5000/app'), 'app');
  assert.equal(configured.canonicalRepository('127.0.0.1:5000/app'), '127.0.0.1:5000/app');
});
