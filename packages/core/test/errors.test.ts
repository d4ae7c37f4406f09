import { describe, expect, it } from 'vitest';
import { AAuthError, ERRORS, isAAuthError, type AAuthErrorCode } from '@aauth-kit/core';

const codes = Object.keys(ERRORS) as AAuthErrorCode[];

describe('the ERRORS table', () => {
  it('every code has a 4xx/5xx status, a snake_case wire error and a default message', () => {
    expect(codes.length).toBeGreaterThan(40);
    for (const code of codes) {
      const [status, error, message] = ERRORS[code];
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThan(600);
      expect(error, code).toMatch(/^[a-z]+(?:_[a-z]+)*$/);
      expect(message.length, code).toBeGreaterThan(10);
    }
  });

  it('codes are snake_case', () => {
    for (const code of codes) expect(code).toMatch(/^[a-z]+(?:_[a-z0-9]+)*$/);
  });

  it('5xx is only for a failing peer (wire error server_error); everything about the request is 4xx', () => {
    const serverSide = codes.filter((c) => ERRORS[c][0] >= 500);
    expect(serverSide).toContain('auth_server_error');
    for (const code of serverSide) expect(ERRORS[code][1], code).toBe('server_error');
    for (const code of codes.filter((c) => /^(signature|digest|key|token|header|body)_/.test(c))) {
      expect(ERRORS[code][0], code).toBeLessThan(500);
    }
  });

  it('agent-side failures are 5xx (502, 504 for timeouts), never 401 or 403 (issue 11, item 5)', () => {
    // An app route that calls agent.fetch hands these to its error handler; its own caller must not
    // read them as a refusal of its (valid) token.
    // challenge_malformed is the pure parser's 400; the agent throws it as an AAuthChallengeError (502).
    const agentSide = codes.filter(
      (c) => (/^(challenge|interaction|exchange)_/.test(c) && c !== 'challenge_malformed') || ['auth_server_untrusted', 'resource_token_not_for_agent', 'auth_server_error', 'auth_server_discovery_failed'].includes(c),
    );
    expect(agentSide.length).toBeGreaterThan(15);
    for (const code of agentSide) expect(ERRORS[code][0], code).toBe(/timeout|expired/.test(code) ? 504 : 502);
    expect(ERRORS.interaction_timeout[0]).toBe(504);
    expect(ERRORS.challenge_missing_resource_token).toEqual([502, 'server_error', 'The challenge carries no resource token']);
  });

  it('keeps the wire profile mappings (section 5)', () => {
    expect(ERRORS.signature_invalid.slice(0, 2)).toEqual([401, 'invalid_signature']);
    expect(ERRORS.auth_token_required).toEqual([401, 'invalid_auth_token', 'Authorization required']);
    expect(ERRORS.identity_required.slice(0, 2)).toEqual([401, 'identity_required']);
    expect(ERRORS.unsupported_scheme.slice(0, 2)).toEqual([401, 'unsupported_scheme']);
    expect(ERRORS.insufficient_scope.slice(0, 2)).toEqual([403, 'insufficient_scope']);
    expect(ERRORS.header_too_large[0]).toBe(431);
    expect(ERRORS.body_too_large[0]).toBe(413);
    expect(ERRORS.digest_missing.slice(0, 2)).toEqual([401, 'invalid_signature']);
  });
});

describe('AAuthError', () => {
  it('takes status, wire error and default message from the table, for every code', () => {
    for (const code of codes) {
      const e = new AAuthError(code);
      expect(e).toBeInstanceOf(Error);
      expect(e.name).toBe('AAuthError');
      expect(e.code).toBe(code);
      expect(e.status).toBe(ERRORS[code][0]);
      expect(e.statusCode).toBe(ERRORS[code][0]);
      expect(e.error).toBe(ERRORS[code][1]);
      expect(e.message).toBe(ERRORS[code][2]);
      expect(e.headers).toEqual({});
      expect(e.details).toBeUndefined();
    }
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
