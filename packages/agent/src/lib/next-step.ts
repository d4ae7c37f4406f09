import {
  AAuthError,
  type AAuthErrorCode,
  type Challenge,
  computeThumbprint,
  decodeToken,
  type HeadersInput,
  isAAuthError,
  parseChallenge,
  tokenKind,
} from '@aauth-kit/core';
import { AAuthReconnectRequiredError } from '../aauth-reconnect-required-error.js';
import { assessChallenge, type ChallengeDecision } from '../assess-challenge.js';
import type { CachedToken } from '../token-cache.js';
import type { Interaction } from '../types.js';
import { downstreamStatus } from './downstream-status.js';
import { jsonObject, redact } from './http.js';
import type { IssuerMetadata } from './issuer-metadata.js';
import { looksDraft11 } from './wire-11.js';

// The agent's one challenge loop, as a pure state machine (oauth4webapi's request/process split):
// `nextStep(state, event)` returns the next state and the action to perform. Nothing here sends,
// waits, reads a clock or touches a cache: the adapters (agent.fetch, the got hooks, the token
// exchanger's bearer fetch) perform each action and feed its outcome back as the next event.
//
// A call:        start -> [find-token | obtain] -> send -> response -> (obtain -> send -> response) -> return
// A token flight: token -> discover -> request (POST) -> 200 issued | 202 interact -> wait -> request (poll) ...

/** A token a request carries; `cacheKey` when the agent's cache holds it, so a 401 evicts it. */
export interface Carried {
  token: string;
  cacheKey?: string | undefined;
}

/** Who the agent is, for reading a challenge (wire profile section 6). */
export interface AgentSelf {
  identity: string | undefined;
  thumbprint: string;
  trustedAuthServers: readonly string[];
}

/** How a call earns its token: from an AAuth challenge, or (the RFC 8693 bearer path) after any 401. */
export type CallMode =
  | {
      kind: 'aauth';
      self: AgentSelf;
      ownScheme: 'jwks_uri' | 'hwk';
      /** Hand a first 401 that shows a -11 resource to the -11 machine (an `'auto'` agent). */
      detect11?: boolean | undefined;
    }
  | { kind: 'bearer' };

/** What the first attempt presents: this token, a cached one, a newly obtained one, or none (the agent's key). */
export type FirstToken = Carried | 'cached' | 'obtain' | 'none';

/** A challenge the agent will answer: take the resource token to the auth server. */
export type ExchangeDecision = Extract<ChallengeDecision, { action: 'exchange' }>;

/** The first attempt, or the one retry. */
export type Attempt = 'first' | 'retry';

/** Everything one token request or refresh needs, fixed for its lifetime. */
export interface TokenFlight {
  issuer: string;
  /** `{resource_token[, upstream_token]}` (a token request) or `{auth_token}` (a refresh), section 8. */
  payload: Readonly<Record<string, string>>;
  /** The agent's own scheme, as the resource token names the agent (section 8). */
  signAs: 'jwks_uri' | 'hwk';
  /** The agent's key thumbprint: an issued token must be bound to it (section 7). */
  thumbprint: string;
  /** The resource the token is for: an issued token's `aud` must name it (section 7). */
  resource: string;
  /** Longest time an issued token is kept, seconds, whatever its `exp` or `expires_in` say. */
  maxLifetime: number;
  /** How a 202 is answered; undefined for a refresh, where a 202 is a refusal. */
  interaction: InteractionPolicy | undefined;
}

/** The agent's interaction options, resolved at `createAgent`. */
export interface InteractionPolicy {
  /** Whether `onInteraction` is set; without it a 202 is `interaction_required`. */
  handler: boolean;
  /** -11: whether `onClarification` is set; without it a clarification asked is refused. */
  clarify?: boolean | undefined;
  callback: string | undefined;
  timeoutMs: number;
}

/** An auth server's answer, read whole within limits. */
export interface TokenAnswer {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/** An auth token the auth server issued. */
export interface IssuedToken {
  token: string;
  /** Epoch seconds. */
  expiresAt: number;
}

/** Where the machine stands. */
export type State =
  | { phase: 'start'; mode: CallMode; first: FirstToken }
  | { phase: 'awaiting-token'; mode: CallMode; attempt: Attempt }
  | { phase: 'sent'; mode: CallMode; attempt: Attempt; carried: Carried | undefined }
  | { phase: 'token'; flight: TokenFlight }
  | { phase: 'discovering'; flight: TokenFlight }
  | { phase: 'posted'; flight: TokenFlight; metadata: IssuerMetadata }
  | { phase: 'interacting'; flight: TokenFlight; metadata: IssuerMetadata; location: URL; retryAfter: string | null }
  | { phase: 'waiting'; flight: TokenFlight; metadata: IssuerMetadata; location: URL; deadline: number }
  | { phase: 'polled'; flight: TokenFlight; metadata: IssuerMetadata; location: URL; deadline: number }
  | { phase: 'done' };

/** What happened: the outcome of the last action. */
export type StepEvent =
  | { type: 'begin' }
  /** `find-token` or `obtain` answered (a lookup may find nothing). */
  | { type: 'token'; carried: Carried | undefined }
  /**
   * The resource at `url` answered (the last hop, after redirects); `carried` is what that request
   * presented (a redirect to another origin drops it).
   */
  | { type: 'response'; url: string | URL; status: number; headers: HeadersInput; carried: Carried | undefined; now: number }
  | { type: 'discovered'; metadata: IssuerMetadata }
  /** The auth server answered a token request, refresh or poll. */
  | ({ type: 'answer'; now: number } & TokenAnswer)
  | { type: 'interacted'; now: number }
  | { type: 'waited' };

/** What to do next. */
export type Action =
  /** Look in the token cache for a token for this route (or origin and scope). */
  | { type: 'find-token' }
  /** Get a token: from the cache unless it is `avoid` (the one just refused), else from the auth server. */
  | { type: 'obtain'; attempt: Attempt; decision?: ExchangeDecision; avoid?: string; evict?: Carried }
  /** Send the request (the retry: the request that answered), presenting `carried` or the agent's own key. */
  | { type: 'send'; attempt: Attempt; carried: Carried | undefined }
  /** Throw an `AAuthChallengeError` carrying the resource's response. */
  | { type: 'reject'; code: AAuthErrorCode; message: string; challenge: Challenge | undefined }
  /** Hand the response back; evict a refused cached token, remember or forget the route's token. */
  | { type: 'return'; evict?: Carried; remember?: Carried; forget?: true; failed?: { code: AAuthErrorCode; message: string } }
  | { type: 'discover'; issuer: string }
  /** A request to the auth server, signed with the agent's own key. */
  | { type: 'request'; method: 'POST' | 'GET'; url: URL; headers: Record<string, string>; body?: Uint8Array; signAs: 'jwks_uri' | 'hwk' }
  | { type: 'interact'; authServer: string; interaction: Interaction }
  | { type: 'wait'; ms: number }
  | ({ type: 'issued' } & IssuedToken)
  | { type: 'fail'; error: AAuthError }
  /** The resource speaks AAuth -11: the call goes on in that generation (next-step-11.ts). */
  | { type: 'switch' };

/** A state and the action it leads to. */
export interface Step {
  state: State;
  action: Action;
}

/** Tokens are renewed this many seconds before they expire (issue 4). */
export const RENEW_BEFORE = 30;

/**
 * What to do with a cached entry: present it while it is valid for more than `RENEW_BEFORE` s;
 * refresh it (section 8, `{auth_token}`) when it is expiring and an auth server issued it; else drop it.
 */
export function cacheVerdict(entry: CachedToken, now: number, refresh: boolean): 'use' | 'refresh' | 'drop' {
  if (entry.expiresAt - RENEW_BEFORE > now) return 'use';
  return refresh && entry.authServer !== undefined ? 'refresh' : 'drop';
}

// Processing an auth server's answer (pure): the token, a refusal, or the pending interaction.

/** The time polls wait when a 202 carries no usable `Retry-After`, seconds. */
const DEFAULT_POLL_INTERVAL = 5;
const MAX_POLL_INTERVAL = 300;

/** An auth server's error answer as an `AAuthError` carrying its `error` and description (redacted). */
function refusal(answer: TokenAnswer, code: AAuthErrorCode = 'auth_server_error', what = 'the token request'): AAuthError {
  const doc = jsonObject(answer.body);
  const error = typeof doc?.error === 'string' ? redact(doc.error) : undefined;
  const description = typeof doc?.error_description === 'string' ? redact(doc.error_description) : undefined;
  const summary = [error, description].filter(Boolean).join(': ');
  return new AAuthError(code, `The auth server refused ${what} (HTTP ${answer.status}${summary ? `, ${summary}` : ''})`, {
    // pending_not_found is the auth server's 404; for the agent's caller a downstream call failed.
    status: downstreamStatus(code),
    details: { status: answer.status, error, error_description: description },
  });
}

/**
 * The auth token of a 200 (wire profile sections 7 and 8), checked before anything caches or
 * presents it: an `auth+jwt` bound (`cnf.jwk`) to this agent's key, for the resource that
 * challenged (`aud`), with an `exp` still ahead. It is kept until the earliest of its `exp`, its
 * `expires_in` and `maxLifetime` seconds from now.
 */
function parseIssued(answer: TokenAnswer, flight: TokenFlight, now: number): IssuedToken {
  const doc = jsonObject(answer.body);
  const token = doc?.auth_token;
  if (typeof token !== 'string' || token.length === 0) {
    throw new AAuthError('auth_server_error', 'The auth server answered 200 without an auth_token');
  }
  let claims: Record<string, unknown>;
  let header: Record<string, unknown>;
  try {
    ({ header, claims } = decodeToken(token));
  } catch {
    throw new AAuthError('auth_server_error', 'The auth server issued an auth_token that is not a well-formed JWT');
  }
  if (tokenKind(header.typ) !== 'auth') {
    throw new AAuthError('auth_server_error', `The auth server issued a token of typ ${JSON.stringify(header.typ)}, not auth+jwt`);
  }
  // Section 7: the token is bound to the signer's key. An unbound one would be a bearer token in a
  // cache; one bound elsewhere never verifies with this agent's signatures.
  const cnf = claims.cnf;
  const jwk = typeof cnf === 'object' && cnf !== null ? (cnf as { jwk?: unknown }).jwk : undefined;
  if (jwk === undefined) throw new AAuthError('issued_token_unbound', "The auth server issued a token without cnf.jwk, not bound to this agent's key");
  let bound: string | undefined;
  try {
    bound = computeThumbprint(jwk);
  } catch {
    bound = undefined;
  }
  if (bound !== flight.thumbprint) {
    throw new AAuthError('issued_token_unbound', "The auth server issued a token bound (cnf.jwk) to another key than this agent's");
  }
  // Section 7: `aud` is the resource identity (a string, or an array that contains it).
  const aud = claims.aud;
  if (aud !== flight.resource && !(Array.isArray(aud) && aud.includes(flight.resource))) {
    const named = aud === undefined ? 'no audience' : redact(String(JSON.stringify(aud)).slice(0, 200));
    throw new AAuthError('issued_token_audience_invalid', `The auth server issued a token for ${named}, not for ${JSON.stringify(flight.resource)}`);
  }
  // Section 7: `exp` bounds what is cached; `expires_in` alone is no bound (it may say ten years).
  const exp = claims.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new AAuthError('issued_token_expiry_invalid', 'The auth server issued a token without exp');
  if (exp <= now) throw new AAuthError('issued_token_expiry_invalid', `The auth server issued a token that expired ${Math.round(now - exp)} s ago`);
  const candidates = [exp, now + flight.maxLifetime];
  const expiresIn = doc?.expires_in;
  if (typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0) candidates.push(now + expiresIn);
  return { token, expiresAt: Math.min(...candidates) };
}

/** A `grant_revoked` refusal (400 `invalid_grant` with a `reconnect` member) as the typed error; else undefined. */
function reconnectOf(answer: TokenAnswer, flight: TokenFlight, authServer: string): AAuthReconnectRequiredError | undefined {
  const doc = jsonObject(answer.body);
  const named = doc?.reconnect;
  if (doc?.error !== 'invalid_grant' || typeof named !== 'object' || named === null || Array.isArray(named)) return undefined;
  const field = (name: string): string | undefined => {
    const value = (named as Record<string, unknown>)[name];
    return typeof value === 'string' && value.length > 0 && value.length <= 2048 ? redact(value) : undefined;
  };
  const agent = field('agent');
  const user = field('user');
  const consentUrl = field('consent_url');
  const who = user === undefined ? `agent ${agent ?? 'unknown'}` : `user ${user} for agent ${agent ?? 'unknown'}`;
  return new AAuthReconnectRequiredError(
    `The auth server refused ${flight.interaction ? 'the token request' : 'the refresh'}: the grant of ${who} was withdrawn or revoked; the user must connect again${consentUrl ? ` at ${consentUrl}` : ''}`,
    { authServer, resource: flight.resource, agent, user, ...(consentUrl === undefined ? {} : { consentUrl }) },
    refusal(answer),
  );
}

/** Seconds to wait before the next poll: `Retry-After` (seconds or a date), at least 1 s (section 8), at most 300 s. */
function retryAfterSeconds(value: string | null, now: number): number {
  const text = value?.trim();
  let seconds = DEFAULT_POLL_INTERVAL;
  if (text !== undefined && /^\d+$/.test(text)) seconds = Number(text);
  else if (text !== undefined && !Number.isNaN(Date.parse(text))) seconds = Date.parse(text) / 1000 - now;
  return Math.min(MAX_POLL_INTERVAL, Math.max(1, seconds));
}

/**
 * A 202 (section 8): the pending URL to poll (on the token endpoint's origin: polls are signed) and
 * the interaction the user must complete, `{interaction_endpoint}?code=<code>&callback=<url>`.
 */
function pendingOf(answer: TokenAnswer, metadata: IssuerMetadata, callback: string | undefined): { location: URL; interaction: Interaction } {
  const doc = jsonObject(answer.body);
  const locationText = answer.headers.get('location') ?? (typeof doc?.location === 'string' ? doc.location : undefined);
  if (locationText === undefined) throw new AAuthError('auth_server_error', 'The auth server answered 202 without a Location');
  let location: URL;
  try {
    location = new URL(locationText, metadata.tokenEndpoint);
  } catch {
    throw new AAuthError('auth_server_error', 'The auth server answered 202 with an invalid Location');
  }
  if (location.origin !== metadata.tokenEndpoint.origin) {
    throw new AAuthError('auth_server_error', `The auth server's pending Location is on another origin (${location.origin})`);
  }
  let code: string | undefined;
  try {
    code = parseChallenge(answer.headers)?.code;
  } catch {
    code = undefined;
  }
  code ??= typeof doc?.code === 'string' ? doc.code : undefined;
  if (code === undefined) throw new AAuthError('auth_server_error', 'The auth server answered 202 without an interaction code');
  if (metadata.interactionEndpoint === undefined) {
    throw new AAuthError('auth_server_discovery_failed', `${metadata.issuer} asks for an interaction but its metadata has no interaction_endpoint`);
  }
  const url = new URL(metadata.interactionEndpoint);
  url.searchParams.set('code', code);
  if (callback !== undefined) url.searchParams.set('callback', callback);
  return { location, interaction: { url: url.href, code, location: location.href } };
}

const DONE: State = { phase: 'done' };

function expected(state: State, event: StepEvent): never {
  throw new Error(`nextStep: event ${event.type} in phase ${state.phase}`);
}

/** Only a token the cache holds is evicted; a caller's own `authToken` is not the agent's to drop. */
function evictable(carried: Carried | undefined): { evict: Carried } | Record<string, never> {
  return carried?.cacheKey === undefined ? {} : { evict: carried };
}

/** The first response of a call, and the one retry's. */
function respond(state: Extract<State, { phase: 'sent' }>, event: Extract<StepEvent, { type: 'response' }>): Step {
  const { mode, attempt } = state;
  const aauth = mode.kind === 'aauth';
  if (attempt === 'retry') {
    // Never loop (issue 4): the retry's answer goes back to the caller, whatever it is.
    if (event.status !== 401) return { state: DONE, action: aauth && state.carried ? { type: 'return', remember: state.carried } : { type: 'return' } };
    const failed = { code: 'challenge_unsatisfiable', message: 'The resource refused the new auth token; not retrying again' } as const;
    return { state: DONE, action: { type: 'return', ...evictable(event.carried), ...(aauth ? { forget: true, failed } : {}) } };
  }
  if (mode.kind === 'bearer') {
    // Issue 8: a 401 evicts the token, and one retry presents a new one. A 401 from where the token
    // was not sent (a redirect to another origin dropped it) is not the token's fault: handed back.
    if (event.status !== 401 || event.carried === undefined) return { state: DONE, action: { type: 'return' } };
    return { state: { phase: 'awaiting-token', mode, attempt: 'retry' }, action: { type: 'obtain', attempt: 'retry', avoid: event.carried.token, ...evictable(event.carried) } };
  }
  // Profile section 1: a first 401 in the -11 form is answered in -11 (an agent configured for both).
  if (mode.detect11 && looksDraft11(event.status, event.headers, event.carried === undefined ? mode.ownScheme : 'jwt')) {
    return { state: DONE, action: { type: 'switch' } };
  }
  // Sections 5 and 6: only a challenge naming this agent, the resource that answered and a trusted
  // auth server leads to a token request.
  const decision = assessChallenge(
    { status: event.status, headers: event.headers },
    { ...mode.self, now: event.now, signedWith: event.carried === undefined ? mode.ownScheme : 'jwt', url: event.url },
  );
  switch (decision.action) {
    case 'reject':
      return { state: DONE, action: { type: 'reject', code: decision.code, message: decision.message, challenge: decision.challenge } };
    case 'exchange':
      return {
        state: { phase: 'awaiting-token', mode, attempt: 'retry' },
        action: { type: 'obtain', attempt: 'retry', decision, ...(event.carried ? { avoid: event.carried.token } : {}), ...evictable(event.carried) },
      };
    default:
      // Issue 4: a 401 on a request that carried a cached token evicts it.
      return { state: DONE, action: { type: 'return', ...(event.status === 401 ? evictable(event.carried) : {}) } };
  }
}

/** Wait for the next poll, unless the deadline has passed (section 8). */
function waitOrTimeout(state: Extract<State, { phase: 'interacting' | 'polled' }>, deadline: number, seconds: number, now: number): Step {
  const remaining = deadline - now;
  if (remaining <= 0) {
    const timeoutMs = state.flight.interaction?.timeoutMs ?? 0;
    return { state: DONE, action: { type: 'fail', error: new AAuthError('interaction_timeout', `The user did not approve within ${Math.round(timeoutMs / 1000)} s`) } };
  }
  const { flight, metadata, location } = state;
  return { state: { phase: 'waiting', flight, metadata, location, deadline }, action: { type: 'wait', ms: Math.min(seconds, remaining) * 1000 } };
}

/** A 200 carries the token; anything the pure checks refuse becomes a `fail` action. */
function issued(answer: TokenAnswer, flight: TokenFlight, now: number): Step {
  return { state: DONE, action: { type: 'issued', ...parseIssued(answer, flight, now) } };
}

/** The token endpoint's answer to the POST (section 8). */
function answered(state: Extract<State, { phase: 'posted' }>, event: Extract<StepEvent, { type: 'answer' }>): Step {
  const { flight, metadata } = state;
  if (event.status === 200) return issued(event, flight, event.now);
  // Issue 17: the grant this request continues was withdrawn (400 invalid_grant with `reconnect`):
  // a person must connect again; the call ends here, once, with what to redo.
  const reconnect = event.status === 400 ? reconnectOf(event, flight, metadata.issuer) : undefined;
  if (reconnect !== undefined) return { state: DONE, action: { type: 'fail', error: reconnect } };
  // A refresh answered 202 wants an interaction: refused, the caller falls back to the challenge.
  if (event.status !== 202 || flight.interaction === undefined) {
    return { state: DONE, action: { type: 'fail', error: refusal(event, 'auth_server_error', flight.interaction ? 'the token request' : 'the refresh') } };
  }
  const { location, interaction } = pendingOf(event, metadata, flight.interaction.callback);
  if (!flight.interaction.handler) {
    const error = new AAuthError('interaction_required', `A user must approve this request at ${interaction.url}`, { details: { url: interaction.url, code: interaction.code } });
    return { state: DONE, action: { type: 'fail', error } };
  }
  return {
    state: { phase: 'interacting', flight, metadata, location, retryAfter: event.headers.get('retry-after') },
    action: { type: 'interact', authServer: metadata.issuer, interaction },
  };
}

/**
 * A poll's answer: 200 issued, 202 wait again; 503 (the server's store did not answer: the person's
 * decision is kept) wait for its Retry-After, 429 five seconds more, both until the deadline, as a
 * -11 poll does; 403 / 408 / 404 / other end it.
 */
function polled(state: Extract<State, { phase: 'polled' }>, event: Extract<StepEvent, { type: 'answer' }>): Step {
  const pending = (code: AAuthErrorCode): Step => ({ state: DONE, action: { type: 'fail', error: refusal(event, code, 'the pending request') } });
  switch (event.status) {
    case 200:
      return issued(event, state.flight, event.now);
    case 202:
    case 503:
      return waitOrTimeout(state, state.deadline, retryAfterSeconds(event.headers.get('retry-after'), event.now), event.now);
    case 429:
      return waitOrTimeout(state, state.deadline, Math.min(MAX_POLL_INTERVAL, retryAfterSeconds(event.headers.get('retry-after'), event.now) + 5), event.now);
    case 403:
      return pending('interaction_denied');
    case 408:
      return pending('interaction_expired');
    case 404:
      return pending('pending_not_found');
    default:
      return pending('auth_server_error');
  }
}

function step(state: State, event: StepEvent): Step {
  switch (state.phase) {
    case 'start': {
      if (event.type !== 'begin') return expected(state, event);
      const { mode, first } = state;
      if (first === 'cached') return { state: { phase: 'awaiting-token', mode, attempt: 'first' }, action: { type: 'find-token' } };
      if (first === 'obtain') return { state: { phase: 'awaiting-token', mode, attempt: 'first' }, action: { type: 'obtain', attempt: 'first' } };
      const carried = first === 'none' ? undefined : first;
      return { state: { phase: 'sent', mode, attempt: 'first', carried }, action: { type: 'send', attempt: 'first', carried } };
    }
    case 'awaiting-token': {
      if (event.type !== 'token') return expected(state, event);
      const { mode, attempt } = state;
      return { state: { phase: 'sent', mode, attempt, carried: event.carried }, action: { type: 'send', attempt, carried: event.carried } };
    }
    case 'sent':
      return event.type === 'response' ? respond(state, event) : expected(state, event);
    case 'token':
      if (event.type !== 'begin') return expected(state, event);
      return { state: { phase: 'discovering', flight: state.flight }, action: { type: 'discover', issuer: state.flight.issuer } };
    case 'discovering': {
      if (event.type !== 'discovered') return expected(state, event);
      const { flight } = state;
      // Section 8: a signed JSON POST covering the body, and `Prefer: wait=45` (the server may hold it).
      const headers = { 'content-type': 'application/json', accept: 'application/json', prefer: 'wait=45' };
      const body = new TextEncoder().encode(JSON.stringify(flight.payload));
      return {
        state: { phase: 'posted', flight, metadata: event.metadata },
        action: { type: 'request', method: 'POST', url: event.metadata.tokenEndpoint, headers, body, signAs: flight.signAs },
      };
    }
    case 'posted':
      return event.type === 'answer' ? answered(state, event) : expected(state, event);
    case 'interacting': {
      if (event.type !== 'interacted') return expected(state, event);
      // The deadline starts once the user has been sent to the interaction.
      const deadline = event.now + (state.flight.interaction?.timeoutMs ?? 0) / 1000;
      return waitOrTimeout(state, deadline, retryAfterSeconds(state.retryAfter, event.now), event.now);
    }
    case 'waiting': {
      if (event.type !== 'waited') return expected(state, event);
      const { flight, metadata, location, deadline } = state;
      return {
        state: { phase: 'polled', flight, metadata, location, deadline },
        action: { type: 'request', method: 'GET', url: location, headers: { accept: 'application/json' }, signAs: flight.signAs },
      };
    }
    case 'polled':
      return event.type === 'answer' ? polled(state, event) : expected(state, event);
    case 'done':
      return expected(state, event);
  }
}

/**
 * The agent's challenge loop, one step: pure, so every path is testable without a network. An
 * auth server answer the checks refuse becomes a `fail` action carrying the typed `AAuthError`.
 */
export function nextStep(state: State, event: StepEvent): Step {
  try {
    return step(state, event);
  } catch (error) {
    if (isAAuthError(error)) return { state: DONE, action: { type: 'fail', error } };
    throw error;
  }
}

/** A call's first state: `first` says what the first attempt presents. */
export function startCall(mode: CallMode, first: FirstToken): State {
  return { phase: 'start', mode, first };
}

/** A token request or refresh's first state. */
export function startFlight(flight: TokenFlight): State {
  return { phase: 'token', flight };
}
