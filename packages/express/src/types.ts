import type { AccessMode, ActClaim, EcPublicJwk, Generation, OkpPublicJwk, SigningKey, WellKnownHandler } from '@aauth-kit/core';
import type { Draft11Options, Verifier, VerifierOptions } from '@aauth-kit/verifier';
import type { AAuthError } from '@aauth-kit/core';
import type { Request, RequestHandler, Response } from 'express';
import type { ResourceRevocationOptions } from './lib/revocation.js';

/**
 * What a route requires: any valid signature, an agent identity, the person (-11 only: a person or
 * auth token), or an auth token with scope. In -11 terms (`access_mode`): `identity` is
 * `agent-token`, `person` is `person-token`, `auth-token` is `auth-token`.
 */
export type RequireLevel = 'signature' | 'identity' | 'person' | 'auth-token';

/** The -11 settings of a resource: the verifier's (trusted issuers, loopback) and the resource's own. */
export interface ResourceDraft11Options extends Draft11Options {
  /**
   * Four-party: the access server that is the `aud` of this resource's resource tokens (its auth
   * tokens are then trusted too); default none: three-party, the `aud` is the person server that
   * issued the person token (AAuth -11 "Resource Token Structure").
   */
  accessServer?: string | undefined;
  /** Published as `access_mode` in `aauth-resource.json`; default none (-11's default is `agent-token`). */
  accessMode?: AccessMode | undefined;
  /**
   * Path (below the identity) where the app mounts `resource.authorizationEndpoint()`, published as
   * `authorization_endpoint`; default none (resource tokens only in 401 challenges).
   */
  authorizationEndpoint?: string | undefined;
  /**
   * Session tokens (`AAuth-Access`, resource-managed access): seconds a token from
   * `resource.startSession()` lives, default 3600; kept in memory (one process), at most
   * `maxSessions` (default 10000, oldest dropped first).
   */
  sessionLifetime?: number | undefined;
  maxSessions?: number | undefined;
  /**
   * Path (below the identity) where the app mounts `resource.pendingEndpoint()` for routes with
   * `deferred: true`; default `'/aauth/pending'`. At most `maxPending` held calls (default 1000), a tenth of them per key.
   */
  pendingPath?: string | undefined;
  maxPending?: number | undefined;
  /** Most bytes the held calls keep (their bodies and header lines while they wait, their responses once run), a tenth of them per key; default 64 MiB. */
  maxPendingBytes?: number | undefined;
  /**
   * Pushed revocation (AAuth -11 "Token Revocation", RS-03, RS-60): `true` or options to publish
   * `revocation_endpoint` and serve it with `resource.revocationEndpoint()`; revoked person and auth
   * tokens are then refused with `revoked_jwt`. Default off.
   */
  revocation?: ResourceRevocationOptions | boolean | undefined;
}

/** The display fields of a resource's metadata document (AAuth -11 "Metadata Documents"). */
export interface ResourceDisplayMetadata {
  name?: string | undefined;
  description?: string | undefined;
  logo_uri?: string | undefined;
  logo_dark_uri?: string | undefined;
  documentation_uri?: string | undefined;
  tos_uri?: string | undefined;
  policy_uri?: string | undefined;
}

/** Options of {@link createResource}; validated when the resource is created. */
export interface ResourceOptions extends Omit<VerifierOptions, 'identity' | 'trustedIssuers' | 'draft11'> {
  /** The resource identity URL; `@authority` and the verified URL come from it, never from Host or X-Forwarded-*. */
  identity: string;
  /** Signs resource tokens (Ed25519); published at `/jwks.json`. */
  key: SigningKey;
  /** The auth server named in challenges and trusted for auth tokens, plus other trusted issuers. */
  authServer?: string | { issuer: string; trustedIssuers?: string[] | undefined } | undefined;
  /** Scope -> description, published as `supported_scopes` and `scope_descriptions`; default none. */
  scopes?: Record<string, string> | undefined;
  /**
   * Display fields published in `aauth-resource.json`, which consent pages show (the kit's auth
   * server names the resource with them): `name`, `description` (Markdown), `logo_uri`,
   * `logo_dark_uri`, `documentation_uri`, `tos_uri`, `policy_uri` (http(s) URLs); default none.
   */
  metadata?: ResourceDisplayMetadata | undefined;
  /** Components every request must cover, published as `additional_signature_components`; default []. */
  additionalSignatureComponents?: string[] | undefined;
  /** Largest request body read, bytes; default 1 MiB (more: 413 body_too_large). */
  maxBodyBytes?: number | undefined;
  /** Time a request has to deliver its whole body, ms; default 30000 (later: 408 body_timeout, and the connection is closed). */
  bodyTimeoutMs?: number | undefined;
  /**
   * Verify the GETs (requests without a body) that arrive in one turn of the event loop together,
   * after node has read them all: every one of them is verified, then each one's route runs (or its
   * refusal is sent), both in arrival order, each in its own async context, at most 32 at a time (an
   * answer waits for at most 32 verifies of others); default true (issue 18:
   * measured in BENCHMARKS.md figure 5 against `batch: false`). false: each is verified as it arrives
   * and its route runs in that turn.
   */
  batch?: boolean | undefined;
  /** Also send the newer draft's `AAuth-Requirement` and `Signature-Error` headers (section 11); default false. */
  requirementHeader?: boolean | undefined;
  /** `'respond'` (default) sends the JSON error itself; `'next'` passes the AAuthError to the app's error handler. */
  errors?: 'respond' | 'next' | undefined;
  /** Called with every refused request's AAuthError (code, status, safe details; never a token), e.g. for audit logs. */
  onError?: ((error: AAuthError, req: Request) => void) | undefined;
  /**
   * Who a request comes from, for the per-caller key-discovery limit (`discovery.maxInflightPerCaller`,
   * issue 13); default the TCP peer address (`req.socket.remoteAddress`). Behind a reverse proxy every
   * request comes from the proxy: pass a better key there (e.g. the client address your proxy sets).
   */
  callerKey?: ((req: Request) => string) | undefined;
  /** OpenTelemetry (issue 19, docs/telemetry.md): an `aauth.verify` span per guarded request when an SDK is registered; `recordSubject` records the token's `sub`. */
  telemetry?: { enabled?: boolean | undefined; recordSubject?: boolean | undefined } | undefined;
  /**
   * -11 settings (draft-11 profile). -11 is on by default (`generations` both) when `identity` is a
   * -11 server identifier (`https://host`, or a loopback URL with `draft11.allowLoopback`); else
   * the resource speaks the Keycloak profile only unless `generations` names `'draft-11'`.
   */
  draft11?: ResourceDraft11Options | undefined;
}

/** Options of {@link Resource.require}. */
export interface RequireOptions {
  /** Default `'auth-token'` when `scope` is given, else `'signature'`. */
  level?: RequireLevel | undefined;
  /** Scopes the auth token must carry (auth-token level only; required there). */
  scope?: string | string[] | undefined;
  /** Components this route's signatures must cover, besides the resource-wide ones. */
  requiredComponents?: string[] | undefined;
  /**
   * -11 auth-token routes: deliver the auth-token challenge as a 202 that holds the call (AAuth -11
   * "Deferred Delivery"); it runs on the first poll of its pending URL presenting a valid auth
   * token. Needs `resource.pendingEndpoint()` mounted. Default false (the 401 challenge).
   */
  deferred?: boolean | undefined;
}

/** The part of an `@aauth-kit/agent` agent that {@link Resource.wellKnown} needs. */
export interface WellKnownAgent {
  readonly identity: string | undefined;
  wellKnown(): WellKnownHandler;
}

/** Options of {@link Resource.wellKnown}. */
export interface WellKnownOptions {
  /** An agent with this resource's identity URL: its metadata and key are published too (one JWKS); default none. */
  agent?: WellKnownAgent | undefined;
}

/** A configured AAuth resource. */
export interface Resource {
  /** Route middleware: verifies the request and sets `req.aauth`, or answers 401/403 with a challenge. */
  require(options?: RequireOptions): RequestHandler;
  /**
   * A framework-free handler serving `/.well-known/aauth-resource.json` (and without `.json`) and
   * `/jwks.json` (GET and HEAD). With `{ agent }` (same identity URL) it also serves the agent's
   * metadata, and the one JWKS holds both keys. Mounting it and another well-known handler with a
   * different key on one express app path throws at `app.use()`.
   */
  wellKnown(options?: WellKnownOptions): WellKnownHandler;
  /** The underlying verifier (shared caches and replay store). */
  verifier: Verifier;
  /** The resource metadata document as served. */
  metadata: Record<string, unknown>;
  /** The generations this resource speaks (draft-11 profile section 1). */
  generations: readonly Generation[];
  /**
   * -11 authorization endpoint (AAuth -11 "Authorization Endpoint Request"): a handler for
   * `POST {"scope": "..."}` signed with a person token, answering `{"resource_token": "..."}`.
   * Mount it at `draft11.authorizationEndpoint`.
   */
  authorizationEndpoint(): RequestHandler;
  /**
   * -11 resource-managed access (AAuth -11 "AAuth-Access Response Header"): mint a session token
   * for the verified caller of `req` (bound to its signing key), send it as `AAuth-Access` on `res`
   * and return it. Later signed requests carrying `Authorization: AAuth <token>` (covered by the
   * signature) get `req.aauth.session` = `data` and `accessMode` `session-token`.
   */
  startSession(req: Request, res: Response, data?: Record<string, unknown>): string;
  /**
   * -11 pending URLs of `deferred` routes: mount with `app.use(resource.pendingEndpoint())`; it
   * answers signed GETs below `draft11.pendingPath` and passes anything else on.
   */
  pendingEndpoint(): RequestHandler;
  /**
   * -11 revocation endpoint (`draft11.revocation`): mount with `app.use(resource.revocationEndpoint())`;
   * it answers signed POSTs `{"jti", "exp"}` from person and access servers at `draft11.revocation.path`
   * and passes anything else on.
   */
  revocationEndpoint(): RequestHandler;
}

/** The verified auth token as the route sees it (-11: the agent, person or auth token presented). */
export interface AAuthTokenInfo {
  /** The compact JWT, for onward token exchange (never log it). */
  raw: string;
  /** -11: which token was presented (`aa-agent+jwt`, `aa-person+jwt`, `aa-auth+jwt`). */
  kind?: 'agent' | 'person' | 'auth';
  /** -11: the token's `jti` (revocation is keyed by `(issuer, jti)`). */
  jti?: string;
  issuer: string;
  sub?: string;
  agent?: string;
  scope: string[];
  act?: ActClaim;
  /** `exp`, epoch seconds. */
  exp: number;
}

/** `req.aauth`: who signed the request and, for the jwt scheme, the token's claims. */
export interface AAuthInfo {
  scheme: 'hwk' | 'jwks_uri' | 'jwt';
  /** The generation the caller spoke (draft-11 profile section 1). */
  generation: Generation;
  /**
   * Identity URL, or `pseudonymous:<thumbprint>` for hwk. -11: the agent identifier
   * (`aauth:local@domain`) of an agent token, `pseudonymous:<thumbprint>` for person and auth tokens.
   */
  agent: string;
  /** -11: the credential presented: `agent-token`, `person-token`, `auth-token`, or `session-token` (a valid `Authorization: AAuth`). */
  accessMode?: 'agent-token' | 'person-token' | 'auth-token' | 'session-token' | undefined;
  /** -11: the data of the session whose token the request carried (`resource.startSession()`). */
  session?: Record<string, unknown> | undefined;
  /** -11: the agent identifier of an agent token (`sub`). */
  agentId?: string | undefined;
  /** -11: the person server: an agent token's `ps`, a person token's `iss`, an auth token's `ps`. */
  ps?: string | undefined;
  /** -11: the person, `(issuer, sub)`: never match a `sub` across issuers (AAuth -11 "Person Token Verification"). */
  person?: { issuer: string; sub: string } | undefined;
  /** RFC 7638 thumbprint of the signing key. */
  thumbprint: string;
  jwk: OkpPublicJwk | EcPublicJwk;
  token?: AAuthTokenInfo;
  /** The user (`sub`) of the auth token, if any (-11: of the person or auth token; directed, see `person`). */
  sub?: string;
  /** The auth token's scopes; [] without a token. */
  scope: string[];
  /** The actor chain of an exchanged token. */
  act?: ActClaim;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by the AAuth middleware once the request is verified. */
      aauth?: AAuthInfo;
    }
  }
}
