import { describe, expect, it } from 'vitest';
import { randomNonce } from '../src/lib/nonce.js';

describe('randomNonce (pooled randomness)', () => {
  it('gives 128-bit base64url nonces, all distinct, across several pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const n = randomNonce();
      expect(n).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(n, 'base64url')).toHaveLength(16);
      seen.add(n);
    }
    expect(seen.size).toBe(2000);
  });
});
