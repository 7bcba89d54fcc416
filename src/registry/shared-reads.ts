/**
 * Point reads that many requests make at once (a repository's tag-list
 * version, the trust-policy revision on every pull), shared among the
 * callers that ask before the read is sent: the read goes out at the end of
 * the current turn of the event loop (setImmediate), and everyone who asked
 * for the same key until then gets its answer. Nobody gets an answer read
 * before they asked, so a change committed before a request arrived is
 * always seen by it, exactly as with a read of its own. Under load, the
 * requests parsed in one turn then cost one statement (one round trip on
 * PostgreSQL) instead of one each.
 */
export class SharedReads<V> {
  private readonly waiting = new Map<string, Promise<V>>();

  /** `read(key)`'s value, read after this call. */
  get(key: string, read: (key: string) => Promise<V>): Promise<V> {
    const joined = this.waiting.get(key);
    if (joined) return joined;
    const pending = new Promise<V>((resolve, reject) => {
      setImmediate(() => {
        this.waiting.delete(key); // from now on, a new caller needs a new read
        read(key).then(resolve, reject);
      });
    });
    this.waiting.set(key, pending);
    return pending;
  }
}
