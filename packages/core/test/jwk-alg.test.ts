import { describe, expect, it } from 'vitest';
import { generateKey, jwkAlgProblem } from '@aauth-kit/core';
import { algOf11 } from '@aauth-kit/core/internal';

const okp = generateKey().jwk;
const ec = generateKey({ alg: 'ES256' }).jwk;
const code = (jwk: unknown, generation: 'keycloak' | 'draft-11') => jwkAlgProblem(jwk, generation)?.code;

describe('jwkAlgProblem (HTTP Signature Keys -09 section 3.3, draft-11 profile section 3)', () => {
  it('-11: alg required and fully specified, agreeing with kty/crv', () => {
    expect(code({ ...okp, alg: 'Ed25519' }, 'draft-11')).toBeUndefined();
    expect(code({ ...ec, alg: 'ES256' }, 'draft-11')).toBeUndefined();
    expect(code(okp, 'draft-11')).toBe('key_alg_missing');
    expect(code({ ...okp, alg: 'EdDSA' }, 'draft-11')).toBe('unsupported_algorithm');
    expect(code({ ...okp, alg: 'ES256' }, 'draft-11')).toBe('key_alg_mismatch');
    expect(code({ ...ec, alg: 'Ed25519' }, 'draft-11')).toBe('key_alg_mismatch');
    expect(code({ ...ec, crv: 'P-384', alg: 'ES256' }, 'draft-11')).toBe('key_alg_mismatch');
    expect(code({ kty: 'RSA', n: 'x', e: 'AQAB', alg: 'ES256' }, 'draft-11')).toBe('key_alg_mismatch');
    expect(code({ kty: 'RSA', n: 'x', e: 'AQAB', alg: 'PS256' }, 'draft-11')).toBe('unsupported_algorithm');
    expect(code({ ...okp, alg: '' }, 'draft-11')).toBe('key_alg_missing');
    expect(jwkAlgProblem({ ...ec, alg: 'ES256' }, 'draft-11', { algorithms: ['Ed25519'] })?.code).toBe('unsupported_algorithm');
  });

  it('both generations refuse none, HMAC and oct keys', () => {
    for (const g of ['keycloak', 'draft-11'] as const) {
      expect(code({ kty: 'oct', k: 'c2VjcmV0' }, g)).toBe('unsupported_algorithm');
      expect(code({ ...okp, alg: 'none' }, g)).toBe('unsupported_algorithm');
      expect(code({ ...okp, alg: 'HS256' }, g)).toBe('unsupported_algorithm');
      expect(code('not a jwk', g)).toBe('key_invalid');
      expect(code([], g)).toBe('key_invalid');
    }
  });

  it('the Keycloak profile: alg optional, EdDSA fine, but a present alg must agree', () => {
    expect(code(okp, 'keycloak')).toBeUndefined();
    expect(code({ ...okp, alg: 'EdDSA' }, 'keycloak')).toBeUndefined();
    expect(code({ kty: 'RSA', n: 'x', e: 'AQAB', alg: 'RS256' }, 'keycloak')).toBeUndefined();
    expect(code({ ...okp, alg: 'RS256' }, 'keycloak')).toBe('key_alg_mismatch');
  });

  it('the reason names the problem', () => {
    expect(jwkAlgProblem({ ...okp, alg: 'EdDSA' }, 'draft-11')?.reason).toMatch(/polymorphic/);
  });
});

describe('algOf11', () => {
  it('Ed25519 for OKP/Ed25519, ES256 for EC/P-256, a TypeError otherwise', () => {
    expect(algOf11(okp)).toBe('Ed25519');
    expect(algOf11(ec)).toBe('ES256');
    expect(() => algOf11({ kty: 'RSA' })).toThrow(TypeError);
  });
});
