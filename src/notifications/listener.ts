import { randomUUID } from 'node:crypto';
import type { NotificationEndpointConfig } from '../config/index.js';
import type { Listener } from '../events/index.js';
import type { ContentStore, NotificationStore, OutboxEntry } from '../metadata/index.js';
import { EventBuilder, isIgnored, manifestReferences, type Descriptor, type EventBuilderOptions } from './envelope.js';

export interface NotificationListenerOptions {
  store: NotificationStore;
  /** The endpoints to notify (disabled ones left out by the caller). */
  endpoints: readonly NotificationEndpointConfig[];
  builder: EventBuilderOptions;
  /** notifications.events.includereferences: manifest events list what the manifest refers to (read from here). */
  references: Pick<ContentStore, 'getManifest'> | null;
  /** Told after rows were written, so local workers need not wait for their next poll. */
  onEnqueued?: (() => void) | undefined;
}

/**
 * The notification listener: each committed change (and each pull) that
 * registry:2 would notify becomes one outbox row per endpoint that does not
 * ignore it, written in one statement. Delivery happens elsewhere
 * (dispatcher.ts), from the outbox, so a slow or dead receiver never holds
 * the event bus, and rows outlive a restart or a crash.
 *
 * Like every listener it runs after the change was committed: an event
 * still in the bus's memory queue when the process dies is lost (see
 * docs/notifications.md, "What can be lost").
 */
export function notificationListener(options: NotificationListenerOptions): Listener {
  const builder = new EventBuilder(options.builder);
  // Row ids sort in event order within an instance (the outbox hands out and lists rows by time, then id).
  let seq = 0;
  const rowId = (time: number) => `${String(time).padStart(14, '0')}-${(seq++ % 36 ** 6).toString(36).padStart(6, '0')}-${randomUUID()}`;
  return async (event) => {
    let references: Descriptor[] | undefined;
    if (options.references && (event.type === 'manifest.pushed' || event.type === 'manifest.pulled')) {
      const manifest = await options.references.getManifest(event.repository, event.digest);
      references = manifest ? manifestReferences(manifest.content) : undefined;
    }
    const record = builder.build(event, randomUUID(), references);
    if (!record) return;
    const payload = JSON.stringify(record);
    const rows: OutboxEntry[] = [];
    for (const endpoint of options.endpoints) {
      if (isIgnored(record, endpoint)) continue;
      rows.push({
        id: rowId(event.time), eventId: record.id, endpoint: endpoint.name, action: record.action, repository: record.target.repository,
        digest: record.target.digest ?? null, tag: record.target.tag ?? null, payload, createdAt: event.time,
      });
    }
    if (rows.length === 0) return;
    await options.store.enqueue(rows);
    options.onEnqueued?.();
  };
}
