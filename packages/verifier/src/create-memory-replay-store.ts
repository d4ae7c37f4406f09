import type { ReplayStore } from './types.js';

/** An in-memory replay store; `size` is exposed for monitoring. */
export interface MemoryReplayStore extends ReplayStore {
  /** Entries currently held (at most `maxEntries`). */
  readonly size: number;
  readonly maxEntries: number;
}

export interface MemoryReplayStoreOptions {
  /** Most entries held; default 100000. When full, expired entries go first, then the oldest. */
  maxEntries?: number | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
}

/**
 * A bounded in-memory replay store for one process (wire profile section 3). A fleet needs a
 * shared store: see {@link createRedisReplayStore}.
 */
export function createMemoryReplayStore(options: MemoryReplayStoreOptions = {}): MemoryReplayStore {
  const maxEntries = options.maxEntries ?? 100_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('options.maxEntries must be a positive integer');
  if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('options.now must be a function');
  const now = options.now ?? (() => Date.now() / 1000);
  // Insertion order is expiry order for equal TTLs, so sweeping from the front finds expired entries.
  const seen = new Map<string, number>();

  const sweep = (t: number): void => {
    for (const [key, expiresAt] of seen) {
      if (expiresAt > t) break;
      seen.delete(key);
    }
  };

  return {
    maxEntries,
    get size() {
      return seen.size;
    },
    async checkAndStore(key: string, ttlSeconds: number): Promise<boolean> {
      const t = now();
      const expiresAt = seen.get(key);
      if (expiresAt !== undefined && expiresAt > t) return false;
      if (expiresAt !== undefined) seen.delete(key);
      if (seen.size >= maxEntries) sweep(t);
      // Still full: drop the oldest. Bounded memory wins over remembering everything (see README).
      while (seen.size >= maxEntries) {
        const oldest = seen.keys().next();
        if (oldest.done) break;
        seen.delete(oldest.value);
      }
      seen.set(key, t + Math.max(1, ttlSeconds));
      return true;
    },
  };
}
