import { RegistryError } from '../errors/index.js';
import type { RegistryChange } from '../registry/index.js';
import type { EventContext, Listener, PreHook, RegistryEvent } from './events.js';

/** What the bus may log; a pino logger fits. */
export interface EventLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ListenerOptions {
  /** Events waiting for this listener beyond this many are dropped (and counted): a stuck listener never grows memory without bound. Default 10,000. */
  maxQueue?: number;
  /** Only these event types reach the listener (default all). */
  types?: readonly RegistryEvent['type'][];
}

/** Delivery counts of one listener, for logs, tests and metrics. */
export interface ListenerStats {
  delivered: number;
  failed: number;
  dropped: number;
  queued: number;
}

interface Subscription {
  name: string;
  listener: Listener;
  types: ReadonlySet<string> | null;
  maxQueue: number;
  queue: RegistryEvent[];
  running: boolean;
  stats: ListenerStats;
}

interface Hook {
  name: string;
  hook: PreHook;
}

/**
 * The registry's seam for features: pre-hooks that may refuse a change
 * before it is committed (quotas, immutable tags, the signature policy) and
 * listeners told about what was committed (the audit log, webhooks,
 * metrics). A feature registers here; it never edits the registry core or
 * the HTTP handlers.
 *
 * Pre-hooks run in registration order, awaited: the first that throws
 * refuses the change. A RegistryError reaches the client as it is; any other
 * error is a bug in the hook and refuses the change with 500 UNKNOWN (a
 * policy that cannot decide must not allow).
 *
 * Listeners get events on a queue of their own, one at a time and in order,
 * after the request's answer is on its way: a listener that throws or is
 * slow is logged and counted, and never fails or delays the request.
 */
export class EventBus {
  private readonly hooks: Hook[] = [];
  private readonly subscriptions: Subscription[] = [];
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly log: EventLogger) {}

  addPreHook(name: string, hook: PreHook): void {
    if (this.hooks.some((h) => h.name === name)) throw new Error(`pre-hook ${name} is already registered`);
    this.hooks.push({ name, hook });
  }

  addListener(name: string, listener: Listener, options: ListenerOptions = {}): void {
    if (this.subscriptions.some((s) => s.name === name)) throw new Error(`listener ${name} is already registered`);
    this.subscriptions.push({
      name, listener, types: options.types ? new Set(options.types) : null, maxQueue: options.maxQueue ?? 10_000,
      queue: [], running: false, stats: { delivered: 0, failed: 0, dropped: 0, queued: 0 },
    });
  }

  /** True when nothing listens: wrappers then skip building events. */
  get hasListeners(): boolean {
    return this.subscriptions.length > 0;
  }

  get hasPreHooks(): boolean {
    return this.hooks.length > 0;
  }

  /**
   * Asks every pre-hook about a change. Throws the refusal (a RegistryError)
   * of the first hook that refuses; listeners are told with `change.refused`.
   */
  async check(change: RegistryChange, context: EventContext): Promise<void> {
    for (const { name, hook } of this.hooks) {
      try {
        await hook(change, context);
      } catch (err) {
        const refusal = err instanceof RegistryError ? err : new RegistryError('UNKNOWN', undefined, { cause: err });
        if (!(err instanceof RegistryError)) this.log.error({ err, hook: name, change: change.type }, 'pre-hook failed');
        this.emit({
          ...context, type: 'change.refused', time: Date.now(), repository: change.repository, change, hook: name, code: refusal.code,
          digest: 'digest' in change ? change.digest : null, mediaType: 'mediaType' in change ? change.mediaType : null, size: 'size' in change ? change.size : null,
        });
        throw refusal;
      }
    }
  }

  /** Queues an event for every listener that wants it; returns at once. */
  emit(event: RegistryEvent): void {
    for (const sub of this.subscriptions) {
      if (sub.types && !sub.types.has(event.type)) continue;
      if (sub.queue.length >= sub.maxQueue) {
        sub.stats.dropped++;
        if (sub.stats.dropped === 1 || sub.stats.dropped % 1000 === 0) this.log.warn({ listener: sub.name, dropped: sub.stats.dropped }, 'listener queue full, dropping events');
        continue;
      }
      sub.queue.push(event);
      sub.stats.queued = sub.queue.length;
      if (!sub.running) {
        sub.running = true;
        // Started from a fresh macrotask, so the emitting request is never
        // delayed by even the synchronous part of a listener.
        setImmediate(() => void this.drain(sub));
      }
    }
  }

  private async drain(sub: Subscription): Promise<void> {
    for (let event = sub.queue.shift(); event; event = sub.queue.shift()) {
      sub.stats.queued = sub.queue.length;
      try {
        await sub.listener(event);
        sub.stats.delivered++;
      } catch (err) {
        sub.stats.failed++;
        this.log.error({ err, listener: sub.name, event: event.type, repo: event.repository }, 'event listener failed');
      }
    }
    sub.running = false;
    if (this.subscriptions.every((s) => !s.running)) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Delivery counts per listener. */
  stats(): Record<string, ListenerStats> {
    return Object.fromEntries(this.subscriptions.map((s) => [s.name, { ...s.stats }]));
  }

  /** Resolves once every queued event has been delivered (tests; a graceful stop). */
  async idle(): Promise<void> {
    if (this.subscriptions.every((s) => !s.running)) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}
