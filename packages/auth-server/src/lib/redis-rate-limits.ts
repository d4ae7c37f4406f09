import type { RateLimitStore, SharedFailureThrottle } from './brute-force.js';
import type { RunScript } from './redis-runner.js';

// Keycloak's temporary lockout (brute-force.ts, createFailureThrottle) as one Lua script, so every
// auth server sharing the Redis counts into the same record and two failures never race. The
// record is a hash (f: failures, l: last failure, u: locked until, -1 for a permanent lockout) that
// expires once it can no longer matter (maxDeltaTimeSeconds, or the end of its wait if later).
// KEYS: record. ARGV: now, failureFactor, waitIncrementSeconds, maxFailureWaitSeconds,
// quickLoginCheckMilliSeconds, minimumQuickLoginWaitSeconds, maxDeltaTimeSeconds, permanent, quick.
const FAIL = `
local t = tonumber(ARGV[1])
local r = redis.call('HMGET', KEYS[1], 'f', 'l', 'u')
local failures, last, locked = tonumber(r[1]) or 0, tonumber(r[2]) or 0, tonumber(r[3]) or 0
local factor, maxDelta = tonumber(ARGV[2]), tonumber(ARGV[7])
if failures > 0 and t - last > maxDelta then failures = 0 end
local quick = ARGV[9] == '1' and failures > 0 and (t - last) * 1000 < tonumber(ARGV[5])
failures = failures + 1
local wait = 0
if failures >= factor then
  if ARGV[8] == '1' then wait = -1 else wait = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * math.floor(failures / factor)) end
end
if quick and wait ~= -1 then wait = math.max(wait, tonumber(ARGV[6])) end
if wait == -1 then locked = -1 elseif wait > 0 and locked ~= -1 then locked = math.max(locked, t + wait) end
redis.call('HSET', KEYS[1], 'f', failures, 'l', string.format('%.3f', t), 'u', string.format('%.3f', locked))
local ttl = maxDelta
if locked > t then ttl = math.max(maxDelta, locked - t) end
redis.call('EXPIRE', KEYS[1], math.ceil(ttl) + 1)
return 1
`;

const WAIT = `return redis.call('HGET', KEYS[1], 'u')`;
const SUCCEED = `return redis.call('DEL', KEYS[1])`;

/**
 * A {@link RateLimitStore} in Redis: `{prefix}rate:{name}:{key}` per counted key. Unlike the
 * memory store there is no cap on keys held; each record expires after `maxDeltaTimeSeconds`
 * without a failure (a permanent lockout too: it lasts that long here, not forever).
 */
export function createRedisRateLimitStore(run: RunScript, prefix: string, now: () => number): RateLimitStore {
  return {
    throttle(name, { settings, quickCheck = true }): SharedFailureThrottle {
      const record = (key: string): string => `${prefix}rate:${name}:${key}`;
      return {
        async wait(key) {
          const locked = Number((await run(WAIT, [record(key)], [])) ?? 0);
          if (locked === -1) return Number.POSITIVE_INFINITY;
          const t = now();
          return locked > t ? Math.ceil(locked - t) : 0;
        },
        async fail(key) {
          const s = settings;
          await run(FAIL, [record(key)], [
            now(),
            s.failureFactor,
            s.waitIncrementSeconds,
            s.maxFailureWaitSeconds,
            s.quickLoginCheckMilliSeconds,
            s.minimumQuickLoginWaitSeconds,
            s.maxDeltaTimeSeconds,
            s.permanentLockout ? 1 : 0,
            quickCheck ? 1 : 0,
          ]);
        },
        async succeed(key) {
          await run(SUCCEED, [record(key)], []);
        },
      };
    },
  };
}
