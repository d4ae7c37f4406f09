import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AAuthError, parseSignatureKey } from '@aauth-kit/core';
import { parseSignatureKeyGeneral, scanJwtSignatureKey, serializeSignatureKey, type ParseSignatureKeyOptions } from '../src/signature-key.js';

// Issue 18: a jwt-scheme Signature-Key in its canonical forms is read by one anchored pattern;
// anything else goes to the general RFC 8941 parser. The outcome must be the general parser's on
// every input: the same result, or the same error code and message.

const RUNS = { numRuns: 3000, seed: 20261201 } as const;

function outcome(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (error) {
    const e = error as AAuthError;
    return { code: e.code, message: e.message };
  }
}

const JWT = 'eyJhbGciOiJSUzI1NiIsInR5cCI6ImF1dGgrand0In0.eyJpc3MiOiJodHRwczovL2FzLmV4YW1wbGUifQ.c2lnbmF0dXJlLWJ5dGVz-_';

describe('the jwt Signature-Key scanner', () => {
  it('reads both forms that serializeSignatureKey writes, with the general parser\'s result', () => {
    for (const form of ['parenthesised', 'dictionary'] as const) {
      for (const label of ['sig', 'aauth', 'a-b.c_d*', '*x']) {
        const header = serializeSignatureKey({ scheme: 'jwt', jwt: JWT }, { label, form });
        const scanned = scanJwtSignatureKey(header, {});
        expect(scanned, header).toBeDefined();
        expect(scanned).toEqual(parseSignatureKeyGeneral(header));
        expect(scanJwtSignatureKey(header, { label, schemes: ['jwt'] })).toEqual(parseSignatureKeyGeneral(header, { label, schemes: ['jwt'] }));
        expect(parseSignatureKey([header], { label })).toEqual(parseSignatureKeyGeneral([header], { label }));
      }
    }
  });

  it('leaves to the general parser what it does not accept as it stands, which then refuses it with its own code', () => {
    const header = serializeSignatureKey({ scheme: 'jwt', jwt: JWT }, { label: 'sig' });
    const cases: Array<[string, ParseSignatureKeyOptions, string]> = [
      [header, { label: 'other' }, 'signature_label_mismatch'],
      [header, { schemes: ['hwk', 'jwks_uri'] }, 'unsupported_scheme'],
      ['sig=(scheme=jwt jwt="")', {}, 'signature_key_malformed'],
      ['sig=(scheme=jwt jwt="a" jwt="b")', {}, 'signature_key_malformed'],
      ['sig=jwt;jwt=""', {}, 'signature_key_malformed'],
      ['Sig=(scheme=jwt jwt="abc")', {}, 'signature_key_malformed'],
    ];
    for (const [value, options, code] of cases) {
      expect(scanJwtSignatureKey(value, options), value).toBeUndefined();
      expect(outcome(() => parseSignatureKey(value, options))).toMatchObject({ code });
    }
    // Two members, whitespace, another parameter, an escape: the general parser's, accepted or not.
    for (const value of [
      `${header}, b=(scheme=jwt jwt="x")`,
      'sig=(scheme=jwt  jwt="abc")',
      'sig=( scheme=jwt jwt="abc")',
      'sig=(scheme=jwt jwt="abc" kid="k")',
      'sig=(jwt="abc" scheme=jwt)',
      'sig=jwt;jwt="a\\"b"',
      'sig=jwt;jwt="abc";x=1',
    ]) {
      expect(scanJwtSignatureKey(value, {}), value).toBeUndefined();
      expect(outcome(() => parseSignatureKey(value))).toEqual(outcome(() => parseSignatureKeyGeneral(value)));
    }
  });

  it('gives the general parser\'s outcome on any mix of the pieces of a header', () => {
    const piece = fc.constantFrom('sig', 'aauth', 'Sig', '*', '=', '(', ')', ' ', ';', ',', '"', '\\', 'scheme=', 'jwt', 'jwks_uri', 'jwt=', 'id=', 'kid=', JWT, 'a.b.c', '-_', 'é', '\t');
    const header = fc.array(piece, { maxLength: 14 }).map((p) => p.join(''));
    const canonical = fc.tuple(fc.constantFrom('sig', 'aauth', 'x-1'), fc.stringMatching(/^[A-Za-z0-9_.-]{0,40}$/), fc.boolean()).map(([label, jwt, paren]) =>
      paren ? `${label}=(scheme=jwt jwt="${jwt}")` : `${label}=jwt;jwt="${jwt}"`,
    );
    const options = fc.record({ label: fc.option(fc.constantFrom('sig', 'aauth', 'x-1'), { nil: undefined }), schemes: fc.option(fc.constantFrom(['jwt'], ['hwk'], ['jwt', 'jwks_uri']), { nil: undefined }) });
    fc.assert(
      fc.property(fc.oneof(header, canonical), options, (value, opts) => {
        expect(outcome(() => parseSignatureKey(value, opts))).toEqual(outcome(() => parseSignatureKeyGeneral(value, opts)));
      }),
      RUNS,
    );
  });
});
