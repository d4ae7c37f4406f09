import { randomBytes } from 'node:crypto';
import { AAuthError } from '@aauth-kit/core';
import { boundedCommands, callQuietly, storeFailureText } from '@aauth-kit/core/internal';
import type { ReplayStore } from './types.js';

/** The Redis commands the store needs, as ioredis (and compatible clients) expose them. */
export interface RedisLikeClient {
  set(key: string, value: string, expiryMode: 'EX', ttlSeconds: number, mode: 'NX'): Promise<unknown>;
  /**
   * Read back after a `SET NX` that found the key (ioredis has it): a client that re-sends a
   * command whose answer a dropped connection lost (ioredis does, by default) makes Redis run the
   * same SET twice, and the second finds the first's key. Without it, such a check counts as a replay.
   */
  get?(key: string): Promise<unknown>;
  /**
   * ioredis's connection state, when the client has one: while it is `'reconnecting'`, `'close'` or
   * `'end'` a check fails at once instead of adding to the client's offline queue.
   */
  readonly status?: string | undefined;
}

/** One failed check, as {@link RedisReplayStoreOptions.onFailure} sees it. */
export interface ReplayStoreFailure {
  /** `replay_store_failed` (503, `Retry-After`); the client's own error, if any, is its `cause`. */
  error: AAuthError;
  /** True when the request was accepted anyway (`failOpen`). */
  failedOpen: boolean;
}

export interface RedisReplayStoreOptions {
  /** Key prefix; default `'aauth:replay:'`. */
  prefix?: string | undefined;
  /** Longest wait for Redis's answer to one check, in ms; default 1000. Past it the check fails (503 `replay_store_failed`). */
  timeoutMs?: number | undefined;
  /** Checks sent and not yet answered by Redis, at most (timed-out ones included); default 1000. More fail at once. */
  maxPending?: number | undefined;
  /** Accept the request when Redis fails (replay protection is off while it does); default false (refuse with 503). */
  failOpen?: boolean | undefined;
  /** Called on every failed check (log, count, alert); default a process warning once per outage. */
  onFailure?: ((failure: ReplayStoreFailure) => void) | undefined;
}

function positiveInteger(value: unknown, path: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new TypeError(`${path} must be a positive integer (got ${JSON.stringify(value)})`);
  }
  return value;
}

/**
 * A replay store shared by every process using the same Redis (wire profile section 3, fleets):
 * one atomic `SET key <value> EX ttl NX` per check, so two processes never both accept a signature
 * (a check that finds the key reads it back: its own value means its own SET ran twice).
 * Every check is bounded by `timeoutMs`; a failing Redis is a 503 `replay_store_failed` with
 * `Retry-After`, never a hang (or, with `failOpen`, an accepted request and a warning).
 */
export function createRedisReplayStore(client: RedisLikeClient, options: RedisReplayStoreOptions = {}): ReplayStore {
  if (typeof client !== 'object' || client === null || typeof client.set !== 'function') {
    throw new TypeError('client must be an ioredis-compatible client with set(key, value, "EX", ttl, "NX")');
  }
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const prefix = options.prefix ?? 'aauth:replay:';
  if (typeof prefix !== 'string') throw new TypeError('options.prefix must be a string');
  const timeoutMs = positiveInteger(options.timeoutMs, 'options.timeoutMs', 1000);
  const maxPending = positiveInteger(options.maxPending, 'options.maxPending', 1000);
  const failOpen = options.failOpen ?? false;
  if (typeof failOpen !== 'boolean') throw new TypeError('options.failOpen must be a boolean');
  const onFailure = options.onFailure;
  if (onFailure !== undefined && typeof onFailure !== 'function') throw new TypeError('options.onFailure must be a function');
  let warned = false;

  function report(error: AAuthError): void {
    if (onFailure) {
      // A failing logger (a throw, a rejection) must not change the answer or end the process.
      callQuietly(onFailure, { error, failedOpen: failOpen });
      return;
    }
    if (warned) return;
    warned = true;
    const what = failOpen ? 'requests are accepted WITHOUT replay protection (failOpen)' : 'requests needing a replay check are refused with 503';
    process.emitWarning(`AAuth Redis replay store failed (${storeFailureText(error)}): ${what} until Redis answers again`, { code: 'AAUTH_REPLAY_STORE_FAILED' });
  }

  // Commands Redis has not answered stay queued in the client (offline queue, or sent and
  // unanswered to a hung server): bounded, so an outage cannot grow memory without limit.
  const command = boundedCommands({ code: 'replay_store_failed', store: 'The replay store', waiting: 'replay checks', timeoutMs, maxPending, status: () => client.status });

  // Each check writes a value of its own (this store's tag and a counter), so that reading the key
  // back tells this check's own earlier write from another's.
  const tag = randomBytes(9).toString('base64url');
  let attempts = 0;

  async function check(key: string, ttl: number): Promise<boolean> {
    const name = `${prefix}${key}`;
    attempts = attempts >= Number.MAX_SAFE_INTEGER ? 1 : attempts + 1;
    const value = `${tag}.${attempts}`;
    if ((await command(() => client.set(name, value, 'EX', ttl, 'NX'))) === 'OK') return true;
    // Found: another's write (a replay), or this very SET run twice (re-sent after a dropped connection).
    const get = client.get;
    return typeof get === 'function' && (await command(() => get.call(client, name))) === value;
  }

  return {
    async checkAndStore(key: string, ttlSeconds: number): Promise<boolean> {
      const ttl = Math.max(1, Math.ceil(ttlSeconds));
      let first: boolean;
      try {
        first = await check(key, ttl);
      } catch (error) {
        const e = error as AAuthError;
        report(e);
        if (failOpen) return true;
        throw e;
      }
      warned = false;
      return first;
    },
  };
}
