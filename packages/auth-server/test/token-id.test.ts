import { describe, expect, it } from 'vitest';
import { newTokenId } from '../src/lib/token-id.js';

describe('newTokenId', () => {
  it('gives 16 random bytes as base64url, never the same twice across refills of its pool', () => {
    // 4 KiB pools of 16-byte ids: 1,000 ids cross three refills.
    const ids = Array.from({ length: 1000 }, () => newTokenId());
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });
});
