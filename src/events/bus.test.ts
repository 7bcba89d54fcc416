import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryError } from '../errors/index.js';
import type { RegistryChange } from '../registry/index.js';
import { EventBus } from './bus.js';
import type { EventContext, RegistryEvent } from './events.js';

const context: EventContext = { actor: { kind: 'user', name: 'alice' }, requestId: 'req-1', remoteAddress: '127.0.0.1' };
const change: RegistryChange = { type: 'blob.push', repository: 'app', digest: `sha256:${'a'.repeat(64)}`, size: 3 };

function recorder() {
  const lines: { level: string; obj: object; msg: string }[] = [];
  return { lines, log: { warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj, msg }), error: (obj: object, msg: string) => lines.push({ level: 'error', obj, msg }) } };
}

function event(n: number): RegistryEvent {
  return { ...context, type: 'blob.pulled', time: n, repository: 'app', digest: `sha256:${String(n).padStart(64, '0')}`, mediaType: null, size: n, method: 'GET' };
}

describe('EventBus pre-hooks', () => {
  it('runs hooks in order; the first refusal reaches the caller as it is, and later hooks are not asked', async () => {
    const { log } = recorder();
    const bus = new EventBus(log);
    const asked: string[] = [];
    bus.addPreHook('first', async (c, ctx) => {
      asked.push(`first:${c.type}:${ctx.actor.name}`);
    });
    bus.addPreHook('quota', async () => {
      asked.push('quota');
      throw new RegistryError('DENIED', 'repository quota of 1 GiB exceeded');
    });
    bus.addPreHook('never', async () => {
      asked.push('never');
    });
    const refused: RegistryEvent[] = [];
    bus.addListener('spy', (e) => { refused.push(e); });
    await assert.rejects(bus.check(change, context), (err: unknown) => err instanceof RegistryError && err.code === 'DENIED' && err.message === 'repository quota of 1 GiB exceeded');
    assert.deepEqual(asked, ['first:blob.push:alice', 'quota']);
    await bus.idle();
    assert.equal(refused.length, 1);
    const r = refused[0];
    assert.ok(r?.type === 'change.refused');
    assert.equal(r.hook, 'quota');
    assert.equal(r.code, 'DENIED');
    assert.deepEqual(r.change, change);
    assert.equal(r.requestId, 'req-1');
  });

  it('a hook that fails with a bug refuses with UNKNOWN (never allows) and is logged', async () => {
    const { log, lines } = recorder();
    const bus = new EventBus(log);
    bus.addPreHook('buggy', async () => {
      throw new TypeError('cannot read properties of undefined');
    });
    await assert.rejects(bus.check(change, context), (err: unknown) => err instanceof RegistryError && err.code === 'UNKNOWN');
    assert.deepEqual(lines.map((l) => [l.level, l.msg]), [['error', 'pre-hook failed']]);
  });

  it('refuses a second hook or listener with the same name', () => {
    const bus = new EventBus(recorder().log);
    bus.addPreHook('a', async () => {});
    assert.throws(() => bus.addPreHook('a', async () => {}), /already registered/);
    bus.addListener('b', () => {});
    assert.throws(() => bus.addListener('b', () => {}), /already registered/);
  });
});

describe('EventBus listeners', () => {
  it('delivers in order, after emit has returned', async () => {
    const bus = new EventBus(recorder().log);
    const got: number[] = [];
    bus.addListener('ordered', async (e) => {
      await new Promise((r) => setTimeout(r, e.time % 2 ? 5 : 0));
      got.push(e.time);
    });
    for (let i = 1; i <= 5; i++) bus.emit(event(i));
    assert.deepEqual(got, [], 'nothing runs inside emit');
    await bus.idle();
    assert.deepEqual(got, [1, 2, 3, 4, 5]);
    assert.deepEqual(bus.stats().ordered, { delivered: 5, failed: 0, dropped: 0, queued: 0 });
  });

  it('a listener that throws is logged and counted, and the others still get every event', async () => {
    const { log, lines } = recorder();
    const bus = new EventBus(log);
    const good: number[] = [];
    bus.addListener('throws', (e) => {
      if (e.time === 2) throw new Error('webhook endpoint down');
    });
    bus.addListener('good', (e) => { good.push(e.time); });
    for (let i = 1; i <= 3; i++) bus.emit(event(i));
    await bus.idle();
    assert.deepEqual(good, [1, 2, 3]);
    assert.deepEqual(bus.stats().throws, { delivered: 2, failed: 1, dropped: 0, queued: 0 });
    assert.equal(lines.filter((l) => l.msg === 'event listener failed').length, 1);
  });

  it('a stuck listener does not hold emit, and its queue is bounded (drops are counted)', async () => {
    const { log, lines } = recorder();
    const bus = new EventBus(log);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    bus.addListener('stuck', () => gate, { maxQueue: 3 });
    for (let i = 1; i <= 10; i++) bus.emit(event(i));
    // emit is synchronous: 3 queued, 7 dropped, before delivery begins.
    assert.deepEqual(bus.stats().stuck, { delivered: 0, failed: 0, dropped: 7, queued: 3 });
    assert.ok(lines.some((l) => l.level === 'warn' && l.msg === 'listener queue full, dropping events'));
    release();
    await bus.idle();
    assert.deepEqual(bus.stats().stuck, { delivered: 3, failed: 0, dropped: 7, queued: 0 });
  });

  it('only the types a listener asked for are queued for it', async () => {
    const bus = new EventBus(recorder().log);
    const got: string[] = [];
    bus.addListener('pushes', (e) => { got.push(e.type); }, { types: ['manifest.pushed'] });
    bus.emit(event(1));
    bus.emit({ ...context, type: 'manifest.pushed', time: 2, repository: 'app', digest: 'sha256:x', mediaType: 'm', size: 1, tag: null });
    await bus.idle();
    assert.deepEqual(got, ['manifest.pushed']);
  });
});
