import { createMemoryReplayStore, type MemoryReplayStore, type MemoryReplayStoreOptions, type ReplayStore } from '@aauth-kit/verifier';

/**
 * Where the auth server remembers redeemed resource tokens, so that each is redeemed once until
 * its `exp` (issue 13, finding 11). It is the verifier's `ReplayStore` (`checkAndStore(key, ttl)`:
 * true the first time, false while remembered; atomic), so a store shared by a fleet (the
 * verifier's `createRedisReplayStore`, `SET NX EX`) fills it as it is.
 */
export type UsedTokenStore = ReplayStore;

/** The in-memory {@link UsedTokenStore}; `size` is exposed for monitoring. */
export type MemoryUsedTokenStore = MemoryReplayStore;

/** `maxEntries` (default 100000) and the clock `now` (epoch seconds), as for the verifier's memory replay store. */
export type MemoryUsedTokenStoreOptions = MemoryReplayStoreOptions;

/**
 * A bounded in-memory {@link UsedTokenStore} for one process: the verifier's memory replay store.
 * When full it drops expired entries from the front, then the oldest; a resource token lives at
 * most 300 s, so insertion order is close to expiry order. A fleet needs a shared store.
 */
export function createMemoryUsedTokenStore(options: MemoryUsedTokenStoreOptions = {}): MemoryUsedTokenStore {
  return createMemoryReplayStore(options);
}
