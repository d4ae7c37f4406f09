import { describe, expect, it } from 'vitest';
import { generateKey, signRequest, type HttpRequest } from '@aauth-kit/core';
import { parseSignedRequest } from '@aauth-kit/core/internal';
import { ParseMemo } from '../src/lib/parse-memo.js';
import { expectThrowsCode } from './support.js';

// Issue 18: header parses memoised by exact text; bounded; every check that is not a function of
// the text alone still runs on every request.
describe('ParseMemo', () => {
  it('holds at most maxEntries texts, the oldest stored going first', () => {
    const memo = new ParseMemo<number>(3, 100);
    for (let i = 0; i < 10; i++) memo.set(`h${i}`, 'sig', i);
    expect(memo.size).toBe(3);
    expect(memo.get('h6', 'sig')).toBeUndefined();
    expect([memo.get('h7', 'sig'), memo.get('h8', 'sig'), memo.get('h9', 'sig')]).toEqual([7, 8, 9]);
  });

  it('keeps no text longer than maxKeyLength, and answers only for the variant stored', () => {
    const memo = new ParseMemo<number>(10, 5);
    memo.set('123456', 'sig', 1);
    expect(memo.size).toBe(0);
    memo.set('12345', 'sig', 2);
    expect(memo.get('12345', 'sig')).toBe(2);
    expect(memo.get('12345', 'other')).toBeUndefined();
    memo.set('12345', 'other', 3);
    expect(memo.size).toBe(1);
    expect(memo.get('12345', 'other')).toBe(3);
    expect(memo.get('12345', 'sig')).toBeUndefined();
  });
});

describe('parseSignedRequest with memoised header parses', () => {
  const key = generateKey();
  const T = 1774975920;
  const req: HttpRequest = { method: 'GET', url: 'https://resource.example/data?x=1', headers: {} };
  const { headers } = signRequest(req, { key, created: T, signatureKey: { scheme: 'hwk', jwk: key.jwk } });
  const signed = { ...req, headers };

  it('checks the created window, the coverage and the request on every call for the same headers', () => {
    const first = parseSignedRequest(signed, { now: () => T });
    const again = parseSignedRequest(signed, { now: () => T });
    expect(again.signatureBase).toBe(first.signatureBase);
    expect(again.signatureKey).toEqual(first.signatureKey);
    expectThrowsCode(() => parseSignedRequest(signed, { now: () => T + 3600 }), 'signature_stale');
    expectThrowsCode(() => parseSignedRequest(signed, { now: () => T, requiredComponents: ['content-type'] }), 'signature_coverage');
    expectThrowsCode(() => parseSignedRequest({ ...signed, body: '{}' }, { now: () => T }), 'digest_missing');
    expect(parseSignedRequest({ ...signed, method: 'POST' }, { now: () => T }).signatureBase).not.toBe(first.signatureBase);
    expectThrowsCode(() => parseSignedRequest(signed, { now: () => T, signatureSchemes: ['jwt'] }), 'unsupported_scheme');
  });

  it('hands out what the caller may change without changing the next parse', () => {
    const first = parseSignedRequest(signed, { now: () => T });
    first.components.push('forged');
    first.params.push(['forged', 1]);
    expect(() => {
      (first.signatureKey as { scheme: string }).scheme = 'jwt';
    }).toThrow(TypeError);
    const again = parseSignedRequest(signed, { now: () => T });
    expect(again.components).not.toContain('forged');
    expect(again.params.map(([name]) => name)).not.toContain('forged');
    expect(again.signatureKey?.scheme).toBe('hwk');
  });

  it('keeps the order of refusals: a missing Signature member before a malformed Signature-Input member', () => {
    const bad = { ...signed, headers: { ...headers, 'signature-input': 'sig=("@method";x);created=1774975920' } };
    const noSig = { ...bad.headers, signature: 'other=:AAAA:' };
    for (let i = 0; i < 2; i++) {
      expectThrowsCode(() => parseSignedRequest({ ...bad, headers: noSig }, { now: () => T }), 'signature_label_mismatch');
      expectThrowsCode(() => parseSignedRequest(bad, { now: () => T }), 'signature_malformed');
    }
  });
});

