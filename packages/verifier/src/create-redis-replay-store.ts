import type { ReplayStore } from './types.js';

/** The one Redis command the store needs, as ioredis (and compatible clients) expose it. */
export interface RedisLikeClient {
  set(key: string, value: string, expiryMode: 'EX', ttlSeconds: number, mode: 'NX'): Promise<unknown>;
}

export interface RedisReplayStoreOptions {
  /** Key prefix; default `'aauth:replay:'`. */
  prefix?: string | undefined;
}

/**
 * A replay store shared by every process using the same Redis (wire profile section 3, fleets):
 * one atomic `SET key 1 EX ttl NX` per check, so two processes never both accept a signature.
 */
export function createRedisReplayStore(client: RedisLikeClient, options: RedisReplayStoreOptions = {}): ReplayStore {
  if (typeof client !== 'object' || client === null || typeof client.set !== 'function') {
    throw new TypeError('client must be an ioredis-compatible client with set(key, value, "EX", ttl, "NX")');
  }
  const prefix = options.prefix ?? 'aauth:replay:';
  if (typeof prefix !== 'string') throw new TypeError('options.prefix must be a string');
  return {
    async checkAndStore(key: string, ttlSeconds: number): Promise<boolean> {
      const ttl = Math.max(1, Math.ceil(ttlSeconds));
      const answer = await client.set(`${prefix}${key}`, '1', 'EX', ttl, 'NX');
      return answer === 'OK';
    },
  };
}
