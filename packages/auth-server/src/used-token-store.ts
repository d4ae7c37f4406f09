/**
 * Where the auth server remembers redeemed resource tokens, so that each is redeemed once until
 * its `exp` (issue 13, finding 11). The shape is the verifier's `ReplayStore`, so a store shared
 * by a fleet (the verifier's `createRedisReplayStore`, `SET NX EX`) fills it as it is.
 */
export interface UsedTokenStore {
  /** Remember `key` for `ttlSeconds`: true the first time, false while it is remembered. Must be atomic. */
  checkAndStore(key: string, ttlSeconds: number): Promise<boolean>;
}

/** The in-memory {@link UsedTokenStore}; `size` is exposed for monitoring. */
export interface MemoryUsedTokenStore extends UsedTokenStore {
  /** Entries currently held (at most `maxEntries`). */
  readonly size: number;
  readonly maxEntries: number;
}

export interface MemoryUsedTokenStoreOptions {
  /** Most redeemed tokens remembered at once; default 100000. When full, expired entries go first, then the oldest. */
  maxEntries?: number | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
}

/**
 * A bounded in-memory {@link UsedTokenStore} for one process. Memory stays bounded under any load:
 * when full it drops expired entries, then the oldest one (a resource token lives at most 300 s,
 * so the oldest is the nearest to its expiry). A fleet needs a shared store.
 */
export function createMemoryUsedTokenStore(options: MemoryUsedTokenStoreOptions = {}): MemoryUsedTokenStore {
  const maxEntries = options.maxEntries ?? 100_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('options.maxEntries must be a positive integer');
  if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('options.now must be a function');
  const now = options.now ?? (() => Date.now() / 1000);
  // Insertion order is close to expiry order: every entry lives at most the resource token's 300 s plus leeway.
  const used = new Map<string, number>();

  const sweep = (t: number): void => {
    for (const [key, expiresAt] of used) if (expiresAt <= t) used.delete(key);
  };

  return {
    maxEntries,
    get size() {
      return used.size;
    },
    async checkAndStore(key: string, ttlSeconds: number): Promise<boolean> {
      const t = now();
      const expiresAt = used.get(key);
      if (expiresAt !== undefined && expiresAt > t) return false;
      if (expiresAt !== undefined) used.delete(key);
      if (used.size >= maxEntries) sweep(t);
      while (used.size >= maxEntries) {
        const oldest = used.keys().next();
        if (oldest.done) break;
        used.delete(oldest.value);
      }
      used.set(key, t + Math.max(1, ttlSeconds));
      return true;
    },
  };
}
