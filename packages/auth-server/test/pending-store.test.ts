import { describe, expect, it } from 'vitest';
import { createMemoryPendingStore, type PendingRequest } from '../src/index.js';

function request(id: string, code: string, createdAt = 1000): PendingRequest {
  return {
    id,
    code,
    thumbprint: 'tp',
    agent: 'http://localhost:1',
    resource: 'http://localhost:2',
    scope: 'a',
    consentScopes: ['a'],
    kind: 'auth',
    cnfJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x' },
    createdAt,
    expiresAt: createdAt + 600,
    status: 'pending',
  };
}

describe('createMemoryPendingStore', () => {
  it('finds requests by id and code, and returns copies', async () => {
    const store = createMemoryPendingStore({ now: () => 1000 });
    await store.put(request('id-1', 'CODE1'));
    const byId = await store.get('id-1');
    expect(byId?.code).toBe('CODE1');
    expect((await store.getByCode('CODE1'))?.id).toBe('id-1');
    byId!.status = 'approved';
    expect((await store.get('id-1'))?.status).toBe('pending');
    expect(await store.get('nope')).toBeUndefined();
    expect(await store.getByCode('NOPE')).toBeUndefined();
  });

  it('refuses a duplicate id or code', async () => {
    const store = createMemoryPendingStore({ now: () => 1000 });
    await store.put(request('id-1', 'CODE1'));
    await expect(store.put(request('id-1', 'CODE2'))).rejects.toThrow('already in use');
    await expect(store.put(request('id-2', 'CODE1'))).rejects.toThrow('already in use');
  });

  it('records a decision once, and only before expiry', async () => {
    let t = 1000;
    const store = createMemoryPendingStore({ now: () => t });
    await store.put(request('id-1', 'CODE1'));
    const decided = await store.decide('id-1', { status: 'approved', sub: 'u1', username: 'user' });
    expect(decided).toMatchObject({ status: 'approved', sub: 'u1', username: 'user' });
    expect(await store.decide('id-1', { status: 'denied', sub: 'u2', username: 'other' })).toBeUndefined();
    expect((await store.get('id-1'))?.sub).toBe('u1');
    await store.put(request('id-2', 'CODE2'));
    t = 1601;
    expect(await store.decide('id-2', { status: 'approved', sub: 'u1', username: 'user' })).toBeUndefined();
  });

  it('hands a request out once (single use)', async () => {
    const store = createMemoryPendingStore({ now: () => 1000 });
    await store.put(request('id-1', 'CODE1'));
    const [a, b] = await Promise.all([store.take('id-1'), store.take('id-1')]);
    expect([a?.id, b?.id].filter(Boolean)).toEqual(['id-1']);
    expect(await store.get('id-1')).toBeUndefined();
    expect(await store.getByCode('CODE1')).toBeUndefined();
  });

  it('keeps expired requests for the retention time (so polls can say 408), then drops them', async () => {
    let t = 1000;
    const store = createMemoryPendingStore({ now: () => t, retention: 600 });
    await store.put(request('id-1', 'CODE1'));
    t = 1700;
    expect((await store.get('id-1'))?.id).toBe('id-1');
    t = 2201;
    expect(await store.get('id-1')).toBeUndefined();
  });

  it('stays bounded: expired requests make room, live ones are never dropped for a new one (issue 13, finding 4)', async () => {
    let t = 1000;
    const store = createMemoryPendingStore({ now: () => t, maxEntries: 3, maxPerAgent: 10, retention: 600 });
    for (let i = 0; i < 3; i++) await store.put(request(`id-${i}`, `CODE${i}`, t));
    const full = await store.put(request('id-3', 'CODE3', t)).catch((e: unknown) => e);
    expect(full).toMatchObject({ code: 'pending_store_full', status: 503, headers: { 'Retry-After': '600' } });
    const present = [];
    for (let i = 0; i < 4; i++) if (await store.get(`id-${i}`)) present.push(i);
    expect(present).toEqual([0, 1, 2]);
    // Once they have expired (kept only to answer 408), they make room, oldest first.
    t = 1601;
    await store.put(request('id-4', 'CODE4', t));
    expect(await store.get('id-0')).toBeUndefined();
    expect(await store.get('id-4')).toBeDefined();
    expect(() => createMemoryPendingStore({ maxEntries: 0 })).toThrow('options.maxEntries must be a positive integer');
  });

  it('caps live requests per agent key and per resource (issue 13, finding 4)', async () => {
    const store = createMemoryPendingStore({ now: () => 1000, maxPerAgent: 2, maxPerResource: 3 });
    await store.put(request('id-1', 'CODE1'));
    await store.put(request('id-2', 'CODE2'));
    await expect(store.put(request('id-3', 'CODE3'))).rejects.toMatchObject({ code: 'pending_limit_reached', status: 429 });
    await store.put({ ...request('id-4', 'CODE4'), thumbprint: 'other' });
    await expect(store.put({ ...request('id-5', 'CODE5'), thumbprint: 'third' })).rejects.toMatchObject({ code: 'pending_limit_reached', status: 429 });
    await store.take('id-1');
    await store.put(request('id-6', 'CODE6'));
  });
});
