import { describe, expect, it } from 'vitest';
import { AAuthError, parseSignatureError, serializeSignatureError, signatureErrorCode } from '@aauth-kit/core';
import { loadVectors } from './load.js';

// Generation: draft-11 (HTTP Signature Keys -09 section 5; the Keycloak profile has no Signature-Error).
const { cases, spec } = loadVectors<{ header: string; code: string; canonical: boolean }>('signature-error.json');

describe(`aauth-go signature-error.json (${spec}), draft-11`, () => {
  it('has the 2 cases of PROVENANCE.md', () => expect(cases).toHaveLength(2));
  for (const c of cases) {
    it(`${c.header} parses to ${c.code} and serializes back`, () => {
      expect(parseSignatureError(c.header)).toEqual({ error: c.code, known: true });
      if (c.canonical) expect(serializeSignatureError({ error: c.code })).toBe(c.header);
    });
  }

  it('the kit emits these codes for its own failures', () => {
    expect(signatureErrorCode(new AAuthError('signature_invalid'))).toBe('invalid_signature');
    expect(signatureErrorCode(new AAuthError('unsupported_algorithm'))).toBe('unsupported_algorithm');
  });
});
