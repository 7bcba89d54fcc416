import type { AuditEvent, AuditStore } from '../metadata/index.js';
import type { Listener, RegistryEvent } from './events.js';

/** The audit action of each event type; types not listed are not audited (upload bookkeeping, tag moves that a manifest push already records). */
const ACTIONS: Partial<Record<RegistryEvent['type'], string>> = {
  'manifest.pushed': 'manifest.push',
  'manifest.pulled': 'manifest.pull',
  'manifest.deleted': 'manifest.delete',
  'tag.deleted': 'tag.delete',
  'blob.pushed': 'blob.push',
  'blob.mounted': 'blob.mount',
  'blob.pulled': 'blob.pull',
  'blob.deleted': 'blob.delete',
  'repository.created': 'repository.create',
  'repository.deleted': 'repository.delete',
};

/** The types the audit listener wants (so the bus does not queue the others for it). */
export const AUDITED_TYPES = [...Object.keys(ACTIONS), 'change.refused'] as RegistryEvent['type'][];

/** `repo:tag` or `repo@digest`. */
function target(e: RegistryEvent): string {
  if ('tag' in e && e.tag !== null) return `${e.repository}:${e.tag}`;
  if ('reference' in e && !e.reference.includes(':')) return `${e.repository}:${e.reference}`;
  return e.digest !== null ? `${e.repository}@${e.digest}` : e.repository;
}

/** The audit record of an event, or null when the event is not audited. */
export function auditRecordOf(e: RegistryEvent): AuditEvent | null {
  const common = { time: e.time, actor: e.actor.name, remoteAddress: e.remoteAddress };
  const facts: Record<string, unknown> = { 'http.request.id': e.requestId };
  if (e.digest !== null) facts.digest = e.digest;
  if (e.mediaType !== null) facts.mediaType = e.mediaType;
  if (e.size !== null) facts.size = e.size;
  if (e.type === 'change.refused') {
    // A change a policy refused: recorded under the action it would have been.
    const change = e.change;
    const action = change.type;
    const tgt = 'tag' in change && change.tag ? `${change.repository}:${change.tag}` : 'digest' in change ? `${change.repository}@${change.digest}` : change.repository;
    return { ...common, action, target: tgt, outcome: 'failure', detail: { ...facts, code: e.code, hook: e.hook } };
  }
  const action = ACTIONS[e.type];
  if (!action) return null;
  if ('method' in e) facts.method = e.method;
  if ('from' in e) facts.from = e.from;
  return { ...common, action, target: target(e), outcome: 'success', detail: facts };
}

/** The audit log as a listener: one record per audited event. */
export function auditListener(audit: AuditStore): Listener {
  return async (event) => {
    const record = auditRecordOf(event);
    if (record) await audit.record(record);
  };
}
