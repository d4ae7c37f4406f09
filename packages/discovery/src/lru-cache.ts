/**
 * A bounded map that evicts the least recently used entry once `maxEntries` is reached. Every
 * cache of discovery and of the verifier is one of these, so memory stays bounded whatever callers send.
 */
export class LruCache<K, V> {
  readonly maxEntries: number;
  private readonly map = new Map<K, V>();
  /** The most recently used key while `hasNewest`: reading it again changes no order, so it is not re-inserted. */
  private newest: K | undefined;
  private hasNewest = false;

  constructor(maxEntries: number) {
    this.maxEntries = Math.max(1, Math.floor(maxEntries));
  }

  /** Entries held. */
  get size(): number {
    return this.map.size;
  }

  /** Read and mark as most recently used. */
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value === undefined) return undefined;
    // Already the most recent (the common case on a hot path: one agent calling again): no move.
    if (this.hasNewest && this.newest === key) return value;
    // Re-insert to mark as most recently used (Map keeps insertion order).
    this.map.delete(key);
    this.map.set(key, value);
    this.newest = key;
    this.hasNewest = true;
    return value;
  }

  /** Read without touching recency. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  /** Store, evicting the least recently used entry when full. */
  set(key: K, value: V): void {
    if (this.map.has(key)) this.map.delete(key);
    else if (this.map.size >= this.maxEntries) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(key, value);
    this.newest = key;
    this.hasNewest = true;
  }

  /** Remove one entry. */
  delete(key: K): void {
    this.map.delete(key);
    if (this.hasNewest && this.newest === key) this.forgetNewest();
  }

  /** Remove every entry. */
  clear(): void {
    this.map.clear();
    this.forgetNewest();
  }

  private forgetNewest(): void {
    this.newest = undefined;
    this.hasNewest = false;
  }
}
