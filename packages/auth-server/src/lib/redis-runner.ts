import { AAuthError } from '@aauth-kit/core';
import { boundedCommands } from '@aauth-kit/core/internal';

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
      if (onFailure !== undefined && error instanceof AAuthError) {
        try {
          onFailure(error);
        } catch {
          // A failing logger must not change the answer.
        }
      }
      throw error;
    }
  };
}
