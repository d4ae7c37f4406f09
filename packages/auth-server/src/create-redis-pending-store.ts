import { randomBytes } from 'node:crypto';
import { AAuthError } from '@aauth-kit/core';
import { redisClusterPrefixProblem } from '@aauth-kit/core/internal';
import type { ClarificationTurn, MemoryPendingStoreOptions, PendingRequest, PendingStore } from './pending-store.js';
import { createScriptRunner, readStored, type RedisStoreClient } from './lib/redis-runner.js';

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
local function unindex(P, id, f, keep)
  if f[1] and redis.call('GET', P .. 'pending-code:' .. f[1]) == id then redis.call('DEL', P .. 'pending-code:' .. f[1]) end
  if f[2] then redis.call('ZREM', P .. 'pending-agent:' .. f[2], id) end
  if f[3] then redis.call('ZREM', P .. 'pending-resource:' .. f[3], id) end
  redis.call('ZREM', P .. 'pending-all', id)
  if not keep then redis.call('DEL', P .. 'pending:' .. id) end
end
`;

// KEYS: record, code, agent set, resource set, all set. ARGV: prefix, id, request JSON, code,
// thumbprint, resource, now, expiresAt, ttl, maxPerAgent, maxPerResource, maxEntries, retention.
const PUT = `${EXTEND}
local P, id, t, exp, ttl = ARGV[1], ARGV[2], tonumber(ARGV[7]), ARGV[8], tonumber(ARGV[9])
-- The same put run again (a command re-sent after a dropped connection) finds its own request: done.
if redis.call('HGET', KEYS[1], 'r') == ARGV[3] and redis.call('GET', KEYS[2]) == id then return {'ok'} end
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

// Every decide and take carries an attempt id of its own (x: who decided, t: who took): a client
// that re-sends a command whose answer a dropped connection lost (ioredis does, by default) makes
// Redis run the same script twice, and the second run answers as the first did instead of
// "already decided" or "gone".

// KEYS: record. ARGV: decision JSON, now, attempt. Decided once: only while undecided, not taken, not expired.
const DECIDE = `
local f = redis.call('HMGET', KEYS[1], 'r', 'd', 'e', 'x', 't')
if not f[1] or f[5] then return false end
if f[2] then
  if f[4] == ARGV[3] then return f[1] end
  return false
end
if tonumber(f[3]) < tonumber(ARGV[2]) then return false end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'x', ARGV[3])
return f[1]
`;

// How long a taken request stays, marked taken, for its taker's repeated or released take (s).
const TAKEN_TTL = 120;

// KEYS: record. ARGV: prefix, id, attempt. Taken once: read and unindexed in one step; the record
// stays TAKEN_TTL s, marked with the attempt, invisible to everyone else.
const TAKE = `${EXTEND}
local f = redis.call('HMGET', KEYS[1], 'r', 'd', 'c', 'a', 's', 't', 'q')
if not f[1] then return false end
if f[6] then
  if f[6] == ARGV[3] then return {f[1], f[2], f[7]} end
  return false
end
unindex(ARGV[1], ARGV[2], {f[3], f[4], f[5]}, true)
redis.call('HSET', KEYS[1], 't', ARGV[3])
redis.call('EXPIRE', KEYS[1], ${TAKEN_TTL})
return {f[1], f[2], f[7]}
`;

// KEYS: record. ARGV: prefix, id, attempt, now, retention, and optionally the request JSON that
// replaces r. A take whose answer never reached its caller (it timed out: 503) is undone, so the
// agent's next poll still collects the decision; so is one whose delivery failed (a 5xx), and one
// whose request waits on (four-party: the access server deferred), stored with its new state.
const RELEASE = `${EXTEND}
local f = redis.call('HMGET', KEYS[1], 't', 'c', 'a', 's', 'e')
if f[1] ~= ARGV[3] then return 0 end
local P, id = ARGV[1], ARGV[2]
local ttl = math.ceil(tonumber(f[5]) + tonumber(ARGV[5]) - tonumber(ARGV[4]))
if ttl < 1 then redis.call('DEL', KEYS[1]) return 0 end
redis.call('HDEL', KEYS[1], 't')
if ARGV[6] then redis.call('HSET', KEYS[1], 'r', ARGV[6]) end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('SET', P .. 'pending-code:' .. f[2], id, 'EX', ttl, 'NX')
for _, k in ipairs({P .. 'pending-agent:' .. f[3], P .. 'pending-resource:' .. f[4], P .. 'pending-all'}) do
  redis.call('ZADD', k, f[5], id)
  extend(k, ttl)
end
return 1
`;

// A taken request is gone for every reader.
const GET = `
local f = redis.call('HMGET', KEYS[1], 'r', 'd', 't', 'q')
if f[3] then return false end
return {f[1], f[2], f[4]}
`;

// KEYS: code. ARGV: record prefix.
const GET_BY_CODE = `
local id = redis.call('GET', KEYS[1])
if not id then return false end
local f = redis.call('HMGET', ARGV[1] .. id, 'r', 'd', 't', 'q')
if f[3] then return false end
return {f[1], f[2], f[4]}
`;

// AAuth -11 "Clarification Chat": the chat is field q (JSON, written whole); a question only when
// none is open and fewer than ARGV[4] were asked, an answer only to the open one; only while the
// request is undecided, untaken and unexpired. ARGV: the kind, the text, now, the most questions;
// for an 'update' (an answer with an updated request) also the request JSON it was computed from
// (r must still be it), its replacement and the new scope.
const CONVERSE = `
local f = redis.call('HMGET', KEYS[1], 'r', 'd', 'e', 't', 'q')
if not f[1] or f[2] or f[4] then return false end
if tonumber(f[3]) < tonumber(ARGV[3]) then return false end
local chat = {}
if f[5] then chat = cjson.decode(f[5]) end
local n = #chat
local open = n > 0 and chat[n].answer == nil
if ARGV[1] == 'question' then
  if open or n >= tonumber(ARGV[4]) then return false end
  chat[n + 1] = { question = ARGV[2], asked = tonumber(ARGV[3]) }
else
  if not open then return false end
  chat[n].answer = ARGV[2]
  chat[n].answered = tonumber(ARGV[3])
  -- An updated request: the request as the caller read it, with the update, replaces r.
  if ARGV[1] == 'update' then
    if f[1] ~= ARGV[5] then return false end
    chat[n].updatedScope = ARGV[7]
    f[1] = ARGV[6]
    redis.call('HSET', KEYS[1], 'r', f[1])
  end
end
local q = cjson.encode(chat)
redis.call('HSET', KEYS[1], 'q', q)
return {f[1], q}
`;

/** The attempt of the take that returned a request (not enumerable: not stored, not compared). */
const TAKEN_BY = Symbol('aauth.pending.takenBy');

function positive(value: number | undefined, name: string, fallback: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`options.${name} must be a positive integer`);
  return n;
}

/** A request as its record field holds it: the decision (status, sub, username) is kept in its own field. */
function recordJson(request: PendingRequest): string {
  const { status: _status, sub: _sub, username: _username, ...rest } = request;
  return JSON.stringify({ ...rest, status: 'pending' });
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
  const onFailure = options.onFailure;
  const stored = (json: string): PendingRequest => readStored<PendingRequest>(json, 'a pending request', onFailure);
  const decisionOf = (field: unknown): Partial<PendingRequest> => (typeof field === 'string' ? readStored<Partial<PendingRequest>>(field, "a pending request's decision", onFailure) : {});
  /** The chat member of a request from its stored field (JSON), none when there is none. */
  const chatOf = (field: unknown): { chat?: ClarificationTurn[] } =>
    typeof field === 'string' ? { chat: readStored<ClarificationTurn[]>(field, "a pending request's clarification chat", onFailure, 'array') } : {};
  // An attempt id per decide and take: this store's tag and a counter.
  const tag = randomBytes(9).toString('base64url');
  let attempts = 0;
  const attempt = (): string => {
    attempts = attempts >= Number.MAX_SAFE_INTEGER ? 1 : attempts + 1;
    return `${tag}.${attempts}`;
  };

  /** The stored request with its decision, when it is still within its retention. */
  const revive = (answer: unknown): PendingRequest | undefined => {
    if (!Array.isArray(answer) || typeof answer[0] !== 'string') return undefined;
    const merged = { ...stored(answer[0]), ...decisionOf(answer[1]), ...chatOf(answer[2]) };
    return merged.expiresAt + retention >= now() ? merged : undefined;
  };
  const retryAfter = (until: unknown, t: number): Record<string, string> => ({ 'Retry-After': String(Math.max(1, Math.ceil(Number(until) - t))) });

  return {
    async put(request) {
      const t = now();
      const ttl = Math.max(1, Math.ceil(request.expiresAt + retention - t));
      const answer = (await run(
        PUT,
        [record(request.id), `${prefix}pending-code:${request.code}`, `${prefix}pending-agent:${request.thumbprint}`, `${prefix}pending-resource:${request.resource}`, `${prefix}pending-all`],
        [prefix, request.id, recordJson(request), request.code, request.thumbprint, request.resource, t, request.expiresAt, ttl, maxPerAgent, maxPerResource, maxEntries, retention],
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
      const answer = await run(DECIDE, [record(id)], [JSON.stringify({ status, sub, username }), now(), attempt()]);
      if (typeof answer !== 'string') return undefined;
      return { ...stored(answer), status, sub, username };
    },
    async take(id) {
      const mine = attempt();
      let answer: unknown;
      try {
        answer = await run(TAKE, [record(id)], [prefix, id, mine]);
      } catch (error) {
        // No answer in time (503 to the poller): if Redis runs the take after all, it is undone, so
        // the agent's next poll collects the decision instead of finding the request gone. Sent on
        // the same connection after the take, so Redis runs it after; bounded like every command.
        if (error instanceof AAuthError && error.code === 'store_unavailable') {
          run(RELEASE, [record(id)], [prefix, id, mine, now(), retention]).catch(() => undefined);
        }
        throw error;
      }
      if (!Array.isArray(answer) || typeof answer[0] !== 'string') return undefined;
      const taken = { ...stored(answer[0]), ...decisionOf(answer[1]), ...chatOf(answer[2]) };
      Object.defineProperty(taken, TAKEN_BY, { value: mine });
      return taken;
    },
    async untake(request, replacement) {
      const mine = (request as { [TAKEN_BY]?: string })[TAKEN_BY];
      if (mine === undefined) return false;
      const args: Array<string | number> = [prefix, request.id, mine, now(), retention];
      if (replacement !== undefined) {
        if (replacement.id !== request.id || replacement.code !== request.code || replacement.thumbprint !== request.thumbprint || replacement.resource !== request.resource || replacement.expiresAt !== request.expiresAt) {
          throw new TypeError('untake(request, replacement): the replacement must keep the id, code, thumbprint, resource and expiresAt of the request');
        }
        // Stored as put stores a request; the chat is kept in its own field, as the decision is.
        args.push(recordJson({ ...replacement, chat: undefined }));
      }
      return (await run(RELEASE, [record(request.id)], args)) === 1;
    },
    async converse(id, change) {
      let answer: unknown;
      if ('update' in change) {
        // The request as stored now, with the update: written only if it is still the stored one.
        const current = await run(GET, [record(id)], []);
        if (!Array.isArray(current) || typeof current[0] !== 'string') return undefined;
        const { scope, consentScopes, draft11 } = change.update;
        const next = JSON.stringify({ ...stored(current[0]), scope, consentScopes, draft11 });
        answer = await run(CONVERSE, [record(id)], ['update', change.answer, now(), 0, current[0], next, scope]);
      } else {
        const [kind, text, max] = 'question' in change ? ['question', change.question, change.max] : ['answer', change.answer, 0];
        answer = await run(CONVERSE, [record(id)], [kind, text, now(), max]);
      }
      if (!Array.isArray(answer) || typeof answer[0] !== 'string') return undefined;
      return { ...stored(answer[0]), ...chatOf(answer[1]) };
    },
  };
}
