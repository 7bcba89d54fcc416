// Webhooks survive kill -9: a Berth process pushes several images while a
// real HTTP receiver holds the first delivery open; once the outbox in the
// database holds every event, Berth is killed with SIGKILL mid-delivery and
// started again on the same data. Every event must arrive (at least once):
// the set of event ids the receiver answered equals the set in the outbox,
// and every pushed digest is among them.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite from 'better-sqlite3';
import { BerthNode, pickClusterPorts } from './cluster.js';

const T = { timeout: 180_000 };
const OCI = 'application/vnd.oci.image.manifest.v1+json';
const IMAGES = 5;

const sha256 = (data: string | Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

interface Event {
  id: string;
  action: string;
  target: { digest?: string; repository: string; tag?: string; mediaType?: string };
}

/** The receiver: holds the first request open until told, answers 200 to the rest; records every event as it arrives. */
async function startReceiver() {
  const arrived: Event[] = [];
  const answered: Event[] = [];
  let held: ServerResponse | null = null;
  let holdNext = true;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { events } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: Event[] };
      arrived.push(...events);
      if (holdNext) {
        holdNext = false;
        held = res;
        return;
      }
      answered.push(...events);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    arrived,
    answered,
    get holding(): boolean {
      return held !== null && !held.writableEnded && !held.destroyed;
    },
    async close() {
      held?.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function until(what: string, done: () => boolean, ms: number, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms ${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Pushes config + two layers + an OCI manifest; returns every digest pushed. */
async function pushImage(url: string, repo: string, tag: string): Promise<{ manifest: string; blobs: string[] }> {
  const bodies = [JSON.stringify({ architecture: 'amd64', os: 'linux', image: `${repo}:${tag}` }), `layer-a-${repo}-${tag}-${Math.random()}`, `layer-b-${repo}-${tag}-${Math.random()}`];
  for (const body of bodies) {
    const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${sha256(body)}`, { method: 'POST', body });
    assert.equal(res.status, 201, await res.text());
  }
  const [config, ...layers] = bodies as [string, ...string[]];
  const manifest = JSON.stringify({
    schemaVersion: 2, mediaType: OCI,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: Buffer.byteLength(config) },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(l), size: Buffer.byteLength(l) })),
  });
  const res = await fetch(`${url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'Content-Type': OCI } });
  assert.equal(res.status, 201, await res.text());
  return { manifest: sha256(manifest), blobs: bodies.map(sha256) };
}

/** The event ids in the outbox (read-only, beside the running process: SQLite WAL lets a reader in). */
function outboxEventIds(dataDir: string): string[] {
  const db = new BetterSqlite(join(dataDir, 'berth.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('select event_id from notification_outbox').all() as { event_id: string }[]).map((r) => r.event_id);
  } finally {
    db.close();
  }
}

describe('webhooks across kill -9', () => {
  let work: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let node: BerthNode;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-notifications-'));
    receiver = await startReceiver();
    const [port] = await pickClusterPorts(1);
    node = new BerthNode('berth-notifications', port as number, {
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      // A try may last 8 s: the held delivery is still in flight when Berth is killed, and its lease
      // (timeout + 5 s) lets the restarted process take the row over soon after.
      REGISTRY_NOTIFICATIONS_ENDPOINTS: JSON.stringify([{ name: 'e2e', url: receiver.url, timeout: '8s', headers: { Authorization: ['Bearer e2e-hook-secret'] } }]),
    }, join(work, 'data'));
  });
  after(async () => {
    await node?.stop();
    await receiver?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('every event pushed before the kill arrives after the restart', T, async () => {
    await node.start();
    const pushed: { manifest: string; blobs: string[] }[] = [];
    pushed.push(await pushImage(node.url, 'hooks/app0', 'v1'));
    // The first delivery is held open by the receiver: Berth is now mid-delivery.
    await until('the receiver holds a delivery', () => receiver.holding, 10_000, () => node.logs().slice(-3000));
    for (let i = 1; i < IMAGES; i++) pushed.push(await pushImage(node.url, `hooks/app${i}`, 'v1'));
    // Every push is acknowledged; wait until the listener has written all of them to the outbox.
    const expected = IMAGES * 4; // three blobs and a manifest per image
    let ids: string[] = [];
    await until('the outbox holds every event', () => (ids = outboxEventIds(node.dataDir)).length >= expected, 10_000, () => `(${ids.length} of ${expected})`);
    assert.equal(ids.length, expected);
    assert.ok(receiver.holding, 'still mid-delivery at the kill');
    const answeredBeforeKill = receiver.answered.length;

    await node.kill('SIGKILL');
    await node.start();
    await until('every event in the outbox was answered', () => ids.every((id) => receiver.answered.some((e) => e.id === id)), 60_000,
      () => `(${new Set(receiver.answered.map((e) => e.id)).size} of ${ids.length}; answered before the kill: ${answeredBeforeKill})\n${node.logs().slice(-3000)}`);

    const answered = new Set(receiver.answered.map((e) => e.id));
    assert.deepEqual([...answered].sort(), [...new Set(ids)].sort(), 'exactly the outbox\'s events, each at least once');
    const heldId = receiver.arrived[0]?.id;
    assert.ok(heldId && answered.has(heldId), 'the delivery cut by the kill was sent again and answered');
    const digests = (action: string) => new Set(receiver.answered.filter((e) => e.action === action).map((e) => e.target.digest));
    for (const p of pushed) {
      assert.ok(digests('push').has(p.manifest), `manifest push ${p.manifest}`);
      for (const b of p.blobs) assert.ok(digests('push').has(b), `blob push ${b}`);
    }
    const tags = receiver.answered.filter((e) => e.target.mediaType === OCI).map((e) => `${e.target.repository}:${e.target.tag}`);
    assert.deepEqual([...new Set(tags)].sort(), Array.from({ length: IMAGES }, (_, i) => `hooks/app${i}:v1`));
    assert.doesNotMatch(node.logs(), /e2e-hook-secret/, 'the Authorization header is never logged');

    // The restarted process keeps delivering what comes next.
    const late = await pushImage(node.url, 'hooks/late', 'v1');
    await until('the next push is delivered', () => receiver.answered.some((e) => e.target.digest === late.manifest), 15_000);
  });
});
