import { AAuthError } from '@aauth-kit/core';
import { boundedCommands, callQuietly } from '@aauth-kit/core/internal';

/**
 * The Redis commands the auth server's shared stores send, as ioredis (and compatible clients)
 * expose them: `EVAL` for the atomic scripts, `SET ... EX ... NX` for the single-use stores.
 */
export interface RedisStoreClient {
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  set(key: string, value: string, expiryMode: 'EX', ttlSeconds: number, mode: 'NX'): Promise<unknown>;
  /** ioredis's connection state: while `'reconnecting'`, `'close'` or `'end'` a command fails at once. */
  readonly status?: string | undefined;
}

/** Runs one Lua script; every call is bounded in time and in number, and fails as 503 `store_unavailable`. */
export type RunScript = (script: string, keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/**
 * A bounded `EVAL`: refused at once while the client is disconnected or `maxPending` calls wait,
 * else Redis's answer or, past `timeoutMs`, 503 `store_unavailable` with `Retry-After`. A script is
 * atomic in Redis, so a call that timed out either ran whole or not at all. `onFailure` hears
 * every refusal (Redis's own error, if any, is its `cause`).
 */
export function createScriptRunner(client: RedisStoreClient, timeoutMs: number, maxPending: number, onFailure?: (error: AAuthError) => void): RunScript {
  const command = boundedCommands({ code: 'store_unavailable', store: 'The shared state store', waiting: 'commands', timeoutMs, maxPending, status: () => client.status });
  return async (script, keys, args) => {
    try {
      return await command(() => client.eval(script, keys.length, ...keys, ...args));
    } catch (error) {
      if (error instanceof AAuthError) tell(onFailure, error);
      throw error;
    }
  };
}

/** A failing logger (a throw, a rejection) must not change the answer or end the process. */
function tell(onFailure: ((error: AAuthError) => void) | undefined, error: AAuthError): void {
  if (onFailure !== undefined) callQuietly(onFailure, error);
}

/**
 * Reads back JSON the store wrote itself: an object, or with `shape: 'array'` an array. A value it
 * cannot read (a key overwritten by hand, a value cut short) is a failing store: 503
 * `store_unavailable`, heard by `onFailure`; never a 500, and never read as "no such record".
 */
export function readStored<T>(json: string, what: string, onFailure?: (error: AAuthError) => void, shape: 'object' | 'array' = 'object'): T {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    value = undefined;
  }
  if (shape === 'array' ? Array.isArray(value) : typeof value === 'object' && value !== null && !Array.isArray(value)) return value as T;
  const error = new AAuthError('store_unavailable', `The shared state store holds ${what} that is not the JSON ${shape} the kit wrote (changed outside the kit?); delete that key or restore it from a backup`);
  tell(onFailure, error);
  throw error;
}
