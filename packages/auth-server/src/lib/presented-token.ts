import { AAuthError, DEFAULT_TOKEN_ALGORITHMS, decodeToken, isAAuthError, tokenKind } from '@aauth-kit/core';
import { errors as joseErrors, jwtVerify, type JWK } from 'jose';
import type { KeyObject } from 'node:crypto';
import type { ServerContext } from './context.js';

/** The JWT access token `typ` of RFC 9068 section 2.1, the type this server issues at its OAuth token endpoint. */
export const ACCESS_TOKEN_TYP = 'at+jwt';
const ACCESS_TYPS = new Set([ACCESS_TOKEN_TYP, 'application/at+jwt']);
const LEEWAY = 5;
const MAX_TOKEN = 16 * 1024;
const MAX_ACT_WALK = 64;

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
}

function refused(what: string, reason: string, cause?: unknown): AAuthError {
  return new AAuthError('invalid_grant', `${what} refused: ${reason}`, cause === undefined ? {} : { cause });
}

/** Depth of an `act` chain (RFC 8693 section 4.1): each level an object; an AAuth level names `agent`, an RFC 8693 level `sub`. */
export function actChainDepth(act: unknown, what: string): number {
  let depth = 0;
  let node = act;
  while (node !== undefined) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) throw refused(what, 'its act claim is malformed');
    const level = node as Record<string, unknown>;
    if (typeof level.sub !== 'string' && typeof level.agent !== 'string') throw refused(what, 'an act level names neither sub nor agent');
    depth++;
    if (depth > MAX_ACT_WALK) throw refused(what, `its act chain is deeper than ${MAX_ACT_WALK}`);
    node = level.act;
  }
  return depth;
}

/**
 * Verify a token presented to the OAuth token endpoint (RFC 8693 section 2.1 `subject_token` or
 * `actor_token`): an AAuth auth token (`auth+jwt`) or a JWT access token (`at+jwt`) issued by this
 * realm or by an issuer in `aauth.trusted.issuers`, with a good signature and unexpired.
 * Every failure is 400 `invalid_grant` naming the check.
 */
export async function verifyPresentedToken(ctx: ServerContext, jwt: string, what: 'subject_token' | 'actor_token'): Promise<PresentedToken> {
  if (jwt.length > MAX_TOKEN) throw refused(what, `it is longer than ${MAX_TOKEN} characters`);
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    ({ header, claims } = decodeToken(jwt));
  } catch {
    throw refused(what, 'it is not a compact JWT');
  }
  const typ = String(header.typ);
  if (tokenKind(typ) !== 'auth' && !ACCESS_TYPS.has(typ)) throw refused(what, `its typ ${JSON.stringify(header.typ)} is neither auth+jwt nor at+jwt`);
  const iss = claims.iss;
  if (typeof iss !== 'string') throw refused(what, 'it has no iss');
  const own = iss === ctx.issuer;
  if (!own && !ctx.realm.policy.trustedIssuers.includes(iss)) throw refused(what, `its issuer ${JSON.stringify(iss)} is not trusted (aauth.trusted.issuers)`);
  const algorithms: readonly string[] = own ? [ctx.key.alg] : DEFAULT_TOKEN_ALGORITHMS;
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) throw refused(what, `its alg ${JSON.stringify(header.alg)} is not allowed`);
  const now = ctx.now();
  // Cheap checks before the key is resolved (a trusted issuer's key may need a fetch).
  if (typeof claims.exp !== 'number') throw refused(what, 'it has no exp');
  if (claims.exp + LEEWAY <= now) throw refused(what, `it expired ${Math.round(now - claims.exp)} s ago`);
  let key: KeyObject | JWK;
  if (own) {
    if (header.kid !== ctx.key.kid) throw refused(what, 'it was not signed with the current realm key');
    key = ctx.key.publicKey;
  } else {
    try {
      key = (await ctx.keys.resolveIssuerJwk(iss, typeof header.kid === 'string' ? header.kid : undefined)) as JWK;
    } catch (error) {
      throw refused(what, `the key of ${iss} cannot be resolved: ${isAAuthError(error) ? error.message : 'discovery failed'}`, error);
    }
  }
  try {
    await jwtVerify(jwt, key, { algorithms: [header.alg], currentDate: new Date(now * 1000), clockTolerance: LEEWAY });
  } catch (error) {
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) throw refused(what, 'its signature does not verify');
    if (error instanceof joseErrors.JWTExpired) throw refused(what, 'it has expired');
    if (error instanceof joseErrors.JWTClaimValidationFailed) throw refused(what, `its ${error.claim} claim is invalid (${error.reason})`);
    throw refused(what, 'it cannot be verified', error);
  }
  const subject = typeof claims.sub === 'string' && claims.sub.length > 0 ? claims.sub : typeof claims.agent === 'string' ? claims.agent : undefined;
  if (subject === undefined) throw refused(what, 'it names no subject (sub)');
  const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.filter((a): a is string => typeof a === 'string') : [];
  if (claims.scope !== undefined && typeof claims.scope !== 'string') throw refused(what, 'its scope is not a string');
  const act = claims.act as Record<string, unknown> | undefined;
  const actDepth = actChainDepth(act, what);
  return {
    iss,
    subject,
    aud,
    scope: typeof claims.scope === 'string' ? [...new Set(claims.scope.split(' ').filter(Boolean))] : [],
    exp: claims.exp,
    act,
    actDepth,
  };
}
