import { createHash } from 'node:crypto';
import { AAuthError } from '@aauth-kit/core';
import { boundedCommands, redisClusterPrefixProblem } from '@aauth-kit/core/internal';
import type { RevocationRegistry, RevocationStoreResult, RevocationSubject } from './types.js';

/** The two Redis commands the store needs, as ioredis (and compatible clients) expose them. */
export interface RedisRevocationClient {
  set(key: string, value: string, expiryMode: 'EX', ttlSeconds: number): Promise<unknown>;
  mget(...keys: string[]): Promise<Array<string | null>>;
  /**
   * Optional (ioredis has it): with it an agent or grant revocation is one script that never moves
   * the entry's second back nor shortens its life, whatever order two revocations land in; without
   * it a plain `SET`, so of two revocations of one agent sent at once the later-sent may land first.
   */
  eval?(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** ioredis's connection state: while it is `'reconnecting'`, `'close'` or `'end'` a call fails at once. */
  readonly status?: string | undefined;
}

export interface RedisRevocationStoreOptions {
  /** Key prefix; default `'aauth:revoked:'`. */
  prefix?: string | undefined;
  /**
   * How long an answer read from Redis is reused by this process, in ms; default 1000. This is the
   * staleness bound: a revocation recorded by any process is honoured here at most this long after
   * Redis acknowledged it. 0 reads Redis on every check.
   */
  cacheTtlMs?: number | undefined;
  /** Most cached answers; default 10000 (then the cache starts over). */
  maxCacheEntries?: number | undefined;
  /** Longest wait for Redis's answer, in ms; default 1000. Past it the check fails (503 `revocation_store_failed`). */
  timeoutMs?: number | undefined;
  /**
   * Most commands sent to Redis and not yet answered; default 1000. A hung Redis keeps them queued
   * in the client: past the bound a check is refused at once (503 `revocation_store_failed`), so an
   * outage cannot grow memory as fast as requests arrive. Concurrent checks of the same token share
   * one read.
   */
  maxPending?: number | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
}

/** A revocation registry in Redis, shared by every process that uses the same Redis and prefix. */
export interface RedisRevocationStore extends RevocationRegistry {
  /** The staleness bound this store was created with, in ms (`cacheTtlMs`). */
  readonly stalenessMs: number;
}

/**
 * KEYS[1] an agent or grant entry; ARGV[1] the second a revocation covers through, ARGV[2] its TTL.
 * Keeps the later second and the longer TTL; returns the second stored.
 */
const RAISE = [
  "local second = ARGV[1]",
  "local ttl = tonumber(ARGV[2])",
  "local held = redis.call('GET', KEYS[1])",
  "if held and tonumber(held) and tonumber(held) > tonumber(second) then second = held end",
  "local left = redis.call('TTL', KEYS[1])",
  "if left > ttl then ttl = left end",
  "redis.call('SET', KEYS[1], second, 'EX', ttl)",
  "return second",
].join('\n');

function nonNegativeInteger(value: unknown, path: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new TypeError(`${path} must be an integer of at least ${min} (got ${JSON.stringify(value)})`);
  }
  return value;
}

/** A fixed-length key for the parts (identifiers may be long; the hash keeps keys bounded). */
const digest = (...parts: string[]): string => createHash('sha256').update(parts.join('\n')).digest('base64url');

/**
 * A revocation store shared by a fleet through Redis (issue 17): revocations by token
 * (`t:` keys, a plain `SET ... EX`), by agent (`a:`) and by a user's grant (`g:`, one script that
 * keeps the later second and the longer life, or a plain `SET` on a client without `eval`), each
 * expiring when the longest token it covers has. A check is one `MGET` of the token's keys, its answers
 * reused for `cacheTtlMs` (the documented staleness). Every call is bounded by `timeoutMs`; a
 * failing Redis is a 503 `revocation_store_failed` with `Retry-After`: fail closed, never a hang.
 */
export function createRedisRevocationStore(client: RedisRevocationClient, options: RedisRevocationStoreOptions = {}): RedisRevocationStore {
  if (typeof client !== 'object' || client === null || typeof client.set !== 'function' || typeof client.mget !== 'function') {
    throw new TypeError('client must be an ioredis-compatible client with set(key, value, "EX", ttl) and mget(...keys)');
  }
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const prefix = options.prefix ?? 'aauth:revoked:';
  if (typeof prefix !== 'string') throw new TypeError('options.prefix must be a string');
  // Its reads are MGETs of several keys: on a cluster they must share a slot.
  const onCluster = redisClusterPrefixProblem(client, prefix, 'options.prefix');
  if (onCluster !== undefined) throw new TypeError(onCluster);
  const cacheTtlMs = nonNegativeInteger(options.cacheTtlMs, 'options.cacheTtlMs', 1000);
  const maxCacheEntries = nonNegativeInteger(options.maxCacheEntries, 'options.maxCacheEntries', 10_000, 1);
  const timeoutMs = nonNegativeInteger(options.timeoutMs, 'options.timeoutMs', 1000, 1);
  const maxPending = nonNegativeInteger(options.maxPending, 'options.maxPending', 1000, 1);
  if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('options.now must be a function');
  const now = options.now ?? (() => Date.now() / 1000);
  const retryAfter = String(Math.max(1, Math.ceil(timeoutMs / 1000)));

  const tokenKey = (issuer: string, jti: string): string => `${prefix}t:${digest(issuer, jti)}`;
  const agentKey = (issuer: string, agent: string): string => `${prefix}a:${digest(issuer, agent)}`;
  const grantKey = (issuer: string, sub: string, agent: string): string => `${prefix}g:${digest(issuer, sub, agent)}`;

  /** Redis key -> its value (null: absent) and when it was read, in ms of `now`. */
  const cache = new Map<string, { value: string | null; at: number }>();

  const failure = (message: string, cause?: unknown): AAuthError =>
    new AAuthError('revocation_store_failed', message, { headers: { 'Retry-After': retryAfter }, ...(cause === undefined ? {} : { cause }) });

  /** One Redis command, bounded by `timeoutMs` and `maxPending`. */
  const bounded = boundedCommands({ code: 'revocation_store_failed', store: 'The revocation store', waiting: 'revocation checks', timeoutMs, maxPending, status: () => client.status });
  /** MGETs under way by their key list: concurrent checks of one token share one. */
  const reading = new Map<string, Promise<Array<string | null>>>();

  function mget(keys: string[]): Promise<Array<string | null>> {
    const id = keys.join('\n');
    let pending = reading.get(id);
    if (pending === undefined) {
      pending = bounded(() => client.mget(...keys)).finally(() => reading.delete(id));
      reading.set(id, pending);
    }
    return pending;
  }

  /** The values of `keys`: fresh cached ones, the rest in one MGET. */
  async function read(keys: string[]): Promise<Map<string, string | null>> {
    const t = now() * 1000;
    const out = new Map<string, string | null>();
    const missing: string[] = [];
    for (const key of keys) {
      const hit = cache.get(key);
      if (hit !== undefined && t - hit.at < cacheTtlMs) out.set(key, hit.value);
      else missing.push(key);
    }
    if (missing.length === 0) return out;
    const values = await mget(missing);
    if (!Array.isArray(values) || values.length !== missing.length) throw failure('The revocation store answered MGET with something else than one value per key');
    if (cache.size + missing.length > maxCacheEntries) cache.clear();
    missing.forEach((key, i) => {
      const value = typeof values[i] === 'string' ? (values[i] as string) : null;
      out.set(key, value);
      if (cacheTtlMs > 0) cache.set(key, { value, at: t });
    });
    return out;
  }

  /** `SET key value EX ttl`; this process sees it at once (its cache is updated). */
  async function write(key: string, value: string, until: number): Promise<RevocationStoreResult> {
    const ttl = Math.ceil(until - now());
    // Already past: whatever it covers is refused as expired anyway; nothing to keep.
    if (ttl <= 0) return 'recorded';
    await bounded(() => client.set(key, value, 'EX', ttl));
    if (cacheTtlMs > 0) cache.set(key, { value, at: now() * 1000 });
    return 'recorded';
  }

  /**
   * An agent or grant entry: the later of its second and the one given, kept the longer of its TTL
   * and the one given, in one script (two processes revoking one agent cannot move it back).
   */
  async function raise(key: string, second: number, until: number): Promise<RevocationStoreResult> {
    const ttl = Math.ceil(until - now());
    if (ttl <= 0) return 'recorded';
    const evaluate = client.eval;
    if (typeof evaluate !== 'function') return write(key, String(second), until);
    const stored = await bounded(() => evaluate.call(client, RAISE, 1, key, String(second), ttl));
    if (cacheTtlMs > 0) cache.set(key, { value: typeof stored === 'string' ? stored : String(second), at: now() * 1000 });
    return 'recorded';
  }

  /** The keys of agent and grant entries that could cover `agents` (and `sub`). */
  function coverKeys(issuer: string, agents: readonly string[], sub: string | undefined): string[] {
    return agents.flatMap((agent) => (sub === undefined ? [agentKey(issuer, agent)] : [agentKey(issuer, agent), grantKey(issuer, sub, agent)]));
  }

  /** The latest second the entries among `values` cover. */
  function latest(values: Map<string, string | null>, keys: string[]): number | undefined {
    let at: number | undefined;
    for (const key of keys) {
      const value = values.get(key);
      const n = value === null || value === undefined ? Number.NaN : Number(value);
      if (Number.isFinite(n)) at = Math.max(at ?? n, n);
    }
    return at;
  }

  const checkUntil = (until: number, path: string): void => {
    if (typeof until !== 'number' || !Number.isFinite(until)) throw new TypeError(`${path} must be epoch seconds`);
  };

  return {
    stalenessMs: cacheTtlMs,
    async isRevoked(issuer: string, jti: string, subject?: RevocationSubject): Promise<boolean> {
      const token = tokenKey(issuer, jti);
      const cover = subject === undefined ? [] : coverKeys(issuer, subject.agents.slice(0, 16), subject.sub);
      const values = await read([token, ...cover]);
      if (values.get(token) != null) return true;
      const at = latest(values, cover);
      // A token without iat cannot show it came after the revocation: covered.
      return at !== undefined && (subject?.iat === undefined || subject.iat <= at);
    },
    async revoke(issuer: string, jti: string, until: number): Promise<RevocationStoreResult> {
      checkUntil(until, 'until');
      return write(tokenKey(issuer, jti), '1', until);
    },
    async revokeAgent(issuer: string, agent: string, until: number): Promise<RevocationStoreResult> {
      checkUntil(until, 'until');
      return raise(agentKey(issuer, agent), Math.floor(now()), until);
    },
    async revokeGrant(issuer: string, sub: string, agent: string, until: number): Promise<RevocationStoreResult> {
      checkUntil(until, 'until');
      return raise(grantKey(issuer, sub, agent), Math.floor(now()), until);
    },
    async coveredThrough(issuer: string, agents: readonly string[], sub?: string): Promise<number | undefined> {
      const keys = coverKeys(issuer, agents, sub);
      if (keys.length === 0) return undefined;
      // The issuer's own question: straight from Redis, never from the cache.
      const values = await bounded(() => client.mget(...keys));
      return latest(new Map(keys.map((k, i) => [k, Array.isArray(values) && typeof values[i] === 'string' ? (values[i] as string) : null])), keys);
    },
  };
}
