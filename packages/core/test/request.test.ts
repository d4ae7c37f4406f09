import { describe, expect, it } from 'vitest';
import { hasBody, isIdempotent, toHeaderMap, toUrl } from '@aauth-kit/core/internal';
import { expectThrowsCode } from './support.js';

describe('toHeaderMap', () => {
  it('lower-cases names and keeps field lines in order from records', () => {
    const map = toHeaderMap({ 'Content-Type': 'a', Accept: ['x', 'y'], 'X-Num': 3, Skip: undefined });
    expect([...map]).toEqual([
      ['content-type', ['a']],
      ['accept', ['x', 'y']],
      ['x-num', ['3']],
    ]);
  });

  it('merges names that differ in case (pairs keep every line)', () => {
    expect(toHeaderMap([['Accept', 'a'], ['accept', 'b']]).get('accept')).toEqual(['a', 'b']);
    expect(toHeaderMap({ Accept: 'a', accept: 'b' }).get('accept')).toEqual(['a', 'b']);
    // Arrays join the lines of the same name; an empty one adds no field.
    expect([...toHeaderMap({ A: 'a', a: ['b', 'c'], B: [], b: ['d'], C: [] })]).toEqual([
      ['a', ['a', 'b', 'c']],
      ['b', ['d']],
    ]);
  });

  it('reads fetch Headers (which fold repeated fields into one line)', () => {
    const headers = new Headers();
    headers.append('Signature', 'a=:AA==:');
    headers.append('signature', 'b=:AA==:');
    expect(toHeaderMap(headers).get('signature')).toEqual(['a=:AA==:, b=:AA==:']);
  });

  it('reads a Map of pairs and null-prototype records', () => {
    expect(toHeaderMap(new Map([['X-A', '1']])).get('x-a')).toEqual(['1']);
    const record = Object.create(null) as Record<string, string>;
    record['X-B'] = '2';
    expect(toHeaderMap(record).get('x-b')).toEqual(['2']);
  });
});

describe('toUrl', () => {
  it('parses absolute URLs and passes URL objects through', () => {
    const url = new URL('https://a.example/x');
    expect(toUrl(url)).toBe(url);
    expect(toUrl('http://localhost:3000/p?q=1').host).toBe('localhost:3000');
  });

  it('a relative or garbage URL is invalid_request (400)', () => {
    expectThrowsCode(() => toUrl('/x'), 'invalid_request', 400);
    expectThrowsCode(() => toUrl('http://'), 'invalid_request', 400);
  });
});

describe('hasBody and isIdempotent', () => {
  it('only non-empty bodies count', () => {
    expect(hasBody('x')).toBe(true);
    expect(hasBody(new Uint8Array(1))).toBe(true);
    expect(hasBody('')).toBe(false);
    expect(hasBody(new Uint8Array(0))).toBe(false);
    expect(hasBody(null)).toBe(false);
    expect(hasBody(undefined)).toBe(false);
  });

  it('RFC 9110 section 9.2.2 idempotent methods, any case', () => {
    for (const m of ['GET', 'head', 'OPTIONS', 'TRACE', 'put', 'DELETE']) expect(isIdempotent(m), m).toBe(true);
    for (const m of ['POST', 'patch', 'CONNECT']) expect(isIdempotent(m), m).toBe(false);
  });
});
