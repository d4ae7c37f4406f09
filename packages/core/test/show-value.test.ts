import { describe, expect, it } from 'vitest';
import { showValue } from '@aauth-kit/core/internal';


describe('showValue: a wire value in an error message', () => {
  it('quotes strings, cut to the limit', () => {
    expect(showValue('aa-auth+jwt')).toBe('"aa-auth+jwt"');
    expect(showValue('x'.repeat(11_000))).toBe(`"${'x'.repeat(60)}..."`);
    expect(showValue('abcdef', 3)).toBe('"abc..."');
    expect(showValue('a"b\n')).toBe('"a\\"b\\n"');
  });
  it('shows scalars as themselves and short arrays of them inline', () => {
    expect([1.5, true, null, undefined].map((v) => showValue(v))).toEqual(['1.5', 'true', 'null', 'undefined']);
    expect(showValue(['https://a.example', 'https://b.example'])).toBe('["https://a.example","https://b.example"]');
    expect(showValue([])).toBe('[]');
  });
  it('names anything else by its kind, without walking it (no stack overflow however deep)', () => {
    const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)) as unknown;
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(showValue(deep)).toBe('an array of 1 item');
    expect(showValue([1, 2, 3, 4, 5])).toBe('an array of 5 items');
    expect(showValue([{ a: 1 }])).toBe('an array of 1 item');
    expect(showValue({ a: 1 })).toBe('an object');
    expect(showValue(10n)).toBe('a bigint');
  });
});
