import type { ActClaim, AuthTokenClaims, CryptoBackend, Generation, HttpRequest, PublicKey, SignedRequest, TokenExpectations, TokenProfile } from '@aauth-kit/core';
import type { DiscoveryOptions } from '@aauth-kit/discovery';

/** Key discovery limits and egress policy (wire profile section 4), owned by @aauth-kit/discovery. */
export type { DiscoveryOptions, ResolveHostname } from '@aauth-kit/discovery';

/** Replay protection settings (wire profile section 3). */
export interface ReplayOptions {
  /** Where seen signatures are kept; default an in-memory store (one process only). */
  store?: ReplayStore | undefined;
  /** Which methods are checked; default `'non-idempotent'` (POST, PATCH, ...). */
  methods?: 'non-idempotent' | 'all' | 'none' | undefined;
}

/** The -11 settings of a verifier (draft-11 profile sections 2, 3 and 6). */
export interface Draft11Options {
  /** Agent providers whose agent tokens (`aa-agent+jwt`) are accepted; default `'any'` (the provider's metadata anchors its key). */
  agentProviders?: string[] | 'any' | undefined;
  /** Person servers whose person tokens (`aa-person+jwt`) are accepted; default `'any'`. */
  personServers?: string[] | 'any' | undefined;
  /** Person and access servers whose auth tokens (`aa-auth+jwt`) are accepted; default `trustedIssuers` plus a `personServers` list. */
  authIssuers?: string[] | undefined;
  /**
   * Accept `http` and a port on `localhost`, `127.0.0.1` or `[::1]` in -11 server identifiers
   * (token `iss`, `jwks_uri` `id`); default false. For local development and tests only.
   */
  allowLoopback?: boolean | undefined;
}

/**
 * Whom a token was issued for, as a verifier hands it to {@link RevocationCheck.isRevoked}, so a
 * revocation by agent or by a user's grant can cover it (issue 17). Claims as the token says them.
 */
export interface RevocationSubject {
  /** The agent it was issued to, then every agent of its `act` chain (outermost first). */
  agents: readonly string[];
  /** The user (`sub`), when there is one. */
  sub?: string | undefined;
  /** When it was issued (`iat`, epoch seconds); a token without one is covered by any agent or grant revocation. */
  iat?: number | undefined;
}

/** Revocation state a verifier consults (AAuth -11 "Token Revocation"; keyed by `(iss, jti)`). */
export interface RevocationCheck {
  /**
   * True when the token `(issuer, jti)` has been revoked: the request is refused with `revoked_jwt`.
   * `subject` (issue 17) lets a store that keeps revocations by agent or grant match those too.
   * `jti` is `''` for a Keycloak-profile auth token without one (agent and grant revocations still apply).
   */
  isRevoked(issuer: string, jti: string, subject?: RevocationSubject): boolean | Promise<boolean>;
}

/** What {@link RevocationStore.revoke} did: kept the entry, or refused it because the store (or the issuer's share) is full. */
export type RevocationStoreResult = 'recorded' | 'full';

/**
 * Where a resource keeps the revocations pushed to it (AAuth -11 "Revocation Request"): entries
 * keyed by `(issuer, jti)`, each kept until `until` (the token's `exp` plus clock skew), then dropped.
 */
export interface RevocationStore extends RevocationCheck {
  /** Record `(issuer, jti)` as revoked until `until` (epoch seconds); `'full'` when there is no room for it. */
  revoke(issuer: string, jti: string, until: number): Promise<RevocationStoreResult>;
}

/**
 * A revocation store that also revokes by agent and by a user's grant (issue 17): every token
 * `issuer` issued to `agent` (or for `sub` to `agent`) up to the moment of the call, whoever of the
 * `act` chain it names. An entry lives until `until`, when the longest token it covers has expired.
 */
export interface RevocationRegistry extends RevocationStore {
  /** Revoke every token `issuer` issued to `agent` (or through it) until now; kept until `until` (epoch seconds). */
  revokeAgent(issuer: string, agent: string, until: number): Promise<RevocationStoreResult>;
  /** Revoke every token `issuer` issued for user `sub` to `agent` (or through it) until now: the user withdrew consent. */
  revokeGrant(issuer: string, sub: string, agent: string, until: number): Promise<RevocationStoreResult>;
  /**
   * The last `iat` (epoch seconds) an agent or grant revocation of `agents` (and `sub`) covers, or
   * undefined when none does: an issuer issues the next token of that pair only in a later second
   * (it waits), so that a revocation never covers a token issued after it, and never misses one
   * issued before it.
   */
  coveredThrough(issuer: string, agents: readonly string[], sub?: string): Promise<number | undefined>;
}

/** Options of {@link createVerifier}; validated when the verifier is created. */
export interface VerifierOptions {
  /** Audience for auth tokens: this party's identity URL (compared byte for byte). */
  identity: string;
  /** Issuers whose auth tokens are accepted (jwt scheme); default []. */
  trustedIssuers?: string[] | undefined;
  /** Issuer -> JWKS known locally (no fetch), e.g. the embedded auth server's own keys. */
  localIssuerKeys?: Record<string, { keys: object[] }> | undefined;
  /** Fetch used for discovery; default: discovery's own transport over node:http/https (it never loads node's fetch). */
  fetch?: typeof fetch | undefined;
  /** Clock: a function returning epoch seconds (not a number); default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
  /** Allowed distance of a signature's `created` from now, seconds; default 60. */
  maxSkew?: number | undefined;
  /** Leeway for auth-token `exp`/`nbf`/`iat`, seconds; default 5 (the name `verifyToken` of core uses). */
  leeway?: number | undefined;
  /** @deprecated Use `leeway` (the same option; still accepted, and must agree with `leeway` when both are given). */
  tokenLeeway?: number | undefined;
  /** Refuse a request with a body whose signature does not cover content-digest; default true. */
  requireContentDigest?: boolean | undefined;
  /** Accepted algorithms for tokens and HTTP-signature keys; default RS256, ES256, EdDSA, Ed25519. */
  algorithms?: string[] | undefined;
  /** Size limit of each signature header in bytes; default 16384. */
  maxSignatureHeaderBytes?: number | undefined;
  /** Replay protection; default in-memory, non-idempotent methods. */
  replay?: ReplayOptions | undefined;
  /** Key discovery limits and egress policy. */
  discovery?: DiscoveryOptions | undefined;
  /**
   * OpenTelemetry (docs/telemetry.md): key discovery's fetches are `aauth.discovery` client spans,
   * children of the active span, their requests carrying its `traceparent`; `enabled: false` turns
   * them off. Default on when an SDK is registered.
   */
  telemetry?: { enabled?: boolean | undefined; recordSubject?: boolean | undefined } | undefined;
  /**
   * Cached imported public keys: `jwks_uri` keys, inline (`hwk`) keys and token `cnf` keys, in one
   * cache by key material, apart from the document cache (`discovery.maxEntries`); default 10000.
   */
  maxKeyEntries?: number | undefined;
  /** Cached verified auth tokens; default 10000. */
  maxTokenEntries?: number | undefined;
  /**
   * Ed25519 implementation for request signatures and cnf keys: `'sodium'` (libsodium via the
   * optional dependency sodium-native, about 2x node:crypto here), `'node'` (node:crypto) or
   * `'noble'` (portable, slower). Default: `defaultCryptoBackend()` of @aauth-kit/core, i.e.
   * `'sodium'` when sodium-native loads, else `'node'`. Chosen at creation; asking for `'sodium'`
   * when sodium-native is missing is a TypeError then.
   */
  cryptoBackend?: CryptoBackend | undefined;
  /**
   * Wire generations accepted (draft-11 profile section 1): the Keycloak profile and AAuth -11;
   * default both, each request verified under the one it uses (an `aa-*` token, a dictionary
   * `Signature-Key` whose `hwk` has `alg` or whose `jwks_uri` has `dwk` is -11).
   */
  generations?: Generation[] | undefined;
  /** -11 settings: trusted issuers per token kind, the loopback relaxation. */
  draft11?: Draft11Options | undefined;
  /** Consulted for every verified -11 token with a `jti`; a revoked one is refused with `revoked_jwt`. Default none. */
  revocation?: RevocationCheck | undefined;
}

/** Options of one {@link Verifier.verify} call. */
export interface VerifyOptions {
  /** Components the signature must cover besides the profile's minimum (e.g. a route's). */
  requiredComponents?: string[] | undefined;
  /**
   * Who sent the request (e.g. the client's address): key discovery started for it is held to
   * `discovery.maxInflightPerCaller` fetches in flight (issue 13); default: no per-caller limit.
   */
  caller?: string | undefined;
  /**
   * -11 servers accepted as signers under `sig=jwks_uri` for this call, by the `dwk` they name
   * (`aauth-person.json`, `aauth-access.json`, `aauth-resource.json`), e.g. at a revocation
   * endpoint; default none (under `jwks_uri` only agents, `aauth-agent.json`).
   */
  serverDocuments?: readonly string[] | undefined;
}

/** The verifier: signed requests, key discovery and auth tokens. */
export interface Verifier {
  /** Verify a signed request: `{ method, url (absolute, built from the resource's own identity), headers, body }`. */
  verify(request: HttpRequest, options?: VerifyOptions): Promise<VerifiedRequest>;
  /** jwks_uri discovery: `{id}/.well-known/aauth-agent.json` whose `agent` is `id`, its `jwks_uri`, the key with `kid`. */
  resolveAgentKey(id: string, kid: string): Promise<PublicKey>;
  /** A resource's token key: `{iss}/.well-known/aauth-resource.json` whose `resource` is `iss`; the JWK for jose. */
  resolveResourceJwk(iss: string, kid: string | undefined): Promise<object>;
  /** An issuer's token key: `{iss}/.well-known/aauth-issuer.json` -> `jwks_uri`, else `openid-configuration` -> `jwks_uri`, else `{iss}/protocol/openid-connect/certs`. */
  resolveIssuerJwk(iss: string, kid: string | undefined): Promise<object>;
  /**
   * An agent's or resource's metadata document (`{id}/.well-known/aauth-agent.json` or
   * `aauth-resource.json`, section 9) under the same discovery rules and cache; its `agent` or
   * `resource` member must equal `id`. For display fields (`name`, `logo_uri`, `scope_descriptions`).
   */
  resolveMetadata(kind: 'agent' | 'resource', id: string): Promise<Record<string, unknown>>;
  /**
   * A -11 server's metadata document `{id}/.well-known/{dwk}` (e.g. an access server's
   * `aauth-access.json`) under the same discovery rules and cache: `id` a server identifier (the
   * loopback relaxation as configured), `issuer` equal to `id`, a usable `jwks_uri`.
   */
  resolveServerMetadata(id: string, dwk: string, caller?: string): Promise<Record<string, unknown>>;
  /**
   * The one token verification of the kit: the profile's header and claim checks (core's
   * token-profiles), the signing key through discovery (by the profile: issuer JWKS or resource
   * metadata), the signature with a cached node:crypto key, and a cache keyed by the token itself until `exp`.
   * Given several profiles, the token's `typ` picks one. Throws `AAuthError` `token_*`.
   */
  verifyToken(jwt: string, profile: TokenProfile | readonly TokenProfile[], expect?: VerifyTokenExpectations): Promise<VerifiedToken>;
  /** Verify an auth token (section 7): `verifyToken(jwt, AUTH_TOKEN, { audience })`, `audience` defaulting to `identity`. */
  verifyAuthToken(jwt: string, options?: { audience?: string }): Promise<VerifiedAuthToken>;
  /** Current cache sizes, for monitoring and tests. */
  stats(): VerifierStats;
}

/** Sizes of the verifier's bounded caches. */
export interface VerifierStats {
  /** Cached metadata/JWKS documents (at most `discovery.maxEntries`). */
  documents: number;
  /** Cached imported public keys: jwks_uri, hwk and cnf keys (at most `maxKeyEntries`). */
  keys: number;
  /** Cached verified tokens (at most `maxTokenEntries`). */
  tokens: number;
  /** Fetches in progress. */
  inflight: number;
  /** Network fetches started since creation. */
  fetches: number;
}

/** The kinds of -11 token an agent presents under `sig=jwt` (AAuth -11 "Keying Material"). */
export type PresentedTokenKind = 'agent' | 'person' | 'auth';

/** A -11 token presented under `sig=jwt`, verified. */
export interface PresentedToken {
  /** `agent` (`aa-agent+jwt`), `person` (`aa-person+jwt`) or `auth` (`aa-auth+jwt`). */
  kind: PresentedTokenKind;
  token: VerifiedToken;
}

/** Who signed a request, as established by {@link Verifier.verify}. */
export interface VerifiedRequest {
  scheme: 'hwk' | 'jwks_uri' | 'jwt';
  /** The generation the request was verified under (draft-11 profile section 1). */
  generation: Generation;
  /**
   * Identity URL, or `pseudonymous:<thumbprint>` for hwk; for jwt the token's `agent` (or `aud`
   * when Keycloak omitted it). -11: an agent token's `sub` (`aauth:local@domain`); a person or auth
   * token names no agent, so `pseudonymous:<thumbprint>`.
   */
  agent: string;
  /** RFC 7638 thumbprint of the key that signed the request. */
  thumbprint: string;
  key: PublicKey;
  signed: SignedRequest;
  /** -11 `sig=jwks_uri`: the well-known document the signer's key was found through (`aauth-agent.json`, or a server's). */
  dwk?: string;
  /** The verified auth token (jwt scheme, Keycloak profile). */
  token?: VerifiedAuthToken;
  /** -11: the agent, person or auth token presented under `sig=jwt`. */
  presented?: PresentedToken;
}

/** What one {@link Verifier.verifyToken} call expects of the token (core's expectations, defaulted). */
export interface VerifyTokenExpectations extends Omit<TokenExpectations, 'audience'> {
  /** Required audience; default the verifier's `identity`; `null` when the caller checks `aud` itself. */
  audience?: string | null | undefined;
  /** Who asked (e.g. the client's address): holds the key discovery this token needs to `discovery.maxInflightPerCaller`. */
  caller?: string | undefined;
}

/** A token that passed {@link Verifier.verifyToken}. */
export interface VerifiedToken {
  /** The compact JWT as presented (for onward exchange; never log it). */
  raw: string;
  /** The protected header. */
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  issuer: string;
  subject?: string;
  agent?: string;
  audience?: string | string[];
  scope: string[];
  act?: ActClaim;
  /** `exp`, epoch seconds. */
  expiresAt: number;
  /** The key the token is bound to (`cnf.jwk`), for profiles that bind one. */
  cnf?: PublicKey;
}

/** A verified auth token (wire profile section 7). */
export interface VerifiedAuthToken extends VerifiedToken {
  audience: string | string[];
  /** The key the token is bound to (`cnf.jwk`). */
  cnf: PublicKey;
  claims: AuthTokenClaims;
}

/** Remembers signatures already used (wire profile section 3). */
export interface ReplayStore {
  /** True if first use, false if seen within ttl. */
  checkAndStore(key: string, ttlSeconds: number): Promise<boolean>;
}

/** The caller a failed verification could still establish (for a fresh challenge). */
export interface VerifiedCaller {
  scheme: 'hwk' | 'jwks_uri' | 'jwt';
  agent: string;
  thumbprint: string;
}
