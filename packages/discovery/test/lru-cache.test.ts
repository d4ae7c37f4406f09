import { describe, expect, it } from 'vitest';
import { LruCache } from '@aauth-kit/discovery';

describe('LruCache', () => {
  it('evicts the least recently used entry at maxEntries', () => {
    const c = new LruCache<string, number>(2);
    c.set('a', 1);
    c.set('b', 2);
    expect(c.get('a')).toBe(1);
    c.set('c', 3);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(1);
    expect(c.get('c')).toBe(3);
    expect(c.size).toBe(2);
  });

  it('replacing a key does not evict another', () => {
    const c = new LruCache<string, number>(2);
    c.set('a', 1);
    c.set('b', 2);
    c.set('a', 3);
    expect([c.peek('a'), c.peek('b'), c.size]).toEqual([3, 2, 2]);
  });
});
