import { LRUCache } from 'lru-cache';
import type { ManifestRecord } from '../metadata/index.js';

/** Manifests kept at most, and their bytes at most (manifests are small: a few KiB each). */
const MAX_ENTRIES = 10_000;
const MAX_BYTES = 16 * 1024 * 1024;
/** Per entry beyond its content: the record, the key, the LRU's bookkeeping. */
const ENTRY_OVERHEAD = 256;

/**
 * Recently pulled tags: (repository, tag) → the manifest it pointed to,
 * labelled with the repository's tag-list version (metadata store) when it
 * was read. Every change of any tag of the repository, by any instance or
 * process, bumps that version in the same transaction (a push, a tag or
 * manifest delete, garbage collection, fsck's repair), so an entry is used
 * only while the database still reports its version: a moved or deleted tag
 * is never served, on any instance, not even once. A hit costs the one
 * indexed read of the version instead of the join that returns the manifest
 * row with its content.
 *
 * Callers must read the version BEFORE the tag: the record is then at least
 * as new as its label, never older (a tag that moves in between leaves an
 * entry that the next version read no longer matches).
 *
 * Records are shared between requests and must not be changed; they are
 * frozen. Bounded by entries and by bytes; least recently used go first.
 */
export class ManifestCache {
  private readonly entries: LRUCache<string, { version: number; manifest: ManifestRecord }>;

  constructor(options: { maxEntries?: number; maxBytes?: number } = {}) {
    this.entries = new LRUCache({
      max: options.maxEntries ?? MAX_ENTRIES,
      maxSize: options.maxBytes ?? MAX_BYTES,
      sizeCalculation: (e, key) => e.manifest.content.byteLength + key.length + ENTRY_OVERHEAD,
    });
  }

  /** The manifest `tag` pointed to when the repository's tag-list version was `version`, or null. */
  get(repository: string, tag: string, version: number): ManifestRecord | null {
    const e = this.entries.get(key(repository, tag));
    return e && e.version === version ? e.manifest : null;
  }

  /** Remembers what `tag` resolved to, read after `version` was read. */
  set(repository: string, tag: string, version: number, manifest: ManifestRecord): ManifestRecord {
    const frozen = Object.isFrozen(manifest) ? manifest : Object.freeze(manifest);
    this.entries.set(key(repository, tag), { version, manifest: frozen });
    return frozen;
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Tags cannot contain a newline, repository names neither. */
function key(repository: string, tag: string): string {
  return `${repository}\n${tag}`;
}
