import { createRedisTokenCache } from '@aauth-kit/agent';
import { createRedisPendingStore } from '@aauth-kit/auth-server';
import { generateKey, signRequest } from '@aauth-kit/core';
import { callQuietly } from '@aauth-kit/core/internal';
import { createResource } from '@aauth-kit/express';
import { createRedisReplayStore } from '@aauth-kit/verifier';
import express from 'express';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort, listen, type Listening } from './fixtures/http.js';

// The kit's logger hooks (express onError, the Redis replay store's and the auth server stores'
// onFailure, the Redis token cache's onError) are application code whose failure must change
// nothing. A hook written `async` rejects instead of throwing: unhandled, that rejection ends a
// Node process. Each hook below rejects; the answers stay what they were and no rejection is left
// unhandled.

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
const open: Array<{ close(): Promise<void> }> = [];
const clients: Redis[] = [];
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});
afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  for (const c of clients) c.disconnect();
});

/** Lets promise callbacks and timers of the hooks run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

/** An async hook that rejects, counting its calls. */
function rejecting() {
  const hook = Object.assign(async (..._args: unknown[]) => {
    hook.calls++;
    throw new Error('log shipper down');
  }, { calls: 0 });
  return hook;
}

/** An ioredis client on a port nothing listens on. */
async function deadRedis(): Promise<Redis> {
  const client = new Redis(`redis://127.0.0.1:${await freePort()}`, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
  client.on('error', () => {});
  clients.push(client);
  return client;
}

describe('an async logger hook that rejects changes no answer and ends no process', () => {
  it('callQuietly drops a throw and a rejection, and passes the arguments', async () => {
    const seen: unknown[] = [];
    callQuietly((a: number, b: string) => {
      seen.push(a, b);
      throw new Error('sync');
    }, 1, 'x');
    callQuietly(async () => {
      throw new Error('async');
    });
    await settle();
    expect(seen).toEqual([1, 'x']);
    expect(unhandled).toEqual([]);
  });

  it("express: createResource's onError rejecting on a refused request: the 401 stands", async () => {
    const onError = rejecting();
    const app = express();
    const listening: Listening = await listen(app);
    open.push(listening);
    const resource = createResource({ identity: listening.origin, key: generateKey({ kid: 'quiet-resource' }), onError });
    app.get('/data', resource.require({ level: 'identity' }), (_req, res) => res.json({ ok: true }));
    const agentKey = generateKey({ kid: 'quiet-agent' });
    const signed = signRequest({ method: 'GET', url: `${listening.origin}/data`, headers: {} }, { key: agentKey, signatureKey: { scheme: 'hwk', jwk: agentKey.jwk } }).headers;
    // A signature over another path: refused, and the refusal is reported to onError.
    const res = await fetch(`${listening.origin}/data?tampered=1`, { headers: signed });
    expect(res.status).toBe(401);
    await settle();
    expect(onError.calls).toBe(1);
    expect(unhandled).toEqual([]);
  });

  it("the verifier's Redis replay store: onFailure rejecting while Redis is down: 503 replay_store_failed", async () => {
    const onFailure = rejecting();
    const store = createRedisReplayStore(await deadRedis(), { timeoutMs: 100, onFailure });
    await expect(store.checkAndStore('k', 30)).rejects.toMatchObject({ code: 'replay_store_failed', status: 503 });
    await settle();
    expect(onFailure.calls).toBe(1);
    expect(unhandled).toEqual([]);
  });

  it("the auth server's Redis stores: onFailure rejecting while Redis is down: 503 store_unavailable", async () => {
    const onFailure = rejecting();
    const store = createRedisPendingStore(await deadRedis(), { timeoutMs: 100, onFailure });
    await expect(store.get('id')).rejects.toMatchObject({ code: 'store_unavailable', status: 503 });
    await settle();
    expect(onFailure.calls).toBe(1);
    expect(unhandled).toEqual([]);
  });

  it("the agent's Redis token cache: onError rejecting while Redis is down: the cache still answers from memory", async () => {
    const onError = rejecting();
    const cache = createRedisTokenCache(await deadRedis(), { keyThumbprint: generateKey({ kid: 'quiet-cache' }).thumbprint, subscriber: await deadRedis(), onError, readyTimeoutMs: 200 });
    await expect(cache.ready).rejects.toThrow();
    await settle();
    expect(onError.calls).toBeGreaterThanOrEqual(1);
    expect(unhandled).toEqual([]);
  });
});
