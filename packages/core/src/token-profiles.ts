/**
 * Token claim rules as data: one profile per token kind, each a table of small checks keyed by
 * claim name (the pattern of auth0/node-oauth2-jwt-bearer's validate.ts). A new token kind is a
 * new table, not a new pipeline. Pure: no I/O, no clock of its own, synchronous.
 */
import { parseAgentIdentifier, serverIdentifierProblem } from './aauth-identifier.js';
import { actChainProblem } from './act-chain.js';
import type { AAuthErrorCode } from './errors.js';
import { jwkAlgProblem } from './jwk-alg.js';
import { showValue } from './lib/show-value.js';

/**
 * The two wire generations the kit speaks: the Keycloak profile (`wire-profile.md`) and AAuth -11
 * with HTTP Signature Keys -09 (`wire-profile-draft11.md`).
 */
export type Generation = 'keycloak' | 'draft-11';

/** Both generations, the Keycloak profile first. */
export const GENERATIONS: readonly Generation[] = ['keycloak', 'draft-11'];

/**
 * JWT `typ` values of the Keycloak profile (wire profile sections 6 and 7). Each generation accepts
 * only its own spellings (draft-11 profile section 1): the -11 ones are {@link TOKEN_TYP_11}.
 */
export const TOKEN_TYP = {
  resource: ['resource+jwt'],
  auth: ['auth+jwt'],
  agent: ['agent+jwt'],
} as const;

/** JWT `typ` values of AAuth -11 (draft-11 profile section 6). `aa-person+jwt` is never an auth token. */
export const TOKEN_TYP_11 = {
  resource: ['aa-resource+jwt'],
  auth: ['aa-auth+jwt'],
  agent: ['aa-agent+jwt'],
  person: ['aa-person+jwt'],
} as const;

/** The `dwk` claim of each -11 token kind (draft-11 profile section 6). */
export const TOKEN_DWK_11 = {
  agent: ['aauth-agent.json'],
  person: ['aauth-person.json'],
  resource: ['aauth-resource.json'],
  auth: ['aauth-person.json', 'aauth-access.json'],
} as const;

/** The JWS algorithms of -11 tokens: fully specified only (`EdDSA` refused; draft-11 profile section 3). */
export const TOKEN_ALGORITHMS_11 = ['Ed25519', 'ES256'] as const;

/** Longest -11 token lifetimes, seconds (draft-11 profile section 6). */
export const MAX_LIFETIME_11 = { agent: 24 * 3600, person: 3600, auth: 3600, resource: 300 } as const;

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
  /**
   * -11 profiles: accept loopback server identifiers (`http://localhost:3000`, ...) in `iss`,
   * `ps` and agent identifier domains; default false (https and a bare host only).
   */
  allowLoopback?: boolean | undefined;
  /** -11 resource tokens: the person server the agent expects in `ps` (its own, section 6). */
  ps?: string | undefined;
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

/**
 * Where a profile's signing key is found: the issuer's JWKS (Keycloak profile section 7), the
 * resource's metadata (section 8), or -11 `{iss}/.well-known/{dwk}` with the issuer check
 * (draft-11 profile sections 2 and 4; the profile's claim table has checked `dwk`).
 */
export type TokenKeySource = 'issuer' | 'resource' | 'dwk';

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
  /** The wire generation; default `'keycloak'`. */
  readonly generation?: Generation | undefined;
  /** The JWS algorithms this profile accepts; default {@link DEFAULT_TOKEN_ALGORITHMS}. */
  readonly algorithms?: readonly string[] | undefined;
}

// --- small checks, shared by the tables below ---

const claimInvalid = (reason: string): ClaimProblem => ['token_claim_invalid', reason];

/** A string when present. */
const optionalString =
  (name: string): ClaimCheck =>
  (v) =>
    v === undefined || typeof v === 'string' ? undefined : claimInvalid(`${name} is not a string`);

/** A scope string naming at least one scope (not empty, not only spaces). */
const someScope =
  (name: string): ClaimCheck =>
  (v) =>
    typeof v === 'string' && v.trim().length > 0 ? undefined : claimInvalid(typeof v === 'string' ? `${name} names no scope` : `${name} is missing`);

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

/**
 * `iat` not in the future by more than the leeway (or `future` seconds, when more), and `exp - iat`
 * within the profile's lifetime (section 6).
 */
function issuedAtWithin(future: number): ClaimCheck {
  return (v, { clock, claims, profile }) => {
    if (v === undefined) return profile.maxLifetime !== undefined && clock ? claimInvalid('iat is missing') : undefined;
    if (!isTime(v)) return claimInvalid('iat is not a number');
    if (!clock) return undefined;
    const ahead = v - clock.now;
    if (ahead > clock.leeway && ahead > future) return ['token_not_yet_valid', `iat is ${Math.ceil(ahead)} s in the future (check the issuer's clock)`];
    const max = profile.maxLifetime;
    if (max !== undefined && isTime(claims.exp) && claims.exp - v > max) {
      return ['token_lifetime_invalid', `lives ${claims.exp - v} s, more than ${max} s`];
    }
    return undefined;
  };
}

const issuedAt = issuedAtWithin(0);

/**
 * AAuth -11 section 11.5.2: `iat` is no validity check; a verifier MAY refuse a future one
 * (`clock_skew`), bounded by "its signature validity window, 60 seconds by default", so an issuer's
 * clock up to a minute ahead is not refused (the -10 rule was the kit's 5 s leeway).
 */
export const IAT_FUTURE_WINDOW_11 = 60;
const issuedAt11 = issuedAtWithin(IAT_FUTURE_WINDOW_11);

const TIME: Readonly<Record<string, ClaimCheck>> = { exp: notExpired, nbf: notBefore, iat: issuedAt };

/** `aud` a string, or an array of strings, containing the expected audience (section 7). */
const audienceStringOrArray: ClaimCheck = (v, { expect }) => {
  const strings = typeof v === 'string' || (Array.isArray(v) && v.every((a) => typeof a === 'string'));
  if (expect.audience !== undefined) {
    if (v === expect.audience || (strings && Array.isArray(v) && v.includes(expect.audience))) return undefined;
    return ['token_audience_invalid', `aud ${showValue(v, 200)} is not ${JSON.stringify(expect.audience)}`];
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
    agent: expected('agent', (e) => e.agent, (v, want) => `agent ${showValue(v, 200)} is not the signer ${JSON.stringify(want)}`),
    agent_jkt: expected('agent_jkt', (e) => e.agentJkt, () => "agent_jkt is not the signer's key thumbprint"),
    // Section 5: a resource token always names at least one scope.
    scope: someScope('scope'),
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
 * (`upstream_token`, RFC 8693 subject and actor tokens). `auth+jwt` only: the -11 `aa-auth+jwt`
 * has its own table, {@link AUTH_TOKEN_11} (draft-11 profile section 1).
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
 * Agent token of the Keycloak profile (`agent+jwt`), generic checks only (`iss`, `exp`, `nbf`,
 * `iat`). The -11 `aa-agent+jwt` is {@link AGENT_TOKEN_11}.
 */
export const AGENT_TOKEN: TokenProfile = { ...ISSUED, name: 'agent', label: 'Agent token', typ: TOKEN_TYP.agent, claims: TIME, bindsKey: false };

// --- AAuth -11 (draft-11 profile section 6): one table per token kind ---

/** `dwk` names the metadata document of this kind (-11: key discovery at `{iss}/.well-known/{dwk}`). */
const dwkOf =
  (values: readonly string[]): ClaimCheck =>
  (v) =>
    typeof v === 'string' && values.includes(v) ? undefined : claimInvalid(`dwk ${showValue(v, 80)} is not ${values.join(' or ')}`);

/** A -11 server identifier (https, bare lower-case host; loopback when the caller allows it). */
const serverId =
  (name: string, optional = false): ClaimCheck =>
  (v, { expect }) => {
    if (v === undefined && optional) return undefined;
    const problem = serverIdentifierProblem(v, { allowLoopback: expect.allowLoopback });
    return problem === undefined ? undefined : claimInvalid(`${name} ${problem}`);
  };

const notAgentId = (name: string) => claimInvalid(`${name} is not an agent identifier (aauth:local@domain)`);

/** An agent identifier `aauth:local@domain` (AAuth -11 "Agent Identifiers"). */
const agentId =
  (name: string, optional = false): ClaimCheck =>
  (v, { expect }) => {
    if (v === undefined && optional) return undefined;
    return parseAgentIdentifier(v, { allowLoopback: expect.allowLoopback }) ? undefined : notAgentId(name);
  };

/**
 * An agent token's `sub`: an agent identifier whose `domain` is its provider's, the host of `iss`
 * (AAuth -11 "Agent Identifiers": `domain` is the agent provider's domain). Without this, any
 * provider (its metadata is the only anchor) could speak for an agent of another provider, and be
 * given what a person granted that agent. `iss` is checked first in the table.
 */
const agentOfIssuer: ClaimCheck = (v, { claims, expect }) => {
  const id = parseAgentIdentifier(v, { allowLoopback: expect.allowLoopback });
  if (!id) return notAgentId('sub');
  const iss = claims.iss as string;
  const host = iss.slice(iss.indexOf('://') + 3);
  return id.domain === host ? undefined : claimInvalid(`sub ${showValue(v, 200)} is not an agent of its issuer: its domain must be ${JSON.stringify(host)}, the host of iss`);
};

/** A claim the kind must not carry (person tokens: no scope; auth and resource tokens: no agent). */
const absent =
  (name: string, why: string): ClaimCheck =>
  (v) =>
    v === undefined ? undefined : claimInvalid(`${name} must not be present (${why})`);

/** `exp` in the future, without leeway (draft-11 profile section 6: no clock-skew tolerance on exp). */
const notExpiredStrict: ClaimCheck = (v, { clock }) => {
  if (!isTime(v)) return claimInvalid('exp is missing');
  if (clock && v <= clock.now) return ['token_expired', `expired ${Math.round(clock.now - v)} s ago`];
  return undefined;
};

const TIME_11: Readonly<Record<string, ClaimCheck>> = { exp: notExpiredStrict, nbf: notBefore, iat: issuedAt11 };

/** The members each key type needs (AAuth -11 "Request-Context Binding", step 6). */
const KEY_MEMBERS: Readonly<Record<string, readonly string[]>> = { OKP: ['crv', 'x'], EC: ['crv', 'x', 'y'], RSA: ['n', 'e'] };

/** `cnf.jwk` present, public, structurally complete, with an `alg` agreeing with it (-09 section 3.3). */
const confirmationKey11: ClaimCheck = (v, ctx) => {
  const base = confirmationKey(v, ctx);
  if (base) return base;
  const jwk = (v as { jwk: Record<string, unknown> }).jwk;
  const members = typeof jwk.kty === 'string' ? KEY_MEMBERS[jwk.kty] : undefined;
  if (members === undefined || members.some((m) => typeof jwk[m] !== 'string')) {
    return claimInvalid(`cnf.jwk is structurally incomplete (kty ${showValue(jwk.kty, 40)})`);
  }
  const problem = jwkAlgProblem(jwk, 'draft-11');
  return problem === undefined ? undefined : [problem.code, `cnf.jwk: ${problem.reason}`];
};

/** `aud` present: one string or an array of strings, containing the expected audience. */
const audience11: ClaimCheck = (v, ctx) => {
  if (v === undefined || (typeof v === 'string' && v.length === 0) || (Array.isArray(v) && v.length === 0)) return claimInvalid('aud is missing');
  return audienceStringOrArray(v, ctx);
};

/** What every -11 token shares: `dwk` discovery, fully specified algorithms. */
const DRAFT11 = { keys: 'dwk', generation: 'draft-11', algorithms: TOKEN_ALGORITHMS_11 } as const;

/**
 * -11 agent token `aa-agent+jwt` (agent provider -> agent): `iss dwk sub jti cnf iat exp`, `sub` an
 * agent identifier, optional `ps` and `parent_agent`, at most 24 h. Any provider: its metadata is the anchor.
 */
export const AGENT_TOKEN_11: TokenProfile = {
  ...DRAFT11,
  name: 'agent-11',
  label: 'Agent token',
  typ: TOKEN_TYP_11.agent,
  required: ['iss', 'dwk', 'sub', 'jti', 'cnf', 'iat', 'exp'],
  claims: {
    ...TIME_11,
    iss: serverId('iss'),
    dwk: dwkOf(TOKEN_DWK_11.agent),
    sub: agentOfIssuer,
    jti: nonEmptyString('jti'),
    cnf: confirmationKey11,
    ps: serverId('ps', true),
    parent_agent: agentId('parent_agent', true),
  },
  maxLifetime: MAX_LIFETIME_11.agent,
  issuers: 'any',
  bindsKey: true,
};

/**
 * -11 person token `aa-person+jwt` (person server -> agent): `iss dwk aud sub cnf jti iat exp`,
 * directed `sub`, never `scope` or `account`, at most 1 h. Never accepted as an auth token.
 */
export const PERSON_TOKEN: TokenProfile = {
  ...DRAFT11,
  name: 'person',
  label: 'Person token',
  typ: TOKEN_TYP_11.person,
  required: ['iss', 'dwk', 'aud', 'sub', 'cnf', 'jti', 'iat', 'exp'],
  claims: {
    ...TIME_11,
    iss: serverId('iss'),
    dwk: dwkOf(TOKEN_DWK_11.person),
    aud: audience11,
    sub: nonEmptyString('sub'),
    cnf: confirmationKey11,
    jti: nonEmptyString('jti'),
    scope: absent('scope', 'a person token is not an authorization'),
    account: absent('account', 'a person token is not an authorization'),
    mission_s256: optionalString('mission_s256'),
    tenant: optionalString('tenant'),
  },
  maxLifetime: MAX_LIFETIME_11.person,
  issuers: 'trusted',
  bindsKey: true,
};

/** `ps`, when the caller names the agent's person server, must be it (resource challenge check 5). */
const expectedPs: ClaimCheck = (v, ctx) => {
  const problem = serverId('ps')(v, ctx);
  if (problem) return problem;
  return ctx.expect.ps !== undefined && v !== ctx.expect.ps ? claimInvalid(`ps ${showValue(v, 200)} is not ${JSON.stringify(ctx.expect.ps)}`) : undefined;
};

/**
 * -11 resource token `aa-resource+jwt`: `iss dwk aud jti ps sub presented_jti agent_jkt iat exp
 * scope`, no agent identifier, at most 5 min. Signed by the resource (its `aauth-resource.json`).
 */
export const RESOURCE_TOKEN_11: TokenProfile = {
  ...DRAFT11,
  name: 'resource-11',
  label: 'Resource token',
  typ: TOKEN_TYP_11.resource,
  required: ['iss', 'dwk', 'aud', 'jti', 'ps', 'sub', 'presented_jti', 'agent_jkt', 'iat', 'exp', 'scope'],
  claims: {
    ...TIME_11,
    iss: serverId('iss'),
    dwk: dwkOf(TOKEN_DWK_11.resource),
    aud: audience11,
    jti: nonEmptyString('jti'),
    ps: expectedPs,
    sub: nonEmptyString('sub'),
    presented_jti: nonEmptyString('presented_jti'),
    agent_jkt: expected('agent_jkt', (e) => e.agentJkt, () => "agent_jkt is not the signer's key thumbprint"),
    scope: someScope('scope'),
    agent: absent('agent', 'a -11 resource token carries no agent identifier'),
    account: optionalString('account'),
    tenant: optionalString('tenant'),
    mission_s256: optionalString('mission_s256'),
  },
  maxLifetime: MAX_LIFETIME_11.resource,
  issuers: 'any',
  bindsKey: false,
};

/** `ps` of an auth token: a server identifier, and equal to `iss` when a person server issued it. */
const authTokenPs: ClaimCheck = (v, ctx) => {
  const problem = serverId('ps')(v, ctx);
  if (problem) return problem;
  return ctx.claims.dwk === 'aauth-person.json' && v !== ctx.claims.iss ? claimInvalid('ps is not iss (a person server issued this token)') : undefined;
};

/**
 * -11 auth token `aa-auth+jwt` (person or access server -> agent): `iss dwk aud jti ps sub cnf iat
 * exp`, no `agent`, no `act`, at most 1 h.
 */
export const AUTH_TOKEN_11: TokenProfile = {
  ...DRAFT11,
  name: 'auth-11',
  label: 'Auth token',
  typ: TOKEN_TYP_11.auth,
  required: ['iss', 'dwk', 'aud', 'jti', 'ps', 'sub', 'cnf', 'iat', 'exp'],
  claims: {
    ...TIME_11,
    iss: serverId('iss'),
    dwk: dwkOf(TOKEN_DWK_11.auth),
    aud: audience11,
    jti: nonEmptyString('jti'),
    ps: authTokenPs,
    sub: nonEmptyString('sub'),
    cnf: confirmationKey11,
    scope: optionalString('scope'),
    account: optionalString('account'),
    tenant: optionalString('tenant'),
    mission_s256: optionalString('mission_s256'),
    agent: absent('agent', 'a -11 auth token carries no agent identifier'),
    act: absent('act', 'a -11 auth token carries no delegation chain'),
  },
  maxLifetime: MAX_LIFETIME_11.auth,
  issuers: 'trusted',
  bindsKey: true,
};

/** Every profile by name. */
export const TOKEN_PROFILES = {
  resource: RESOURCE_TOKEN,
  auth: AUTH_TOKEN,
  refresh: REFRESH_TOKEN,
  access: ACCESS_TOKEN,
  'oauth-access': OAUTH_ACCESS_TOKEN,
  agent: AGENT_TOKEN,
  'agent-11': AGENT_TOKEN_11,
  person: PERSON_TOKEN,
  'resource-11': RESOURCE_TOKEN_11,
  'auth-11': AUTH_TOKEN_11,
} as const;
