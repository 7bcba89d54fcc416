import type { RegistryChange } from '../registry/index.js';

/** Who caused an event; `name` is null for anonymous clients and for Berth's own jobs. */
export interface Actor {
  kind: 'anonymous' | 'user' | 'token' | 'system';
  name: string | null;
}

/** The request an operation belongs to: passed to pre-hooks and stamped on every event. */
export interface EventContext {
  actor: Actor;
  /** The X-Request-Id of the request (or a job's run id). */
  requestId: string;
  remoteAddress: string | null;
  /** The client's User-Agent (bounded), when the change came from a request that sent one. */
  userAgent?: string | null;
}

/**
 * Fields every event carries. `digest`, `mediaType` and `size` are null
 * where the event has no such fact (a repository created; an upload
 * started), so a listener can read them without a switch.
 */
interface EventBase extends EventContext {
  /** Epoch ms when the change was committed (or the content handed out). */
  time: number;
  repository: string;
  digest: string | null;
  mediaType: string | null;
  size: number | null;
}

/**
 * What happened to registry content, after it was committed. This is the
 * one vocabulary of listeners: the audit log, and later webhooks, metrics,
 * search indexing and replication.
 */
export type RegistryEvent =
  | (EventBase & { type: 'manifest.pushed'; digest: string; mediaType: string; size: number; tag: string | null })
  | (EventBase & { type: 'manifest.pulled'; digest: string; mediaType: string; size: number; reference: string; method: 'GET' | 'HEAD' })
  | (EventBase & { type: 'manifest.deleted'; digest: string })
  | (EventBase & { type: 'blob.pushed'; digest: string; size: number })
  | (EventBase & { type: 'blob.mounted'; digest: string; size: number; from: string })
  | (EventBase & { type: 'blob.pulled'; digest: string; size: number; method: 'GET' | 'HEAD' })
  | (EventBase & { type: 'blob.deleted'; digest: string })
  /** A tag now points at `digest`; `previous` is what it pointed at, null when the tag is new. */
  | (EventBase & { type: 'tag.moved'; tag: string; digest: string; previous: string | null })
  | (EventBase & { type: 'tag.deleted'; tag: string; digest: string })
  /** The repository's first manifest: it now appears in the catalog. */
  | (EventBase & { type: 'repository.created' })
  /** Its last manifest was deleted. */
  | (EventBase & { type: 'repository.deleted' })
  | (EventBase & { type: 'upload.started'; uploadId: string })
  | (EventBase & { type: 'upload.cancelled'; uploadId: string })
  /** A pre-hook refused a change: nothing was committed. `code` is the catalogue code the client got. */
  | (EventBase & { type: 'change.refused'; change: RegistryChange; hook: string; code: string });

export type RegistryEventType = RegistryEvent['type'];

/** Runs before a change is committed (or content handed out); refuses by throwing a RegistryError. */
export type PreHook = (change: RegistryChange, context: EventContext) => Promise<void>;

/**
 * Runs after a change was committed. It cannot fail or slow the request:
 * the bus calls it later, in order, on its own queue; what it throws is
 * logged and counted.
 */
export type Listener = (event: RegistryEvent) => Promise<void> | void;
