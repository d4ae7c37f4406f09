import { createHash } from 'node:crypto';
import { callQuietly } from '@aauth-kit/core/internal';
import { belongsTo } from './lib/token-store.js';
import { createMemoryTokenCache, type CachedToken, type TokenCache } from './token-cache.js';

/** The Redis commands the cache sends, as ioredis (and compatible clients) expose them. */
export interface RedisTokenCacheClient {
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/** A connection in subscriber mode (ioredis: a second `new Redis(url)`, used for nothing else). */
export interface RedisTokenCacheSubscriber {
  subscribe(channel: string): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
}

/** Options of {@link createRedisTokenCache}. */
export interface RedisTokenCacheOptions {
  /** RFC 7638 thumbprint of the key the agent replicas share (`key.thumbprint`): only replicas holding that key share tokens. */
  keyThumbprint: string;
  /** The subscriber connection that brings other replicas' tokens into this one. */
  subscriber: RedisTokenCacheSubscriber;
  /** Key and channel prefix; default `'aauth:agent-tokens:'`. */
  prefix?: string | undefined;
  /** Most tokens held (locally, and in Redis for this key); default 1000. */
  maxEntries?: number | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
  /** Called when Redis fails (the cache goes on locally: a replica then asks the auth server itself); default none. */
  onError?: ((error: unknown) => void) | undefined;
  /** How long `ready` waits for Redis before it rejects (the cache works locally meanwhile, and shares once Redis answers); default 5000 ms. */
  readyTimeoutMs?: number | undefined;
  /** Most writes to Redis left unanswered (a frozen Redis): further changes stay local, reported once to `onError`; default 1000. */
  maxPendingWrites?: number | undefined;
}

/** A {@link TokenCache} shared through Redis, and `ready`: resolves once the tokens Redis held are loaded. */
export interface RedisTokenCache extends TokenCache {
  readonly ready: Promise<void>;
}

// One hash per key thumbprint (field: the agent's cache key; value: JSON of the entry) and one
// channel of the same name, on which every change is published in the same script.
// KEYS: hash. ARGV: channel, field, value JSON, now, maxEntries.
const SET = `
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
if redis.call('HLEN', KEYS[1]) > tonumber(ARGV[5]) then
  local all = redis.call('HGETALL', KEYS[1])
  local oldest, oldestExp = nil, math.huge
  for i = 1, #all, 2 do
    local ok, v = pcall(cjson.decode, all[i + 1])
    local exp = ok and type(v) == 'table' and tonumber(v.expiresAt) or 0
    if exp <= tonumber(ARGV[4]) then redis.call('HDEL', KEYS[1], all[i])
    elseif exp < oldestExp then oldest, oldestExp = all[i], exp end
  end
  if oldest and redis.call('HLEN', KEYS[1]) > tonumber(ARGV[5]) then redis.call('HDEL', KEYS[1], oldest) end
end
redis.call('PUBLISH', ARGV[1], cjson.encode({op = 'set', key = ARGV[2], value = ARGV[3]}))
return 1
`;
// KEYS: hash. ARGV: channel, field.
const DELETE = `
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[1], cjson.encode({op = 'delete', key = ARGV[2]}))
return 1
`;
// KEYS: hash. ARGV: channel, resource.
const DELETE_RESOURCE = `
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, v = pcall(cjson.decode, all[i + 1])
  if ok and type(v) == 'table' and v.resource == ARGV[2] then redis.call('HDEL', KEYS[1], all[i]) end
end
redis.call('PUBLISH', ARGV[1], cjson.encode({op = 'deleteResource', resource = ARGV[2]}))
return 1
`;
// KEYS: hash. ARGV: channel.
const CLEAR = `
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], '{"op":"clear"}')
return 1
`;
const LOAD = `return redis.call('HGETALL', KEYS[1])`;

/** The entry in `json` when it has the shape of a {@link CachedToken}, else undefined (Redis is not trusted to be tidy). */
function parseEntry(json: unknown): CachedToken | undefined {
  if (typeof json !== 'string' || json.length > 64 * 1024) return undefined;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  if (typeof v.token !== 'string' || typeof v.expiresAt !== 'number' || typeof v.resource !== 'string' || typeof v.scope !== 'string') return undefined;
  if (v.authServer !== undefined && typeof v.authServer !== 'string') return undefined;
  if (v.signAs !== undefined && v.signAs !== 'jwks_uri' && v.signAs !== 'hwk') return undefined;
  const entry: CachedToken = { token: v.token, expiresAt: v.expiresAt, resource: v.resource, scope: v.scope };
  if (v.authServer !== undefined) entry.authServer = v.authServer as string;
  if (v.signAs !== undefined) entry.signAs = v.signAs as 'jwks_uri' | 'hwk';
  return entry;
}

/**
 * A token cache that agent replicas sharing one key share through Redis (issue 17): a token one
 * replica obtained is presented by the others without a new token request. The agent reads a
 * local, bounded copy (the cache is synchronous); every change is written to Redis and published,
 * and each replica applies what the others publish. Tokens are bound to the key (`cnf.jwk`), so
 * the Redis key and channel carry its thumbprint: replicas with another key never see them. A
 * failing Redis only costs sharing: each replica keeps its own tokens and asks when it lacks one.
 */
export function createRedisTokenCache(client: RedisTokenCacheClient, options: RedisTokenCacheOptions): RedisTokenCache {
  if (typeof client !== 'object' || client === null || typeof client.eval !== 'function') {
    throw new TypeError('client must be an ioredis-compatible client with eval(script, numKeys, ...args)');
  }
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { keyThumbprint, subscriber } = options;
  if (typeof keyThumbprint !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(keyThumbprint)) {
    throw new TypeError('options.keyThumbprint must be the RFC 7638 thumbprint of the agent key (key.thumbprint)');
  }
  if (typeof subscriber !== 'object' || subscriber === null || typeof subscriber.subscribe !== 'function' || typeof subscriber.on !== 'function') {
    throw new TypeError('options.subscriber must be an ioredis-compatible connection for subscribe() and on("message")');
  }
  const prefix = options.prefix ?? 'aauth:agent-tokens:';
  if (typeof prefix !== 'string') throw new TypeError('options.prefix must be a string');
  const maxEntries = options.maxEntries ?? 1000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('options.maxEntries must be a positive integer');
  const now = options.now ?? (() => Date.now() / 1000);
  const onError = options.onError ?? (() => {});
  const readyTimeoutMs = options.readyTimeoutMs ?? 5000;
  if (!Number.isInteger(readyTimeoutMs) || readyTimeoutMs < 1) throw new TypeError('options.readyTimeoutMs must be a positive integer');
  const maxPendingWrites = options.maxPendingWrites ?? 1000;
  if (!Number.isInteger(maxPendingWrites) || maxPendingWrites < 1) throw new TypeError('options.maxPendingWrites must be a positive integer');
  const name = `${prefix}${keyThumbprint}`;
  const local = createMemoryTokenCache({ maxEntries });

  // A failing logger (a throw, a rejection) changes nothing.
  const report = (error: unknown): void => callQuietly(onError, error);
  // Writes Redis has not answered: a frozen Redis would otherwise queue one (with its token) per change.
  let pendingWrites = 0;
  let droppedReported = false;
  const send = (script: string, ...args: (string | number)[]): void => {
    if (pendingWrites >= maxPendingWrites) {
      if (!droppedReported) {
        droppedReported = true;
        report(new Error(`Redis left ${maxPendingWrites} token cache writes unanswered: changes stay in this replica until it answers`));
      }
      return;
    }
    pendingWrites++;
    Promise.resolve()
      .then(() => client.eval(script, 1, name, name, ...args))
      .then(
        () => {
          droppedReported = false;
        },
        report,
      )
      .finally(() => {
        pendingWrites--;
      });
  };

  /** Apply a change another replica (or this one) published. */
  const apply = (message: string): void => {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(message) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof m !== 'object' || m === null) return;
    if (m.op === 'set' && typeof m.key === 'string') {
      const entry = parseEntry(m.value);
      if (entry !== undefined && belongsTo(m.key, entry) && entry.expiresAt > now()) local.set(m.key, entry);
    } else if (m.op === 'delete' && typeof m.key === 'string') local.delete(m.key);
    else if (m.op === 'deleteResource' && typeof m.resource === 'string') local.deleteResource(m.resource);
    else if (m.op === 'clear') local.clear();
  };

  /** Load what Redis holds for this key (at start, and after the subscriber reconnects: messages may have been missed). */
  const load = async (): Promise<void> => {
    const all = await client.eval(LOAD, 1, name);
    if (!Array.isArray(all)) return;
    for (let i = 0; i + 1 < all.length; i += 2) {
      const field: unknown = all[i];
      const entry = parseEntry(all[i + 1]);
      if (entry !== undefined && belongsTo(field, entry) && entry.expiresAt > now() && local.get(field) === undefined) local.set(field, entry);
    }
  };

  subscriber.on('message', (channel, message) => {
    if (channel === name) apply(message);
  });
  let started = false;
  let starting: Promise<void> | undefined;
  /** Subscribe and load, once at a time; again after a failed start, when the subscriber connects. */
  const start = (): Promise<void> => {
    starting ??= (async () => {
      await subscriber.subscribe(name);
      await load();
      started = true;
    })().finally(() => {
      starting = undefined;
    });
    return starting;
  };
  subscriber.on('ready', () => {
    // Reconnected: messages may have been missed (load), or the start failed while Redis was away.
    (started ? load() : start()).catch(report);
  });
  let timer: NodeJS.Timeout | undefined;
  const ready = Promise.race([
    start(),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer within ${readyTimeoutMs} ms: tokens are not shared until it does (this replica asks for its own meanwhile)`)),
        readyTimeoutMs,
      );
      timer.unref?.();
    }),
  ]).finally(() => clearTimeout(timer));
  // `ready` is for callers that want to wait; an unobserved failure must not crash the process.
  ready.catch(report);

  return {
    ready,
    // Expired entries stay, as in the memory cache: the agent decides (a refresh may still be allowed).
    get: (key) => local.get(key),
    set(key, value) {
      local.set(key, value);
      send(SET, key, JSON.stringify(value), now(), maxEntries);
    },
    delete(key) {
      local.delete(key);
      send(DELETE, key);
    },
    deleteResource(resource) {
      local.deleteResource(resource);
      send(DELETE_RESOURCE, resource);
    },
    clear() {
      local.clear();
      send(CLEAR);
    },
  };
}
