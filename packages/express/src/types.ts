import type { ActClaim, EcPublicJwk, OkpPublicJwk, SigningKey, WellKnownHandler } from '@aauth-kit/core';
import type { Verifier, VerifierOptions } from '@aauth-kit/verifier';
import type { AAuthError } from '@aauth-kit/core';
import type { Request, RequestHandler } from 'express';

/** What a route requires: any valid signature, an agent identity, or an auth token with scope. */
export type RequireLevel = 'signature' | 'identity' | 'auth-token';

/** Options of {@link createResource}; validated when the resource is created. */
export interface ResourceOptions extends Omit<VerifierOptions, 'identity' | 'trustedIssuers'> {
  /** The resource identity URL; `@authority` and the verified URL come from it, never from Host or X-Forwarded-*. */
  identity: string;
  /** Signs resource tokens (Ed25519); published at `/jwks.json`. */
  key: SigningKey;
  /** The auth server named in challenges and trusted for auth tokens, plus other trusted issuers. */
  authServer?: string | { issuer: string; trustedIssuers?: string[] | undefined } | undefined;
  /** Scope -> description, published as `supported_scopes` and `scope_descriptions`; default none. */
  scopes?: Record<string, string> | undefined;
  /** Components every request must cover, published as `additional_signature_components`; default []. */
  additionalSignatureComponents?: string[] | undefined;
  /** Largest request body read, bytes; default 1 MiB (more: 413 body_too_large). */
  maxBodyBytes?: number | undefined;
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
}

/** Options of {@link Resource.require}. */
export interface RequireOptions {
  /** Default `'auth-token'` when `scope` is given, else `'signature'`. */
  level?: RequireLevel | undefined;
  /** Scopes the auth token must carry (auth-token level only; required there). */
  scope?: string | string[] | undefined;
  /** Components this route's signatures must cover, besides the resource-wide ones. */
  requiredComponents?: string[] | undefined;
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
}

/** The verified auth token as the route sees it. */
export interface AAuthTokenInfo {
  /** The compact JWT, for onward token exchange (never log it). */
  raw: string;
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
  /** Identity URL, or `pseudonymous:<thumbprint>` for hwk. */
  agent: string;
  /** RFC 7638 thumbprint of the signing key. */
  thumbprint: string;
  jwk: OkpPublicJwk | EcPublicJwk;
  token?: AAuthTokenInfo;
  /** The user (`sub`) of the auth token, if any. */
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
