import fc from 'fast-check';
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

describe('LruCache against a reference model', () => {
  /** The plain definition: an array in recency order, least recent first. */
  class Model {
    entries: [string, number][] = [];
    constructor(readonly max: number) {}
    get(k: string): number | undefined {
      const i = this.entries.findIndex(([x]) => x === k);
      if (i < 0) return undefined;
      const [e] = this.entries.splice(i, 1);
      this.entries.push(e!);
      return e![1];
    }
    set(k: string, v: number): void {
      const i = this.entries.findIndex(([x]) => x === k);
      if (i >= 0) this.entries.splice(i, 1);
      else if (this.entries.length >= this.max) this.entries.shift();
      this.entries.push([k, v]);
    }
    delete(k: string): void {
      this.entries = this.entries.filter(([x]) => x !== k);
    }
  }

  it('gets, sets, deletes and clears as the model does, repeated reads of the newest key included', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.tuple(fc.constantFrom('get', 'get', 'set', 'delete', 'clear'), fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.integer()), { maxLength: 60 }),
        (max, ops) => {
          const c = new LruCache<string, number>(max);
          let m = new Model(max);
          for (const [op, k, v] of ops) {
            if (op === 'get') expect(c.get(k)).toBe(m.get(k));
            else if (op === 'set') (c.set(k, v), m.set(k, v));
            else if (op === 'delete') (c.delete(k), m.delete(k));
            else (c.clear(), (m = new Model(max)));
            expect(c.size).toBe(m.entries.length);
          }
          for (const [k, v] of m.entries) expect(c.peek(k)).toBe(v);
        },
      ),
      { numRuns: 500 },
    );
  });
});
