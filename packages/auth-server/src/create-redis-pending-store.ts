import { AAuthError } from '@aauth-kit/core';
import { redisClusterPrefixProblem } from '@aauth-kit/core/internal';
import type { MemoryPendingStoreOptions, PendingRequest, PendingStore } from './pending-store.js';
import { createScriptRunner, type RedisStoreClient } from './lib/redis-runner.js';

/** Options of {@link createRedisPendingStore}: the memory store's limits, and how Redis is asked. */
export interface RedisPendingStoreOptions extends MemoryPendingStoreOptions {
  /** Key prefix; default `'aauth:auth-server:'`. Give each deployment (realm) its own. */
  prefix?: string | undefined;
  /** Longest wait for Redis's answer to one operation, in ms; default 1000. Past it: 503 `store_unavailable`. */
  timeoutMs?: number | undefined;
  /** Operations sent and not yet answered, at most; default 1000. More fail at once (503 `store_unavailable`). */
  maxPending?: number | undefined;
  /** Hears every failed operation (log it: Redis's own error, OOM or NOPERM, is the error's `cause`); default none. */
  onFailure?: ((error: AAuthError) => void) | undefined;
}

// Layout, under the prefix: `pending:{id}` a hash (r: the request as JSON, d: the decision as
// JSON once decided, e: expiresAt, c: code, a: thumbprint, s: resource), `pending-code:{code}` the
// id, `pending-agent:{thumbprint}` / `pending-resource:{resource}` / `pending-all` sorted sets of
// ids scored by expiresAt (each caller's share, counted without a scan). Every key expires with
// its request (retention included). Each operation is one Lua script: atomic in Redis, so two auth
// servers never both decide, nor both take, one request. One Redis, a primary, or a Redis Cluster
// with a hash tag in the prefix (every key of the store in one slot).

/** Set a key's expiry to at least `ttl` seconds (EXPIRE GT treats a key without expiry as infinite). */
const EXTEND = `local function extend(k, ttl) if redis.call('TTL', k) < ttl then redis.call('EXPIRE', k, ttl) end end
local function unindex(P, id, f)
  if f[1] and redis.call('GET', P .. 'pending-code:' .. f[1]) == id then redis.call('DEL', P .. 'pending-code:' .. f[1]) end
  if f[2] then redis.call('ZREM', P .. 'pending-agent:' .. f[2], id) end
  if f[3] then redis.call('ZREM', P .. 'pending-resource:' .. f[3], id) end
  redis.call('ZREM', P .. 'pending-all', id)
  redis.call('DEL', P .. 'pending:' .. id)
end
`;

// KEYS: record, code, agent set, resource set, all set. ARGV: prefix, id, request JSON, code,
// thumbprint, resource, now, expiresAt, ttl, maxPerAgent, maxPerResource, maxEntries, retention.
const PUT = `${EXTEND}
local P, id, t, exp, ttl = ARGV[1], ARGV[2], tonumber(ARGV[7]), ARGV[8], tonumber(ARGV[9])
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return {'conflict'} end
local function first(z) local f = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES') return f[2] end
-- Each caller's share counts its live requests (not expired) only.
for _, share in ipairs({{KEYS[3], tonumber(ARGV[10]), 'agent'}, {KEYS[4], tonumber(ARGV[11]), 'resource'}}) do
  redis.call('ZREMRANGEBYSCORE', share[1], '-inf', '(' .. ARGV[7])
  local n = redis.call('ZCARD', share[1])
  if n >= share[2] then return {share[3], n, first(share[1])} end
end
-- The whole store: requests past their retention are gone already; then only expired ones make
-- room, oldest first, never a live one.
local max = tonumber(ARGV[12])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. (t - tonumber(ARGV[13])))
local total = redis.call('ZCARD', KEYS[5])
if total >= max then
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', '(' .. ARGV[7], 'LIMIT', 0, total - max + 1)) do
    unindex(P, old, redis.call('HMGET', P .. 'pending:' .. old, 'c', 'a', 's'))
  end
  if redis.call('ZCARD', KEYS[5]) >= max then return {'full', first(KEYS[5])} end
end
redis.call('HSET', KEYS[1], 'r', ARGV[3], 'e', exp, 'c', ARGV[4], 'a', ARGV[5], 's', ARGV[6])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[2], id, 'EX', ttl)
for i = 3, 5 do redis.call('ZADD', KEYS[i], exp, id) extend(KEYS[i], ttl) end
return {'ok'}
`;

// KEYS: record. ARGV: decision JSON, now. Decided once: only while undecided and not expired.
const DECIDE = `
local f = redis.call('HMGET', KEYS[1], 'r', 'd', 'e')
if not f[1] or f[2] or tonumber(f[3]) < tonumber(ARGV[2]) then return false end
redis.call('HSET', KEYS[1], 'd', ARGV[1])
return f[1]
`;

// KEYS: record. ARGV: prefix, id. Taken once: read and removed in one step.
const TAKE = `${EXTEND}
local f = redis.call('HMGET', KEYS[1], 'r', 'd', 'c', 'a', 's')
if not f[1] then return false end
unindex(ARGV[1], ARGV[2], {f[3], f[4], f[5]})
return {f[1], f[2]}
`;

const GET = `return redis.call('HMGET', KEYS[1], 'r', 'd')`;

// KEYS: code. ARGV: record prefix.
const GET_BY_CODE = `
local id = redis.call('GET', KEYS[1])
if not id then return false end
return redis.call('HMGET', ARGV[1] .. id, 'r', 'd')
`;

function positive(value: number | undefined, name: string, fallback: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`options.${name} must be a positive integer`);
  return n;
}

/**
 * A {@link PendingStore} in Redis, shared by every auth server using the same Redis and prefix: a
 * consent started at one is approved at another and polled at a third. The same limits as the
 * memory store (per agent key, per resource, in all); `decide` and `take` are atomic (Lua). A
 * failing Redis is 503 `store_unavailable` within `timeoutMs`, never a hang.
 */
export function createRedisPendingStore(client: RedisStoreClient, options: RedisPendingStoreOptions = {}): PendingStore {
  if (typeof client !== 'object' || client === null || typeof client.eval !== 'function') {
    throw new TypeError('client must be an ioredis-compatible client with eval(script, numKeys, ...args)');
  }
  const maxEntries = positive(options.maxEntries, 'maxEntries', 10_000);
  const maxPerAgent = positive(options.maxPerAgent, 'maxPerAgent', 32);
  const maxPerResource = positive(options.maxPerResource, 'maxPerResource', 1000);
  const retention = options.retention ?? 600;
  const now = options.now ?? (() => Date.now() / 1000);
  const prefix = options.prefix ?? 'aauth:auth-server:';
  if (typeof prefix !== 'string') throw new TypeError('options.prefix must be a string');
  const onCluster = redisClusterPrefixProblem(client, prefix, 'options.prefix');
  if (onCluster !== undefined) throw new TypeError(onCluster);
  const run = createScriptRunner(client, positive(options.timeoutMs, 'timeoutMs', 1000), positive(options.maxPending, 'maxPending', 1000), options.onFailure);
  const record = (id: string): string => `${prefix}pending:${id}`;

  /** The stored request with its decision, when it is still within its retention. */
  const revive = (answer: unknown): PendingRequest | undefined => {
    if (!Array.isArray(answer) || typeof answer[0] !== 'string') return undefined;
    const request = JSON.parse(answer[0]) as PendingRequest;
    const decided = typeof answer[1] === 'string' ? (JSON.parse(answer[1]) as Partial<PendingRequest>) : {};
    const merged = { ...request, ...decided };
    return merged.expiresAt + retention >= now() ? merged : undefined;
  };
  const retryAfter = (until: unknown, t: number): Record<string, string> => ({ 'Retry-After': String(Math.max(1, Math.ceil(Number(until) - t))) });

  return {
    async put(request) {
      const t = now();
      const ttl = Math.max(1, Math.ceil(request.expiresAt + retention - t));
      const { status: _status, sub: _sub, username: _username, ...rest } = request;
      const answer = (await run(
        PUT,
        [record(request.id), `${prefix}pending-code:${request.code}`, `${prefix}pending-agent:${request.thumbprint}`, `${prefix}pending-resource:${request.resource}`, `${prefix}pending-all`],
        [prefix, request.id, JSON.stringify({ ...rest, status: 'pending' }), request.code, request.thumbprint, request.resource, t, request.expiresAt, ttl, maxPerAgent, maxPerResource, maxEntries, retention],
      )) as [string, number?, string?];
      switch (answer[0]) {
        case 'ok':
          return;
        case 'conflict':
          throw new AAuthError('pending_conflict', 'Pending id or code already in use');
        case 'agent':
          throw new AAuthError('pending_limit_reached', `This agent key already has ${answer[1]} requests waiting for a user's decision`, { headers: retryAfter(answer[2], t) });
        case 'resource':
          throw new AAuthError('pending_limit_reached', `${answer[1]} requests for this resource are already waiting for a user's decision`, { headers: retryAfter(answer[2], t) });
        default:
          throw new AAuthError('pending_store_full', undefined, { headers: retryAfter(answer[1], t) });
      }
    },
    async get(id) {
      return revive(await run(GET, [record(id)], []));
    },
    async getByCode(code) {
      return revive(await run(GET_BY_CODE, [`${prefix}pending-code:${code}`], [`${prefix}pending:`]));
    },
    async decide(id, decision) {
      const { status, sub, username } = decision;
      const answer = await run(DECIDE, [record(id)], [JSON.stringify({ status, sub, username }), now()]);
      if (typeof answer !== 'string') return undefined;
      return { ...(JSON.parse(answer) as PendingRequest), status, sub, username };
    },
    async take(id) {
      const answer = await run(TAKE, [record(id)], [prefix, id]);
      if (!Array.isArray(answer) || typeof answer[0] !== 'string') return undefined;
      const decided = typeof answer[1] === 'string' ? (JSON.parse(answer[1]) as Partial<PendingRequest>) : {};
      return { ...(JSON.parse(answer[0]) as PendingRequest), ...decided };
    },
  };
}
