import { describe, expect, it } from 'vitest';
import { AAuthError, ERRORS, isAAuthError, type AAuthErrorCode } from '@aauth-kit/core';

/**
 * The error table as the kit promises it, written out: code -> [HTTP status, wire `error`].
 * A change to a status or wire error must change this list too (wire profile section 5 for the
 * resource's answers, section 8 and RFC 6749 section 5.2 for the auth server's, 5xx for the agent's).
 */
const EXPECTED: Record<AAuthErrorCode, readonly [number, string]> = {
  // request signatures (wire profile sections 3, 5)
  signature_missing: [401, 'invalid_signature'],
  signature_malformed: [401, 'invalid_signature'],
  signature_key_malformed: [401, 'invalid_signature'],
  signature_label_mismatch: [401, 'invalid_signature'],
  signature_duplicate: [401, 'invalid_signature'],
  signature_coverage: [401, 'invalid_signature'],
  signature_component_missing: [401, 'invalid_signature'],
  signature_created_missing: [401, 'invalid_signature'],
  signature_stale: [401, 'invalid_signature'],
  signature_future: [401, 'invalid_signature'],
  signature_expired: [401, 'invalid_signature'],
  signature_invalid: [401, 'invalid_signature'],
  signature_replayed: [401, 'invalid_signature'],
  digest_missing: [401, 'invalid_signature'],
  digest_malformed: [401, 'invalid_signature'],
  digest_mismatch: [401, 'invalid_signature'],
  key_invalid: [401, 'invalid_signature'],
  key_not_found: [401, 'invalid_signature'],
  key_discovery_failed: [401, 'invalid_signature'],
  key_discovery_busy: [503, 'server_error'],
  egress_denied: [401, 'invalid_signature'],
  unsupported_scheme: [401, 'unsupported_scheme'],
  unsupported_algorithm: [401, 'invalid_signature'],
  identity_required: [401, 'identity_required'],
  // -11 / HTTP Signature Keys -09: keys, metadata, revocation, challenges
  key_alg_missing: [401, 'invalid_signature'],
  key_alg_mismatch: [401, 'invalid_signature'],
  issuer_missing: [401, 'invalid_signature'],
  issuer_mismatch: [401, 'invalid_signature'],
  metadata_invalid: [401, 'invalid_signature'],
  token_revoked: [401, 'invalid_auth_token'],
  agent_token_required: [401, 'agent_token_required'],
  person_token_required: [401, 'person_token_required'],
  // auth tokens (section 7)
  auth_token_required: [401, 'invalid_auth_token'],
  token_malformed: [401, 'invalid_auth_token'],
  token_typ_invalid: [401, 'invalid_auth_token'],
  token_alg_not_allowed: [401, 'invalid_auth_token'],
  token_signature_invalid: [401, 'invalid_auth_token'],
  token_expired: [401, 'invalid_auth_token'],
  token_not_yet_valid: [401, 'invalid_auth_token'],
  token_lifetime_invalid: [401, 'invalid_auth_token'],
  token_audience_invalid: [401, 'invalid_auth_token'],
  token_issuer_untrusted: [401, 'invalid_auth_token'],
  token_claim_invalid: [401, 'invalid_auth_token'],
  token_agent_mismatch: [401, 'invalid_auth_token'],
  token_cnf_missing: [401, 'invalid_auth_token'],
  token_cnf_mismatch: [401, 'invalid_auth_token'],
  insufficient_scope: [403, 'insufficient_scope'],
  // limits, generic input, routes
  invalid_request: [400, 'invalid_request'],
  header_too_large: [431, 'invalid_request'],
  body_too_large: [413, 'invalid_request'],
  challenge_malformed: [400, 'invalid_request'],
  route_not_found: [404, 'not_found'],
  method_not_allowed: [405, 'method_not_allowed'],
  // the server itself failed
  internal_error: [500, 'server_error'],
  replay_store_failed: [503, 'server_error'],
  revocation_store_failed: [503, 'server_error'],
  store_unavailable: [503, 'server_error'],
  revocation_settling: [503, 'server_error'],
  // -11 endpoint errors (draft-11 profile section 9)
  agent_token_invalid: [400, 'invalid_agent_token'],
  agent_token_expired: [400, 'expired_agent_token'],
  resource_token_revoked: [400, 'revoked_resource_token'],
  resource_token_invalid: [400, 'invalid_resource_token'],
  resource_token_expired: [400, 'expired_resource_token'],
  person_token_invalid: [400, 'invalid_person_token'],
  account_invalid: [400, 'invalid_account'],
  user_unreachable: [403, 'user_unreachable'],
  grant_withdrawn: [403, 'grant_withdrawn'],
  subagent_request_refused: [403, 'access_denied'],
  // -11 token parameters and four-party federation (AAuth -11 "Token Endpoint Error Codes")
  presented_token_revoked: [400, 'revoked_presented_token'],
  presented_token_invalid: [400, 'invalid_presented_token'],
  presented_token_expired: [400, 'expired_presented_token'],
  upstream_token_revoked: [400, 'revoked_upstream_token'],
  upstream_token_invalid: [400, 'invalid_upstream_token'],
  upstream_token_expired: [400, 'expired_upstream_token'],
  person_server_untrusted: [403, 'access_denied'],
  access_server_refused: [403, 'access_denied'],
  as_unreachable: [502, 'as_unreachable'],
  as_payment_unsupported: [403, 'payment_unsupported'],
  as_requirement_unsupported: [403, 'unsupported_requirement'],
  pending_denied: [403, 'denied'],
  pending_abandoned: [403, 'abandoned'],
  pending_revoked: [403, 'revoked'],
  interaction_code_invalid: [410, 'invalid_code'],
  pending_withdrawn: [410, 'invalid_code'],
  slow_down: [429, 'slow_down'],
  revocation_issuer_unsupported: [403, 'unsupported_iss'],
  rate_limited: [429, 'rate_limited'],
  // auth server (section 8)
  invalid_grant: [400, 'invalid_grant'],
  invalid_scope: [400, 'invalid_scope'],
  access_denied: [403, 'access_denied'],
  pending_not_found: [404, 'not_found'],
  pending_expired: [408, 'expired'],
  pending_person_mismatch: [403, 'access_denied'],
  body_timeout: [408, 'invalid_request'],
  resource_token_replayed: [400, 'invalid_grant'],
  upstream_agent_blocked: [403, 'access_denied'],
  policy_denied: [403, 'access_denied'],
  policy_unavailable: [503, 'server_error'],
  consent_user_mismatch: [403, 'access_denied'],
  grant_lifetime_exceeded: [400, 'invalid_grant'],
  grant_revoked: [400, 'invalid_grant'],
  request_unsigned: [401, 'invalid_request'],
  pending_conflict: [500, 'server_error'],
  pending_limit_reached: [429, 'access_denied'],
  pending_store_full: [503, 'server_error'],
  // interaction pages
  consent_request_invalid: [400, 'invalid_request'],
  consent_callback_invalid: [400, 'invalid_request'],
  consent_callback_unregistered: [400, 'invalid_request'],
  consent_request_expired: [410, 'expired'],
  consent_already_decided: [409, 'invalid_request'],
  consent_request_withdrawn: [410, 'invalid_request'],
  consent_form_invalid: [403, 'access_denied'],
  login_failed: [401, 'access_denied'],
  login_locked: [429, 'access_denied'],
  consent_lookup_throttled: [429, 'access_denied'],
  // OAuth token endpoint (RFC 6749 section 5.2, RFC 8693 section 2.2.2)
  invalid_client: [401, 'invalid_client'],
  unauthorized_client: [400, 'unauthorized_client'],
  invalid_target: [400, 'invalid_target'],
  unsupported_grant_type: [400, 'unsupported_grant_type'],
  client_auth_throttled: [429, 'invalid_client'],
  actor_token_not_client: [400, 'invalid_grant'],
  actor_token_is_subject: [400, 'invalid_grant'],
  // agent side: a downstream call failed, so 502 (504 for timeouts)
  challenge_missing_resource_token: [502, 'server_error'],
  challenge_unsatisfiable: [502, 'server_error'],
  auth_server_untrusted: [502, 'server_error'],
  resource_token_not_for_agent: [502, 'server_error'],
  challenge_resource_mismatch: [502, 'server_error'],
  auth_server_error: [502, 'server_error'],
  auth_server_discovery_failed: [502, 'server_error'],
  resource_unreachable: [502, 'server_error'],
  issued_token_unbound: [502, 'server_error'],
  issued_token_audience_invalid: [502, 'server_error'],
  issued_token_expiry_invalid: [502, 'server_error'],
  issued_token_mission_mismatch: [502, 'server_error'],
  interaction_required: [502, 'server_error'],
  interaction_denied: [502, 'server_error'],
  interaction_expired: [504, 'server_error'],
  interaction_timeout: [504, 'server_error'],
  reconnect_required: [502, 'server_error'],
  // agent: RFC 8693 token exchange
  exchange_subject_token_missing: [502, 'server_error'],
  exchange_invalid_request: [502, 'server_error'],
  exchange_invalid_client: [502, 'server_error'],
  exchange_invalid_grant: [502, 'server_error'],
  exchange_unauthorized_client: [502, 'server_error'],
  exchange_invalid_target: [502, 'server_error'],
  exchange_invalid_scope: [502, 'server_error'],
  exchange_failed: [502, 'server_error'],
};
const codes = Object.keys(EXPECTED) as AAuthErrorCode[];

describe('the ERRORS table', () => {
  it('has exactly the codes listed here, each with its status and wire error', () => {
    expect(Object.keys(ERRORS).sort()).toEqual([...codes].sort());
    for (const code of codes) expect([ERRORS[code][0], ERRORS[code][1]], code).toEqual(EXPECTED[code]);
  });

  it('every code has a default message, and codes and wire errors are snake_case', () => {
    for (const code of codes) {
      expect(code).toMatch(/^[a-z]+(?:_[a-z0-9]+)*$/);
      expect(ERRORS[code][1], code).toMatch(/^[a-z]+(?:_[a-z]+)*$/);
      expect(ERRORS[code][2].length, code).toBeGreaterThan(10);
    }
  });

  it('keeps the wire profile texts that peers read (section 5, section 8)', () => {
    expect(ERRORS.auth_token_required).toEqual([401, 'invalid_auth_token', 'Authorization required']);
    expect(ERRORS.challenge_missing_resource_token).toEqual([502, 'server_error', 'The challenge carries no resource token']);
    expect(ERRORS.request_unsigned).toEqual([401, 'invalid_request', 'The request must be signed with HTTP Message Signatures (wire profile section 8)']);
  });
});

describe('AAuthError', () => {
  it('takes status and wire error from the table, for every code', () => {
    for (const code of codes) {
      const e = new AAuthError(code);
      const [status, error] = EXPECTED[code];
      expect(e).toBeInstanceOf(Error);
      expect(e.name).toBe('AAuthError');
      expect([e.code, e.status, e.statusCode, e.error], code).toEqual([code, status, status, error]);
      expect(e.message.length, code).toBeGreaterThan(10);
      expect(e.headers).toEqual({});
      expect(e.details).toBeUndefined();
    }
    expect(new AAuthError('signature_stale').message).toBe('The signature was created too long ago');
  });

  it('a subclass is named after its constructor', () => {
    class DownstreamError extends AAuthError {}
    const e = new DownstreamError('auth_server_error');
    expect([e.name, e.code, e.status]).toEqual(['DownstreamError', 'auth_server_error', 502]);
    expect(String(e)).toBe('DownstreamError: The auth server refused or failed the token request');
    expect(isAAuthError(e, 'auth_server_error')).toBe(true);
  });

  it('a custom message, status override, headers, details and cause', () => {
    const cause = new Error('inner');
    const e = new AAuthError('auth_token_required', 'Authorization required', {
      status: 401,
      headers: { AAuth: 'require=auth-token' },
      details: { scope: 'read' },
      cause,
    });
    expect(e.message).toBe('Authorization required');
    expect(e.headers).toEqual({ AAuth: 'require=auth-token' });
    expect(e.details).toEqual({ scope: 'read' });
    expect(e.cause).toBe(cause);
    const overridden = new AAuthError('invalid_request', undefined, { status: 422 });
    expect(overridden.status).toBe(422);
    expect(overridden.statusCode).toBe(422);
    expect(overridden.error).toBe('invalid_request');
    // A 5xx status is a failing peer: its wire error is server_error, whatever the code's row says.
    const downstream = new AAuthError('token_expired', 'The resource token expired 3 s ago', { status: 502 });
    expect([downstream.status, downstream.error, downstream.code]).toEqual([502, 'server_error', 'token_expired']);
    expect(downstream.toJSON()).toEqual({ error: 'server_error', error_description: 'The resource token expired 3 s ago' });
  });

  it('has no cause property unless one is given', () => {
    expect('cause' in new AAuthError('signature_invalid')).toBe(false);
  });

  it('serializes to the wire JSON body {"error","error_description"} only', () => {
    const e = new AAuthError('token_expired', 'Auth token: expired 10 s ago', { details: { secret: 'no' }, headers: { a: 'b' } });
    expect(JSON.parse(JSON.stringify(e))).toEqual({ error: 'invalid_auth_token', error_description: 'Auth token: expired 10 s ago' });
    expect(Object.keys(e.toJSON())).toEqual(['error', 'error_description']);
  });

  it('isAAuthError checks the class and optionally the code', () => {
    const e = new AAuthError('signature_stale');
    expect(isAAuthError(e)).toBe(true);
    expect(isAAuthError(e, 'signature_stale')).toBe(true);
    expect(isAAuthError(e, 'signature_future')).toBe(false);
    expect(isAAuthError(new Error('x'))).toBe(false);
    expect(isAAuthError({ code: 'signature_stale', status: 401 })).toBe(false);
    expect(isAAuthError(undefined)).toBe(false);
  });
});

describe('AAuthError from JavaScript with a code it does not have', () => {
  it('throws a TypeError naming the code (before: "Cannot read properties of undefined")', () => {
    expect(() => new AAuthError('invalid_signature' as AAuthErrorCode)).toThrow(new TypeError('"invalid_signature" is not an AAuthError code (ERRORS, exported beside AAuthError, lists them)'));
    // Inherited names are not codes either.
    expect(() => new AAuthError('toString' as AAuthErrorCode)).toThrow(TypeError);
  });
});
