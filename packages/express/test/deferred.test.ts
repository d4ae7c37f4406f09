import { describe, expect, it } from 'vitest';
import { PendingTable, type HeldCall } from '../src/lib/deferred.js';

const call = (thumbprint: string, n: number): HeldCall => ({
  method: 'POST',
  url: `/orders/${n}`,
  headers: {},
  body: Buffer.alloc(0),
  thumbprint,
  scope: ['orders.write'],
  resourceToken: 'rt',
  exp: 1_000_000 + 300,
});

describe('PendingTable: the held calls of -11 deferred delivery', () => {
  const now = () => 1_000_000;

  it('one key over its share (a tenth) loses its own oldest call, never another agent\'s', () => {
    const table = new PendingTable(20, now);
    expect(table.perKey).toBe(2);
    const victim = table.hold(call('victim', 0));
    const flood = Array.from({ length: 50 }, (_, i) => table.hold(call('attacker', i)));
    expect(table.get(victim)?.url).toBe('/orders/0');
    expect(table.size).toBe(3);
    // The attacker keeps only its two newest.
    expect(flood.slice(0, 48).every((id) => table.get(id) === undefined)).toBe(true);
    expect(flood.slice(48).map((id) => table.get(id)?.url)).toEqual(['/orders/48', '/orders/49']);
  });

  it('a full table of many keys evicts the oldest call overall; ids are unguessable', () => {
    const table = new PendingTable(10, now);
    const ids = Array.from({ length: 11 }, (_, i) => table.hold(call(`key-${i}`, i)));
    expect(table.size).toBe(10);
    expect(table.get(ids[0]!)).toBeUndefined();
    expect(table.get(ids[10]!)?.url).toBe('/orders/10');
    expect(new Set(ids).size).toBe(11);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
