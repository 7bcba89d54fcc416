/**
 * Recently listed tag lists, each labelled with the repository's tag-list
 * version (metadata store). A cached list is used only while the database
 * still reports the same version, so a tag changed by any instance is seen
 * at once. Callers must read the version BEFORE reading the tags: the list
 * is then at least as new as its label, never older. Bounded: the least
 * recently used repositories are dropped.
 */
export class TagListCache {
  private readonly entries = new Map<string, { version: number; tags: string[] }>();

  constructor(private readonly maxEntries = 256) {}

  get(repository: string, version: number): string[] | null {
    const e = this.entries.get(repository);
    if (!e || e.version !== version) return null;
    this.entries.delete(repository);
    this.entries.set(repository, e);
    return e.tags;
  }

  set(repository: string, version: number, tags: string[]): void {
    this.entries.delete(repository);
    this.entries.set(repository, { version, tags });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }
}

/** The page after `last` (exclusive) of a sorted list, up to `limit` items, and whether more follow. */
export function pageOf(sorted: readonly string[], last: string | undefined, limit: number | undefined): { items: string[]; more: boolean } {
  let start = 0;
  if (last !== undefined) {
    // First index whose item sorts after `last` (byte order, like the database's).
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(Buffer.from(sorted[mid] as string), Buffer.from(last)) <= 0) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  const end = limit === undefined ? sorted.length : Math.min(sorted.length, start + limit);
  return { items: sorted.slice(start, end), more: end < sorted.length };
}
