import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateInteractionCode, normalizeInteractionCode } from '@aauth-kit/core';
import { CROCKFORD_ALPHABET } from '@aauth-kit/core/internal';

describe('interaction codes (AAuth -11 "Interaction Code Format")', () => {
  it('generates Crockford base32 in hyphenated groups of four, at least 8 symbols', () => {
    expect(CROCKFORD_ALPHABET).toBe('0123456789ABCDEFGHJKMNPQRSTVWXYZ');
    const code = generateInteractionCode();
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(generateInteractionCode(12)).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){2}$/);
    expect(new Set(Array.from({ length: 50 }, () => generateInteractionCode())).size).toBe(50);
    expect(() => generateInteractionCode(7)).toThrow(TypeError);
  });

  it('normalizes: hyphens stripped, case folded, I/L -> 1, O -> 0', () => {
    expect(normalizeInteractionCode('a1b2-c3d4')).toBe('A1B2C3D4');
    expect(normalizeInteractionCode('OIL0-abcd')).toBe('0110ABCD');
    expect(normalizeInteractionCode('ABCD-EFGU')).toBeUndefined();
    expect(normalizeInteractionCode('ABC-DEF')).toBeUndefined();
    expect(normalizeInteractionCode(12345678)).toBeUndefined();
  });

  it('property: every generated code normalizes to itself without hyphens; normalize never throws', () => {
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 32 }), (n) => {
        const code = generateInteractionCode(n);
        expect(normalizeInteractionCode(code)).toBe(code.replace(/-/g, ''));
        expect(normalizeInteractionCode(code.toLowerCase())).toBe(code.replace(/-/g, ''));
      }),
      { numRuns: 100, seed: 20261130 },
    );
    fc.assert(fc.property(fc.string(), (s) => normalizeInteractionCode(s) === undefined || /^[0-9A-Z]{8,64}$/.test(normalizeInteractionCode(s)!)), { numRuns: 300, seed: 20261130 });
  });
});
