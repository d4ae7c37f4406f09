import type { SigningKey } from '@aauth-kit/core';

/** RFC 8693 section 3 token type identifiers (any other absolute URI may be used too). */
export const TOKEN_TYPE = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  saml1: 'urn:ietf:params:oauth:token-type:saml1',
  saml2: 'urn:ietf:params:oauth:token-type:saml2',
} as const;

/**
 * How the agent authenticates to the token endpoint (RFC 6749 section 2.3, RFC 7523 section 2.2).
 * Secrets and keys are never logged or put in errors.
 */
export type ClientAuthentication =
  /** `Authorization: Basic` with the form-urlencoded id and secret (RFC 6749 section 2.3.1). */
  | { method: 'client_secret_basic'; clientSecret: string }
  /** `client_id` and `client_secret` in the form body. */
  | { method: 'client_secret_post'; clientSecret: string }
  /**
   * A JWT signed with the agent's key (RFC 7523): `iss` = `sub` = client id, `aud` = `audience`
   * (default: the token endpoint URL), `jti`, `exp` = now + `lifetime` (default 60 s).
   */
  | { method: 'private_key_jwt'; key: SigningKey; audience?: string | undefined; lifetime?: number | undefined }
  /** A public client: `client_id` only. */
  | { method: 'none' };

/**
 * The wire dialect: `'rfc8693'` (default; Keycloak, Auth0, Okta) sends the token-exchange grant;
 * `'entra-obo'` sends Microsoft Entra ID's on-behalf-of request (the jwt-bearer grant with
 * `assertion` and `requested_token_use=on_behalf_of`, target named by `scope`).
 */
export type TokenExchangeProfile = 'rfc8693' | 'entra-obo';

/** A token endpoint, a client and what to ask for: everything of an exchange except the tokens. */
export interface TokenExchangeTarget {
  /** Absolute https URL (http for local names only). */
  tokenEndpoint: string | URL;
  clientId: string;
  /** Client authentication; see {@link ClientAuthentication}. */
  auth: ClientAuthentication;
  /** Default `'rfc8693'`. */
  profile?: TokenExchangeProfile | undefined;
  /** Type of the subject token; default `urn:ietf:params:oauth:token-type:access_token`. */
  subjectTokenType?: string | undefined;
  /** Type of the actor token, when there is one; default `urn:ietf:params:oauth:token-type:access_token`. */
  actorTokenType?: string | undefined;
  /** `audience` values (logical names of the target service); default none. */
  audience?: string | readonly string[] | undefined;
  /** `resource` values (absolute URIs of the target service, RFC 8707); default none. */
  resource?: string | readonly string[] | undefined;
  /** Scope to ask for, space-separated or a list; default none (the server decides). */
  scope?: string | readonly string[] | undefined;
  /** `requested_token_type`; default none (the server issues an access token). */
  requestedTokenType?: string | undefined;
  /** Provider parameters, e.g. Keycloak's `requested_issuer`; a list repeats the parameter. */
  extraParams?: Readonly<Record<string, string | readonly string[]>> | undefined;
}

/** One exchange: a target plus the tokens. */
export interface TokenExchangeRequestOptions extends TokenExchangeTarget {
  /** The token to exchange (the user's). Missing or empty: `exchange_subject_token_missing`, before any network. */
  subjectToken: string | undefined | null;
  /** The acting party's own token (RFC 8693 `actor_token`); default none. */
  actorToken?: string | undefined;
}

/** Options of `exchangeToken`. */
export interface ExchangeTokenOptions extends TokenExchangeRequestOptions {
  /** Transport; default `globalThis.fetch`. */
  fetch?: typeof fetch | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
  /** Time limit of the request, ms; default 10 000. */
  timeoutMs?: number | undefined;
  /** Largest response accepted, bytes; default 65 536. */
  maxBytes?: number | undefined;
}

/** The request `exchangeToken` sends: what the provider examples in the README show. */
export interface TokenExchangeHttpRequest {
  url: URL;
  /** Lower-case names: `content-type`, `accept`, and `authorization` for `client_secret_basic`. */
  headers: Record<string, string>;
  /** The `application/x-www-form-urlencoded` body. */
  body: string;
}

/**
 * The token the authorization server issued. `accessToken` is not enumerable, so
 * `JSON.stringify` and `console.log` of this object do not show it.
 */
export interface ExchangedToken {
  /** The issued token. Never log it. */
  readonly accessToken: string;
  /** `issued_token_type` (RFC 8693 section 2.2.1). */
  readonly issuedTokenType: string;
  /** `token_type`: `Bearer`, or `N_A` when the token is not an access token. */
  readonly tokenType: string;
  /** Epoch seconds from `expires_in` (or the JWT's `exp`); undefined when the server says neither. */
  readonly expiresAt: number | undefined;
  /** The granted scope: the response's `scope`, else the requested one. */
  readonly scope: string | undefined;
}

/** What the token providers receive: the target's name and the caller's context. */
export interface TokenProviderRequest<C> {
  ref: string;
  context: C | undefined;
}

/** Audit and tracing events of a token exchanger. Token values never appear in them. */
export type TokenExchangeEvent =
  | { type: 'exchanged'; ref: string; cached: boolean; expiresAt: number | undefined; scope: string | undefined }
  | { type: 'evicted'; ref: string; reason: 'unauthorized' | 'invalidate' | 'flush' }
  | { type: 'retried'; ref: string; method: string; url: string }
  | { type: 'failed'; ref: string; code: string; message: string };

/** Options of `createTokenExchanger`. Validated when it is created. */
export interface TokenExchangerOptions<C = unknown> {
  /** Named exchange targets: application code asks for a credential by name. */
  targets: Readonly<Record<string, TokenExchangeTarget & {
    /** Origins `exchanger.fetch` may send this target's token to; default any (https, or http for local names). */
    origins?: readonly string[] | undefined;
  }>>;
  /** The current user's token for a request; `undefined` or `''` fails with `exchange_subject_token_missing`. */
  subjectTokenProvider: (request: TokenProviderRequest<C>) => string | undefined | null | Promise<string | undefined | null>;
  /** The agent's own token as `actor_token`; default none (the requesting client is the actor). */
  actorTokenProvider?: ((request: TokenProviderRequest<C>) => string | undefined | null | Promise<string | undefined | null>) | undefined;
  /** Transport for the token endpoint and the downstream; default `globalThis.fetch`. */
  fetch?: typeof fetch | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
  /** Seconds before expiry a cached token is renewed; default 30. */
  renewBefore?: number | undefined;
  /** Most cached tokens; the least recently used goes first. Default 1000. */
  maxEntries?: number | undefined;
  /** Time limit of a token request, ms; default 10 000. */
  timeoutMs?: number | undefined;
  /** Largest token response, bytes; default 65 536. */
  maxBytes?: number | undefined;
  /** Largest downstream request body buffered for the retry, bytes; default 16 MiB. */
  maxBodyBytes?: number | undefined;
  /** Audit hook, not awaited; exceptions it throws, and the rejection of a promise it returns, are ignored. */
  onEvent?: ((event: TokenExchangeEvent) => void) | undefined;
  /** OpenTelemetry, as the agent's `telemetry` option (docs/telemetry.md): `enabled` default true, `recordSubject` default false. */
  telemetry?: { enabled?: boolean | undefined; recordSubject?: boolean | undefined } | undefined;
}

/** Per call: `fetch`'s init plus the provider context and a scope override. */
export interface TokenExchangeFetchInit<C = unknown> extends RequestInit {
  /** Passed to the token providers (e.g. the incoming request). */
  context?: C | undefined;
  /** Ask for this scope instead of the target's. */
  scope?: string | undefined;
}

/** Per call options of `exchanger.credential`. */
export interface CredentialOptions<C = unknown> {
  context?: C | undefined;
  scope?: string | undefined;
}

/** Exchanges per target, caches per (target, subject token, scope), and sends bearer requests. */
export interface TokenExchanger<C = unknown> {
  /** A token for `ref`: from the cache until `renewBefore` s before expiry, else one exchange (shared by concurrent callers). */
  credential(ref: string, options?: CredentialOptions<C>): Promise<ExchangedToken>;
  /** `fetch` with `Authorization: Bearer <token for ref>`; a 401 evicts the token and retries once with a new one. */
  fetch(ref: string, input: string | URL | Request, init?: TokenExchangeFetchInit<C>): Promise<Response>;
  /** `exchanger.fetch` bound to `ref`, for clients that take a `fetch`. */
  fetchFor(ref: string): (input: string | URL | Request, init?: TokenExchangeFetchInit<C>) => Promise<Response>;
  /** Forget every cached token of `ref`. */
  invalidate(ref: string): void;
  /** Forget every cached token. */
  flush(): void;
}
