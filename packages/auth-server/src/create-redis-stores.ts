import type { AAuthError } from '@aauth-kit/core';
import { redisClusterPrefixProblem } from '@aauth-kit/core/internal';
import { createRedisReplayStore, type ReplayStore } from '@aauth-kit/verifier';
import { createRedisPendingStore } from './create-redis-pending-store.js';
import type { PendingStore } from './pending-store.js';
import type { UsedTokenStore } from './used-token-store.js';
import type { RateLimitStore } from './lib/brute-force.js';
import { createRedisRateLimitStore } from './lib/redis-rate-limits.js';
import { createRedisSessionStore, type SessionStore } from './lib/interaction-sessions.js';
import { createScriptRunner, type RedisStoreClient } from './lib/redis-runner.js';
import { createRedisDraft11Records } from './lib/redis-records-11.js';
import type { Draft11Records } from './records-11.js';

export type { RedisStoreClient } from './lib/redis-runner.js';
export type { RateLimitStore } from './lib/brute-force.js';
export type { InteractionSession, SessionStore } from './lib/interaction-sessions.js';

/** Options of {@link createRedisAuthServerStores}. */
export interface RedisAuthServerStoresOptions {
  /** Key prefix of every key written; default `'aauth:auth-server:'`. One per deployment (realm): its servers share it. */
  prefix?: string | undefined;
  /** Longest wait for Redis's answer to one operation, in ms; default 1000. Past it: 503 (`store_unavailable`, `replay_store_failed`). */
  timeoutMs?: number | undefined;
  /** Operations sent and not yet answered, per store, at most; default 1000. More fail at once with the same 503. */
  maxPending?: number | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. Give the auth server's `now` too. */
  now?: (() => number) | undefined;
  /**
   * Hears every failed operation of every store (a 503 `store_unavailable` or `replay_store_failed`;
   * Redis's own refusal, e.g. OOM or NOPERM, is the error's `cause`, which clients are not shown):
   * log it. Default: the replay stores' one process warning per outage, nothing for the others.
   */
  onFailure?: ((error: AAuthError) => void) | undefined;
}

/** The auth server's options that put its state in Redis: spread them into {@link createAuthServer}'s options. */
export interface RedisAuthServerStores {
  /** Pending consent requests (Lua: decided once, taken once). */
  pendingStore: PendingStore;
  /** Redeemed resource tokens, each until its `exp` (`SET NX EX`). */
  usedTokenStore: UsedTokenStore;
  /** Replay protection of signed requests and single-use poll signatures (`SET NX EX`). */
  replay: { store: ReplayStore };
  /** Rate-limit counters: sign-in failures, unknown interaction codes, failed client authentications. */
  rateLimitStore: RateLimitStore;
  /** The consent page's sign-in sessions (keyed by a hash of the session cookie), each until it expires. */
  sessionStore: SessionStore;
  /** The -11 person and access servers' records: issued tokens (until `exp`), agent bindings and grants (30 days from the last write), revocations sent to the access server. */
  draft11Records: Draft11Records;
}

/**
 * Every piece of the auth server's state that a fleet must share, in one Redis (issue 17):
 * `createAuthServer({ ...options, ...createRedisAuthServerStores(redis, { prefix }) })`. Servers
 * with the same Redis, prefix and key file act as one: a consent started at one is approved and
 * polled at another (its sign-in and decision pages served by any of them), a resource token redeemed at one is refused at all, and rate limits count across them.
 * Give the client `enableOfflineQueue: false` and `maxRetriesPerRequest: 1`, as the verifier's
 * README says, so a Redis outage is a prompt 503, never a queue.
 */
export function createRedisAuthServerStores(client: RedisStoreClient, options: RedisAuthServerStoresOptions = {}): RedisAuthServerStores {
  if (typeof client !== 'object' || client === null || typeof client.eval !== 'function' || typeof client.set !== 'function') {
    throw new TypeError('client must be an ioredis-compatible client (eval and set)');
  }
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const prefix = options.prefix ?? 'aauth:auth-server:';
  if (typeof prefix !== 'string') throw new TypeError('options.prefix must be a string');
  const onCluster = redisClusterPrefixProblem(client, prefix, 'options.prefix');
  if (onCluster !== undefined) throw new TypeError(onCluster);
  const now = options.now ?? (() => Date.now() / 1000);
  if (typeof now !== 'function') throw new TypeError('options.now must be a function');
  const timeoutMs = options.timeoutMs ?? 1000;
  const maxPending = options.maxPending ?? 1000;
  for (const [name, value] of [['timeoutMs', timeoutMs], ['maxPending', maxPending]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new TypeError(`options.${name} must be a positive integer`);
  }
  const onFailure = options.onFailure;
  if (onFailure !== undefined && typeof onFailure !== 'function') throw new TypeError('options.onFailure must be a function');
  const bounded = { timeoutMs, maxPending };
  const replayBounded = { ...bounded, ...(onFailure === undefined ? {} : { onFailure: ({ error }: { error: AAuthError }) => onFailure(error) }) };
  const run = createScriptRunner(client, timeoutMs, maxPending, onFailure);
  return {
    pendingStore: createRedisPendingStore(client, { prefix, now, ...bounded, ...(onFailure === undefined ? {} : { onFailure }) }),
    usedTokenStore: createRedisReplayStore(client, { prefix: `${prefix}used:`, ...replayBounded }),
    replay: { store: createRedisReplayStore(client, { prefix: `${prefix}replay:`, ...replayBounded }) },
    rateLimitStore: createRedisRateLimitStore(run, prefix, now),
    sessionStore: createRedisSessionStore(run, prefix, now, onFailure),
    draft11Records: createRedisDraft11Records(run, { prefix, now, ...(onFailure === undefined ? {} : { onFailure }) }),
  };
}
