/**
 * A bounded map that evicts the least recently used entry once `maxEntries` is reached. Every
 * cache of discovery and of the verifier is one of these, so memory stays bounded whatever callers send.
 */
export class LruCache<K, V> {
  readonly maxEntries: number;
  private readonly map = new Map<K, V>();

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
    // Re-insert to mark as most recently used (Map keeps insertion order).
    this.map.delete(key);
    this.map.set(key, value);
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
  }

  /** Remove one entry. */
  delete(key: K): void {
    this.map.delete(key);
  }

  /** Remove every entry. */
  clear(): void {
    this.map.clear();
  }
}
