import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fillPath, RouteTable, type Route, type RouteGroup } from './route-table.js';

const noop = async () => {};
const r = (name: string, method: Route['method'], path: string): Route => ({ name, method, path, access: { kind: 'public' }, handler: noop, doc: { summary: name } });
const group = (routes: Route[]): RouteGroup => ({ name: 'g', description: 'g', routes });

test('paths match in table order, on raw paths; {name} and {param+} span segments', () => {
  const table = new RouteTable([group([
    r('uploads', 'POST', '/v2/{name}/blobs/uploads/'),
    r('blob', 'GET', '/v2/{name}/blobs/{digest}'),
    r('trust', 'GET', '/v2/{gun+}/_trust/tuf/{file+}'),
  ])]);
  assert.deepEqual(table.lookup('POST', '/v2/a/b/blobs/uploads/'), { kind: 'found', route: table.byName('uploads'), params: { name: 'a/b' } });
  assert.deepEqual(table.lookup('POST', '/v2/a/blobs/uploads'), { kind: 'found', route: table.byName('uploads'), params: { name: 'a' } }, 'the trailing slash is optional');
  assert.deepEqual(table.lookup('GET', '/v2/a/blobs/sha256:ab'), { kind: 'found', route: table.byName('blob'), params: { name: 'a', digest: 'sha256:ab' } });
  assert.deepEqual(table.lookup('GET', '/v2/localhost:5000/a/b/_trust/tuf/targets/releases.json'),
    { kind: 'found', route: table.byName('trust'), params: { gun: 'localhost:5000/a/b', file: 'targets/releases.json' } });
  assert.deepEqual(table.lookup('DELETE', '/v2/a/blobs/sha256:ab'), { kind: 'method-not-allowed', allow: ['GET'] });
  assert.deepEqual(table.lookup('GET', '/v3/a'), { kind: 'not-found' });
  assert.deepEqual(table.lookup('GET', '/v2/a/blobs/x/y'), { kind: 'not-found' }, 'a digest is one segment');
});

test('a table refuses duplicate names, duplicate method+path, and a route without an access kind', () => {
  assert.throws(() => new RouteTable([group([r('a', 'GET', '/x'), r('a', 'GET', '/y')])]), /defined twice/);
  assert.throws(() => new RouteTable([group([r('a', 'GET', '/x'), r('b', 'GET', '/x')])]), /defined twice/);
  const bad = { ...r('c', 'GET', '/z'), access: {} } as unknown as Route;
  assert.throws(() => new RouteTable([group([bad])]), /no access kind/);
});

test('fillPath fills templates and refuses values that would change the path\'s shape', () => {
  assert.equal(fillPath('/v2/{name}/manifests/{reference}', { name: 'a/b', reference: 'v1' }), '/v2/a/b/manifests/v1');
  assert.equal(fillPath('/v2/{gun+}/_trust/tuf/{file+}', { gun: 'h:5000/a', file: 'targets/x.json' }), '/v2/h:5000/a/_trust/tuf/targets/x.json');
  assert.throws(() => fillPath('/v2/{name}/blobs/{digest}', { name: 'a', digest: 'x/y' }), /one segment/);
  assert.throws(() => fillPath('/v2/{name}/blobs/{digest}', { name: 'a' }), /needs digest/);
});
