/**
 * The realm's brute-force detection settings (Keycloak's realm fields of the same names); the
 * defaults are Keycloak's. `enabled` is `bruteForceProtected`, off unless the realm turns it on.
 */
export interface BruteForceSettings {
  /** `bruteForceProtected`; default false. */
  enabled: boolean;
  /** `permanentLockout`: a user who reaches `failureFactor` stays locked (until a restart here); default false. */
  permanentLockout: boolean;
  /** `failureFactor`: failures before a wait; default 30. */
  failureFactor: number;
  /** `waitIncrementSeconds`: the wait added each time `failureFactor` more failures pile up; default 60. */
  waitIncrementSeconds: number;
  /** `maxFailureWaitSeconds`: the longest wait; default 900. */
  maxFailureWaitSeconds: number;
  /** `quickLoginCheckMilliSeconds`: two failures closer than this are a quick series; default 1000. */
  quickLoginCheckMilliSeconds: number;
  /** `minimumQuickLoginWaitSeconds`: the wait after a quick series; default 60. */
  minimumQuickLoginWaitSeconds: number;
  /** `maxDeltaTimeSeconds`: failures older than this are forgotten; default 43200 (12 h). */
  maxDeltaTimeSeconds: number;
}

/** Keycloak's defaults. */
export const BRUTE_FORCE_DEFAULTS: BruteForceSettings = {
  enabled: false,
  permanentLockout: false,
  failureFactor: 30,
  waitIncrementSeconds: 60,
  maxFailureWaitSeconds: 900,
  quickLoginCheckMilliSeconds: 1000,
  minimumQuickLoginWaitSeconds: 60,
  maxDeltaTimeSeconds: 43_200,
};

interface FailureRecord {
  failures: number;
  /** Epoch seconds. */
  lastFailure: number;
  /** Epoch seconds; Infinity for a permanent lockout. */
  lockedUntil: number;
}

/** Failure counts per key (a user name, a source address) with Keycloak's waits, in bounded memory. */
export interface FailureThrottle {
  /** Seconds `key` must still wait before it may try again; 0 when it may try now. */
  wait(key: string): number;
  /** Count a failure of `key`. */
  fail(key: string): void;
  /** Forget the failures of `key` (a successful login). */
  succeed(key: string): void;
  /** Keys held. */
  readonly size: number;
}

export interface FailureThrottleOptions {
  settings: BruteForceSettings;
  now: () => number;
  /** Most keys held; default 10,000. */
  maxEntries?: number | undefined;
  /** Apply the quick-series check (per user, as Keycloak; not per source address); default true. */
  quickCheck?: boolean | undefined;
}

/**
 * Keycloak's temporary lockout: after `failureFactor` failures a key waits `waitIncrementSeconds`
 * times the number of whole `failureFactor`s it has failed, at most `maxFailureWaitSeconds`; two
 * failures within `quickLoginCheckMilliSeconds` wait `minimumQuickLoginWaitSeconds`; a key that has
 * not failed for `maxDeltaTimeSeconds` starts again from zero. Memory is bounded by evicting the
 * key that failed least recently and is not locked, one at a time: there is no wholesale reset, and
 * a locked key is never evicted for a new one (when every key is locked, new keys are treated as locked).
 */
export function createFailureThrottle(options: FailureThrottleOptions): FailureThrottle {
  const { settings, now } = options;
  const maxEntries = options.maxEntries ?? 10_000;
  const quickCheck = options.quickCheck ?? true;
  // Map order is least recently failed first: a failure moves its key to the end.
  const records = new Map<string, FailureRecord>();
  let saturatedUntil = 0;

  const makeRoom = (t: number): boolean => {
    if (records.size < maxEntries) return true;
    for (const [key, r] of records) {
      if (r.lockedUntil <= t || t - r.lastFailure > settings.maxDeltaTimeSeconds) {
        records.delete(key);
        return true;
      }
    }
    return false;
  };

  return {
    get size() {
      return records.size;
    },
    wait(key) {
      const t = now();
      const r = records.get(key);
      if (r === undefined) return saturatedUntil > t ? Math.ceil(saturatedUntil - t) : 0;
      if (r.lockedUntil === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
      return r.lockedUntil > t ? Math.ceil(r.lockedUntil - t) : 0;
    },
    fail(key) {
      const t = now();
      let r = records.get(key);
      if (r === undefined) {
        if (!makeRoom(t)) {
          // Every key held is locked: nothing is forgotten, and new keys wait until room frees up.
          saturatedUntil = Math.max(saturatedUntil, t + settings.minimumQuickLoginWaitSeconds);
          return;
        }
        r = { failures: 0, lastFailure: 0, lockedUntil: 0 };
      } else {
        records.delete(key);
      }
      if (r.failures > 0 && t - r.lastFailure > settings.maxDeltaTimeSeconds) r.failures = 0;
      const quick = quickCheck && r.failures > 0 && (t - r.lastFailure) * 1000 < settings.quickLoginCheckMilliSeconds;
      r.failures += 1;
      let wait = 0;
      if (r.failures >= settings.failureFactor) {
        wait = settings.permanentLockout
          ? Number.POSITIVE_INFINITY
          : Math.min(settings.maxFailureWaitSeconds, settings.waitIncrementSeconds * Math.floor(r.failures / settings.failureFactor));
      }
      if (quick) wait = Math.max(wait, settings.minimumQuickLoginWaitSeconds);
      if (wait > 0) r.lockedUntil = Math.max(r.lockedUntil, t + wait);
      r.lastFailure = t;
      records.set(key, r);
    },
    succeed(key) {
      records.delete(key);
    },
  };
}

/** A failure throttle whose counters may live elsewhere (Redis): its answers may be promises. */
export interface SharedFailureThrottle {
  wait(key: string): number | Promise<number>;
  fail(key: string): void | Promise<void>;
  succeed(key: string): void | Promise<void>;
}

/**
 * Where the auth server's rate-limit counters live (issue 17): sign-in failures per user and per
 * address, unknown interaction codes per address, failed client authentications. `name` tells
 * the counter families apart; the default keeps them in this process's memory.
 */
export interface RateLimitStore {
  throttle(name: string, options: { settings: BruteForceSettings; quickCheck?: boolean | undefined }): SharedFailureThrottle;
}

/** The default {@link RateLimitStore}: each counter family in bounded memory (one process). */
export function createMemoryRateLimitStore(now: () => number): RateLimitStore {
  return { throttle: (_name, options) => createFailureThrottle({ ...options, now }) };
}

const INTEGER_FIELDS = [
  'failureFactor',
  'waitIncrementSeconds',
  'maxFailureWaitSeconds',
  'quickLoginCheckMilliSeconds',
  'minimumQuickLoginWaitSeconds',
  'maxDeltaTimeSeconds',
] as const;

/**
 * The brute-force settings of a Keycloak realm export (its top-level `bruteForceProtected`,
 * `permanentLockout`, `failureFactor`, ...), Keycloak's defaults for those absent. Throws a
 * `TypeError` naming a field of the wrong type.
 */
export function parseBruteForce(realm: Record<string, unknown>, path: string): BruteForceSettings {
  const settings: BruteForceSettings = { ...BRUTE_FORCE_DEFAULTS };
  for (const name of ['bruteForceProtected', 'permanentLockout'] as const) {
    const value = realm[name];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') throw new TypeError(`${path}.${name} must be a boolean (got ${JSON.stringify(value)})`);
    settings[name === 'bruteForceProtected' ? 'enabled' : 'permanentLockout'] = value;
  }
  for (const name of INTEGER_FIELDS) {
    const value = realm[name];
    if (value === undefined) continue;
    const min = name === 'failureFactor' ? 1 : 0;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      throw new TypeError(`${path}.${name} must be an integer of at least ${min} (got ${JSON.stringify(value)})`);
    }
    settings[name] = value;
  }
  return settings;
}
