import { ACCESS_TOKEN, AAuthError, AUTH_TOKEN, actChainDepth, decodeToken, isAAuthError, type AAuthErrorCode } from '@aauth-kit/core';
import type { VerifiedToken } from '@aauth-kit/verifier';
import type { ServerContext } from './context.js';
import { isDiscoveryFailure, uniformTokenRefusal } from './discovery-refusal.js';
import { checkNotRevoked } from './grant-revoked.js';

/** The JWT access token `typ` of RFC 9068 section 2.1, the type this server issues at its OAuth token endpoint. */
export const ACCESS_TOKEN_TYP = 'at+jwt';
const MAX_TOKEN = 16 * 1024;

/** The claims of a verified subject or actor token that the exchange uses. */
export interface PresentedToken {
  iss: string;
  /** `sub`, else the AAuth `agent` of a token issued to an agent alone. */
  subject: string;
  aud: string[];
  scope: string[];
  /** Epoch seconds. */
  exp: number;
  /** The token's own `act` chain, if any. */
  act: Record<string, unknown> | undefined;
  /** How deep `act` is. */
  actDepth: number;
  /** `client_id`: the client an access token of this server was issued to. */
  clientId: string | undefined;
  /** The AAuth `agent` of an auth token. */
  agent: string | undefined;
}

/** Whether a token names this realm as its issuer (unverified: only to choose how a refusal reads). */
function ofThisRealm(jwt: string, issuer: string): boolean {
  try {
    return decodeToken(jwt).claims.iss === issuer;
  } catch {
    return false;
  }
}

/** RFC 8693 section 2.2.2: a subject or actor token that is invalid for any reason is `invalid_request` (as Keycloak answers). */
function refused(what: string, reason: string, cause?: unknown): AAuthError {
  return new AAuthError('invalid_request', `${what} refused: ${reason}`, cause === undefined ? {} : { cause });
}

/** How a refusal of the one token verification reads at the OAuth endpoint. */
const REASONS: Partial<Record<AAuthErrorCode, (error: AAuthError) => string>> = {
  // The verification's own reason (which part is not base64url or JSON), said of the token at hand.
  token_malformed: (e) => e.message.replace(/^The token is /, 'it is ').replace(/^The token /, 'its '),
  token_issuer_untrusted: (e) => `its issuer ${JSON.stringify(String(e.details?.issuer))} is not trusted (aauth.trusted.issuers)`,
};

/**
 * Verify a token presented to the OAuth token endpoint (RFC 8693 section 2.1 `subject_token` or
 * `actor_token`): an AAuth auth token (`auth+jwt`) or a JWT access token (`at+jwt`) issued by this
 * realm or by an issuer in `aauth.trusted.issuers`, through the one token verification (signature,
 * expiry, the one `act` rule), and not revoked (issue 17). Its `aud` is checked by the caller, against the client.
 * Every failure is 400 `invalid_request` naming the check (RFC 8693 section 2.2.2).
 */
export async function verifyPresentedToken(ctx: ServerContext, jwt: string, what: 'subject_token' | 'actor_token'): Promise<PresentedToken> {
  if (jwt.length > MAX_TOKEN) throw refused(what, `it is longer than ${MAX_TOKEN} characters`);
  let token: VerifiedToken;
  try {
    token = await ctx.tokens.verifyToken(jwt, [AUTH_TOKEN, ACCESS_TOKEN], { audience: null });
  } catch (error) {
    if (!isAAuthError(error)) throw error;
    // One answer for a fetch the caller's token made this server do; a token of this realm's own
    // keys made none (they are local): its real reason (unknown kid, alg not the key's) is said.
    if (isDiscoveryFailure(error) && !ofThisRealm(jwt, ctx.issuer)) throw uniformTokenRefusal(what, error, 'invalid_request');
    throw refused(what, REASONS[error.code]?.(error) ?? error.message, error);
  }
  // Issue 17: a revoked token (by jti, agent or the user's withdrawn grant) is not exchanged into a
  // fresh one here either, as the AAuth exchange and refresh refuse it; a failing store stays a 503.
  try {
    await checkNotRevoked(ctx, token, what);
  } catch (error) {
    if (isAAuthError(error, 'grant_revoked')) {
      throw refused(what, 'it was revoked (the token, its agent, or the user\'s grant to that agent); the user must connect again for a new one', error);
    }
    throw error;
  }
  const { claims } = token;
  const subject = typeof claims.sub === 'string' && claims.sub.length > 0 ? claims.sub : token.agent;
  if (subject === undefined) throw refused(what, 'it names no subject (sub)');
  const aud = typeof token.audience === 'string' ? [token.audience] : (token.audience ?? []);
  const act = claims.act as Record<string, unknown> | undefined;
  const clientId = typeof claims.client_id === 'string' ? claims.client_id : undefined;
  return { iss: token.issuer, subject, aud, scope: token.scope, exp: token.expiresAt, act, actDepth: actChainDepth(act), clientId, agent: token.agent };
}
