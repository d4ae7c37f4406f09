import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isAAuthError, type AAuthError } from '@aauth-kit/core';
import { createMemoryPendingStore, createRedisAuthServerStores, createRedisPendingStore, type PendingRequest, type PendingStore } from '../src/index.js';
import { BRUTE_FORCE_DEFAULTS, createMemoryRateLimitStore, type BruteForceSettings } from '../src/lib/brute-force.js';
import { startOwnRedis, type OwnRedis } from '../../../test/fixtures/redis-server.js';

// Issue 17: the Redis stores keep the contract of the memory ones (the same tests run on both),
// and hold it between two clients (two auth servers): a request decided once and taken once, the
// same caps, the same Keycloak arithmetic for rate limits; a failing Redis is 503 store_unavailable.

const url = inject('redisUrl');
let clients: Redis[] = [];
const client = (): Redis => {
  const c = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
  c.on('error', () => {});
  clients.push(c);
  return c;
};
const ready = (c: Redis): Promise<void> => (c.status === 'ready' ? Promise.resolve() : new Promise((r) => c.once('ready', () => r())));
const fresh = (): string => `aauth:test:${randomBytes(6).toString('hex')}:`;

afterAll(() => {
  for (const c of clients) c.disconnect();
  clients = [];
});

function request(id: string, code: string, createdAt = 1000, over: Partial<PendingRequest> = {}): PendingRequest {
  return {
    id,
    code,
    thumbprint: 'tp',
    agent: 'http://localhost:1',
    resource: 'http://localhost:2',
    scope: 'a',
    consentScopes: [],
    kind: 'auth',
    cnfJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x' },
    createdAt,
    expiresAt: createdAt + 600,
    status: 'pending',
    ...over,
  };
}

const settings: BruteForceSettings = { ...BRUTE_FORCE_DEFAULTS, enabled: true, failureFactor: 3, waitIncrementSeconds: 60, maxFailureWaitSeconds: 150 };

type Make = (options: { now: () => number; maxEntries?: number; maxPerAgent?: number; maxPerResource?: number }) => Promise<PendingStore[]>;

const kinds: [string, Make][] = [
  ['memory', async (o) => [createMemoryPendingStore(o)]],
  [
    'redis (two clients, one prefix)',
    async (o) => {
      const prefix = fresh();
      const [c1, c2] = [client(), client()];
      await Promise.all([ready(c1), ready(c2)]);
      return [createRedisPendingStore(c1, { ...o, prefix }), createRedisPendingStore(c2, { ...o, prefix })];
    },
  ],
];

describe.each(kinds)('pending store contract: %s', (_name, make) => {
  it('finds a request by id and by code at every member, with its fields as put (empty arrays, -11 parts)', async () => {
    const [one, two = one] = await make({ now: () => 1000 });
    const draft11 = { cnfJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x', alg: 'EdDSA' }, expCap: 2000, justification: 'why' };
    await one!.put(request('id-1', 'CODE1', 1000, { draft11, act: { agent: 'http://a' } }));
    const got = await two!.get('id-1');
    expect(got).toEqual(request('id-1', 'CODE1', 1000, { draft11, act: { agent: 'http://a' } }));
    expect((await two!.getByCode('CODE1'))?.id).toBe('id-1');
    expect(await two!.get('nope')).toBeUndefined();
    expect(await two!.getByCode('NOPE')).toBeUndefined();
  });

  it('refuses a duplicate id or code (pending_conflict)', async () => {
    const [one, two = one] = await make({ now: () => 1000 });
    await one!.put(request('id-1', 'CODE1'));
    await expect(two!.put(request('id-1', 'CODE2'))).rejects.toMatchObject({ code: 'pending_conflict' });
    await expect(two!.put(request('id-2', 'CODE1'))).rejects.toMatchObject({ code: 'pending_conflict' });
  });

  it('records one decision of many racing ones, and none after expiry', async () => {
    let t = 1000;
    const stores = await make({ now: () => t });
    await stores[0]!.put(request('id-1', 'CODE1'));
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => stores[i % stores.length]!.decide('id-1', { status: i % 2 ? 'denied' : 'approved', sub: `u${i}`, username: `user${i}` })),
    );
    const winners = results.filter((r) => r !== undefined);
    expect(winners).toHaveLength(1);
    const stored = await stores.at(-1)!.get('id-1');
    expect(stored).toMatchObject({ status: winners[0]!.status, sub: winners[0]!.sub, username: winners[0]!.username });
    await stores[0]!.put(request('id-2', 'CODE2'));
    t = 1601;
    expect(await stores.at(-1)!.decide('id-2', { status: 'approved', sub: 'u1', username: 'user' })).toBeUndefined();
  });

  it('records an agent\'s withdrawal (AAuth -11 "Cancel Request") as it records a decision: once, visible by code, then no person decides', async () => {
    const stores = await make({ now: () => 1000 });
    await stores[0]!.put(request('id-1', 'CODE1'));
    expect(await stores.at(-1)!.decide('id-1', { status: 'withdrawn', sub: '', username: '' })).toMatchObject({ id: 'id-1', status: 'withdrawn' });
    expect(await stores[0]!.getByCode('CODE1')).toMatchObject({ status: 'withdrawn' });
    expect(await stores[0]!.decide('id-1', { status: 'approved', sub: 'u1', username: 'user' })).toBeUndefined();
    expect(await stores.at(-1)!.take('id-1')).toMatchObject({ status: 'withdrawn' });
  });

  it('keeps a clarification chat (AAuth -11 "Clarification Chat"): one open question at a time, at most max, answered once; none once decided or expired; seen by get, getByCode and take', async () => {
    let t = 1000;
    const stores = await make({ now: () => t });
    const [one, two = one] = [stores[0]!, stores.at(-1)!];
    await one.put(request('id-1', 'CODE1'));
    // Nothing to answer yet.
    expect(await two.converse!('id-1', { answer: 'early' })).toBeUndefined();
    expect((await one.converse!('id-1', { question: 'Why "this"? ü', max: 2 }))?.chat).toEqual([{ question: 'Why "this"? ü', asked: 1000 }]);
    // One open at a time: while it is open, no other question is taken.
    const blocked = await Promise.all(Array.from({ length: 6 }, (_, i) => stores[i % stores.length]!.converse!('id-1', { question: `q${i}`, max: 2 })));
    expect(blocked.filter((r) => r !== undefined)).toHaveLength(0);
    t = 1005;
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => stores[i % stores.length]!.converse!('id-1', { answer: `a${i}` })));
    const answered = answers.filter((r) => r !== undefined);
    expect(answered).toHaveLength(1);
    expect(answered[0]!.chat).toEqual([{ question: 'Why "this"? ü', asked: 1000, answer: answered[0]!.chat![0]!.answer, answered: 1005 }]);
    expect((await two.get('id-1'))?.chat).toEqual(answered[0]!.chat);
    expect((await one.getByCode('CODE1'))?.chat).toEqual(answered[0]!.chat);
    // None open: of racing questions exactly one is taken (the check and the write are one step).
    const racing = (await Promise.all(Array.from({ length: 6 }, (_, i) => stores[i % stores.length]!.converse!('id-1', { question: `And ${i}?`, max: 3 })))).filter((r) => r !== undefined);
    expect(racing).toHaveLength(1);
    expect(racing[0]!.chat).toHaveLength(2);
    expect((await one.get('id-1'))?.chat?.map((turn) => turn.question)).toEqual(['Why "this"? ü', racing[0]!.chat![1]!.question]);
    await one.converse!('id-1', { answer: 'Yes.' });
    // The most questions reached.
    expect(await two.converse!('id-1', { question: 'Third?', max: 2 })).toBeUndefined();
    // Decided: no more chat; the taker gets the chat with the request.
    expect(await one.decide('id-1', { status: 'approved', sub: 'u1', username: 'user' })).toBeDefined();
    expect(await two.converse!('id-1', { question: 'Late?', max: 9 })).toBeUndefined();
    expect((await two.take('id-1'))?.chat?.map((turn) => turn.answer)).toEqual([answered[0]!.chat![0]!.answer, 'Yes.']);
    // Expired: no chat.
    await one.put(request('id-2', 'CODE2', 1000));
    t = 1601;
    expect(await two.converse!('id-2', { question: 'Late?', max: 9 })).toBeUndefined();
    expect(await two.converse!('nope', { question: 'Who?', max: 9 })).toBeUndefined();
  });

  it('an answer with an updated request (AAuth -11 "Updated Request") replaces scope, consent scopes and the -11 part in the same step, once; the rest of the request is kept', async () => {
    const stores = await make({ now: () => 1000 });
    const [one, two = one] = [stores[0]!, stores.at(-1)!];
    const draft11 = { cnfJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x', alg: 'EdDSA' }, expCap: 2000, justification: 'all of it', resourceToken: ['https://r', 'jti-1'] as [string, string] };
    await one.put(request('id-1', 'CODE1', 1000, { scope: 'a b', consentScopes: ['a', 'b'], draft11 }));
    const update = { scope: 'a', consentScopes: ['a'], draft11: { ...draft11, justification: 'less', resourceToken: ['https://r', 'jti-2'] as [string, string] } };
    // No question open: nothing is replaced.
    expect(await two.converse!('id-1', { answer: 'x', update })).toBeUndefined();
    expect((await one.get('id-1'))?.scope).toBe('a b');
    await one.converse!('id-1', { question: 'Why b?', max: 5 });
    const racing = await Promise.all(Array.from({ length: 4 }, (_, i) => stores[i % stores.length]!.converse!('id-1', { answer: `only a ${i}`, update })));
    const won = racing.filter((r) => r !== undefined);
    expect(won).toHaveLength(1);
    const expected = { ...request('id-1', 'CODE1', 1000, update), chat: [{ question: 'Why b?', asked: 1000, answer: won[0]!.chat![0]!.answer, answered: 1000, updatedScope: 'a' }] };
    expect(won[0]).toEqual(expected);
    expect(await two.get('id-1')).toEqual(expected);
    expect(await one.getByCode('CODE1')).toEqual(expected);
  });

  it('hands a decided request out once, to one of many racing takers', async () => {
    const stores = await make({ now: () => 1000 });
    await stores[0]!.put(request('id-1', 'CODE1'));
    await stores.at(-1)!.decide('id-1', { status: 'approved', sub: 'u1', username: 'user' });
    const taken = await Promise.all(Array.from({ length: 10 }, (_, i) => stores[i % stores.length]!.take('id-1')));
    const got = taken.filter((r) => r !== undefined);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ id: 'id-1', status: 'approved', sub: 'u1' });
    expect(await stores[0]!.get('id-1')).toBeUndefined();
    expect(await stores[0]!.getByCode('CODE1')).toBeUndefined();
  });

  it('caps live requests per agent key and per resource (429 pending_limit_reached with Retry-After), counted across members', async () => {
    const stores = await make({ now: () => 1000, maxPerAgent: 2, maxPerResource: 3 });
    const at = (i: number) => stores[i % stores.length]!;
    await at(0).put(request('a1', 'C1', 1000, { thumbprint: 'k1' }));
    await at(1).put(request('a2', 'C2', 1000, { thumbprint: 'k1' }));
    const agent = await at(0).put(request('a3', 'C3', 1000, { thumbprint: 'k1' })).catch((e: unknown) => e);
    expect(isAAuthError(agent, 'pending_limit_reached')).toBe(true);
    expect((agent as { headers: Record<string, string> }).headers['Retry-After']).toBe('600');
    await at(1).put(request('b1', 'D1', 1000, { thumbprint: 'k2' }));
    const resource = await at(0).put(request('b2', 'D2', 1000, { thumbprint: 'k3' })).catch((e: unknown) => e);
    expect(resource).toMatchObject({ code: 'pending_limit_reached', status: 429, message: '3 requests for this resource are already waiting for a user\'s decision' });
    // A taken request frees its share.
    await at(1).take('a1');
    await at(0).put(request('a4', 'C4', 1000, { thumbprint: 'k1', resource: 'http://localhost:3' }));
  });

  it('when full, drops only expired requests; with none expired it refuses (503 pending_store_full)', async () => {
    let t = 1000;
    const stores = await make({ now: () => t, maxEntries: 2, maxPerAgent: 10 });
    await stores[0]!.put(request('old', 'OLD', 1000));
    await stores.at(-1)!.put(request('mid', 'MID', 1300));
    const full = await stores[0]!.put(request('new', 'NEW', 1300)).catch((e: unknown) => e);
    expect(full).toMatchObject({ code: 'pending_store_full', status: 503, headers: { 'Retry-After': '600' } });
    t = 1700; // 'old' expired at 1600 (still kept for 408 answers), 'mid' lives
    await stores.at(-1)!.put(request('new', 'NEW', 1700));
    expect(await stores[0]!.get('mid')).toBeDefined();
    expect(await stores[0]!.get('new')).toBeDefined();
    expect(await stores[0]!.get('old')).toBeUndefined();
  });
});

describe('redis pending store: a command Redis runs twice, or answers late', () => {
  it('a decide or take re-sent after a dropped connection (Redis runs it twice) answers as the first run did', async () => {
    const prefix = fresh();
    const c = client();
    await ready(c);
    // The client a resend makes: each script runs twice; the caller hears the second answer.
    const twice = { eval: async (...args: Parameters<Redis['eval']>) => (await c.eval(...args), c.eval(...args)), set: c.set.bind(c), get: c.get.bind(c), status: 'ready' };
    const store = createRedisPendingStore(twice as never, { prefix, now: () => 1000 });
    await store.put(request('r1', 'CODE-1'));
    expect(await store.decide('r1', { status: 'approved', sub: 'u1', username: 'user-1' })).toMatchObject({ id: 'r1', status: 'approved', sub: 'u1' });
    // Another decision is still refused, and the stored one is the first.
    expect(await store.decide('r1', { status: 'denied', sub: 'u1', username: 'user-1' })).toBeUndefined();
    expect(await store.take('r1')).toMatchObject({ id: 'r1', status: 'approved' });
    // Taken: gone for everyone else (by id, by code, and for another take).
    expect(await store.get('r1')).toBeUndefined();
    expect(await store.getByCode('CODE-1')).toBeUndefined();
    expect(await store.take('r1')).toBeUndefined();
    expect(await store.decide('r1', { status: 'denied', sub: 'u1', username: 'user-1' })).toBeUndefined();
  });

  it('a take answered after its time limit (503 to the poller) is undone, so the next poll collects the decision', async () => {
    const prefix = fresh();
    const c = client();
    await ready(c);
    const now = () => Date.now() / 1000;
    let slowTakes = 0;
    // Redis runs the take at once, but its answer arrives after the store's timeoutMs.
    const late = {
      eval: async (...args: Parameters<Redis['eval']>) => {
        const answer = await c.eval(...args);
        if (String(args[0]).includes("redis.call('HSET', KEYS[1], 't', ARGV[3])") && slowTakes-- > 0) await new Promise((r) => setTimeout(r, 400));
        return answer;
      },
      set: c.set.bind(c),
      get: c.get.bind(c),
      status: 'ready',
    };
    const store = createRedisPendingStore(late as never, { prefix, now, timeoutMs: 100 });
    const t = Math.floor(now());
    await store.put(request('r2', 'CODE-2', t));
    await store.decide('r2', { status: 'approved', sub: 'u2', username: 'user-2' });
    slowTakes = 1;
    await expect(store.take('r2')).rejects.toMatchObject({ code: 'store_unavailable', status: 503 });
    // The release follows the take on the same connection: the request is back, whole.
    let again: PendingRequest | undefined;
    for (let i = 0; i < 50 && again === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
      again = await store.get('r2');
    }
    expect(again).toMatchObject({ id: 'r2', status: 'approved', sub: 'u2' });
    expect(await store.getByCode('CODE-2')).toMatchObject({ id: 'r2' });
    expect(await store.take('r2')).toMatchObject({ id: 'r2', status: 'approved', sub: 'u2' });
    expect(await store.take('r2')).toBeUndefined();
  });
});

describe('redis pending store: untake', () => {
  it('puts a taken request back, decided, with its chat, for the next take; only the take that took it, once', async () => {
    const c = client();
    await ready(c);
    const prefix = fresh();
    const store = createRedisPendingStore(c, { prefix, now: () => 1000 });
    const other = createRedisPendingStore(c, { prefix, now: () => 1000 });
    await store.put(request('id-1', 'CODE1'));
    await store.converse!('id-1', { question: 'Which account?', max: 5 });
    await store.converse!('id-1', { answer: 'The main one' });
    await store.decide('id-1', { status: 'approved', sub: 'u', username: 'n' });
    const taken = (await store.take('id-1'))!;
    expect(await other.get('id-1')).toBeUndefined();
    // A copy of the request (not what take returned) undoes nothing.
    expect(await other.untake!({ ...taken })).toBe(false);
    expect(await store.untake!(taken)).toBe(true);
    expect(await other.getByCode('CODE1')).toMatchObject({ id: 'id-1', status: 'approved', sub: 'u', chat: [{ question: 'Which account?', answer: 'The main one' }] });
    expect(await store.untake!(taken)).toBe(false);
    expect(await other.take('id-1')).toMatchObject({ id: 'id-1', status: 'approved' });
    expect(await store.take('id-1')).toBeUndefined();
  });

  it('with a replacement (a four-party request the access server deferred): that is back, decided and with its chat as taken', async () => {
    const c = client();
    await ready(c);
    const prefix = fresh();
    const store = createRedisPendingStore(c, { prefix, now: () => 1000 });
    await store.put(request('id-2', 'CODE2', 1000, { draft11: { expCap: 2000, sub: 's' } as PendingRequest['draft11'] }));
    await store.converse!('id-2', { question: 'Why?', max: 5 });
    await store.converse!('id-2', { answer: 'Because' });
    await store.decide('id-2', { status: 'approved', sub: 'u', username: 'n' });
    const taken = (await store.take('id-2'))!;
    const waiting = { location: 'https://as.example/pending/1', interval: 5, retryAt: 1005 };
    const again: PendingRequest = { ...taken, scope: 'a b', draft11: { ...taken.draft11!, federation: { accessServer: 'https://as.example', resourceToken: 'rt', agentToken: 'at', scope: 'a b', pending: waiting } } };
    // Only with the same id, code, agent, resource and expiry.
    await expect(store.untake!(taken, { ...again, code: 'OTHER' })).rejects.toThrow(TypeError);
    expect(await store.untake!(taken, again)).toBe(true);
    const back = await store.get('id-2');
    expect(back).toMatchObject({ id: 'id-2', status: 'approved', sub: 'u', username: 'n', scope: 'a b', chat: [{ question: 'Why?', answer: 'Because' }] });
    expect(back!.draft11!.federation!.pending).toEqual(waiting);
    expect(await store.getByCode('CODE2')).toMatchObject({ id: 'id-2' });
    // Taken again (the next poll) as it was put back.
    expect(await store.take('id-2')).toMatchObject({ status: 'approved', scope: 'a b' });
  });
});

describe('redis rate limits', () => {

  it("follow Keycloak's arithmetic exactly as the memory throttle does, and count across two members", async () => {
    let t = 10_000;
    const now = () => t;
    const prefix = fresh();
    const [c1, c2] = [client(), client()];
    await Promise.all([ready(c1), ready(c2)]);
    const memory = createMemoryRateLimitStore(now).throttle('login-user', { settings });
    const one = createRedisAuthServerStores(c1, { prefix, now }).rateLimitStore.throttle('login-user', { settings });
    const two = createRedisAuthServerStores(c2, { prefix, now }).rateLimitStore.throttle('login-user', { settings });
    const steps: [number, 'fail' | 'succeed'][] = [
      [0, 'fail'], [5, 'fail'], [5, 'fail'], [10, 'fail'], [0.5, 'fail'], [100, 'fail'], [1, 'fail'], [1, 'fail'], [1, 'fail'], [500, 'succeed'], [1, 'fail'],
    ];
    const waits: [number, number][] = [];
    for (const [i, [dt, op]] of steps.entries()) {
      t += dt;
      const redis = i % 2 === 0 ? one : two;
      await memory[op]('alice');
      await redis[op]('alice');
      waits.push([await memory.wait('alice'), await (i % 2 === 0 ? two : one).wait('alice')]);
    }
    for (const [m, r] of waits) expect(r).toBe(m);
    // The sequence reached the quick-series wait (60), a factor wait and the cap (150).
    expect(waits.map(([m]) => m)).toEqual(expect.arrayContaining([60, 150, 0]));
    expect(await one.wait('bob')).toBe(0);
  });

  it('a permanent lockout answers Infinity at every member', async () => {
    const prefix = fresh();
    const c = client();
    await ready(c);
    const store = createRedisAuthServerStores(c, { prefix }).rateLimitStore.throttle('p', { settings: { ...settings, permanentLockout: true }, quickCheck: false });
    for (let i = 0; i < 3; i++) await store.fail('mallory');
    expect(await store.wait('mallory')).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('a record changed outside the kit', () => {
  it('a pending request, its decision or its chat that is not the JSON the store wrote is 503 store_unavailable, heard by onFailure, never a crash or "not found"', async () => {
    const c = client();
    await ready(c);
    const prefix = fresh();
    const heard: AAuthError[] = [];
    const store = createRedisPendingStore(c, { prefix, now: () => 1000, onFailure: (e) => heard.push(e) });
    await store.put(request('id-1', 'CODE1'));
    await store.converse!('id-1', { question: 'Which account?', max: 5 });
    const key = `${prefix}pending:id-1`;
    const healthy = await c.hgetall(key);
    for (const [field, value, what] of [
      ['r', '{"id":"id-1",', 'a pending request'],
      ['r', '[1,2]', 'a pending request'],
      ['q', '{"question":"x"}', "a pending request's clarification chat"],
    ] as const) {
      await c.hset(key, field, value);
      for (const op of [() => store.get('id-1'), () => store.getByCode('CODE1')]) {
        await expect(op()).rejects.toMatchObject({ code: 'store_unavailable', status: 503, message: expect.stringContaining(what) });
      }
      await c.hset(key, field, healthy[field]!);
    }
    expect(await store.get('id-1')).toMatchObject({ id: 'id-1', status: 'pending', chat: [{ question: 'Which account?' }] });
    // A decision field written by hand: the take is refused, not handed out half-read.
    await store.decide('id-1', { status: 'approved', sub: 'u', username: 'n' });
    await c.hset(key, 'd', 'approved');
    await expect(store.take('id-1')).rejects.toMatchObject({ code: 'store_unavailable', message: expect.stringContaining("a pending request's decision") });
    expect(heard.length).toBe(7);
    expect(heard.every((e) => e.code === 'store_unavailable')).toBe(true);
  });

  it('an issued -11 record and a sign-in session that are not JSON are 503 store_unavailable, heard by onFailure', async () => {
    const c = client();
    await ready(c);
    const prefix = fresh();
    const heard: AAuthError[] = [];
    const stores = createRedisAuthServerStores(c, { prefix, onFailure: (e) => heard.push(e) });
    const now = Math.floor(Date.now() / 1000);
    await stores.draft11Records.person.putIssued('jti-1', { kind: 'auth', sub: 's', user: 'u', agent: 'aauth:a@b', resource: 'https://r', thumbprint: 'tp', exp: now + 60 });
    expect((await stores.draft11Records.person.getIssued('jti-1'))?.sub).toBe('s');
    await c.set(`${prefix}d11:ps:rec:jti-1`, 'not json', 'KEEPTTL');
    await expect(stores.draft11Records.person.getIssued('jti-1')).rejects.toMatchObject({ code: 'store_unavailable', message: expect.stringContaining("an issued token's record") });
    await stores.sessionStore.put('sess-1', { code: 'C', sub: 's', username: 'n', csrf: 'x', expiresAt: now + 60 });
    expect((await stores.sessionStore.get('sess-1'))?.sub).toBe('s');
    const [sessionKey] = await c.keys(`${prefix}session:*`);
    await c.set(sessionKey!, '{{', 'KEEPTTL');
    await expect(stores.sessionStore.get('sess-1')).rejects.toMatchObject({ code: 'store_unavailable', message: expect.stringContaining('sign-in session') });
    expect(heard.map((e) => e.code)).toEqual(['store_unavailable', 'store_unavailable']);
  });
});

describe('a failing Redis', () => {
  let own: OwnRedis;
  beforeAll(async () => {
    own = await startOwnRedis();
  });
  afterAll(async () => {
    await own?.close();
  });

  it('down: every operation is 503 store_unavailable with Retry-After, nothing is accepted', async () => {
    const c = new Redis(own.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    c.on('error', () => {});
    clients.push(c);
    await ready(c);
    const stores = createRedisAuthServerStores(c, { prefix: fresh(), timeoutMs: 300 });
    await stores.pendingStore.put(request('id-1', 'CODE1', Date.now() / 1000));
    await own.kill();
    await new Promise((r) => setTimeout(r, 50));
    const ops: Promise<unknown>[] = [
      stores.pendingStore.get('id-1'),
      stores.pendingStore.getByCode('CODE1'),
      stores.pendingStore.decide('id-1', { status: 'approved', sub: 'u', username: 'n' }),
      stores.pendingStore.take('id-1'),
      stores.pendingStore.put(request('id-2', 'CODE2', Date.now() / 1000)),
      Promise.resolve(stores.rateLimitStore.throttle('x', { settings }).wait('k')),
      Promise.resolve(stores.rateLimitStore.throttle('x', { settings }).fail('k')),
    ];
    for (const outcome of await Promise.allSettled(ops)) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'store_unavailable', status: 503, headers: { 'Retry-After': '1' } });
    }
    await expect(stores.usedTokenStore.checkAndStore('t', 10)).rejects.toMatchObject({ code: 'replay_store_failed', status: 503 });
    // Back: the request put before the crash is still there (append-only file), undecided.
    await own.start();
    await ready(c);
    expect(await stores.pendingStore.get('id-1')).toMatchObject({ id: 'id-1', status: 'pending' });
  });

  it('hung (DEBUG SLEEP): the operation fails within its timeoutMs as store_unavailable', async () => {
    const c = new Redis(own.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    const sleeper = new Redis(own.url);
    c.on('error', () => {});
    sleeper.on('error', () => {});
    clients.push(c, sleeper);
    await Promise.all([ready(c), ready(sleeper)]);
    const store = createRedisPendingStore(c, { prefix: fresh(), timeoutMs: 200 });
    const sleeping = sleeper.call('DEBUG', 'SLEEP', '1');
    await new Promise((r) => setTimeout(r, 50));
    await expect(store.get('x')).rejects.toMatchObject({ code: 'store_unavailable', message: 'The shared state store did not answer within 200 ms' });
    await sleeping;
  });
});
