/**
 * Token claim rules as data: one profile per token kind, each a table of small checks keyed by
 * claim name (the pattern of auth0/node-oauth2-jwt-bearer's validate.ts). A new token kind is a
 * new table, not a new pipeline. Pure: no I/O, no clock of its own, synchronous.
 */
import { actChainProblem } from './act-chain.js';
import type { AAuthErrorCode } from './errors.js';

/** JWT `typ` values of both wire generations (wire profile sections 6, 7 and 11). */
export const TOKEN_TYP = {
  resource: ['resource+jwt', 'aa-resource+jwt'],
  auth: ['auth+jwt', 'aa-auth+jwt'],
  agent: ['agent+jwt', 'aa-agent+jwt'],
} as const;

/**
 * The one JWS algorithm allow-list of the kit (wire profile sections 2, 7 and 11): RS256 from
 * Keycloak, ES256, EdDSA and its -11 spelling Ed25519. Callers may narrow it, never widen it.
 */
export const DEFAULT_TOKEN_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'Ed25519'] as const;

/** The one leeway of the kit on `exp`, `nbf` and `iat`, seconds (the verifier's `leeway` default). */
export const TOKEN_LEEWAY = 5;

/** Longest resource-token lifetime, in seconds (section 6). */
export const MAX_RESOURCE_TOKEN_LIFETIME = 300;

const BANNED_ALG = /^(none|HS\d+)$/i;

/**
 * True for the algorithms never accepted, whatever a caller lists: unsecured (`none`) and HMAC,
 * whose "key" would be the issuer's public key (section 7; RFC 8725 sections 2.1 and 3.1).
 */
export function isBannedAlgorithm(alg: string): boolean {
  return BANNED_ALG.test(alg);
}

/** What the caller of a verification expects of one token (all optional). */
export interface TokenExpectations {
  /** Required audience: `aud` must equal it (or, where the profile allows an array, contain it). */
  audience?: string | undefined;
  /** Accepted issuers (exact match). */
  issuers?: readonly string[] | undefined;
  /** Accepted `alg` values, a subset of {@link DEFAULT_TOKEN_ALGORITHMS}; default all of them. */
  algorithms?: readonly string[] | undefined;
  /** Resource tokens: the signer's identity, which `agent` must equal (section 8). */
  agent?: string | undefined;
  /** Resource tokens: the signer's key thumbprint, which `agent_jkt` must equal (section 8). */
  agentJkt?: string | undefined;
  /** Refresh: seconds after `exp` during which an expired token may still be refreshed; default 0. */
  refreshWindow?: number | undefined;
}

/** The clock of one check: epoch seconds and the leeway. Without it, only types are checked. */
export interface TokenClock {
  now: number;
  leeway: number;
}

/** What a claim check sees. */
export interface ClaimContext {
  readonly claims: Readonly<Record<string, unknown>>;
  readonly expect: TokenExpectations;
  /** Undefined when no clock applies (the agent's look at a resource token): time checks check types only. */
  readonly clock: TokenClock | undefined;
  readonly profile: TokenProfile;
}

/** A refusal: the error code and the reason (the message is prefixed with the profile's label). */
export type ClaimProblem = readonly [code: AAuthErrorCode, reason: string];

/** One claim's check: undefined when the value is acceptable. `value` is `claims[name]`. */
export type ClaimCheck = (value: unknown, ctx: ClaimContext) => ClaimProblem | undefined;

/** Where a profile's signing key is found (wire profile sections 7 and 8). */
export type TokenKeySource = 'issuer' | 'resource';

/** The rules for one token kind. */
export interface TokenProfile {
  /** Stable name (`'auth'`, `'resource'`, `'access'`, `'refresh'`). */
  readonly name: string;
  /** How messages name it: `'Auth token'`. */
  readonly label: string;
  /** Accepted header `typ` values (exact). */
  readonly typ: readonly string[];
  /** Claims that must be present (`token_claim_invalid`, "<claim> is missing"); `iss` always is. */
  readonly required: readonly string[];
  /** Per-claim checks, run in this order after `required`. */
  readonly claims: Readonly<Record<string, ClaimCheck>>;
  /** Longest `exp - iat`, seconds; none when undefined. */
  readonly maxLifetime?: number | undefined;
  /** Where the signing key comes from: the issuer's JWKS (section 7) or the resource's metadata (section 8). */
  readonly keys: TokenKeySource;
  /** When the caller names no issuers: only configured trusted issuers, or any (its metadata is the anchor). */
  readonly issuers: 'trusted' | 'any';
  /** Whether the token binds a key in `cnf.jwk` (proof of possession, section 7). */
  readonly bindsKey: boolean;
}

// --- small checks, shared by the tables below ---

const claimInvalid = (reason: string): ClaimProblem => ['token_claim_invalid', reason];

/** A string when present. */
const optionalString =
  (name: string): ClaimCheck =>
  (v) =>
    v === undefined || typeof v === 'string' ? undefined : claimInvalid(`${name} is not a string`);

/** A non-empty string. */
const nonEmptyString =
  (name: string): ClaimCheck =>
  (v) =>
    typeof v === 'string' && v.length > 0 ? undefined : claimInvalid(`${name} is missing`);

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** `exp` in the future, within the leeway (RFC 7519 section 4.1.4). */
const notExpired: ClaimCheck = (v, { clock }) => {
  if (!isTime(v)) return claimInvalid('exp is missing');
  if (clock && v + clock.leeway <= clock.now) return ['token_expired', `expired ${Math.round(clock.now - v)} s ago`];
  return undefined;
};

/** Refresh: `exp` may have passed, by at most the refresh window (section 8, `{auth_token}`). */
const withinRefreshWindow: ClaimCheck = (v, { clock, expect }) => {
  if (!isTime(v)) return claimInvalid('exp is missing');
  const window = expect.refreshWindow ?? 0;
  if (clock && v + window < clock.now) return ['token_expired', `expired more than ${window} s ago`];
  return undefined;
};

/** `nbf` not in the future (RFC 7519 section 4.1.5). */
const notBefore: ClaimCheck = (v, { clock }) => {
  if (v === undefined) return undefined;
  if (!isTime(v)) return claimInvalid('nbf is not a number');
  if (clock && v - clock.leeway > clock.now) return ['token_not_yet_valid', 'nbf is in the future'];
  return undefined;
};

/** `iat` not in the future, and `exp - iat` within the profile's lifetime (section 6). */
const issuedAt: ClaimCheck = (v, { clock, claims, profile }) => {
  if (v === undefined) return profile.maxLifetime !== undefined && clock ? claimInvalid('iat is missing') : undefined;
  if (!isTime(v)) return claimInvalid('iat is not a number');
  if (!clock) return undefined;
  if (v - clock.leeway > clock.now) return ['token_not_yet_valid', 'iat is in the future'];
  const max = profile.maxLifetime;
  if (max !== undefined && isTime(claims.exp) && claims.exp - v > max) {
    return ['token_lifetime_invalid', `lives ${claims.exp - v} s, more than ${max} s`];
  }
  return undefined;
};

const TIME: Readonly<Record<string, ClaimCheck>> = { exp: notExpired, nbf: notBefore, iat: issuedAt };

/** `aud` a string, or an array of strings, containing the expected audience (section 7). */
const audienceStringOrArray: ClaimCheck = (v, { expect }) => {
  const strings = typeof v === 'string' || (Array.isArray(v) && v.every((a) => typeof a === 'string'));
  if (expect.audience !== undefined) {
    if (v === expect.audience || (strings && Array.isArray(v) && v.includes(expect.audience))) return undefined;
    return ['token_audience_invalid', `aud ${JSON.stringify(v)?.slice(0, 200)} is not ${JSON.stringify(expect.audience)}`];
  }
  return v === undefined || strings ? undefined : claimInvalid('aud is not a string or an array of strings');
};

/** `aud` exactly one string, equal to the expected audience (section 6: the auth server issuer). */
const audienceString: ClaimCheck = (v, { expect }) => {
  if (typeof v !== 'string' || v.length === 0) return claimInvalid('aud is not a string');
  if (expect.audience !== undefined && v !== expect.audience) {
    return ['token_audience_invalid', `aud ${JSON.stringify(v.slice(0, 200))} is not ${JSON.stringify(expect.audience)}`];
  }
  return undefined;
};

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

/** `cnf.jwk` present, an object, and public (section 7: proof of possession). */
const confirmationKey: ClaimCheck = (v) => {
  const jwk = typeof v === 'object' && v !== null ? (v as { jwk?: unknown }).jwk : undefined;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return ['token_cnf_missing', 'cnf.jwk is missing'];
  if (PRIVATE_MEMBERS.some((m) => (jwk as Record<string, unknown>)[m] !== undefined)) {
    return claimInvalid('cnf.jwk is not a usable key (it carries private key material)');
  }
  return undefined;
};

/** `act` follows the one actor-chain rule (act-chain.ts). */
const actorChain: ClaimCheck = (v) => {
  const problem = v === undefined ? undefined : actChainProblem(v);
  return problem === undefined ? undefined : claimInvalid(`act is not a valid actor chain (${problem})`);
};

/** An expected value, when the caller names one; else just a non-empty string. */
const expected =
  (name: string, pick: (e: TokenExpectations) => string | undefined, mismatch: (v: string, want: string) => string): ClaimCheck =>
  (v, ctx) => {
    const missing = nonEmptyString(name)(v, ctx);
    if (missing) return missing;
    const want = pick(ctx.expect);
    return want !== undefined && v !== want ? ['token_agent_mismatch', mismatch(v as string, want)] : undefined;
  };

// --- the profiles ---

/** Resource token (wire profile section 6), checked by the auth server (section 8) and, unsigned, by the agent. */
export const RESOURCE_TOKEN: TokenProfile = {
  name: 'resource',
  label: 'Resource token',
  typ: TOKEN_TYP.resource,
  required: ['iss', 'aud', 'jti', 'agent', 'agent_jkt', 'iat', 'exp', 'scope'],
  claims: {
    ...TIME,
    aud: audienceString,
    jti: nonEmptyString('jti'),
    agent: expected('agent', (e) => e.agent, (v, want) => `agent ${JSON.stringify(v)} is not the signer ${JSON.stringify(want)}`),
    agent_jkt: expected('agent_jkt', (e) => e.agentJkt, () => "agent_jkt is not the signer's key thumbprint"),
    // Section 5: a resource token always names at least one scope.
    scope: nonEmptyString('scope'),
  },
  maxLifetime: MAX_RESOURCE_TOKEN_LIFETIME,
  keys: 'resource',
  issuers: 'any',
  bindsKey: false,
};

/** The claim table of an auth token (section 7), shared by the auth and refresh profiles. */
const AUTH_CLAIMS: Readonly<Record<string, ClaimCheck>> = {
  ...TIME,
  aud: audienceStringOrArray,
  cnf: confirmationKey,
  scope: optionalString('scope'),
  agent: optionalString('agent'),
  sub: optionalString('sub'),
  act: actorChain,
};

/** What tokens signed by an auth server share: `iss` and `exp`, the issuer's JWKS, configured trust. */
const ISSUED = { required: ['iss', 'exp'], keys: 'issuer', issuers: 'trusted' } as const;

/**
 * Auth token (Keycloak profile, section 7), at a resource (jwt scheme) and at the auth server
 * (`upstream_token`, RFC 8693 subject and actor tokens). The `aa-auth+jwt` spelling is accepted on
 * input (section 11) until the -11 `aa-auth+jwt` table of its own replaces it here.
 */
export const AUTH_TOKEN: TokenProfile = { ...ISSUED, name: 'auth', label: 'Auth token', typ: TOKEN_TYP.auth, claims: AUTH_CLAIMS, bindsKey: true };

/**
 * An auth token presented for refresh (section 8, `{auth_token}` alone): the auth-token table, but
 * `exp` may have passed by up to `refreshWindow` seconds; `iat` and a single `aud` are required.
 */
export const REFRESH_TOKEN: TokenProfile = {
  ...AUTH_TOKEN,
  name: 'refresh',
  required: ['iss', 'exp', 'iat', 'aud'],
  claims: { ...AUTH_CLAIMS, exp: withinRefreshWindow, aud: audienceString },
};

/**
 * The JWT access token the auth server's OAuth endpoint issues (RFC 9068 `at+jwt`, with an RFC
 * 8693 section 4.1 `act`), accepted back there as a subject or actor token.
 */
export const ACCESS_TOKEN: TokenProfile = {
  ...ISSUED,
  name: 'access',
  label: 'Access token',
  typ: ['at+jwt', 'application/at+jwt'],
  claims: {
    ...TIME,
    aud: audienceStringOrArray,
    sub: optionalString('sub'),
    client_id: optionalString('client_id'),
    scope: optionalString('scope'),
    act: actorChain,
  },
  bindsKey: false,
};

/**
 * Keycloak (and other OIDC servers) mark each JWT they sign with a `typ` claim: `Bearer` on access
 * tokens, `ID` on ID tokens, `Refresh` on refresh tokens. Both kinds carry the header `typ`
 * `JWT`, so only this claim keeps an ID token from passing as an access token (RFC 8725
 * section 3.11). Absent (servers that do not set it): the audience check has to tell them apart.
 */
const bearerMarker: ClaimCheck = (v) => {
  if (v === undefined || v === 'Bearer') return undefined;
  return ['token_typ_invalid', `typ claim ${JSON.stringify(String(v).slice(0, 50))} is not "Bearer" (an ID or refresh token is not an access token)`];
};

/** `azp`, the client the token was issued to (OIDC Core section 2), a string when present. */
const authorizedParty: ClaimCheck = (v) => (v === undefined || typeof v === 'string' ? undefined : ['token_claim_invalid', 'azp is not a string']);

/**
 * An OAuth 2.0 access token in plain JWT form (header `typ` `JWT`), as Keycloak and most OIDC
 * servers issue it by default, before RFC 9068's `at+jwt`: the claim table of core's
 * `ACCESS_TOKEN` (`exp`, `nbf`, `iat`, `aud`, `sub`, `client_id`, `scope`, `act`), plus `azp` and
 * the `typ` claim, which must be `Bearer` when present. Keys from the issuer (its metadata's
 * `jwks_uri`: AAuth issuer metadata, else OpenID Provider metadata), issuers from `trustedIssuers`.
 * Pass an `audience`: nothing else tells such a token from an ID token of a server without the claim.
 */
export const OAUTH_ACCESS_TOKEN: TokenProfile = {
  ...ACCESS_TOKEN,
  name: 'oauth-access',
  label: 'OAuth access token',
  typ: ['JWT'],
  claims: { ...ACCESS_TOKEN.claims, azp: authorizedParty, typ: bearerMarker },
};

/**
 * Agent token, as today's generic checks only (`iss`, `exp`, `nbf`, `iat`). The -11 `aa-agent+jwt`
 * table (`dwk`, `sub`, `jti`, `cnf`, 24 h) is a later entry.
 */
export const AGENT_TOKEN: TokenProfile = { ...ISSUED, name: 'agent', label: 'Agent token', typ: TOKEN_TYP.agent, claims: TIME, bindsKey: false };

/** Every profile by name. */
export const TOKEN_PROFILES = {
  resource: RESOURCE_TOKEN,
  auth: AUTH_TOKEN,
  refresh: REFRESH_TOKEN,
  access: ACCESS_TOKEN,
  'oauth-access': OAUTH_ACCESS_TOKEN,
  agent: AGENT_TOKEN,
} as const;
