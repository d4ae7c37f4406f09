import { describe, expect, it } from 'vitest';
import { createMemoryRevocationStore } from '@aauth-kit/verifier';

// The in-memory revocation store (AAuth -11 "Revocation Request"): state keyed by (issuer, jti),
// dropped after `until`, bounded in entries overall and per issuer, never forgetting a live entry.
describe('createMemoryRevocationStore', () => {
  it('keys by (issuer, jti): the same jti of another issuer is not revoked', async () => {
    const store = createMemoryRevocationStore({ now: () => 1000 });
    expect(await store.revoke('https://ps.example', 'j1', 2000)).toBe('recorded');
    expect(store.isRevoked('https://ps.example', 'j1')).toBe(true);
    expect(store.isRevoked('https://other.example', 'j1')).toBe(false);
    expect(store.isRevoked('https://ps.example', 'j2')).toBe(false);
  });

  it('drops an entry once until has passed; an entry already past is not kept', async () => {
    let t = 1000;
    const store = createMemoryRevocationStore({ now: () => t });
    await store.revoke('https://ps.example', 'j1', 1100);
    expect(await store.revoke('https://ps.example', 'old', 999)).toBe('recorded');
    expect(store.size).toBe(1);
    t = 1100;
    expect(store.isRevoked('https://ps.example', 'j1')).toBe(false);
    expect(store.size).toBe(0);
  });

  it('a repeated revocation keeps the later until', async () => {
    let t = 1000;
    const store = createMemoryRevocationStore({ now: () => t });
    await store.revoke('https://ps.example', 'j1', 1500);
    await store.revoke('https://ps.example', 'j1', 1200);
    t = 1300;
    expect(store.isRevoked('https://ps.example', 'j1')).toBe(true);
    expect(store.size).toBe(1);
  });

  it("is bounded per issuer and overall: a full store answers 'full' and keeps every live entry", async () => {
    let t = 1000;
    const store = createMemoryRevocationStore({ now: () => t, maxEntries: 3, maxEntriesPerIssuer: 2 });
    expect(await store.revoke('https://a.example', '1', 1010)).toBe('recorded');
    expect(await store.revoke('https://a.example', '2', 2000)).toBe('recorded');
    expect(await store.revoke('https://a.example', '3', 2000)).toBe('full');
    expect(await store.revoke('https://b.example', '1', 2000)).toBe('recorded');
    expect(await store.revoke('https://c.example', '1', 2000)).toBe('full');
    expect(store.isRevoked('https://a.example', '1')).toBe(true);
    // Once an entry expires, the sweep makes room (at most one full scan a second).
    t = 1011;
    expect(await store.revoke('https://c.example', '1', 2000)).toBe('recorded');
    expect(store.size).toBe(3);
  });

  it('misuse throws a TypeError naming the option', () => {
    expect(() => createMemoryRevocationStore({ maxEntries: 0 })).toThrow('options.maxEntries must be a positive integer');
    expect(() => createMemoryRevocationStore({ maxEntriesPerIssuer: 1.5 })).toThrow('options.maxEntriesPerIssuer must be a positive integer');
    expect(() => createMemoryRevocationStore({ now: 5 as unknown as () => number })).toThrow('options.now must be a function');
  });
});
