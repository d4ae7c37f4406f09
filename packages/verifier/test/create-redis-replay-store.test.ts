import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateKey } from '@aauth-kit/core';
import { createRedisReplayStore, createVerifier } from '@aauth-kit/verifier';
import { sign } from './helpers.js';

function redisUrl(): string {
  const url = inject('redisUrl');
  if (!url) throw new Error(`Redis is required for this test: ${inject('redisProblem')}`);
  return url;
}

describe('createRedisReplayStore (real redis-server from the test setup)', () => {
  let a: Redis;
  let b: Redis;
  beforeAll(() => {
    a = new Redis(redisUrl(), { lazyConnect: false, maxRetriesPerRequest: 1 });
    b = new Redis(redisUrl(), { lazyConnect: false, maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await Promise.all([a?.quit(), b?.quit()]);
  });

  it('SET NX EX: first use true, second false, with the TTL set', async () => {
    const store = createRedisReplayStore(a, { prefix: `t1:${Date.now()}:` });
    expect(await store.checkAndStore('k', 30)).toBe(true);
    expect(await store.checkAndStore('k', 30)).toBe(false);
    const keys = await a.keys('t1:*');
    expect(keys).toHaveLength(1);
    const ttl = await a.ttl(keys[0]!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30);
  });

  it('a SET that Redis runs twice (ioredis re-sends a command whose answer a dropped connection lost) is still the first use', async () => {
    // The client a resend makes: Redis runs the command, then again; the caller hears the second answer.
    const twice = { set: async (...args: Parameters<Redis['set']>) => (await (a.set as (...x: unknown[]) => Promise<unknown>)(...args), (a.set as (...x: unknown[]) => Promise<unknown>)(...args)), get: (k: string) => a.get(k) };
    const prefix = `t3:${Date.now()}:`;
    const store = createRedisReplayStore(twice as never, { prefix });
    expect(await store.checkAndStore('k', 30)).toBe(true);
    // A real replay, from this store or another, is still a replay.
    expect(await store.checkAndStore('k', 30)).toBe(false);
    expect(await createRedisReplayStore(b, { prefix }).checkAndStore('k', 30)).toBe(false);
    // Without get() (a client that cannot read back) a found key is a replay, as before.
    const noGet = createRedisReplayStore({ set: twice.set } as never, { prefix });
    expect(await noGet.checkAndStore('k2', 30)).toBe(false);
  });

  it('two verifiers on two connections reject each other replays', async () => {
    const prefix = `t2:${Date.now()}:`;
    const identity = 'https://api.example';
    const v1 = createVerifier({ identity, replay: { store: createRedisReplayStore(a, { prefix }) } });
    const v2 = createVerifier({ identity, replay: { store: createRedisReplayStore(b, { prefix }) } });
    const req = sign({ method: 'POST', url: `${identity}/orders`, headers: { 'content-type': 'application/json' }, body: '{"qty":1}' }, generateKey());
    await expect(v1.verify(req)).resolves.toBeTruthy();
    await expect(v2.verify(req)).rejects.toMatchObject({ code: 'signature_replayed', status: 401 });
    await expect(v1.verify(req)).rejects.toMatchObject({ code: 'signature_replayed' });
  });

  it('validates its client', () => {
    expect(() => createRedisReplayStore({} as never)).toThrow(TypeError);
  });
});
