import { type AAuthErrorCode, decodeToken, isAAuthError } from '@aauth-kit/core';
import { showValue } from '@aauth-kit/core/internal';
import { TokenExchangeError } from '../token-exchange-error.js';
import { TOKEN_TYPE, type ExchangedToken, type TokenExchangeHttpRequest, type TokenExchangeProfile } from '../types.js';
import { jsonObject, limitedFetch, redact, type LimitedResponse } from '../../lib/http.js';

/** What sending an exchange needs besides the request. */
export interface ExchangeTransport {
  fetch: typeof fetch;
  now: () => number;
  timeoutMs: number;
  maxBytes: number;
}

/** RFC 6749 section 5.2 / RFC 8693 section 2.2.2 errors, each with its own code. */
const ERROR_CODES: Record<string, AAuthErrorCode> = {
  invalid_request: 'exchange_invalid_request',
  invalid_client: 'exchange_invalid_client',
  invalid_grant: 'exchange_invalid_grant',
  unauthorized_client: 'exchange_unauthorized_client',
  invalid_target: 'exchange_invalid_target',
  invalid_scope: 'exchange_invalid_scope',
};
// RFC 6749 section 5.2: error = 1*( %x20-21 / %x23-5B / %x5D-7E ).
const ERROR_VALUE = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,100}$/;
// A token must be usable as a header value: visible ASCII, no spaces.
const TOKEN_CHARS = /^[\x21-\x7E]+$/;

function failed(message: string, status?: number, cause?: unknown): TokenExchangeError {
  return new TokenExchangeError('exchange_failed', message, { responseStatus: status, ...(cause === undefined ? {} : { cause }) });
}

/**
 * What to fix, by code (and by the server's `error` where no code of its own exists): appended to
 * the message, so a refusal in a log names the setting to change.
 */
const HINTS: Partial<Record<AAuthErrorCode, string>> = {
  // Keycloak also answers an audience that is no client with 400 invalid_client ("Audience not found").
  exchange_invalid_client: "check the target's clientId and auth (the client secret or key), and that each audience it names is a client at the server",
  exchange_invalid_scope: "ask for a scope the server grants this client (the target's scope, or init.scope)",
  exchange_invalid_target: 'ask for an audience or resource this client may obtain tokens for',
  exchange_invalid_grant: 'the subject or actor token was refused: expired, revoked, or not one this server accepts from this client',
  exchange_unauthorized_client: 'allow this client the token-exchange grant at the server (Keycloak: "Standard token exchange" on the client)',
  exchange_invalid_request:
    "the server found a parameter missing or not allowed for this client: check the target's audience, resource, token types and scope",
};
const ERROR_HINTS: Record<string, string> = {
  // Keycloak answers 403 access_denied "Client is not within the token audience".
  access_denied: "the server denied this client the exchange: the subject token must be issued for this client (its aud), and the client's policy must allow it",
};

/** Turn a non-200 answer into a typed error carrying the server's `error` and description (redacted). */
/** `table[key]` for the table's own entries only: a server's `error` of `__proto__` or `constructor` names none. */
function own<T>(table: Record<string, T>, key: string | undefined): T | undefined {
  return key !== undefined && Object.hasOwn(table, key) ? table[key] : undefined;
}

function refusal(response: LimitedResponse, clientId: string): TokenExchangeError {
  const doc = jsonObject(response.body);
  const error = typeof doc?.error === 'string' && ERROR_VALUE.test(doc.error) ? redact(doc.error) : undefined;
  const description = typeof doc?.error_description === 'string' ? redact(doc.error_description) : undefined;
  // RFC 6749 section 5.2 answers 401 only when client authentication failed. Keycloak says
  // unauthorized_client there (a wrong secret), which is not "this client may not use the grant".
  const code =
    response.status === 401 ? 'exchange_invalid_client' : (own(ERROR_CODES, error) ?? 'exchange_failed');
  const summary = [error, description].filter(Boolean).join(': ');
  const hint = HINTS[code] ?? own(ERROR_HINTS, error);
  const message =
    `The authorization server refused the token exchange for client ${clientId} (HTTP ${response.status}${summary ? `, ${summary}` : ''})` +
    (hint ? `; ${hint}` : '');
  return new TokenExchangeError(code, message, {
    oauthError: error,
    errorDescription: description,
    responseStatus: response.status,
  });
}

function expiresIn(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  // Some servers send the number as a string ("3599"); RFC 6749 section 5.1 means a number of seconds.
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n <= 0) throw failed(`The token response has an invalid expires_in (${showValue(value)})`, 200);
  return n;
}

/** The response checks of RFC 8693 section 2.2.1 (RFC 6749 section 5.1 for Entra's on-behalf-of answer). */
function parseIssued(response: LimitedResponse, profile: TokenExchangeProfile, requestedScope: string | undefined, now: number): ExchangedToken {
  const doc = jsonObject(response.body);
  if (doc === undefined) throw failed('The token endpoint answered 200 without a JSON object', 200);
  const accessToken = doc.access_token;
  if (typeof accessToken !== 'string' || accessToken.length === 0) throw failed('The token response has no access_token', 200);
  if (!TOKEN_CHARS.test(accessToken)) throw failed('The token response has an access_token with characters a header cannot carry', 200);
  let issuedTokenType = doc.issued_token_type;
  // Entra's on-behalf-of is not an RFC 8693 exchange: it issues access tokens and does not say so.
  if (issuedTokenType === undefined && profile === 'entra-obo') issuedTokenType = TOKEN_TYPE.accessToken;
  if (typeof issuedTokenType !== 'string' || issuedTokenType.length === 0) {
    throw failed('The token response has no issued_token_type (RFC 8693 section 2.2.1)', 200);
  }
  const tokenType = doc.token_type;
  if (typeof tokenType !== 'string' || tokenType.length === 0) throw failed('The token response has no token_type', 200);
  if (doc.scope !== undefined && typeof doc.scope !== 'string') throw failed('The token response has a scope that is not a string', 200);
  const lifetime = expiresIn(doc.expires_in);
  let expiresAt = lifetime === undefined ? undefined : now + lifetime;
  if (expiresAt === undefined) {
    try {
      const exp = decodeToken(accessToken).claims.exp;
      if (typeof exp === 'number' && Number.isFinite(exp)) expiresAt = exp;
    } catch {
      expiresAt = undefined;
    }
  }
  const token: ExchangedToken = {
    accessToken,
    issuedTokenType,
    // RFC 8693 section 2.2.1: "Bearer" is case-insensitive; keep N_A and other values as sent.
    tokenType: tokenType.toLowerCase() === 'bearer' ? 'Bearer' : tokenType,
    expiresAt,
    // RFC 6749 section 5.1: scope may be omitted when it is the requested one.
    scope: typeof doc.scope === 'string' ? doc.scope : requestedScope,
  };
  // Keep the token out of JSON.stringify and console.log of this object.
  Object.defineProperty(token, 'accessToken', { value: accessToken, enumerable: false, writable: false });
  return token;
}

/** POST the exchange and check the answer; every failure is a `TokenExchangeError`. */
export async function sendExchange(
  request: TokenExchangeHttpRequest,
  transport: ExchangeTransport,
  target: { profile: TokenExchangeProfile; clientId: string },
  requestedScope: string | undefined,
): Promise<ExchangedToken> {
  let response: LimitedResponse;
  try {
    response = await limitedFetch(
      transport.fetch,
      request.url,
      { method: 'POST', headers: request.headers, body: Buffer.from(request.body, 'utf8') },
      // The token endpoint is never redirected: the body holds credentials.
      { timeoutMs: transport.timeoutMs, maxBytes: transport.maxBytes, code: 'exchange_failed', maxRedirects: 0 },
    );
  } catch (error) {
    if (isAAuthError(error)) throw failed(error.message, undefined, error);
    throw error;
  }
  if (response.status !== 200) throw refusal(response, target.clientId);
  return parseIssued(response, target.profile, requestedScope, transport.now());
}
