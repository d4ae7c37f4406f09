import { describe, expect, it } from 'vitest';
import { isAAuthError, parseSignatureKey, signatureErrorCode } from '@aauth-kit/core';
import type { ParsedSignatureKey } from '@aauth-kit/core/internal';
import { loadVectors } from './load.js';

// Generation: draft-11. The `error` column is what an AAuth -11 *resource* answers: it accepts the jwt
// scheme only (PROVENANCE.md: the Keycloak profile still accepts jwks_uri and hwk; checked below too).
interface Case {
  header: string;
  scheme?: string;
  params?: Record<string, string>;
  error?: string;
}
const { cases, spec } = loadVectors<Case>('signature-key.json');

/** The -09 code of a refusal, or the parsed key. */
function read(header: string, schemes?: readonly string[]): ParsedSignatureKey | string {
  try {
    return parseSignatureKey(header, { label: 'sig', schemes });
  } catch (error) {
    if (!isAAuthError(error)) throw error;
    return signatureErrorCode(error) ?? `no -09 code for ${error.code}`;
  }
}

function paramsOf(p: ParsedSignatureKey): Record<string, string> {
  const k = p.key;
  if (k.scheme === 'jwt') return { jwt: k.jwt };
  if (k.scheme === 'jwks_uri') return { id: k.id, ...(k.dwk === undefined ? {} : { dwk: k.dwk }), kid: k.kid };
  return { ...(k.jwk as unknown as Record<string, string>) };
}

describe(`aauth-go signature-key.json (${spec}), draft-11 resource (jwt only)`, () => {
  it('has the 9 cases of PROVENANCE.md', () => expect(cases).toHaveLength(9));
  for (const c of cases) {
    it(`${c.error ?? 'accepted'}: ${c.header}`, () => {
      const got = read(c.header, ['jwt']);
      if (c.error !== undefined) {
        expect(got).toBe(c.error);
        return;
      }
      expect(typeof got).toBe('object');
      const parsed = got as ParsedSignatureKey;
      expect(parsed.label).toBe('sig');
      expect(parsed.key.scheme).toBe(c.scheme);
      expect(paramsOf(parsed)).toEqual(c.params);
    });
  }

  it('the Keycloak profile (every scheme the kit implements) reads the jwks_uri and hwk members with their params', () => {
    for (const c of cases.filter((v) => v.error === 'unsupported_scheme' && (v.scheme === 'jwks_uri' || v.scheme === 'hwk'))) {
      const got = read(c.header);
      expect(typeof got, c.header).toBe('object');
      expect(paramsOf(got as ParsedSignatureKey)).toEqual(c.params);
    }
    expect(read('sig=x-unregistered')).toBe('unsupported_scheme');
  });
});
