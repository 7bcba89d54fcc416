/**
 * Docker Content Trust data (Notary v1 / TUF) per repository: every version
 * of every role's metadata, exactly as uploaded or signed, the private keys
 * the server holds for the repository (sealed before they reach this store),
 * and the changefeed. Repositories are keyed by their canonical name (`app`
 * for the GUN `registry.example.com:5000/app`), so the registry and its trust
 * data name a repository the same way.
 *
 * Contract:
 * - `publish` is one transaction: every file of an update, or none of them.
 *   A (repository, role, version) is written once: a publish that would
 *   write a version already stored changes nothing and returns false, so of
 *   two concurrent publishes to one repository (each writes the next
 *   timestamp version) exactly one wins;
 * - stored bytes are never changed: a file read back by version or checksum
 *   is byte for byte what was published;
 * - `deleteRepository` removes files and keys together, and records a
 *   deletion in the changefeed.
 */
export interface TrustStore {
  /** The newest version of every role of the repository (empty when it has no trust data). */
  current(repository: string): Promise<Map<string, TrustFileRecord>>;
  /** The newest version of one role, or null. */
  latest(repository: string, role: string): Promise<TrustFileRecord | null>;
  byVersion(repository: string, role: string, version: number): Promise<TrustFileRecord | null>;
  /** The version of a role whose stored bytes have this sha256 (hex), or null. */
  byChecksum(repository: string, role: string, sha256: string): Promise<TrustFileRecord | null>;
  /** Writes an update's files and its changefeed record; false (nothing written) when any version is already stored. */
  publish(repository: string, files: readonly NewTrustFile[], change: { gun: string; version: number; sha256: string; time: number }): Promise<boolean>;
  /** Removes the repository's files and keys; records the deletion in the changefeed. */
  deleteRepository(repository: string, change: { gun: string; time: number }): Promise<void>;

  /** Keys the server holds for a role of the repository, newest first. */
  keys(repository: string, role: ServerKeyRole): Promise<TrustKeyRecord[]>;
  /** Stores a new server key (its private half sealed). */
  addKey(key: TrustKeyRecord): Promise<void>;

  /** Changefeed records after `after` (an id from an earlier record; '' or '0' for the start), oldest first, of one repository or all. */
  changes(filter: { repository?: string | undefined; after?: string | undefined; limit: number }): Promise<TrustChangeRecord[]>;
}

export type ServerKeyRole = 'timestamp' | 'snapshot';

export interface TrustFileRecord {
  repository: string;
  role: string;
  version: number;
  /** Hex sha256 of `data`. */
  sha256: string;
  data: Buffer;
  createdAt: number;
}

export type NewTrustFile = Omit<TrustFileRecord, 'repository' | 'createdAt'>;

export interface TrustKeyRecord {
  repository: string;
  role: ServerKeyRole;
  keyId: string;
  /** The TUF public key object as JSON text. */
  publicKey: string;
  /** The private key, sealed (trust/key-vault.ts); never plaintext here. */
  sealedPrivateKey: string;
  createdAt: number;
}

export interface TrustChangeRecord {
  id: string;
  repository: string;
  /** The GUN as the client named it. */
  gun: string;
  /** The timestamp version the update produced (0 for a deletion). */
  version: number;
  sha256: string;
  category: 'update' | 'deletion';
  createdAt: number;
}
