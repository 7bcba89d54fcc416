import type { RegistryEvent } from '../events/index.js';

/** The media type of registry:2's envelope (`{"events":[…]}`), sent as the request's Content-Type. */
export const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';

/** The Content-Type of a CloudEvents 1.0 event in structured mode. */
export const CLOUDEVENTS_MEDIA_TYPE = 'application/cloudevents+json; charset=utf-8';

/** What registry:2 says a blob is: its descriptors carry no finer media type, and ignoredmediatypes rules are written against this. */
export const BLOB_MEDIA_TYPE = 'application/octet-stream';

export type NotificationAction = 'push' | 'pull' | 'delete' | 'mount';

export interface Descriptor {
  mediaType: string;
  size: number;
  digest: string;
}

/**
 * One event as registry:2 sends it (notifications/event.go). Field names
 * and order are Distribution's; fields it omits when empty are absent here
 * too, except request.method and request.useragent, which it always sends.
 */
export interface DistributionEvent {
  id: string;
  timestamp: string;
  action: NotificationAction;
  target: {
    mediaType?: string;
    size?: number;
    digest?: string;
    length?: number;
    repository: string;
    fromRepository?: string;
    url?: string;
    tag?: string;
    references?: Descriptor[];
  };
  request: { id: string; addr?: string; host?: string; method: string; useragent: string };
  actor: { name?: string };
  source: { addr?: string; instanceID?: string };
}

/** The registry events that become notifications (registry:2 sends these and no others). */
export const NOTIFICATION_EVENT_TYPES = [
  'manifest.pushed', 'manifest.pulled', 'manifest.deleted', 'tag.deleted', 'blob.pushed', 'blob.pulled', 'blob.mounted', 'blob.deleted',
] as const satisfies readonly RegistryEvent['type'][];

export interface EventBuilderOptions {
  /** The registry's externally visible base URL (http.host, else its own address), without a trailing slash: target.url and request.host. Asked per event (the port is known once listening). */
  baseUrl(): string;
  /** source.addr: this node's host name and port. */
  sourceAddr(): string;
  /** source.instanceID: changes at every start. */
  instanceId: string;
}

/**
 * Turns registry events into registry:2's event records. Pure: the id is
 * passed in, and references are read by the caller.
 */
export class EventBuilder {
  constructor(private readonly options: EventBuilderOptions) {}

  /** The record of `event` (null for event types that are not notified). */
  build(event: RegistryEvent, id: string, references?: Descriptor[]): DistributionEvent | null {
    const mapped = this.target(event);
    if (!mapped) return null;
    const [action, target, method] = mapped;
    if (references && references.length > 0) target.references = references;
    const base = this.options.baseUrl();
    const request: DistributionEvent['request'] = { id: event.requestId, method, useragent: event.userAgent ?? '' };
    if (event.remoteAddress) request.addr = event.remoteAddress;
    if (URL.canParse(base)) request.host = new URL(base).host;
    return {
      id,
      timestamp: new Date(event.time).toISOString(),
      action,
      target,
      request,
      actor: event.actor.name !== null ? { name: event.actor.name } : {},
      source: { addr: this.options.sourceAddr(), instanceID: this.options.instanceId },
    };
  }

  private url(repository: string, kind: 'manifests' | 'blobs', digest: string): string {
    return `${this.options.baseUrl()}/v2/${repository}/${kind}/${digest}`;
  }

  private target(e: RegistryEvent): [NotificationAction, DistributionEvent['target'], string] | null {
    const repository = e.repository;
    switch (e.type) {
      case 'manifest.pushed':
      case 'manifest.pulled': {
        const target: DistributionEvent['target'] = { mediaType: e.mediaType, size: e.size, digest: e.digest, length: e.size, repository, url: this.url(repository, 'manifests', e.digest) };
        const tag = e.type === 'manifest.pushed' ? e.tag : e.reference.includes(':') ? null : e.reference;
        if (tag) target.tag = tag;
        return e.type === 'manifest.pushed' ? ['push', target, 'PUT'] : ['pull', target, e.method];
      }
      case 'manifest.deleted':
      case 'blob.deleted':
        return ['delete', { digest: e.digest, repository }, 'DELETE'];
      case 'tag.deleted':
        return ['delete', { repository, tag: e.tag }, 'DELETE'];
      case 'blob.pushed':
      case 'blob.pulled':
      case 'blob.mounted': {
        const target: DistributionEvent['target'] = { mediaType: BLOB_MEDIA_TYPE, size: e.size, digest: e.digest, length: e.size, repository };
        if (e.type === 'blob.mounted') target.fromRepository = e.from;
        target.url = this.url(repository, 'blobs', e.digest);
        if (e.type === 'blob.pushed') return ['push', target, 'PUT'];
        if (e.type === 'blob.mounted') return ['mount', target, 'POST'];
        return ['pull', target, e.method];
      }
      default:
        return null;
    }
  }
}

/**
 * The descriptors a manifest refers to (registry:2's Manifest.References):
 * an image manifest's config and layers, an index's manifests, an
 * artifact's blobs. Empty for what does not parse.
 */
export function manifestReferences(content: Buffer): Descriptor[] {
  let doc: unknown;
  try {
    doc = JSON.parse(content.toString('utf8'));
  } catch {
    return [];
  }
  if (typeof doc !== 'object' || doc === null) return [];
  const m = doc as Record<string, unknown>;
  const out: Descriptor[] = [];
  const add = (d: unknown) => {
    if (typeof d !== 'object' || d === null) return;
    const { mediaType, size, digest } = d as Record<string, unknown>;
    if (typeof digest === 'string' && typeof size === 'number') out.push({ mediaType: typeof mediaType === 'string' ? mediaType : '', size, digest });
  };
  add(m.config);
  for (const key of ['layers', 'manifests', 'blobs']) if (Array.isArray(m[key])) for (const d of m[key] as unknown[]) add(d);
  return out;
}

/** Whether an endpoint's ignore rules drop the event (ignoredmediatypes and ignore.mediatypes on target.mediaType; ignore.actions). */
export function isIgnored(event: DistributionEvent, rules: { ignoredMediaTypes: readonly string[]; ignoredActions: readonly string[] }): boolean {
  if (rules.ignoredActions.includes(event.action)) return true;
  return event.target.mediaType !== undefined && rules.ignoredMediaTypes.includes(event.target.mediaType);
}

/** The request body and its Content-Type for one event, in an endpoint's format. */
export function renderBody(event: DistributionEvent, format: 'distribution' | 'cloudevents', source: string): { contentType: string; body: string } {
  if (format === 'distribution') return { contentType: EVENTS_MEDIA_TYPE, body: JSON.stringify({ events: [event] }) };
  const t = event.target;
  const subject = t.tag ? `${t.repository}:${t.tag}` : t.digest ? `${t.repository}@${t.digest}` : t.repository;
  return {
    contentType: CLOUDEVENTS_MEDIA_TYPE,
    body: JSON.stringify({
      specversion: '1.0',
      id: event.id,
      source,
      type: `berth.registry.${event.action}`,
      subject,
      time: event.timestamp,
      datacontenttype: 'application/json',
      data: event,
    }),
  };
}
