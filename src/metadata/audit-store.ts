/**
 * The audit log: who did what, from where, with what outcome. Append-only
 * (events are only ever removed by age, `prune`, as audit.retention says);
 * `detail` never holds secrets (passwords, token secrets, hashes). Kept in
 * the metadata database next to the identity tables.
 */
export interface AuditStore {
  record(event: AuditEvent): Promise<void>;
  /** Newest first; `since` is epoch ms (inclusive); `limit` at most 1000. */
  list(filter: { actor?: string | undefined; action?: string | undefined; since?: number | undefined; limit: number }): Promise<AuditEvent[]>;
  /** Deletes events older than `before` (epoch ms), at most `limit` of them (oldest first); returns how many. */
  prune(before: number, limit: number): Promise<number>;
}

export interface AuditEvent {
  /** Epoch ms. */
  time: number;
  /** User name; null for anonymous clients and failed logins of unknown names. */
  actor: string | null;
  /** e.g. `login`, `manifest.push`, `user.create`, `grant.put`. */
  action: string;
  target: string | null;
  remoteAddress: string | null;
  outcome: 'success' | 'failure';
  detail: Record<string, unknown> | null;
}
