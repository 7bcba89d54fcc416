import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorCode, sha256, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { createScratchDatabase, postgresSkipReason, type ScratchDatabase } from '../helpers/postgres.js';

/**
 * Webhooks (registry:2's notifications.endpoints) against real HTTP
 * receivers on node:http: the envelope's exact fields for pushes, pulls and
 * deletes, CloudEvents, ignore rules, a receiver that answers 500 and one
 * that hangs, and the delivery state in the API.
 */

const ADMIN_PASSWORD = 'notifications-admin-pw';
const ADMIN = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const OCI = 'application/vnd.oci.image.manifest.v1+json';
const EVENTS = 'application/vnd.docker.distribution.events.v1+json';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  at: number;
}

type Reply = 'ok' | 'fail' | 'hang' | 'slow';

interface Receiver {
  url: string;
  received: Received[];
  /** How to answer the next request (it has seen `n` before). */
  reply: (n: number) => Reply;
  /** `slow` answers wait for this, then 50 ms. */
  gate: Promise<void>;
  /** Resolves with what was received once `done` holds; fails after `ms` showing what came. */
  waitFor(done: (r: Received[]) => boolean, ms?: number): Promise<Received[]>;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const hanging: ServerResponse[] = [];
  const r: Receiver = {
    url: '', received: [], reply: () => 'ok', gate: Promise.resolve(),
    async waitFor(done, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (!done(r.received)) {
        if (Date.now() > deadline) throw new Error(`receiver: condition not met within ${ms} ms; received ${JSON.stringify(r.received.map((x) => x.body))}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return r.received;
    },
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  let n = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = r.reply(n++);
      if (reply === 'hang') {
        hanging.push(res);
        return;
      }
      const received = { path: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown, at: Date.now() };
      const answer = () => {
        r.received.push(received);
        res.writeHead(reply === 'fail' ? 500 : 200).end();
      };
      if (reply === 'slow') void r.gate.then(() => setTimeout(answer, 50));
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return r;
}

/** Reads until `ok` holds (the outbox is updated just after a receiver answers), at most `ms`; returns the last read. */
async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  let v = await read();
  for (const deadline = Date.now() + ms; !ok(v) && Date.now() < deadline; v = await read()) await new Promise((r) => setTimeout(r, 20));
  return v;
}

const getJson = async <T>(url: string): Promise<T> => (await (await fetch(url, { headers: { Authorization: ADMIN } })).json()) as T;

/** Berth with users from its database (the API is for administrators) and these endpoints. */
async function startHooked(endpoints: unknown[], env: Record<string, string> = {}): Promise<{ t: TestBerth; call: (path: string, init?: RequestInit) => Promise<Response> }> {
  const t = await startTestBerth({
    REGISTRY_AUTH: 'token', BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD, REGISTRY_NOTIFICATIONS_ENDPOINTS: JSON.stringify(endpoints), ...env,
  });
  // A request as docker makes it: the 401 challenge, a token for its scope as admin, the request again.
  const call = async (path: string, init: RequestInit = {}): Promise<Response> => {
    const first = await fetch(`${t.url}${path}`, init);
    const challenge = first.headers.get('www-authenticate') ?? '';
    if (first.status !== 401 || !challenge.startsWith('Bearer')) return first;
    await first.arrayBuffer();
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const q = new URLSearchParams({ service: params.service ?? '', ...(params.scope ? { scope: params.scope } : {}) });
    // The realm names http.host (which may be a public name); the token endpoint is on this instance.
    const tr = await fetch(`${t.url}${new URL(params.realm ?? '').pathname}?${q}`, { headers: { Authorization: ADMIN } });
    const { token } = (await tr.json()) as { token: string };
    return fetch(`${t.url}${path}`, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), Authorization: `Bearer ${token}` } });
  };
  return { t, call };
}

type Call = (path: string, init?: RequestInit) => Promise<Response>;

/** Pushes config + one layer + an OCI manifest under `tag`; returns the digests. */
async function push(call: Call, repo: string, tag: string): Promise<{ manifest: Buffer; digest: string; config: string; layer: string; configSize: number; layerSize: number }> {
  const configBody = JSON.stringify({ architecture: 'amd64', os: 'linux', seed: Math.random() });
  const layerBody = `layer-${Math.random()}`;
  for (const body of [configBody, layerBody]) {
    const res = await call(`/v2/${repo}/blobs/uploads/?digest=${sha256(body)}`, { method: 'POST', body });
    assert.equal(res.status, 201, await res.text());
  }
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(configBody), size: Buffer.byteLength(configBody) },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layerBody), size: Buffer.byteLength(layerBody) }],
  }));
  const res = await call(`/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'Content-Type': OCI } });
  assert.equal(res.status, 201, await res.text());
  return { manifest, digest: sha256(manifest), config: sha256(configBody), layer: sha256(layerBody), configSize: Buffer.byteLength(configBody), layerSize: Buffer.byteLength(layerBody) };
}

type Ev = {
  id: string; timestamp: string; action: string;
  target: Record<string, unknown>;
  request: Record<string, unknown>; actor: Record<string, unknown>; source: { addr: string; instanceID: string };
};

const eventsOf = (received: Received[]): Ev[] => received.flatMap((r) => (r.body as { events: Ev[] }).events);

describe('webhook notifications', () => {
  describe('envelopes, CloudEvents and ignore rules', () => {
    let all: Receiver;
    let ce: Receiver;
    let t: TestBerth;
    let call: Call;
    before(async () => {
      all = await startReceiver();
      ce = await startReceiver();
      ({ t, call } = await startHooked([
        { name: 'all', url: `${all.url}/events`, headers: { Authorization: ['Bearer hook-secret'], 'X-Multi': ['a', 'b'] } },
        // Blobs are application/octet-stream, as in registry:2; pulls ignored.
        { name: 'ce', url: `${ce.url}/ce`, format: 'cloudevents', ignoredmediatypes: ['application/octet-stream'], ignore: { actions: ['pull'] } },
        { name: 'off', url: `${ce.url}/never`, disabled: true },
      ], { REGISTRY_NOTIFICATIONS_EVENTS_INCLUDEREFERENCES: 'true', REGISTRY_HTTP_HOST: 'https://registry.example.com' }));
    });
    after(async () => {
      await t?.close();
      await all?.close();
      await ce?.close();
    });

    it('a push, a pull and a delete arrive in registry:2\'s envelope, one event per request, with the exact fields', async () => {
      const img = await push(call, 'team/app', 'v1');
      const received = await all.waitFor((r) => r.length >= 3);
      assert.equal(received.length, 3);
      for (const r of received) {
        assert.equal(r.path, '/events');
        assert.equal(r.headers['content-type'], EVENTS);
        assert.equal(r.headers.authorization, 'Bearer hook-secret', 'static headers are sent');
        assert.equal(r.headers['x-multi'], 'a, b', 'every value of a header');
        assert.equal((r.body as { events: unknown[] }).events.length, 1);
      }
      const events = eventsOf(received);
      const instance = events[0]?.source.instanceID;
      assert.match(instance ?? '', /^[0-9a-f-]{36}$/);
      for (const e of events) {
        assert.match(e.id, /^[0-9a-f-]{36}$/);
        assert.ok(Math.abs(Date.parse(e.timestamp) - Date.now()) < 60_000, e.timestamp);
        assert.equal(e.source.instanceID, instance);
        assert.match(e.source.addr, /:\d+$/);
        assert.deepEqual(e.actor, { name: 'admin' });
      }
      assert.equal(new Set(events.map((e) => e.id)).size, 3, 'ids are unique');
      const manifestPush = events.find((e) => e.target.mediaType === OCI);
      assert.deepEqual({ ...manifestPush, id: undefined, timestamp: undefined, source: undefined, request: { ...manifestPush?.request, id: undefined } }, {
        id: undefined, timestamp: undefined, source: undefined,
        action: 'push',
        target: {
          mediaType: OCI, size: img.manifest.length, digest: img.digest, length: img.manifest.length, repository: 'team/app',
          url: `https://registry.example.com/v2/team/app/manifests/${img.digest}`, tag: 'v1',
          references: [
            { mediaType: 'application/vnd.oci.image.config.v1+json', size: img.configSize, digest: img.config },
            { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: img.layerSize, digest: img.layer },
          ],
        },
        request: { id: undefined, method: 'PUT', useragent: 'node', addr: '127.0.0.1', host: 'registry.example.com' },
        actor: { name: 'admin' },
      });
      assert.equal(typeof manifestPush?.request.id, 'string');
      const blobs = events.filter((e) => e !== manifestPush).map((e) => e.target).sort((a, b) => String(a.digest).localeCompare(String(b.digest)));
      assert.deepEqual(blobs, [
        { mediaType: 'application/octet-stream', size: img.configSize, digest: img.config, length: img.configSize, repository: 'team/app', url: `https://registry.example.com/v2/team/app/blobs/${img.config}` },
        { mediaType: 'application/octet-stream', size: img.layerSize, digest: img.layer, length: img.layerSize, repository: 'team/app', url: `https://registry.example.com/v2/team/app/blobs/${img.layer}` },
      ].sort((a, b) => a.digest.localeCompare(b.digest)));

      // A pull by tag (GET), then one by digest (HEAD).
      assert.equal((await call('/v2/team/app/manifests/v1', { headers: { Accept: OCI, 'X-Request-Id': 'pull-1' } })).status, 200);
      assert.equal((await call(`/v2/team/app/manifests/${img.digest}`, { method: 'HEAD', headers: { Accept: OCI } })).status, 200);
      const pulls = eventsOf(await all.waitFor((r) => r.length >= 5)).slice(3);
      assert.deepEqual(pulls.map((e) => [e.action, e.target.tag ?? null, e.request.method, e.target.digest]), [['pull', 'v1', 'GET', img.digest], ['pull', null, 'HEAD', img.digest]]);
      assert.equal(pulls[0]?.request.id, 'pull-1', 'the request id is the X-Request-Id');
      assert.equal((pulls[0]?.target.references as unknown[]).length, 2, 'includereferences: pulls too');

      // Delete by digest: the tag and the manifest (registry:2 sends both).
      assert.equal((await call(`/v2/team/app/manifests/${img.digest}`, { method: 'DELETE' })).status, 202);
      const deletes = eventsOf(await all.waitFor((r) => r.length >= 7)).slice(5);
      assert.deepEqual(deletes.map((e) => [e.action, e.target, e.request.method]), [
        ['delete', { repository: 'team/app', tag: 'v1' }, 'DELETE'],
        ['delete', { digest: img.digest, repository: 'team/app' }, 'DELETE'],
      ]);
    });

    it('format: cloudevents sends one CloudEvents 1.0 event per request; ignore rules drop blobs and pulls', async () => {
      const img = await push(call, 'team/ce', 'v2');
      assert.equal((await call('/v2/team/ce/manifests/v2', { headers: { Accept: OCI } })).status, 200);
      assert.equal((await call('/v2/team/ce/manifests/v2', { method: 'DELETE' })).status, 202);
      const received = (await ce.waitFor((r) => r.filter((x) => JSON.stringify(x.body).includes('team/ce')).length >= 2)).filter((x) => JSON.stringify(x.body).includes('team/ce'));
      assert.equal(received.length, 2, 'the manifest push and the tag delete; no blob (octet-stream ignored), no pull (ignored)');
      const [pushed, deleted] = received.map((r) => r.body as Record<string, unknown>);
      assert.equal(received[0]?.headers['content-type'], 'application/cloudevents+json; charset=utf-8');
      assert.equal(received[0]?.path, '/ce');
      assert.equal(received[0]?.headers.authorization, undefined, 'another endpoint\'s headers stay there');
      const data = pushed?.data as Ev;
      assert.deepEqual({ ...pushed, data: undefined }, {
        specversion: '1.0', id: data.id, source: 'https://registry.example.com', type: 'berth.registry.push', subject: 'team/ce:v2',
        time: data.timestamp, datacontenttype: 'application/json', data: undefined,
      });
      assert.deepEqual([data.action, data.target.digest, data.target.tag], ['push', img.digest, 'v2']);
      assert.deepEqual([deleted?.type, deleted?.subject], ['berth.registry.delete', 'team/ce:v2']);
      assert.ok(!received.some((r) => r.path === '/never'), 'a disabled endpoint gets nothing');
    });

    it('the API shows each endpoint and delivery; bad filters are refused with the catalogue\'s codes', async () => {
      await all.waitFor((r) => r.length >= 10);
      const res = await fetch(`${t.url}/api/v1/notifications/endpoints`, { headers: { Authorization: ADMIN } });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      const { endpoints } = await eventually(() => getJson<{ endpoints: Record<string, unknown>[] }>(`${t.url}/api/v1/notifications/endpoints`), (v) => v.endpoints.every((e) => e.pending === 0));
      assert.deepEqual(endpoints.map((e) => [e.name, e.status, e.pending, e.failures, e.lastError, e.format, e.disabled]), [
        ['all', 'ok', 0, 0, null, 'distribution', false], ['ce', 'ok', 0, 0, null, 'cloudevents', false], ['off', 'disabled', 0, 0, null, 'distribution', true],
      ]);
      assert.equal(endpoints[0]?.delivered, all.received.length);
      assert.doesNotMatch(JSON.stringify(endpoints), /hook-secret/, 'header values are never shown');
      const list = await fetch(`${t.url}/api/v1/notifications/deliveries?endpoint=ce&status=delivered`, { headers: { Authorization: ADMIN } });
      assert.equal(list.status, 200);
      const { deliveries } = (await list.json()) as { deliveries: Record<string, unknown>[] };
      assert.deepEqual(deliveries.map((d) => [d.endpoint, d.action, d.repository, d.tag, d.status, d.attempts, d.lastError]), [
        ['ce', 'delete', 'team/ce', 'v2', 'delivered', 1, null],
        ['ce', 'push', 'team/ce', 'v2', 'delivered', 1, null],
        ['ce', 'delete', 'team/app', null, 'delivered', 1, null],
        ['ce', 'delete', 'team/app', 'v1', 'delivered', 1, null],
        ['ce', 'push', 'team/app', 'v1', 'delivered', 1, null],
      ]);
      const eventIds = new Set(ce.received.map((r) => (r.body as { data: Ev }).data.id));
      assert.equal(eventIds.size, ce.received.length);
      assert.ok(deliveries.every((d) => eventIds.has(d.eventId as string)), 'the API names the event ids that were sent');
      for (const [query, status, code] of [
        ['status=lost', 400, 'BERTH_INVALID'], ['n=0', 400, 'BERTH_INVALID'], ['endpoint=nope', 404, 'BERTH_NOT_FOUND'], ['endpoint=all&endpoint=ce', 400, 'BERTH_INVALID'],
      ] as const) {
        const bad = await fetch(`${t.url}/api/v1/notifications/deliveries?${query}`, { headers: { Authorization: ADMIN } });
        assert.equal(bad.status, status, query);
        assert.equal(await errorCode(bad), code, query);
      }
      const anonymous = await fetch(`${t.url}/api/v1/notifications/endpoints`);
      assert.equal(anonymous.status, 401);
      assert.equal(await errorCode(anonymous), 'UNAUTHORIZED');
    });
  });

  describe('a receiver that fails', () => {
    let flaky: Receiver;
    let t: TestBerth;
    let call: Call;
    before(async () => {
      flaky = await startReceiver();
      flaky.reply = () => 'fail';
      ({ t, call } = await startHooked([
        { name: 'flaky', url: flaky.url, threshold: 2, backoff: '200ms', ignoredmediatypes: ['application/octet-stream'] },
      ], { REGISTRY_METRICS_ENABLED: 'true' }));
    });
    after(async () => {
      await t?.close();
      await flaky?.close();
    });

    it('answers 500: retried (the same event), the endpoint is failing past the threshold and backs off; delivered once it recovers', async () => {
      const img = await push(call, 'flaky/app', 'v1');
      // The first `threshold` tries go at once; past it, each waits backoff, then twice that.
      const failed = await flaky.waitFor((r) => r.length >= 4);
      const ids = new Set(eventsOf(failed).map((e) => e.id));
      assert.equal(ids.size, 1, 'every try carries the same event');
      assert.ok((failed[3]?.at ?? 0) - (failed[2]?.at ?? 0) >= 350, `the fourth try waited 2 × backoff: ${(failed[3]?.at ?? 0) - (failed[2]?.at ?? 0)} ms`);
      assert.ok((failed[2]?.at ?? 0) - (failed[1]?.at ?? 0) >= 180, `the third try waited backoff: ${(failed[2]?.at ?? 0) - (failed[1]?.at ?? 0)} ms`);

      const state = await (await fetch(`${t.url}/api/v1/notifications/endpoints`, { headers: { Authorization: ADMIN } })).json() as { endpoints: Record<string, unknown>[] };
      const [ep] = state.endpoints;
      assert.equal(ep?.status, 'failing');
      assert.equal(ep?.lastError, 'HTTP 500');
      assert.equal(ep?.pending, 1);
      assert.ok(Number(ep?.failures) >= 3, `failures ${String(ep?.failures)}`);
      const retrying = await (await fetch(`${t.url}/api/v1/notifications/deliveries?status=retrying`, { headers: { Authorization: ADMIN } })).json() as { deliveries: Record<string, unknown>[] };
      assert.deepEqual(retrying.deliveries.map((d) => [d.digest, d.status, d.lastError]), [[img.digest, 'retrying', 'HTTP 500']]);
      assert.ok(Number(retrying.deliveries[0]?.attempts) >= 3);

      flaky.reply = () => 'ok';
      const before = flaky.received.length;
      await flaky.waitFor((r) => r.length > before);
      // The outbox and the counter move just after the receiver's answer is read: wait for them.
      let after: { endpoints: Record<string, unknown>[] } = { endpoints: [] };
      let text = '';
      for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
        after = await (await fetch(`${t.url}/api/v1/notifications/endpoints`, { headers: { Authorization: ADMIN } })).json() as { endpoints: Record<string, unknown>[] };
        text = (await t.berth.metrics?.scrape())?.body ?? '';
        if (after.endpoints[0]?.delivered === 1 && text.includes('outcome="delivered"} 1')) break;
      }
      assert.deepEqual([after.endpoints[0]?.status, after.endpoints[0]?.pending, after.endpoints[0]?.failures, after.endpoints[0]?.delivered], ['ok', 0, 0, 1]);
      const failures = Number(/berth_webhook_deliveries_total\{endpoint="flaky",outcome="failed"\} (\d+)/.exec(text)?.[1]);
      assert.ok(failures >= 4, `failed tries counted: ${failures}`);
      assert.match(text, /berth_webhook_deliveries_total\{endpoint="flaky",outcome="delivered"\} 1\n/);

      // Healthy again: the next event goes at once.
      await push(call, 'flaky/app', 'v2');
      await flaky.waitFor((r) => eventsOf(r.slice(before)).some((e) => e.target.tag === 'v2'), 5000);
    });
  });

  describe('a receiver that hangs', () => {
    let slow: Receiver;
    let other: Receiver;
    let t: TestBerth;
    let call: Call;
    before(async () => {
      slow = await startReceiver();
      other = await startReceiver();
      slow.reply = (n) => (n === 0 ? 'hang' : 'ok');
      ({ t, call } = await startHooked([
        { name: 'slow', url: slow.url, timeout: '300ms', ignoredmediatypes: ['application/octet-stream'] },
        { name: 'other', url: other.url, ignoredmediatypes: ['application/octet-stream'] },
      ]));
    });
    after(async () => {
      await t?.close();
      await slow?.close();
      await other?.close();
    });

    it('the timeout ends the try, which is retried and delivered; the worker goes on, and other endpoints never wait', async () => {
      const started = Date.now();
      const img = await push(call, 'slow/app', 'v1');
      await other.waitFor((r) => r.length >= 1, 5000);
      const [first] = await slow.waitFor((r) => r.length >= 1, 10_000);
      assert.deepEqual(eventsOf([first as Received]).map((e) => e.target.digest), [img.digest], 'the hung try was retried with the same event');
      assert.ok((first?.at ?? 0) - started >= 300, 'the retry came after the 300 ms timeout');
      const deliveries = await eventually(() => getJson<{ deliveries: Record<string, unknown>[] }>(`${t.url}/api/v1/notifications/deliveries?endpoint=slow`), (v) => v.deliveries[0]?.status === 'delivered');
      assert.deepEqual(deliveries.deliveries.map((d) => [d.status, d.attempts]), [['delivered', 2]]);
      const ep = await (await fetch(`${t.url}/api/v1/notifications/endpoints`, { headers: { Authorization: ADMIN } })).json() as { endpoints: Record<string, unknown>[] };
      assert.equal(ep.endpoints[0]?.lastError, 'timed out after 300ms', 'the failure is recorded');
      // No stuck worker: the next event goes through at once.
      await push(call, 'slow/app', 'v2');
      await slow.waitFor((r) => eventsOf(r).some((e) => e.target.tag === 'v2'), 5000);
    });
  });

  describe('two instances sharing one outbox (PostgreSQL)', { skip: postgresSkipReason() ?? false }, () => {
    let receiver: Receiver;
    let scratch: ScratchDatabase;
    let a: { t: TestBerth; call: Call };
    let b: { t: TestBerth; call: Call };
    before(async () => {
      receiver = await startReceiver();
      receiver.reply = () => 'slow';
      scratch = await createScratchDatabase();
      const endpoints = [{ name: 'shared', url: receiver.url, timeout: '30s' }];
      const env = { BERTH_DATABASE_URL: scratch.url, REGISTRY_METRICS_ENABLED: 'true' };
      a = await startHooked(endpoints, env);
      b = await startHooked(endpoints, env);
    });
    after(async () => {
      await a?.t.close();
      await b?.t.close();
      await receiver?.close();
      await scratch?.drop();
    });

    it('both deliver the rows one of them wrote, and no row goes twice', async () => {
      // The receiver answers only once every push is in: the instance that took the pushes
      // holds one row in flight, so the other (polling) claims the next ones meanwhile.
      let open = () => {};
      receiver.gate = new Promise((resolve) => (open = resolve));
      const pushed = [];
      for (let i = 0; i < 5; i++) pushed.push(await push(a.call, `shared/app${i}`, 'v1'));
      const [stateA] = (await (await fetch(`${a.t.url}/api/v1/notifications/endpoints`, { headers: { Authorization: ADMIN } })).json() as { endpoints: { pending: number }[] }).endpoints;
      assert.equal(stateA?.pending, 15, 'both instances see the same outbox');
      const [stateB] = (await (await fetch(`${b.t.url}/api/v1/notifications/endpoints`, { headers: { Authorization: ADMIN } })).json() as { endpoints: { pending: number }[] }).endpoints;
      assert.equal(stateB?.pending, 15);
      open();
      await receiver.waitFor((r) => r.length >= 15, 30_000);
      const ids = eventsOf(receiver.received).map((e) => e.id);
      assert.equal(ids.length, 15, 'two blobs and a manifest per image');
      assert.equal(new Set(ids).size, 15, 'each event once: nothing failed, so nothing was sent again');
      assert.deepEqual(new Set(eventsOf(receiver.received).map((e) => e.source.instanceID)).size, 1, 'all written by the instance that took the pushes');
      const delivered = async (t: TestBerth) => Number(/berth_webhook_deliveries_total\{endpoint="shared",outcome="delivered"\} (\d+)/.exec((await t.berth.metrics?.scrape())?.body ?? '')?.[1] ?? 0);
      // The counter moves just after the receiver's answer is read: wait for it.
      let [byA, byB] = [0, 0];
      for (const deadline = Date.now() + 5000; Date.now() < deadline && byA + byB < 15; await new Promise((r) => setTimeout(r, 20))) [byA, byB] = [await delivered(a.t), await delivered(b.t)];
      assert.equal(byA + byB, 15);
      assert.ok(byA > 0 && byB > 0, `both instances delivered (a ${byA}, b ${byB})`);
      const manifests = new Set(eventsOf(receiver.received).map((e) => e.target.digest));
      for (const p of pushed) assert.ok(manifests.has(p.digest), p.digest);
    });
  });
});
