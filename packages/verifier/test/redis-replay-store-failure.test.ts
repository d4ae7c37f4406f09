import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AAuthError, generateKey } from '@aauth-kit/core';
import { createRedisReplayStore, createVerifier, type RedisLikeClient, type ReplayStore, type ReplayStoreFailure } from '@aauth-kit/verifier';
import { sign } from './helpers.js';

// Issue 13, finding 7, at the store: every check is bounded (timeoutMs), the client's queue is
// bounded (maxPending, no commands while disconnected), a failure is 503 `replay_store_failed`
// with Retry-After, and failOpen (off by default) accepts and reports.

/** A client whose commands are never answered (a hung Redis), counting what was sent. */
function hungClient(status?: string): RedisLikeClient & { sent: number } {
  const client = {
    sent: 0,
    status,
    set: () => {
      client.sent++;
      return new Promise<unknown>(() => {});
    },
  };
  return client;
}

async function failure(promise: Promise<unknown>): Promise<AAuthError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AAuthError);
  return error as AAuthError;
}

describe('createRedisReplayStore when Redis fails', () => {
  it('a hung Redis: the check fails after timeoutMs with 503 replay_store_failed and Retry-After', async () => {
    const store = createRedisReplayStore(hungClient(), { timeoutMs: 50, onFailure: () => {} });
    const e = await failure(store.checkAndStore('k', 30));
    expect([e.code, e.status, e.error]).toEqual(['replay_store_failed', 503, 'server_error']);
    expect(e.headers['Retry-After']).toBe('1');
  });

  it('bounds the commands waiting on Redis: beyond maxPending a check fails at once, without a command', async () => {
    const client = hungClient();
    const store = createRedisReplayStore(client, { timeoutMs: 50, maxPending: 2, onFailure: () => {} });
    const first = [failure(store.checkAndStore('a', 30)), failure(store.checkAndStore('b', 30))];
    const third = await failure(store.checkAndStore('c', 30));
    expect(third.code).toBe('replay_store_failed');
    expect(third.message).toMatch(/Too many replay checks/);
    expect(client.sent).toBe(2);
    await Promise.all(first);
    // Timed-out commands still count until the client settles them (they are still queued there).
    await failure(store.checkAndStore('d', 30));
    expect(client.sent).toBe(2);
  });

  it('sends nothing while an ioredis client is reconnecting (its offline queue would grow)', async () => {
    for (const status of ['reconnecting', 'end', 'close']) {
      const client = hungClient(status);
      const store = createRedisReplayStore(client, { onFailure: () => {} });
      const e = await failure(store.checkAndStore('k', 30));
      expect([e.code, e.status]).toEqual(['replay_store_failed', 503]);
      expect(client.sent).toBe(0);
    }
  });

  it('a client error is replay_store_failed with the error as cause, and its message is not the description', async () => {
    const boom = new Error('connect ECONNREFUSED 127.0.0.1:6379');
    const store = createRedisReplayStore({ set: () => Promise.reject(boom) }, { onFailure: () => {} });
    const e = await failure(store.checkAndStore('k', 30));
    expect([e.code, e.status]).toEqual(['replay_store_failed', 503]);
    expect(e.cause).toBe(boom);
    expect(JSON.stringify(e.toJSON())).not.toMatch(/ECONNREFUSED|6379/);
  });

  it('failOpen (off by default) accepts and reports each failure as an event', async () => {
    const events: ReplayStoreFailure[] = [];
    const store = createRedisReplayStore(hungClient(), { timeoutMs: 20, failOpen: true, onFailure: (f) => events.push(f) });
    expect(await store.checkAndStore('k', 30)).toBe(true);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ failedOpen: true, error: { code: 'replay_store_failed', status: 503 } });
  });

  it('without onFailure, warns once per outage (process warning AAUTH_REPLAY_STORE_FAILED)', async () => {
    let fail = true;
    const client: RedisLikeClient = { set: () => (fail ? Promise.reject(new Error('down')) : Promise.resolve('OK')) };
    const store = createRedisReplayStore(client);
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      await failure(store.checkAndStore('a', 30));
      await failure(store.checkAndStore('b', 30));
      fail = false;
      expect(await store.checkAndStore('c', 30)).toBe(true);
      fail = true;
      await failure(store.checkAndStore('d', 30));
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => (w as Error & { code?: string }).code === 'AAUTH_REPLAY_STORE_FAILED')).toHaveLength(2);
  });

  it('validates its options', () => {
    const c = hungClient();
    expect(() => createRedisReplayStore(c, { timeoutMs: 0 })).toThrow(/options.timeoutMs must be a positive integer/);
    expect(() => createRedisReplayStore(c, { maxPending: 1.5 })).toThrow(/options.maxPending/);
    expect(() => createRedisReplayStore(c, { failOpen: 'yes' as never })).toThrow(/options.failOpen must be a boolean/);
    expect(() => createRedisReplayStore(c, { onFailure: 1 as never })).toThrow(/options.onFailure must be a function/);
  });
});

describe('the verifier over a failing replay store', () => {
  const identity = 'https://api.example';
  const post = () => sign({ method: 'POST', url: `${identity}/orders`, headers: { 'content-type': 'application/json' }, body: '{"n":1}' }, generateKey());

  it('a store that throws anything is 503 replay_store_failed with Retry-After, the error as cause', async () => {
    const boom = new Error('boom');
    const store: ReplayStore = { checkAndStore: () => Promise.reject(boom) };
    const e = await failure(createVerifier({ identity, replay: { store } }).verify(post()));
    expect([e.code, e.status]).toEqual(['replay_store_failed', 503]);
    expect(e.headers['Retry-After']).toBe('1');
    expect(e.cause).toBe(boom);
  });

  it("keeps the Redis store's own refusal (its message and Retry-After)", async () => {
    const store = createRedisReplayStore(hungClient(), { timeoutMs: 20, onFailure: () => {} });
    const e = await failure(createVerifier({ identity, replay: { store } }).verify(post()));
    expect([e.code, e.status]).toEqual(['replay_store_failed', 503]);
    expect(e.message).toMatch(/did not answer within 20 ms/);
    expect(e.headers['Retry-After']).toBe('1');
  });
});

describe('a real ioredis client to a server that accepts and never answers', () => {
  let server: Server;
  const sockets: Socket[] = [];
  let client: Redis;
  beforeAll(async () => {
    server = createServer((socket) => void sockets.push(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    client = new Redis({ host: '127.0.0.1', port });
    client.on('error', () => {});
  });
  afterAll(async () => {
    client.disconnect();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  it('refuses within its timeout, then fails at once past maxPending', async () => {
    const store = createRedisReplayStore(client, { timeoutMs: 100, maxPending: 3, onFailure: () => {} });
    for (let i = 0; i < 5; i++) {
      const e = await failure(store.checkAndStore(`k${i}`, 30));
      expect([e.code, e.status]).toEqual(['replay_store_failed', 503]);
    }
  });
});
