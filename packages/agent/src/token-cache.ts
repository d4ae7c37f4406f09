/** An auth token the agent holds, with what it was issued for. */
export interface CachedToken {
  /** The compact auth token. Never log it. */
  token: string;
  /** Epoch seconds after which the token is invalid (its `exp`). */
  expiresAt: number;
  /** The resource identity (the resource token's `iss`). */
  resource: string;
  /** The scope of the resource token it answered. */
  scope: string;
  /** The issuer that minted it. Set for tokens from an auth server: only those are refreshed. */
  authServer?: string;
  /** The scheme its token request was signed with; the refresh is signed the same way. */
  signAs?: 'jwks_uri' | 'hwk';
}

/**
 * Where an agent keeps auth tokens, keyed by (resource, scope, upstream token hash). Synchronous:
 * a fleet-wide store can mirror into a local map.
 */
export interface TokenCache {
  get(key: string): CachedToken | undefined;
  set(key: string, value: CachedToken): void;
  delete(key: string): void;
  /** Remove every entry whose `resource` is `resource`. */
  deleteResource(resource: string): void;
  clear(): void;
}

/** Options of `createMemoryTokenCache`. */
export interface MemoryTokenCacheOptions {
  /** Most entries kept; the least recently used goes first. Default 1000. */
  maxEntries?: number | undefined;
}

/** The default token cache: in memory, bounded, least recently used evicted first. */
export function createMemoryTokenCache(options: MemoryTokenCacheOptions = {}): TokenCache {
  const max = options.maxEntries ?? 1000;
  if (!Number.isInteger(max) || max < 1) throw new TypeError('options.maxEntries must be a positive integer');
  const map = new Map<string, CachedToken>();
  return {
    get(key) {
      const value = map.get(key);
      if (value !== undefined) {
        // Map keeps insertion order: re-inserting marks the entry most recently used.
        map.delete(key);
        map.set(key, value);
      }
      return value;
    },
    set(key, value) {
      map.delete(key);
      map.set(key, value);
      while (map.size > max) map.delete(map.keys().next().value as string);
    },
    delete(key) {
      map.delete(key);
    },
    deleteResource(resource) {
      for (const [key, value] of map) if (value.resource === resource) map.delete(key);
    },
    clear() {
      map.clear();
    },
  };
}
