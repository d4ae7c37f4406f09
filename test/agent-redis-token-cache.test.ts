import { randomBytes } from 'node:crypto';
import { createAgent, createRedisTokenCache, type CachedToken, type RedisTokenCache } from '@aauth-kit/agent';
import { createAuthServer } from '@aauth-kit/auth-server';
import { generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express from 'express';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, listen } from './fixtures/http.js';
import { hostedAgent, type HostedAgent } from './fixtures/hosted-agent.js';
import { startOwnRedis } from './fixtures/redis-server.js';

// Issue 17: agent replicas that share one key share their auth tokens through Redis
// (createRedisTokenCache): a token one replica obtained is presented by another without a second
// token request; replicas with another key never see it; a replica started later loads what Redis
// holds; a failing Redis costs only the sharing. Real redis-server, embedded auth server, express
// resource, all on loopback.

const url = inject('redisUrl');
const realmFile = new URL('../keycloak-realm/aauth-test-realm.json', import.meta.url);
const open: Array<{ close(): Promise<void> }> = [];
const connections: Redis[] = [];
let issuer: string;
let resourceUrl: string;
let prefix: string;
const posts: string[] = [];

/** Counts token requests of every replica. */
const counting: typeof fetch = async (input, init) => {
  const target = String(input instanceof Request ? input.url : input);
  if (target.endsWith('/protocol/aauth/token')) posts.push(target);
  return fetch(input, init);
};

function connect(to = url): Redis {
  const c = new Redis(to, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  connections.push(c);
  return c;
}
const ready = (c: Redis): Promise<void> => (c.status === 'ready' ? Promise.resolve() : new Promise((r) => c.once('ready', () => r())));

/** A shared cache for `thumbprint`, with a count of the messages its subscriber received. */
async function sharedCache(thumbprint: string, onError?: (e: unknown) => void): Promise<{ cache: RedisTokenCache; messages: () => number }> {
  const [client, subscriber] = [connect(), new Redis(url)];
  subscriber.on('error', () => {});
  connections.push(subscriber);
  await Promise.all([ready(client), ready(subscriber)]);
  let messages = 0;
  subscriber.on('message', () => void messages++);
  const cache = createRedisTokenCache(client, { keyThumbprint: thumbprint, subscriber, prefix, ...(onError ? { onError } : {}) });
  await cache.ready;
  return { cache, messages: () => messages };
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeAll(async () => {
  prefix = `aauth:test-agent-tokens:${randomBytes(6).toString('hex')}:`;
  const port = await freePort();
  const server = createAuthServer({ realm: realmFile.pathname, baseUrl: `http://127.0.0.1:${port}`, signingAlgorithm: 'EdDSA', onWarning: () => undefined });
  open.push(await server.listen(port, '127.0.0.1'));
  issuer = server.issuer;
  const app = express();
  const listening = await listen(app);
  open.push(listening);
  const resource = createResource({ identity: listening.origin, key: generateKey({ kid: 'r-1' }), authServer: issuer });
  app.use(resource.wellKnown());
  app.get('/analysis', resource.require({ scope: 'market-analysis:analyze' }), (req, res) => res.json({ agent: req.aauth?.agent }));
  resourceUrl = `${listening.origin}/analysis`;
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  for (const c of connections) c.disconnect();
});

describe('createRedisTokenCache: agent replicas sharing one key', () => {
  let first: HostedAgent;

  it('a token obtained by one replica is presented by another: one token request for both', async () => {
    const key = generateKey({ kid: 'agent-1' });
    const one = await sharedCache(key.thumbprint);
    const two = await sharedCache(key.thumbprint);
    first = await hostedAgent({ key, authServer: issuer, fetch: counting, tokenCache: one.cache });
    open.push(first);
    const second = createAgent({ identity: first.identity, key, authServer: issuer, fetch: counting, tokenCache: two.cache });
    const before = posts.length;
    const a = await first.agent.fetch(resourceUrl);
    expect(a.status).toBe(200);
    expect(await a.json()).toEqual({ agent: first.identity });
    expect(posts.length - before).toBe(1);
    await until("replica two's copy", () => two.messages() >= 1);
    const b = await second.fetch(resourceUrl);
    expect(b.status).toBe(200);
    expect(await b.json()).toEqual({ agent: first.identity });
    expect(posts.length - before).toBe(1);

    // A replica started later loads what Redis holds, and asks nothing either.
    const late = await sharedCache(key.thumbprint);
    const third = createAgent({ identity: first.identity, key, authServer: issuer, fetch: counting, tokenCache: late.cache });
    expect((await third.fetch(resourceUrl)).status).toBe(200);
    expect(posts.length - before).toBe(1);
  });

  it('replicas with another key never see the tokens (the thumbprint names the hash and the channel)', async () => {
    const other = generateKey({ kid: 'agent-1' });
    const cache = await sharedCache(other.thumbprint);
    const agent = await hostedAgent({ key: other, authServer: issuer, fetch: counting, tokenCache: cache.cache });
    open.push(agent);
    const before = posts.length;
    expect((await agent.agent.fetch(resourceUrl)).status).toBe(200);
    expect(posts.length - before).toBe(1);
  });

  it('delete, deleteResource and clear reach every replica; malformed messages and entries are ignored', async () => {
    const tp = generateKey().thumbprint;
    const one = await sharedCache(tp);
    const two = await sharedCache(tp);
    const entry = (resource: string): CachedToken => ({ token: 'eyJ.x.y', expiresAt: Date.now() / 1000 + 300, resource, scope: 's', authServer: issuer, signAs: 'jwks_uri' });
    // Fields as the agent names them: [resource, scope, agent, upstream].
    const k1 = JSON.stringify(['https://r1.example', 's', 'a', '']);
    const k2 = JSON.stringify(['https://r1.example', 's2', 'a', '']);
    const k3 = JSON.stringify(['https://r2.example', 's', 'a', '']);
    const k9 = JSON.stringify(['https://r9.example', 's', 'a', '']);
    const e1 = entry('https://r1.example');
    one.cache.set(k1, e1);
    one.cache.set(k2, entry('https://r1.example'));
    one.cache.set(k3, entry('https://r2.example'));
    await until('three copies', () => two.cache.get(k3) !== undefined);
    expect(two.cache.get(k1)).toEqual(e1);
    one.cache.delete(k1);
    await until('k1 gone', () => two.cache.get(k1) === undefined);
    one.cache.deleteResource('https://r1.example');
    await until('r1 gone', () => two.cache.get(k2) === undefined);
    expect(two.cache.get(k3)?.resource).toBe('https://r2.example');
    // Garbage on the channel, and an entry of the wrong shape, change nothing.
    const publisher = connect();
    await ready(publisher);
    const channel = `${prefix}${tp}`;
    const seen = two.messages();
    await publisher.publish(channel, 'not json');
    await publisher.publish(channel, JSON.stringify({ op: 'set', key: k9, value: JSON.stringify({ token: 1 }) }));
    await until('two odd messages', () => two.messages() >= seen + 2);
    expect(two.cache.get(k9)).toBeUndefined();
    expect(two.cache.get(k3)?.resource).toBe('https://r2.example');
    one.cache.clear();
    await until('cleared', () => two.cache.get(k3) === undefined);
    // Redis itself holds nothing more for this key.
    expect(await publisher.hlen(channel)).toBe(0);
  });

  it('property: whatever is published on the channel, the cache neither throws nor holds a malformed entry', async () => {
    const tp = generateKey().thumbprint;
    const one = await sharedCache(tp);
    const publisher = connect();
    await ready(publisher);
    const channel = `${prefix}${tp}`;
    const value = fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.record({ token: fc.jsonValue(), expiresAt: fc.jsonValue(), resource: fc.jsonValue(), scope: fc.jsonValue() }).map((v) => JSON.stringify(v)));
    const message = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.record({ op: fc.constantFrom('set', 'delete', 'deleteResource', 'clear', 'other'), key: fc.constantFrom('p1', 'p2'), value, resource: fc.jsonValue() }).map((v) => JSON.stringify(v)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(message, { maxLength: 5 }), async (messages) => {
        const seen = one.messages();
        for (const m of messages) await publisher.publish(channel, m);
        await until('the messages', () => one.messages() >= seen + messages.length);
        for (const k of ['p1', 'p2']) {
          const entry = one.cache.get(k);
          if (entry === undefined) continue;
          expect(typeof entry.token).toBe('string');
          expect(typeof entry.expiresAt).toBe('number');
          expect(typeof entry.resource).toBe('string');
          expect(typeof entry.scope).toBe('string');
        }
      }),
      { numRuns: 50 },
    );
  });

  it('a failing Redis costs only the sharing: the agent obtains its own token, onError hears of it', async () => {
    const deadPort = await freePort();
    const errors: unknown[] = [];
    const client = new Redis(`redis://127.0.0.1:${deadPort}`, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
    client.on('error', () => {});
    connections.push(client);
    const subscriber = new Redis(`redis://127.0.0.1:${deadPort}`, { lazyConnect: true, retryStrategy: () => null, enableOfflineQueue: false });
    subscriber.on('error', () => {});
    connections.push(subscriber);
    const key = generateKey({ kid: 'agent-1' });
    const cache = createRedisTokenCache(client, { keyThumbprint: key.thumbprint, subscriber, prefix, onError: (e) => errors.push(e) });
    await expect(cache.ready).rejects.toThrow();
    const agent = await hostedAgent({ key, authServer: issuer, fetch: counting, tokenCache: cache });
    open.push(agent);
    const before = posts.length;
    expect((await agent.agent.fetch(resourceUrl)).status).toBe(200);
    expect((await agent.agent.fetch(resourceUrl)).status).toBe(200);
    expect(posts.length - before).toBe(1);
    await until('the failed write reported', () => errors.length >= 2);
  });

  it("an entry under another resource's field, planted in Redis or published, is never held or presented", async () => {
    const key = generateKey({ kid: 'agent-1' });
    const channel = `${prefix}${key.thumbprint}`;
    const origin = new URL(resourceUrl).origin;
    const field = JSON.stringify([origin, 'market-analysis:analyze', 'x', '']);
    // A live-looking entry for another resource, copied under this resource's field.
    const foreign: CachedToken = { token: 'eyJ.other.resource', expiresAt: Date.now() / 1000 + 300, resource: 'https://other.example', scope: 'market-analysis:analyze', authServer: issuer };
    const publisher = connect();
    await ready(publisher);
    await publisher.hset(channel, field, JSON.stringify(foreign));
    const loaded = await sharedCache(key.thumbprint);
    expect(loaded.cache.get(field)).toBeUndefined();
    const seen = loaded.messages();
    await publisher.publish(channel, JSON.stringify({ op: 'set', key: field, value: JSON.stringify(foreign) }));
    await until('the message', () => loaded.messages() > seen);
    expect(loaded.cache.get(field)).toBeUndefined();
    // The same entry in a cache the agent was given: it asks for its own token instead of presenting it.
    const agent = await hostedAgent({ key, authServer: issuer, fetch: counting, tokenCache: loaded.cache });
    open.push(agent);
    const agentField = JSON.stringify([origin, 'market-analysis:analyze', agent.identity, '']);
    loaded.cache.set(agentField, foreign);
    const before = posts.length;
    const res = await agent.agent.fetch(resourceUrl);
    expect(res.status).toBe(200);
    expect(posts.length - before).toBe(1);
    expect(loaded.cache.get(agentField)?.resource).toBe(origin);
  });

  it('a frozen Redis: ready rejects within readyTimeoutMs, unanswered writes are capped; thawed, the replica shares again', async () => {
    const own = await startOwnRedis();
    try {
      const tp = generateKey().thumbprint;
      const client = new Redis(own.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
      const subscriber = new Redis(own.url);
      for (const c of [client, subscriber]) {
        c.on('error', () => {});
        connections.push(c);
      }
      await Promise.all([ready(client), ready(subscriber)]);
      process.kill(own.pid!, 'SIGSTOP');
      const errors: string[] = [];
      const cache = createRedisTokenCache(client, { keyThumbprint: tp, subscriber, prefix, readyTimeoutMs: 300, maxPendingWrites: 3, onError: (e) => errors.push(String((e as Error).message)) });
      await expect(cache.ready).rejects.toThrow('Redis did not answer within 300 ms: tokens are not shared until it does');
      const field = (n: number) => JSON.stringify([`https://r${n}.example`, 's', 'a', '']);
      for (let n = 0; n < 10; n++) cache.set(field(n), { token: `t${n}`, expiresAt: Date.now() / 1000 + 300, resource: `https://r${n}.example`, scope: 's' });
      // Held locally all the same; only three writes went out, the rest reported once.
      expect(cache.get(field(9))?.token).toBe('t9');
      await until('the cap reported', () => errors.some((m) => m.includes('left 3 token cache writes unanswered')));
      expect(errors.filter((m) => m.includes('unanswered'))).toHaveLength(1);
      process.kill(own.pid!, 'SIGCONT');
      // Thawed: the late start completes, and another replica's token reaches this one.
      const [otherClient, otherSubscriber] = [connect(own.url), connect(own.url)];
      await Promise.all([ready(otherClient), ready(otherSubscriber)]);
      const other = createRedisTokenCache(otherClient, { keyThumbprint: tp, subscriber: otherSubscriber, prefix });
      await other.ready;
      await until('the first three writes in Redis', () => other.get(field(2)) !== undefined);
      expect(other.get(field(5))).toBeUndefined();
      other.set(field(20), { token: 't20', expiresAt: Date.now() / 1000 + 300, resource: 'https://r20.example', scope: 's' });
      await until('the other replica\'s token', () => cache.get(field(20))?.token === 't20');
    } finally {
      if (own.pid !== undefined) process.kill(own.pid, 'SIGCONT');
      await own.close();
    }
  });

  it('a replica started while Redis is down shares tokens once Redis is back', async () => {
    const own = await startOwnRedis();
    try {
      const tp = generateKey().thumbprint;
      await own.kill();
      const client = new Redis(own.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
      const subscriber = new Redis(own.url, { retryStrategy: () => 50 });
      for (const c of [client, subscriber]) {
        c.on('error', () => {});
        connections.push(c);
      }
      const cache = createRedisTokenCache(client, { keyThumbprint: tp, subscriber, prefix, readyTimeoutMs: 500 });
      await expect(cache.ready).rejects.toThrow();
      await own.start();
      const [otherClient, otherSubscriber] = [connect(own.url), connect(own.url)];
      await Promise.all([ready(otherClient), ready(otherSubscriber)]);
      const other = createRedisTokenCache(otherClient, { keyThumbprint: tp, subscriber: otherSubscriber, prefix });
      await other.ready;
      const field = JSON.stringify(['https://late.example', 's', 'a', '']);
      // Until the late replica has subscribed, a change may pass it by: publish until it arrives.
      await until('the token shared with the late replica', () => {
        if (cache.get(field) === undefined) other.set(field, { token: 'late', expiresAt: Date.now() / 1000 + 300, resource: 'https://late.example', scope: 's' });
        return cache.get(field)?.token === 'late';
      });
    } finally {
      await own.close();
    }
  });

  it('refuses a key thumbprint that is not one, naming the option', () => {
    expect(() => createRedisTokenCache(connect(), { keyThumbprint: 'abc', subscriber: new Redis(url, { lazyConnect: true }) })).toThrow(
      'options.keyThumbprint must be the RFC 7638 thumbprint of the agent key (key.thumbprint)',
    );
  });
});
