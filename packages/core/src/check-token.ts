/**
 * The pure, synchronous half of the one token pipeline: everything but the key. The verifier's
 * `verifyToken` (and core's `verifyToken` for a caller-supplied key) run these, then the signature.
 */
import { AAuthError } from './errors.js';
import {
  DEFAULT_TOKEN_ALGORITHMS,
  isBannedAlgorithm,
  type ClaimCheck,
  type ClaimContext,
  type TokenClock,
  type TokenExpectations,
  type TokenProfile,
} from './token-profiles.js';
import type { DecodedToken } from './tokens.js';
import { showValue } from './lib/show-value.js';

/** A token whose header passed {@link checkTokenHeader}: its profile, `alg`, `iss` and `kid`. */
export interface CheckedToken<C = Record<string, unknown>> extends DecodedToken<C> {
  readonly profile: TokenProfile;
  /** The header `alg`, on the allow-list. */
  readonly alg: string;
  /** The `iss` claim, trusted for this profile. */
  readonly issuer: string;
  /** The header `kid`, when a string. */
  readonly kid: string | undefined;
}

const KNOWN_ALGORITHMS: readonly string[] = DEFAULT_TOKEN_ALGORITHMS;

/**
 * Header checks, before any key is looked up: the profile whose `typ` the token carries, no
 * `crit`, `alg` on the allow-list (never `none` or HMAC), `iss` present and trusted: among
 * `trustedIssuers` for profiles that trust configured issuers only, and among `expect.issuers`.
 * Throws `AAuthError` (`token_typ_invalid`, `token_alg_not_allowed`, `token_malformed`, ...).
 */
export function checkTokenHeader<C = Record<string, unknown>>(
  token: { readonly header: Readonly<Record<string, unknown>>; readonly claims: C },
  profiles: TokenProfile | readonly TokenProfile[],
  expect: TokenExpectations = {},
  trustedIssuers?: readonly string[],
): CheckedToken<C> {
  const list: readonly TokenProfile[] = Array.isArray(profiles) ? profiles : [profiles as TokenProfile];
  const { header } = token;
  const claims = token.claims as Record<string, unknown>;
  const profile = list.find((p) => p.typ.includes(header.typ as string));
  const label = (profile ?? list[0])?.label ?? 'Token';
  if (!profile) {
    // A token of another kind (a resource token, an ID token) is never accepted in its place (section 7).
    throw new AAuthError('token_typ_invalid', `${label}: typ ${showValue(header.typ)} is not ${list.flatMap((p) => p.typ).join(' or ')}`);
  }
  const alg = header.alg;
  // The profile's own list (-11: Ed25519 and ES256, never EdDSA), narrowed by the caller's.
  const base = profile.algorithms ?? KNOWN_ALGORITHMS;
  const allowed = expect.algorithms ?? base;
  if (typeof alg !== 'string' || isBannedAlgorithm(alg) || !allowed.includes(alg) || !base.includes(alg) || !KNOWN_ALGORITHMS.includes(alg)) {
    throw new AAuthError('token_alg_not_allowed', `${label}: alg ${showValue(alg)} is not allowed`);
  }
  // -11: the key is found by the header kid at {iss}/.well-known/{dwk} (draft-11 profile section 4).
  if (profile.generation === 'draft-11' && (typeof header.kid !== 'string' || header.kid.length === 0)) {
    throw new AAuthError('token_malformed', `${label}: the header has no kid`);
  }
  // RFC 7515 section 4.1.4: kid is a string. Any other value was read as no kid (the issuer's only
  // key then matched): a malformed header is refused instead.
  if (header.kid !== undefined && typeof header.kid !== 'string') throw new AAuthError('token_malformed', `${label}: the header kid is not a string`);
  // RFC 7515 section 4.1.11: an extension the verifier does not understand must be refused.
  if (header.crit !== undefined) throw new AAuthError('token_malformed', `${label}: crit header parameters are not supported`);
  const iss = claims.iss;
  if (typeof iss !== 'string' || iss.length === 0) throw new AAuthError('token_claim_invalid', `${label}: iss is missing`);
  // `expect.issuers` narrows the configured trust, never widens it.
  const trusted = profile.issuers !== 'trusted' || trustedIssuers === undefined || trustedIssuers.includes(iss);
  if (!trusted || (expect.issuers !== undefined && !expect.issuers.includes(iss))) {
    throw new AAuthError('token_issuer_untrusted', `${label}: issuer ${JSON.stringify(iss.slice(0, 200))} is not trusted`, { details: { issuer: iss } });
  }
  return { header: header as DecodedToken['header'], claims: token.claims, profile, alg, issuer: iss, kid: typeof header.kid === 'string' ? header.kid : undefined };
}

const tables = new WeakMap<TokenProfile, ReadonlyArray<readonly [string, ClaimCheck]>>();

/**
 * The profile's claim table: `required`, then each claim's check in order. Returns the first
 * refusal as an `AAuthError` (not thrown, so a caller may first authenticate the claims), or
 * undefined. Without `clock`, time checks only check types (the agent's unsigned look).
 */
export function checkTokenClaims(
  token: { profile: TokenProfile; claims: unknown },
  expect: TokenExpectations = {},
  clock?: TokenClock,
): AAuthError | undefined {
  const { profile } = token;
  const claims = token.claims as Record<string, unknown>;
  for (const name of profile.required) {
    if (claims[name] === undefined) return new AAuthError('token_claim_invalid', `${profile.label}: ${name} is missing`);
  }
  let table = tables.get(profile);
  if (!table) {
    table = Object.entries(profile.claims);
    tables.set(profile, table);
  }
  const ctx: ClaimContext = { claims, expect, clock, profile };
  for (const [name, check] of table) {
    const problem = check(claims[name], ctx);
    if (problem) return new AAuthError(problem[0], `${profile.label}: ${problem[1]}`);
  }
  return undefined;
}
