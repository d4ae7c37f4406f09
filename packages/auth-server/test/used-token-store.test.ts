import { createMemoryUsedTokenStore } from '@aauth-kit/auth-server';
import { describe, expect, it } from 'vitest';

describe('createMemoryUsedTokenStore', () => {
  it('answers true the first time and false while the entry lives, true again after it expired', async () => {
    let t = 1000;
    const store = createMemoryUsedTokenStore({ now: () => t });
    expect(await store.checkAndStore('a', 300)).toBe(true);
    expect(await store.checkAndStore('a', 300)).toBe(false);
    t += 299;
    expect(await store.checkAndStore('a', 300)).toBe(false);
    t += 2;
    expect(await store.checkAndStore('a', 300)).toBe(true);
  });

  it('stays within maxEntries under any load: expired entries go first, then the oldest', async () => {
    let t = 0;
    const store = createMemoryUsedTokenStore({ maxEntries: 3, now: () => t });
    await store.checkAndStore('short', 10);
    await store.checkAndStore('b', 300);
    await store.checkAndStore('c', 300);
    t = 20;
    expect(await store.checkAndStore('d', 300)).toBe(true);
    expect(store.size).toBe(3);
    // 'short' expired and went first: b, c, d remain.
    expect(await store.checkAndStore('b', 300)).toBe(false);
    for (let i = 0; i < 1000; i++) await store.checkAndStore(`x${i}`, 300);
    expect(store.size).toBe(3);
    expect(store.maxEntries).toBe(3);
  });

  it('refuses bad options with a TypeError naming them', () => {
    expect(() => createMemoryUsedTokenStore({ maxEntries: 0 })).toThrow('options.maxEntries must be a positive integer');
    expect(() => createMemoryUsedTokenStore({ now: 5 as never })).toThrow('options.now must be a function');
  });
});
