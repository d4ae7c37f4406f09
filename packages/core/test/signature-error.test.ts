import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACCEPT_SIGNATURE_ALGS,
  AAuthError,
  ERRORS,
  PROBLEM_JSON,
  SIGNATURE_ERROR_CODES,
  parseSignatureError,
  serializeSignatureError,
  signatureErrorCode,
  type AAuthErrorCode,
} from '@aauth-kit/core';
import { buildAcceptSignatureAlg, buildAcceptSignatureScheme, parseTokenList, signatureErrorHeaders } from '@aauth-kit/core/internal';
import { expectThrowsCode } from './support.js';

const RUNS = { numRuns: 300, seed: 20261130 } as const;

/** Every kit code that is a -11 signature failure, and its -09 code (draft-11 profile section 4). */
const MAPPING: Partial<Record<AAuthErrorCode, string>> = {
  signature_missing: 'invalid_signature',
  signature_malformed: 'invalid_signature',
  signature_key_malformed: 'invalid_signature',
  signature_label_mismatch: 'invalid_signature',
  signature_duplicate: 'invalid_signature',
  signature_coverage: 'invalid_input',
  signature_component_missing: 'invalid_signature',
  signature_created_missing: 'invalid_signature',
  signature_stale: 'invalid_signature',
  signature_future: 'clock_skew',
  signature_expired: 'invalid_signature',
  signature_invalid: 'invalid_signature',
  signature_replayed: 'invalid_signature',
  digest_missing: 'invalid_input',
  digest_malformed: 'invalid_signature',
  digest_mismatch: 'invalid_signature',
  key_invalid: 'invalid_key',
  key_alg_mismatch: 'invalid_key',
  key_alg_missing: 'unsupported_algorithm',
  key_not_found: 'unknown_key',
  key_discovery_failed: 'invalid_key',
  egress_denied: 'invalid_key',
  metadata_invalid: 'invalid_key',
  issuer_missing: 'issuer_missing',
  issuer_mismatch: 'issuer_mismatch',
  unsupported_scheme: 'unsupported_scheme',
  unsupported_algorithm: 'unsupported_algorithm',
  token_malformed: 'invalid_jwt',
  token_typ_invalid: 'invalid_jwt',
  token_alg_not_allowed: 'invalid_jwt',
  token_signature_invalid: 'invalid_jwt',
  token_lifetime_invalid: 'invalid_jwt',
  token_audience_invalid: 'invalid_jwt',
  token_issuer_untrusted: 'invalid_jwt',
  token_claim_invalid: 'invalid_jwt',
  token_agent_mismatch: 'invalid_jwt',
  token_cnf_missing: 'invalid_jwt',
  token_cnf_mismatch: 'invalid_signature',
  token_expired: 'expired_jwt',
  token_revoked: 'revoked_jwt',
  token_not_yet_valid: 'clock_skew',
};

describe('signatureErrorCode: every kit code to its -09 code', () => {
  it('maps exactly the listed codes; every other code (challenges, 403, limits, 5xx) has none', () => {
    for (const code of Object.keys(ERRORS) as AAuthErrorCode[]) {
      expect(signatureErrorCode(new AAuthError(code)), code).toBe(MAPPING[code]);
    }
    for (const sig of Object.values(MAPPING)) expect(SIGNATURE_ERROR_CODES).toContain(sig);
    expect(signatureErrorCode(new AAuthError('insufficient_scope'))).toBeUndefined();
    expect(signatureErrorCode(new AAuthError('identity_required'))).toBeUndefined();
    expect(signatureErrorCode(new AAuthError('agent_token_required'))).toBeUndefined();
    // An agent rethrowing a resource's code as 502 is not a signature failure of its own.
    expect(signatureErrorCode(new AAuthError('token_expired', undefined, { status: 502 }))).toBeUndefined();
  });

  it('the -09 code list (section 5.4)', () => {
    expect(SIGNATURE_ERROR_CODES).toEqual([
      'unsupported_algorithm',
      'unsupported_scheme',
      'cache_miss',
      'invalid_signature',
      'invalid_input',
      'invalid_request',
      'invalid_key',
      'unknown_key',
      'issuer_missing',
      'issuer_mismatch',
      'invalid_jwt',
      'expired_jwt',
      'revoked_jwt',
      'clock_skew',
    ]);
  });
});

describe('toProblemJSON (draft-11 profile section 5, RFC 9457)', () => {
  it('a signature failure: the -09 code, detail, status and the sig-error URN', () => {
    expect(new AAuthError('signature_future', 'created 90 s ahead').toProblemJSON()).toEqual({
      error: 'clock_skew',
      detail: 'created 90 s ahead',
      status: 401,
      type: 'urn:ietf:params:sig-error:clock_skew',
    });
    expect(PROBLEM_JSON).toBe('application/problem+json');
  });

  it('anything else: the table wire error, no type', () => {
    expect(new AAuthError('person_token_required').toProblemJSON()).toEqual({ error: 'person_token_required', detail: 'This resource requires a person token', status: 401 });
    expect(new AAuthError('interaction_code_invalid').toProblemJSON()).toEqual({ error: 'invalid_code', detail: ERRORS.interaction_code_invalid[2], status: 410 });
    expect(new AAuthError('insufficient_scope').toProblemJSON()).toMatchObject({ error: 'insufficient_scope', status: 403 });
    expect(new AAuthError('internal_error').toProblemJSON()).toMatchObject({ error: 'server_error', status: 500 });
  });
});

describe('Signature-Error (-09 section 5)', () => {
  it('serializes the code, and required_input for invalid_input', () => {
    expect(serializeSignatureError({ error: 'invalid_signature' })).toBe('error=invalid_signature');
    expect(serializeSignatureError({ error: 'invalid_input', requiredInput: ['@method', '@authority', '@path', 'signature-key', 'content-digest'] })).toBe(
      'error=invalid_input, required_input=("@method" "@authority" "@path" "signature-key" "content-digest")',
    );
    expect(() => serializeSignatureError({ error: 'not a token' })).toThrow(TypeError);
    expect(() => serializeSignatureError({ error: 'invalid_input', requiredInput: [] })).toThrow(TypeError);
  });

  it('parses what it serializes, ignores unknown members, reports unknown codes as such', () => {
    expect(parseSignatureError('error=invalid_input, required_input=("@method" "content-digest")')).toEqual({
      error: 'invalid_input',
      known: true,
      requiredInput: ['@method', 'content-digest'],
    });
    expect(parseSignatureError('error=clock_skew, future=?1')).toEqual({ error: 'clock_skew', known: true });
    expect(parseSignatureError('error=brand_new')).toEqual({ error: 'brand_new', known: false });
    expect(parseSignatureError(undefined)).toBeUndefined();
    expect(parseSignatureError('  ')).toBeUndefined();
    for (const bad of ['error="invalid_signature"', 'code=x', 'error=', 'error=(a b)', '%%']) expectThrowsCode(() => parseSignatureError(bad), 'challenge_malformed');
  });

  it('property: any string parses or throws challenge_malformed, nothing else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string().map((s) => `error=${s}`)), (value) => {
        try {
          parseSignatureError(value);
        } catch (error) {
          if (!(error instanceof AAuthError) || error.code !== 'challenge_malformed') throw error;
        }
      }),
      RUNS,
    );
  });
});

describe('Accept-Signature-Scheme / Accept-Signature-Alg (-09 section 4)', () => {
  it('build sf lists of tokens; -11 defaults jwt and Ed25519, ES256', () => {
    expect(ACCEPT_SIGNATURE_ALGS).toEqual(['Ed25519', 'ES256']);
    expect(buildAcceptSignatureAlg()).toBe('Ed25519, ES256');
    expect(buildAcceptSignatureScheme()).toBe('jwt');
    expect(buildAcceptSignatureScheme(['jwks_uri', 'jwt'])).toBe('jwks_uri, jwt');
    expect(() => buildAcceptSignatureAlg([])).toThrow(TypeError);
    expect(() => buildAcceptSignatureScheme(['a b'])).toThrow(TypeError);
  });

  it('parse: tokens kept, other members dropped, malformed is []', () => {
    expect(parseTokenList('Ed25519, ES256')).toEqual(['Ed25519', 'ES256']);
    expect(parseTokenList(['jwt', 'hwk;x=1, "str", (a b)'])).toEqual(['jwt', 'hwk']);
    expect(parseTokenList('a,,b')).toEqual([]);
    expect(parseTokenList(undefined)).toEqual([]);
    fc.assert(fc.property(fc.string(), (s) => Array.isArray(parseTokenList(s))), RUNS);
  });
});

describe('signatureErrorHeaders: what a -11 401 carries', () => {
  it('Signature-Error always; Accept-Signature-Scheme on unsupported_scheme; Accept-Signature-Alg on unsupported_algorithm', () => {
    expect(signatureErrorHeaders(new AAuthError('signature_invalid'))).toEqual({ 'Signature-Error': 'error=invalid_signature' });
    expect(signatureErrorHeaders(new AAuthError('unsupported_scheme'))).toEqual({ 'Signature-Error': 'error=unsupported_scheme', 'Accept-Signature-Scheme': 'jwt' });
    expect(signatureErrorHeaders(new AAuthError('key_alg_missing'))).toEqual({ 'Signature-Error': 'error=unsupported_algorithm', 'Accept-Signature-Alg': 'Ed25519, ES256' });
    expect(signatureErrorHeaders(new AAuthError('signature_coverage'), { requiredInput: ['@method', 'signature-key'] })).toEqual({
      'Signature-Error': 'error=invalid_input, required_input=("@method" "signature-key")',
    });
    expect(signatureErrorHeaders(new AAuthError('unsupported_scheme'), { schemes: ['jwt', 'hwk'] })['Accept-Signature-Scheme']).toBe('jwt, hwk');
  });

  it('a 403 or a challenge carries none of them (-09 section 5.3)', () => {
    expect(signatureErrorHeaders(new AAuthError('insufficient_scope'))).toEqual({});
    expect(signatureErrorHeaders(new AAuthError('person_token_required'))).toEqual({});
    expect(signatureErrorHeaders(new AAuthError('access_denied'))).toEqual({});
  });
});
