import { describe, expect, it } from 'vitest';
import { createMemoryTokenCache } from '../src/index.js';

const entry = (resource: string, token = 't') => ({ token, expiresAt: 100, resource, scope: 's' });

describe('createMemoryTokenCache', () => {
  it('is bounded and evicts the least recently used entry', () => {
    const cache = createMemoryTokenCache({ maxEntries: 2 });
    cache.set('a', entry('r', 'A'));
    cache.set('b', entry('r', 'B'));
    expect(cache.get('a')?.token).toBe('A'); // a is now the most recently used
    cache.set('c', entry('r', 'C'));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.token).toBe('A');
    expect(cache.get('c')?.token).toBe('C');
  });

  it('deletes by key, by resource and all at once', () => {
    const cache = createMemoryTokenCache();
    cache.set('1', entry('http://r1'));
    cache.set('2', entry('http://r1'));
    cache.set('3', entry('http://r2'));
    cache.deleteResource('http://r1');
    expect([cache.get('1'), cache.get('2')]).toEqual([undefined, undefined]);
    expect(cache.get('3')).toBeDefined();
    cache.delete('3');
    expect(cache.get('3')).toBeUndefined();
    cache.set('4', entry('http://r3'));
    cache.clear();
    expect(cache.get('4')).toBeUndefined();
  });

  it('refuses a bad size', () => {
    expect(() => createMemoryTokenCache({ maxEntries: 0 })).toThrow(TypeError);
  });
});
