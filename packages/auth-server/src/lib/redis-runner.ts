import { AAuthError } from '@aauth-kit/core';

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

/** ioredis states in which a command would only wait in the client's offline queue. */
const DISCONNECTED = new Set(['reconnecting', 'close', 'end']);

/** Runs one Lua script; every call is bounded in time and in number, and fails as 503 `store_unavailable`. */
export type RunScript = (script: string, keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/**
 * A bounded `EVAL`: refused at once while the client is disconnected or `maxPending` calls wait,
 * else Redis's answer or, past `timeoutMs`, 503 `store_unavailable` with `Retry-After`. A script is
 * atomic in Redis, so a call that timed out either ran whole or not at all.
 */
export function createScriptRunner(client: RedisStoreClient, timeoutMs: number, maxPending: number): RunScript {
  const retryAfter = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  const failure = (message: string, cause?: unknown): AAuthError =>
    new AAuthError('store_unavailable', message, { headers: { 'Retry-After': retryAfter }, ...(cause === undefined ? {} : { cause }) });
  let pending = 0;
  return async (script, keys, args) => {
    if (typeof client.status === 'string' && DISCONNECTED.has(client.status)) throw failure('The shared state store is not connected');
    if (pending >= maxPending) throw failure('Too many commands are waiting for the shared state store');
    pending++;
    let sent: Promise<unknown>;
    try {
      sent = Promise.resolve(client.eval(script, keys.length, ...keys, ...args));
    } catch (error) {
      pending--;
      throw failure('The shared state store failed', error);
    }
    sent.then(
      () => void pending--,
      () => void pending--,
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(failure(`The shared state store did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([sent, late]);
    } catch (error) {
      throw error instanceof AAuthError ? error : failure('The shared state store failed', error);
    } finally {
      clearTimeout(timer);
    }
  };
}
