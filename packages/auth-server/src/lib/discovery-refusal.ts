import { AAuthError, isAAuthError, type AAuthErrorCode } from '@aauth-kit/core';

/**
 * The codes of a metadata or key fetch that failed, was refused by the egress policy, or found no
 * usable key. Their messages tell "connection refused", "404" and "timeout" apart for a URL the
 * caller chose, which would make the auth server a port scanner of its own network (issue 13,
 * finding 12): callers get one uniform refusal, the audit keeps the detail.
 */
const DISCOVERY_CODES: ReadonlySet<AAuthErrorCode> = new Set(['key_discovery_failed', 'egress_denied', 'key_not_found']);

/**
 * True for a discovery failure whose message must not reach the caller: one of those codes, or a
 * token verification refusal caused by one (the verifier wraps a token key it cannot fetch).
 */
export function isDiscoveryFailure(error: unknown): boolean {
  if (!isAAuthError(error)) return false;
  return DISCOVERY_CODES.has(error.code) || (isAAuthError(error.cause) && DISCOVERY_CODES.has(error.cause.code));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The one refusal a caller gets when the signing key of a request could not be obtained. */
export function uniformSignerRefusal(error: unknown): AAuthError {
  return new AAuthError('key_discovery_failed', "The signing key could not be obtained from the agent's metadata (the auth server's audit event says why)", { cause: error, details: { hidden: messageOf(error) } });
}

/**
 * The one refusal a caller gets when the keys of a presented token's issuer could not be obtained:
 * `invalid_grant` at the AAuth token endpoint (section 8), `invalid_request` at the OAuth one (RFC 8693 section 2.2.2).
 */
export function uniformTokenRefusal(what: string, error: unknown, code: 'invalid_grant' | 'invalid_request' = 'invalid_grant'): AAuthError {
  return new AAuthError(code, `${what} refused: the metadata or keys of its issuer could not be obtained (the auth server's audit event says why)`, { cause: error, details: { hidden: messageOf(error) } });
}

/** The reason an audit event records: the caller's message, plus the detail a uniform refusal hid from it. */
export function auditReason(error: unknown, reason: string): string {
  const hidden = isAAuthError(error) ? error.details?.hidden : undefined;
  return typeof hidden === 'string' ? `${reason} (${hidden})` : reason;
}
