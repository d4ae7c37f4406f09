import { describe, expect, it } from 'vitest';
import { createMemoryReplayStore } from '@aauth-kit/verifier';
import { manualClock } from './helpers.js';

describe('createMemoryReplayStore', () => {
  it('accepts a key once within its TTL and again after it', async () => {
    const clock = manualClock(1000);
    const store = createMemoryReplayStore({ now: clock.now });
    expect(await store.checkAndStore('a', 60)).toBe(true);
    expect(await store.checkAndStore('a', 60)).toBe(false);
    clock.advance(59);
    expect(await store.checkAndStore('a', 60)).toBe(false);
    clock.advance(1);
    expect(await store.checkAndStore('a', 60)).toBe(true);
  });

  it('never holds more than maxEntries, dropping expired entries first', async () => {
    const clock = manualClock(1000);
    const store = createMemoryReplayStore({ maxEntries: 100, now: clock.now });
    for (let i = 0; i < 100; i++) await store.checkAndStore(`old-${i}`, 10);
    clock.advance(11);
    for (let i = 0; i < 50; i++) await store.checkAndStore(`new-${i}`, 60);
    expect(store.size).toBe(50);
    for (let i = 0; i < 1000; i++) await store.checkAndStore(`flood-${i}`, 60);
    expect(store.size).toBe(100);
    expect(store.maxEntries).toBe(100);
  });

  it('validates its options', () => {
    expect(() => createMemoryReplayStore({ maxEntries: 0 })).toThrow(/options.maxEntries/);
    expect(() => createMemoryReplayStore({ now: 5 as never })).toThrow(/options.now/);
  });
});
