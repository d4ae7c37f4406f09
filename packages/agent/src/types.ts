import type { Generation, SigningKey, WellKnownHandler } from '@aauth-kit/core';
import type { AgentProvider } from './create-agent-provider.js';
import type { TokenCache } from './token-cache.js';

/** The two wire generations the kit speaks (`@aauth-kit/core`): the Keycloak profile, and AAuth -11 / HTTP Signature Keys -09. */
export type { Generation };

/** How the agent speaks AAuth -11 (profile `wire-profile-draft11.md`). */
export interface Draft11Options {
  /**
   * An agent token (`aa-agent+jwt`) from an external agent provider, bound to `options.key`: the
   * token, or a function returning a fresh one (called again when it nears expiry or is refused).
   */
  agentToken?: string | (() => string | Promise<string>) | undefined;
  /** The agent is its own agent provider: agent tokens are minted by this provider for `local`. */
  provider?: AgentProvider | undefined;
  /** With `provider`: the local part of `aauth:local@domain`; default `'agent'`. */
  local?: string | undefined;
  /** With `provider`: agent token lifetime, seconds; default 3600, at most 86 400. */
  agentTokenLifetime?: number | undefined;
  /** The agent's person server (a server identifier); default the agent token's `ps`. */
  ps?: string | undefined;
  /** Accept http and ports on `localhost` / `127.0.0.1` in server identifiers and endpoint URLs (development); default false. */
  allowLoopback?: boolean | undefined;
  /**
   * Hints sent with person token and auth token requests (AAuth -11 section 7.2.1): who the person
   * is (`login_hint`), their organisation (`tenant`, `domain_hint`). A resource token's own
   * `login_hint` wins for its auth token request. Default none.
   */
  hints?: { loginHint?: string | undefined; tenant?: string | undefined; domainHint?: string | undefined } | undefined;
  /**
   * The mission every call operates under unless `init.missionS256` names another (AAuth -11,
   * "Missions"): its `s256`, the unpadded base64url SHA-256 of the approved mission blob (43
   * characters). Sent as `mission_s256` in person token requests; an issued person token must
   * carry it. Default none.
   */
  missionS256?: string | undefined;
}

/** A mission proposal (AAuth -11 "Mission Creation"), for `agent.proposeMission`. */
export interface MissionProposal {
  /** Markdown: what the agent intends to accomplish. */
  description: string;
  /** Tools the agent wants to use. */
  tools?: Array<{ name: string; description: string }> | undefined;
  /** Resources (server identifiers) the agent expects to access: the person server may issue a person token for each. */
  resources?: string[] | undefined;
}

/** A mission the person server approved (AAuth -11 "Mission Approval"), its `s256` checked against the blob. */
export interface ApprovedMission {
  /** The mission identifier: pass it as `missionS256` (per call, or `options.draft11.missionS256`). */
  s256: string;
  /** The approved mission blob, decoded (`approver`, `agent`, `approved_at`, `description`, ...). */
  mission: Record<string, unknown>;
  /** What the person server can provide for the person now (`interaction`, `payment`, ...). */
  capabilities: string[];
  /** The resources whose person tokens came with the approval: held for this mission, presented on the next call. */
  personTokens: string[];
}

/** How the agent names its key in `Signature-Key` (wire profile section 4). */
export type SignatureScheme = 'hwk' | 'jwks_uri' | 'jwt';

/** What `onInteraction` receives when the auth server answers 202 (wire profile section 8). */
export interface Interaction {
  /** `{interaction_endpoint}?code=<code>&callback=<url>`: send the user here. */
  url: string;
  /** The interaction code the user may be asked to confirm. */
  code: string;
  /** The pending URL the agent polls. */
  location: string;
}

/**
 * What `onClarification` receives when a -11 person server asks the agent a question (AAuth -11
 * "Clarification Chat": the person asked it while deciding on the agent's request, or an access
 * server did, passed on by the person server), or a resource does ("Clarification Required").
 */
export interface Clarification {
  /** The question, Markdown, from the person (or the server) that asks: untrusted text. */
  question: string;
  /** The discrete answers the question offers, when it offers some. */
  options?: string[];
  /** Seconds the server waits for the answer, when it says. */
  timeout?: number;
  /** The person server that asks, or the resource's origin when a resource asks. */
  authServer: string;
  /** The pending URL the answer is posted to. */
  location: string;
}

/** Audit and tracing events. Token values never appear in them (claims and URLs only). */
export type AgentEvent =
  | { type: 'signed'; method: string; url: string; scheme: SignatureScheme }
  | { type: 'challenged'; method: string; url: string; require: string; resource?: string; authServer?: string; scope?: string }
  | {
      type: 'exchanged';
      resource: string;
      authServer: string;
      scope: string;
      /** True when an `upstream_token` was exchanged (token exchange). */
      exchange: boolean;
      /** True when the token came from the cache, not from the auth server. */
      cached: boolean;
      /** The token's expiry, epoch seconds. */
      expiresAt: number;
    }
  | {
      /** A cached token about to expire was refreshed (`{auth_token}`): no challenge, no interaction. */
      type: 'refreshed';
      resource: string;
      authServer: string;
      scope: string;
      /** The new token's expiry, epoch seconds. */
      expiresAt: number;
    }
  | {
      /** A refresh was refused or failed: the entry was dropped and the next attempt meets a challenge. */
      type: 'refresh_failed';
      resource: string;
      authServer: string;
      scope: string;
      code: string;
      message: string;
    }
  | { type: 'interaction'; authServer: string; url: string; code: string }
  /** -11: a person server asked a clarification (`question`: the person's, untrusted text), handed to `onClarification`. */
  | { type: 'clarification'; authServer: string; url: string; question: string }
  | {
      /**
       * -11: a call gave up (aborted, timed out, or no `onInteraction` for the person) while the person
       * server held its request open; the agent withdrew it with a signed DELETE of the pending URL
       * ("Cancel Request"). `status` is the person server's answer (204), or `code` and `message` say why
       * the DELETE failed.
       */
      type: 'withdrawn';
      authServer: string;
      url: string;
      status?: number;
      code?: string;
      message?: string;
    }
  | { type: 'retried'; method: string; url: string }
  | { type: 'failed'; method: string; url: string; code: string; message: string };

/** The AAuth members of one call: `agent.fetch`'s `init`, or got's `context: { aauth }`. */
export interface AAuthCallOptions {
  /** The auth token this agent was called with: exchanged for a downstream token on a challenge. */
  upstreamToken?: string | undefined;
  /** Force the first attempt's scheme; `jwt` needs `authToken`. Default: cached token (`jwt`), else `jwks_uri`, else `hwk`. */
  signatureScheme?: SignatureScheme | undefined;
  /** Present this auth token (`jwt` scheme) on the first attempt. */
  authToken?: string | undefined;
  /** The scope this call needs: lets the first attempt present a cached token for (origin, scope). */
  scope?: string | undefined;
  /**
   * AAuth -11: the mission this call operates under (its `s256`, 43 base64url characters), instead
   * of `options.draft11.missionS256`; `null` for none. Sent as `mission_s256` in the person token
   * request; person and auth tokens are held per (resource, mission). Ignored by Keycloak-profile calls.
   */
  missionS256?: string | null | undefined;
}

/** Per-call extras on top of `fetch`'s `RequestInit`. */
export interface AgentRequestInit extends RequestInit, AAuthCallOptions {}

/** Per-request AAuth options for got: `context: { aauth: { upstreamToken, signatureScheme, authToken, scope, missionS256 } }`. */
export type GotAAuthContext = AAuthCallOptions;

/** Options of `createAgent`. Validated when the agent is created. */
export interface AgentOptions {
  /** The agent's identity URL (https, or http for local names). Absent: a pseudonymous agent signing with `hwk`. */
  identity?: string | undefined;
  /** The agent's signing key (from `@aauth-kit/core`). */
  key: SigningKey;
  /** Issuers the agent will take resource tokens to (exact match). Default: `[]` plus `authServer`. */
  trustedAuthServers?: string[] | undefined;
  /** Convenience: one issuer this agent trusts, added to `trustedAuthServers`. */
  authServer?: string | undefined;
  /** The transport for every request; default `globalThis.fetch`. */
  fetch?: typeof fetch | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
  /** Called when a user must approve a token request (202); without it the agent throws `interaction_required`. */
  onInteraction?: ((interaction: Interaction) => void | Promise<void>) | undefined;
  /**
   * -11 "Clarification Chat": answers a question the person asked through the person server while
   * deciding on this agent's request (Markdown, at most 16,384 characters); the agent posts it to the
   * pending URL and polls on. Declares the `clarification` capability. Without it a clarification
   * withdraws the request and the call fails `challenge_unsatisfiable`; a handler that throws does too,
   * with its error.
   */
  onClarification?: ((clarification: Clarification) => string | Promise<string>) | undefined;
  /** Absolute URL the auth server sends the user back to after approving (`callback`); default none. */
  interactionCallback?: string | undefined;
  /** How long to wait for a user's approval, ms; default 600 000 (10 min, the pending lifetime). */
  interactionTimeoutMs?: number | undefined;
  /** Sleeper between polls; default a timer. Inject to test without waiting real seconds. */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
  /** Where auth tokens are kept; default an in-memory cache of 1000 entries. */
  tokenCache?: TokenCache | undefined;
  /**
   * Refresh a cached token that expires within 30 s by posting `{auth_token}` to its issuer, instead
   * of meeting a new challenge (and, for consented scopes, asking the user again); default true.
   * A refused or failed refresh falls back to the challenge.
   */
  refresh?: boolean | undefined;
  /** `Signature` encoding; default `'base64'` (RFC 8941); `'base64url'` for the original Python peers. */
  signatureEncoding?: 'base64' | 'base64url' | undefined;
  /**
   * `Signature-Key` form; default `'parenthesised'` (Keycloak profile). `'dictionary'` (HTTP Signature
   * Keys -08/-09): `hwk` with `alg`, `jwks_uri` with `dwk`, and `issuer` plus keys with `alg` in
   * `agent.wellKnown()`. The -11 path always uses the dictionary form, and so does
   * `agent.buildSignedRequest()` for a URL the agent speaks -11 to, unless this option is set.
   */
  signatureKeyForm?: 'parenthesised' | 'dictionary' | undefined;
  /**
   * When to add a `nonce`: `'always'` (default: identical concurrent GETs in one second would
   * otherwise have equal Ed25519 signatures and trip the resource's replay cache) or
   * `'non-idempotent'` (the wire profile's minimum, section 3).
   */
  nonce?: 'always' | 'non-idempotent' | undefined;
  /** Audit and tracing hook, not awaited; exceptions it throws, and the rejection of a promise it returns, are ignored. */
  onEvent?: ((event: AgentEvent) => void) | undefined;
  /**
   * OpenTelemetry spans through `@opentelemetry/api` when it is installed (docs/telemetry.md):
   * `enabled` default true; `recordSubject` default false (no `sub` is recorded; true: the raw `sub`).
   */
  telemetry?: { enabled?: boolean | undefined; recordSubject?: boolean | undefined } | undefined;
  /** Metadata discovery limits: `timeoutMs` default 3000, `maxBytes` default 65 536 (wire profile section 4). */
  discovery?: { timeoutMs?: number | undefined; maxBytes?: number | undefined } | undefined;
  /** Token requests: `timeoutMs` default 60 000 (the server may wait 45 s), `maxBytes` default 65 536. */
  tokenRequest?: { timeoutMs?: number | undefined; maxBytes?: number | undefined } | undefined;
  /**
   * Longest time an issued auth token is cached and presented, seconds, whatever its `exp` or
   * `expires_in` say (a token without `exp` is refused); default 3600.
   */
  maxTokenLifetime?: number | undefined;
  /** Largest request body the agent buffers for signing and retry, bytes; default 16 MiB. */
  maxBodyBytes?: number | undefined;
  /** Optional display fields for `/.well-known/aauth-agent.json` (wire profile section 9). */
  metadata?: { name?: string | undefined; logo_uri?: string | undefined; policy_uri?: string | undefined; tos_uri?: string | undefined } | undefined;
  /** AAuth -11: the agent token and person server; without it the agent speaks the Keycloak profile only. */
  draft11?: Draft11Options | undefined;
  /**
   * Which generation to speak: `'keycloak'`, `'draft-11'`, or `'auto'` (per resource: -11 where the
   * resource showed -11, else the Keycloak profile). Default: `'auto'` with both configured,
   * `'draft-11'` with only `draft11`, else `'keycloak'`.
   */
  generation?: Generation | 'auto' | undefined;
}

/** A request to sign: the body as bytes (strings are UTF-8). */
export interface RequestToSign {
  method: string;
  url: string | URL;
  headers?: Headers | Record<string, string | string[] | undefined> | undefined;
  body?: string | Uint8Array | null | undefined;
}

/** Options of `buildSignedRequest` beyond the agent's own configuration. */
export interface BuildSignedRequestOptions {
  /** Default: `jwt` when `authToken` is given, else `jwks_uri` with an identity, else `hwk`. */
  scheme?: SignatureScheme | undefined;
  /** The auth token for the `jwt` scheme. */
  authToken?: string | undefined;
  /** Extra covered components a resource demands (`additional_signature_components`). */
  additionalComponents?: readonly string[] | undefined;
}

/** The result of `buildSignedRequest`: every header to send (lower-case names). */
export interface SignedRequestHeaders {
  headers: Record<string, string>;
  scheme: SignatureScheme;
  components: string[];
}

/** Structural view of got 14's normalized options (so this package needs no got types). */
export interface GotOptionsLike {
  url?: URL | string | undefined;
  method: string;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  context: Record<string, unknown>;
  /** The caller's `signal`: a token request or consent every waiting caller gave up on is cancelled. */
  signal?: AbortSignal | undefined;
}

/** Structural view of got 14's response. */
export interface GotResponseLike {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  rawBody?: Uint8Array | undefined;
  url: string;
  request: { options: GotOptionsLike };
}

/** got 14 hooks that sign, answer challenges and re-send through `retryWithMergedOptions` (once per requirement met). */
export interface GotHooks {
  beforeRequest: Array<(options: GotOptionsLike) => Promise<void>>;
  afterResponse: Array<<R extends GotResponseLike>(response: R, retryWithMergedOptions: (options: { context: Record<string, unknown> }) => never) => Promise<R>>;
  /** Ends the call's `aauth.call` span when got fails the request (network, timeout, a hook's error). */
  beforeError: Array<<E extends Error>(error: E) => E>;
}

/** An agent: signed fetch, got hooks, its well-known documents and its token cache. */
export interface Agent {
  /** `fetch` with AAuth: signs, answers a 401 challenge with a token exchange, retries once. */
  fetch(input: string | URL | Request, init?: AgentRequestInit): Promise<Response>;
  /**
   * A framework-free handler serving `/.well-known/aauth-agent.json` (and without `.json`) and
   * `/jwks.json` (GET and HEAD): `app.use(agent.wellKnown())` in express, or a `node:http` listener.
   * An app that is also a resource publishes both keys with `resource.wellKnown({ agent })` instead.
   */
  wellKnown(): WellKnownHandler;
  /** Hooks for got 14: `got.extend({ hooks: agent.gotHooks() })`. */
  gotHooks(): GotHooks;
  /** `got.extend({ hooks: agent.gotHooks() })`, typed as the instance it extends. */
  extendGot<G extends { extend(options: { hooks: GotHooks }): unknown }>(got: G): G;
  /** Forget cached tokens for a resource identity (or every resource at that URL's origin). */
  invalidate(resource: string): void;
  /** Forget every cached token. */
  flush(): void;
  /**
   * Pure: the headers that sign `request` (no network). The `Signature-Key` form is
   * `options.signatureKeyForm` when set, else the dictionary form where `generationFor(url)` is
   * `'draft-11'` (-11 servers refuse the parenthesised one) and the parenthesised form elsewhere.
   */
  buildSignedRequest(request: RequestToSign, options?: BuildSignedRequestOptions): SignedRequestHeaders;
  /** The agent's identity URL; undefined for a pseudonymous agent. */
  readonly identity: string | undefined;
  readonly key: SigningKey;
  /** AAuth -11: the current agent token (minted or renewed when it nears expiry). */
  agentToken(): Promise<string>;
  /**
   * AAuth -11: propose a mission at the person server's `mission_endpoint` (signed with the agent
   * token; a `202` is polled, `onInteraction` called for an interaction) and resolve when it is
   * approved. The approval's person tokens are held for the mission.
   */
  proposeMission(proposal: MissionProposal): Promise<ApprovedMission>;
  /** The generation the agent uses for a resource origin now (`'auto'` agents learn it per resource). */
  generationFor(url: string | URL): Generation;
}
