import { describe, expect, it } from 'vitest';
import { createSignatureBase, serializeSignatureParams } from '@aauth-kit/core/internal';
import { expectThrowsCode } from './support.js';

const request = {
  method: 'post',
  url: 'https://Example.COM:443/foo/bar?a=1&b=%20c',
  headers: [
    ['Content-Type', 'application/json'],
    ['X-Multi', ' one '],
    ['x-multi', 'two'],
    ['X-Folded', 'a\n  b'],
  ] as [string, string][],
};

describe('serializeSignatureParams (RFC 9421 section 2.3)', () => {
  it('serializes components and parameters in order', () => {
    expect(serializeSignatureParams(['@method', '@path'], [['created', 1618884473], ['nonce', 'abc'], ['keyid', 'k']])).toBe(
      '("@method" "@path");created=1618884473;nonce="abc";keyid="k"',
    );
    expect(serializeSignatureParams([], [['created', 1]])).toBe('();created=1');
  });
});

describe('createSignatureBase (RFC 9421 section 2.5)', () => {
  it('derives each component and ends with @signature-params', () => {
    const params = '("@method" "@authority" "@path" "@query" "@target-uri" "@scheme" "content-type");created=1';
    expect(
      createSignatureBase(request, ['@method', '@authority', '@path', '@query', '@target-uri', '@scheme', 'content-type'], params).split('\n'),
    ).toEqual([
      '"@method": POST',
      '"@authority": example.com',
      '"@path": /foo/bar',
      '"@query": ?a=1&b=%20c',
      '"@target-uri": https://example.com/foo/bar?a=1&b=%20c',
      '"@scheme": https',
      '"content-type": application/json',
      `"@signature-params": ${params}`,
    ]);
  });

  it('joins repeated fields with ", " after trimming, and unfolds obs-fold', () => {
    const base = createSignatureBase(request, ['x-multi', 'x-folded'], '()');
    expect(base).toBe('"x-multi": one, two\n"x-folded": a b\n"@signature-params": ()');
  });

  it('an empty component list gives only the @signature-params line', () => {
    expect(createSignatureBase(request, [], '();created=1')).toBe('"@signature-params": ();created=1');
  });

  it('@query of a URL without a query is "?" (RFC 9421 section 2.2.7)', () => {
    expect(createSignatureBase({ method: 'GET', url: 'https://a.example', headers: {} }, ['@path', '@query'], '()')).toBe(
      '"@path": /\n"@query": ?\n"@signature-params": ()',
    );
  });

  it('a header named __proto__ stays a header', () => {
    expect(createSignatureBase({ method: 'GET', url: 'https://a.example', headers: [['__proto__', 'x']] }, ['__proto__'], '()')).toBe(
      '"__proto__": x\n"@signature-params": ()',
    );
  });

  it('refuses duplicate, upper-case and @signature-params components', () => {
    expectThrowsCode(() => createSignatureBase(request, ['@method', '@method'], '()'), 'signature_malformed');
    expectThrowsCode(() => createSignatureBase(request, ['Content-Type'], '()'), 'signature_malformed');
    expectThrowsCode(() => createSignatureBase(request, ['@signature-params'], '()'), 'signature_malformed');
  });

  it('an absent header is signature_component_missing; an unknown or response-only derived component is signature_malformed', () => {
    expectThrowsCode(() => createSignatureBase(request, ['x-absent'], '()'), 'signature_component_missing');
    expectThrowsCode(() => createSignatureBase(request, ['@status'], '()'), 'signature_malformed');
    expectThrowsCode(() => createSignatureBase(request, ['@nope'], '()'), 'signature_malformed');
    expectThrowsCode(() => createSignatureBase(request, ['@query-param'], '()'), 'signature_malformed');
  });

  it('a relative URL is invalid_request', () => {
    expectThrowsCode(() => createSignatureBase({ ...request, url: '/foo' }, ['@path'], '()'), 'invalid_request', 400);
  });
});
