import { AAuthError, type AAuthErrorCode, type HeadersInput, isAAuthError } from '@aauth-kit/core';
import { MAX_CLARIFICATION_ROUNDS, MAX_CLARIFICATION_TEXT, toHeaderMap } from '@aauth-kit/core/internal';
import type { Clarification, Interaction } from '../types.js';
import { type ApprovedMission11, checkResourceToken11, type IssuedExpectation, parseIssued11, parseMission11, type Presented, type ResourceToken11 } from './checks-11.js';
import { downstreamStatus } from './downstream-status.js';
import { AAuthReconnectRequiredError } from '../aauth-reconnect-required-error.js';
import { jsonObject, redact } from './http.js';
import type { InteractionPolicy } from './next-step.js';
import { parseRequirement, type Requirement, requiredInputOf, serverIdentifierProblem, signatureErrorCode } from './wire-11.js';

// The agent's -11 call, as a pure state machine beside the Keycloak-profile one (next-step.ts):
// `nextStep11(state, event)` returns the next state and the action to perform; nothing here sends,
// waits, reads a clock or touches a cache. Two machines:
//
// A call:   start -> present (best token) -> send -> response
//             401 agent-token   -> present the agent token -> send
//             401 person-token  -> obtain a person token (person server) -> send
//             401 auth-token    -> check the resource token -> obtain an auth token -> send
//             202 auth-token    -> the same, then poll the pending URL presenting it
//             202 interaction   -> interact -> wait -> poll ...
//             401 clock_skew    -> send again with the clock corrected from `Date` (once)
//             401 expired_jwt / revoked_jwt -> drop the token, present a fresh one (once)
//             401 revoked_jwt on a person token -> drop it, obtain a new one (once)
//           each requirement is met at most once per call: nothing loops.
// A flight: discover the person server -> POST -> 200 token | 202 [interact] -> wait -> GET poll ...

/** Who the agent is in this call. */
export interface Self11 {
  thumbprint: string;
  /** The person server this call routes to: the agent's own, or the upstream token's `ps` in a chain. */
  ps: string | undefined;
  interaction: InteractionPolicy;
  /** Accept http and ports on loopback in URLs a server names (development); default false. */
  allowLoopback: boolean;
}

/** Which requirements this call has met already (each at most once). */
export interface Used {
  agent: boolean;
  person: boolean;
  auth: boolean;
  skew: boolean;
  renew: boolean;
  /** Sent again covering the components a 401 invalid_input named (once). */
  input?: boolean;
}

/** A pending URL at the resource the call polls (a held invocation, or resource-managed interaction). */
export interface Pending {
  location: URL;
  /** When the call stops waiting: set at the first 202 (interactionTimeoutMs), never pushed back. */
  deadline: number | undefined;
  /** Seconds between polls. */
  interval: number;
  /** The interaction codes handed to the caller so far in this call, the last one first. */
  asked?: readonly string[] | undefined;
  /** The resource's clarification questions answered so far in this call (at most MAX_CLARIFICATION_ROUNDS). */
  rounds?: number | undefined;
  /** The send under way POSTs a clarification response to the pending URL (its answer is read as such). */
  answering?: boolean | undefined;
}

/** Most interactions one call (or one person-server flight) hands to the caller: a server asking again and again is refused. */
const MAX_INTERACTIONS = 3;

export type CallState11 =
  | { phase: 'start' }
  | { phase: 'presenting'; used: Used; pending: Pending | undefined }
  | { phase: 'sent'; used: Used; pending: Pending | undefined }
  | { phase: 'interacting'; used: Used; presented: Presented; pending: Pending }
  /** The resource asked a clarification (-11 "Clarification Required"): handed to `onClarification`. */
  | { phase: 'clarifying'; used: Used; presented: Presented; pending: Pending }
  | { phase: 'waiting'; used: Used; presented: Presented; pending: Pending }
  | { phase: 'done' };

export type CallEvent11 =
  | { type: 'begin' }
  /** The token to present next (from `present`, `obtain-person`, `obtain-auth` or `renew-agent`). */
  | { type: 'presentation'; presented: Presented }
  /**
   * The resource (or its pending URL) answered; `presented` is what that request carried (a redirect
   * to another origin falls back to the agent token), `session` whether it carried a session token.
   */
  | { type: 'response'; url: URL; status: number; headers: HeadersInput; presented: Presented; session: boolean; now: number; body?: Uint8Array | undefined }
  | { type: 'interacted'; now: number }
  /** `onClarification` answered the resource's question. */
  | { type: 'clarified'; answer: string; now: number }
  | { type: 'waited' };

export type CallAction11 =
  /** The best token for this resource: a held auth token, a held person token, else the agent token; `evict` one refused. */
  | { type: 'present'; which: 'best' | 'agent'; evict?: Presented }
  /** A person token for this resource from the person server (`evict` the one refused). */
  | { type: 'obtain-person'; evict?: Presented }
  /** An auth token for the checked resource token, requested with `presented_token`. */
  | { type: 'obtain-auth'; resourceToken: ResourceToken11; presented: Presented }
  /** A fresh agent token (the resource said the current one expired or was revoked). */
  | { type: 'renew-agent' }
  /**
   * Send the request presenting `presented` (with the resource's session token, unless dropped);
   * to the pending URL with a GET when `poll`; `clockOffset` corrects the signing clock first.
   */
  | { type: 'send'; presented: Presented; poll?: URL; clockOffset?: number; dropSession?: true; cover?: string[]; answer?: Record<string, unknown> }
  | { type: 'interact'; interaction: Interaction }
  /** Hand the resource's question to `onClarification` (by `deadline`, epoch seconds). */
  | { type: 'clarify'; clarification: Omit<Clarification, 'authServer'>; deadline: number | undefined }
  | { type: 'wait'; ms: number }
  /** Hand the response back; `session` is a new `AAuth-Access` value to keep (null: drop the one sent). */
  | { type: 'return'; session?: string | null }
  /** Throw an `AAuthChallengeError` carrying the resource's response. */
  | { type: 'reject'; code: AAuthErrorCode; message: string; requirement: Requirement | undefined }
  | { type: 'fail'; error: AAuthError };

export interface CallStep11 {
  state: CallState11;
  action: CallAction11;
}

const DONE = { phase: 'done' } as const;
const FRESH: Used = { agent: false, person: false, auth: false, skew: false, renew: false };
const DEFAULT_POLL_INTERVAL = 5;
const MAX_POLL_INTERVAL = 300;
/** The longest long poll the agent invites (`Prefer: wait`), seconds. */
const MAX_HOLD = 45;

/** Seconds to wait: `Retry-After` (seconds or a date), default 5 s, at least 1 s, at most 300 s. */
export function retryAfter11(value: string | null | undefined, now: number, fallback = DEFAULT_POLL_INTERVAL): number {
  const text = value?.trim();
  let seconds = fallback;
  if (text !== undefined && /^\d+$/.test(text)) seconds = Number(text);
  else if (text !== undefined && text.length > 0 && !Number.isNaN(Date.parse(text))) seconds = Date.parse(text) / 1000 - now;
  return Math.min(MAX_POLL_INTERVAL, Math.max(1, seconds));
}

function header(headers: HeadersInput, name: string): string | undefined {
  const lines = toHeaderMap(headers).get(name);
  return lines === undefined || lines.length === 0 ? undefined : lines.join(', ');
}

/** An `AAuth-Access` value (token68, section 7): one credential, no whitespace or controls. */
function sessionToken(headers: HeadersInput): string | undefined {
  const lines = toHeaderMap(headers).get('aauth-access');
  if (lines === undefined || lines.length !== 1) return undefined;
  const value = lines[0]!.trim();
  return /^[A-Za-z0-9\-._~+/]+=*$/.test(value) && value.length <= 8192 ? value : undefined;
}

/** The pending URL of a resource's 202: same origin as the answer (section 8, item 6). */
function pendingAt(headers: HeadersInput, answered: URL): URL | undefined {
  const location = header(headers, 'location');
  if (location === undefined) return undefined;
  try {
    const url = new URL(location, answered);
    return url.origin === answered.origin ? url : undefined;
  } catch {
    return undefined;
  }
}

/** `{url}?code={code}` (plus `callback`): where the user goes (section 7). */
export function interactionUrl(requirement: Requirement, policy: InteractionPolicy, allowLoopback: boolean): string | undefined {
  const { url, code } = requirement;
  if (url === undefined || code === undefined || code.length === 0) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  // Section 7: https, no query or fragment (the loopback relaxation admits http on local hosts).
  if (parsed.search !== '' || parsed.hash !== '' || url.includes('?') || url.includes('#')) return undefined;
  if (serverIdentifierProblem(parsed.origin, allowLoopback) !== undefined) return undefined;
  parsed.searchParams.set('code', code);
  if (policy.callback !== undefined) parsed.searchParams.set('callback', policy.callback);
  return parsed.href;
}

function reject(code: AAuthErrorCode, message: string, requirement?: Requirement): CallStep11 {
  return { state: DONE, action: { type: 'reject', code, message, requirement } };
}

/** A malformed `AAuth-Requirement`, as the step that ends the call. */
class Refusal {
  constructor(readonly step: CallStep11) {}
}

/** The answer's `AAuth-Requirement` (undefined when absent); a malformed one refuses the call with its code. */
function readRequirement(headers: Parameters<typeof parseRequirement>[0]): Requirement | undefined | Refusal {
  try {
    return parseRequirement(headers);
  } catch (e) {
    if (isAAuthError(e)) return new Refusal(reject(e.code, e.message));
    throw e;
  }
}

/** The `return` action, keeping a new session token or dropping a refused one. */
function settle(event: Extract<CallEvent11, { type: 'response' }>): CallStep11 {
  const session = sessionToken(event.headers);
  if (session !== undefined) return { state: DONE, action: { type: 'return', session } };
  if (event.status === 401 && event.session) return { state: DONE, action: { type: 'return', session: null } };
  return { state: DONE, action: { type: 'return' } };
}

/** An `auth-token` requirement (401, or 202 holding the call): check the resource token, then get an auth token. */
function authRequired(
  self: Self11,
  used: Used,
  event: Extract<CallEvent11, { type: 'response' }>,
  requirement: Requirement,
  personToken: Presented | undefined,
  pending: Pending | undefined,
): CallStep11 {
  if (used.auth) return settle(event); // a second refusal is handed back, as in the Keycloak profile
  if (requirement.resourceToken === undefined) {
    return reject('challenge_missing_resource_token', 'The auth-token requirement carries no resource token', requirement);
  }
  let resourceToken: ResourceToken11;
  try {
    resourceToken = checkResourceToken11(requirement.resourceToken, {
      answered: event.url.origin,
      thumbprint: self.thumbprint,
      ps: self.ps,
      presented: event.presented,
      personToken,
      now: event.now,
    });
  } catch (error) {
    if (isAAuthError(error)) return reject(error.code, error.message, requirement);
    throw error;
  }
  return {
    state: { phase: 'presenting', used: { ...used, auth: true }, pending },
    action: { type: 'obtain-auth', resourceToken, presented: event.presented },
  };
}

/** A 401 (section 7, and the -09 `Signature-Error` codes). */
function unauthorized(self: Self11, state: Extract<CallState11, { phase: 'sent' }>, event: Extract<CallEvent11, { type: 'response' }>, personToken: Presented | undefined): CallStep11 {
  const { used } = state;
  const presented = event.presented;
  const error = signatureErrorCode(event.headers);
  if (error === 'clock_skew' && !used.skew) {
    // -09: `created` (or a token's iat) is ahead of the verifier's clock. Correct from `Date`, retry once.
    const date = header(event.headers, 'date');
    const at = date === undefined ? Number.NaN : Date.parse(date) / 1000;
    if (Number.isFinite(at)) {
      return {
        state: { phase: 'sent', used: { ...used, skew: true }, pending: state.pending },
        action: { type: 'send', presented, clockOffset: at - event.now },
      };
    }
  }
  if (error === 'invalid_input' && !used.input) {
    // -11 "Covered Components" (-09 5.4.5): the resource names every component it needs covered in
    // required_input; send again covering them, once.
    const required = requiredInputOf(event.headers);
    if (required !== undefined && required.length > 0) {
      return { state: { phase: 'sent', used: { ...used, input: true }, pending: state.pending }, action: { type: 'send', presented, cover: required } };
    }
  }
  if ((error === 'expired_jwt' || error === 'revoked_jwt') && !used.renew) {
    // AG-60: a refused agent token is renewed at its provider; a person or auth token is dropped.
    const next: Used = { ...used, renew: true };
    if (presented.kind === 'agent') return { state: { phase: 'presenting', used: next, pending: state.pending }, action: { type: 'renew-agent' } };
    return { state: { phase: 'presenting', used: next, pending: state.pending }, action: { type: 'present', which: 'best', evict: presented } };
  }
  if (error === 'revoked_jwt' && presented.kind === 'person' && self.ps !== undefined && !used.person) {
    // A revoked person token after a revoked auth token (a withdrawn grant, or the holder's own
    // revocation): one new person token from the person server, which may refuse it (grant_withdrawn).
    return { state: { phase: 'presenting', used: { ...used, renew: true, person: true }, pending: state.pending }, action: { type: 'obtain-person', evict: presented } };
  }
  const requirement = readRequirement(event.headers);
  if (requirement instanceof Refusal) return requirement.step;
  if (requirement === undefined) return settle(event); // no requirement: the caller gets the 401
  switch (requirement.requirement) {
    case 'agent-token':
      if (presented.kind !== 'agent' && !used.agent) {
        return { state: { phase: 'presenting', used: { ...used, agent: true }, pending: state.pending }, action: { type: 'present', which: 'agent' } };
      }
      return reject('challenge_unsatisfiable', 'The resource refused this agent token', requirement);
    case 'person-token':
      if (self.ps === undefined) return reject('challenge_unsatisfiable', 'The resource requires a person token and this agent has no person server', requirement);
      if (used.person) return reject('challenge_unsatisfiable', 'The resource refused the person token', requirement);
      return {
        state: { phase: 'presenting', used: { ...used, person: true }, pending: state.pending },
        // A refused person token, or an auth token the resource no longer takes (AG-60), is dropped.
        action: presented.kind === 'agent' ? { type: 'obtain-person' } : { type: 'obtain-person', evict: presented },
      };
    case 'auth-token':
      return authRequired(self, used, event, requirement, personToken, state.pending);
    default:
      return reject('challenge_unsatisfiable', `The resource requires ${JSON.stringify(redact(requirement.requirement))}, which this agent cannot provide`, requirement);
  }
}

/** Wait before the next poll of the resource's pending URL, unless the deadline passed. */
function pollLater(used: Used, presented: Presented, pending: Pending, seconds: number, now: number): CallStep11 {
  if (pending.deadline !== undefined && now >= pending.deadline) {
    return { state: DONE, action: { type: 'fail', error: new AAuthError('interaction_timeout', 'The resource did not complete the held request in time') } };
  }
  const wait = pending.deadline === undefined ? seconds : Math.min(seconds, pending.deadline - now);
  return { state: { phase: 'waiting', used, presented, pending }, action: { type: 'wait', ms: Math.max(0, wait) * 1000 } };
}

/** A 202 from the resource (section 8, item 6): a held call, resource-managed interaction, or still pending. */
function accepted(self: Self11, state: Extract<CallState11, { phase: 'sent' }>, event: Extract<CallEvent11, { type: 'response' }>, personToken: Presented | undefined): CallStep11 {
  const requirement = readRequirement(event.headers);
  if (requirement instanceof Refusal) return requirement.step;
  // A 202 without AAuth-Requirement that is not a poll is the API's own answer.
  if (requirement === undefined && state.pending === undefined) return settle(event);
  const location = pendingAt(event.headers, event.url) ?? state.pending?.location;
  if (location === undefined) return reject('challenge_malformed', 'The resource answered 202 without a same-origin Location', requirement);
  const interval = retryAfter11(header(event.headers, 'retry-after'), event.now, state.pending?.interval ?? DEFAULT_POLL_INTERVAL);
  // The wait is bounded from the first 202 on (a server answering 202 forever ends in interaction_timeout).
  const deadline = state.pending?.deadline ?? event.now + self.interaction.timeoutMs / 1000;
  const pending: Pending = { location, deadline, interval, asked: state.pending?.asked, rounds: state.pending?.rounds };
  switch (requirement?.requirement) {
    case 'clarification':
      return resourceClarification(self, state.used, event, pending, requirement);
    case 'auth-token':
      // Section 6.5.1: the resource holds the call; finish at the pending URL with an auth token.
      return authRequired(self, state.used, event, requirement, personToken, pending);
    case 'interaction': {
      const url = interactionUrl(requirement, self.interaction, self.allowLoopback);
      if (url === undefined) return reject('challenge_malformed', 'The interaction requirement lacks a usable https url or a code', requirement);
      // The same code again: the person has it already; still pending.
      if (pending.asked?.includes(requirement.code!)) return pollLater(state.used, event.presented, pending, interval, event.now);
      if (!self.interaction.handler) {
        return { state: DONE, action: { type: 'fail', error: new AAuthError('interaction_required', `A user must approve this request at ${url}`, { details: { url, code: requirement.code } }) } };
      }
      if ((pending.asked?.length ?? 0) >= MAX_INTERACTIONS) {
        return reject('challenge_unsatisfiable', `The resource asked for another interaction after ${MAX_INTERACTIONS} in this call`, requirement);
      }
      return {
        state: { phase: 'interacting', used: state.used, presented: event.presented, pending: { ...pending, asked: [requirement.code!, ...(pending.asked ?? [])] } },
        action: { type: 'interact', interaction: { url, code: requirement.code!, location: location.href } },
      };
    }
    case undefined:
    case 'approval':
      return pollLater(state.used, event.presented, pending, interval, event.now);
    default:
      // Section 7: an unknown requirement on a 202 may become one the agent knows: keep polling.
      if (state.pending !== undefined) return pollLater(state.used, event.presented, pending, interval, event.now);
      return reject('challenge_unsatisfiable', `The resource requires ${JSON.stringify(redact(requirement!.requirement))}, which this agent cannot provide`, requirement);
  }
}

/** What `onClarification` is handed: the question, its pending URL, and the options and timeout the body offers when well-formed. */
function clarificationOf(doc: Record<string, unknown>, question: string, location: URL): Omit<Clarification, 'authServer'> {
  const clarification: Omit<Clarification, 'authServer'> = { question, location: location.href };
  const { options, timeout } = doc;
  if (Array.isArray(options) && options.length > 0 && options.length <= 64 && options.every((o) => typeof o === 'string' && o.length <= 1024)) clarification.options = options as string[];
  if (typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0) clarification.timeout = timeout;
  return clarification;
}

/**
 * A resource's `202 requirement=clarification` (AAuth -11 "Clarification Required": a resource may
 * ask the agent a question too): the question handed to `onClarification`, whose answer is POSTed
 * to the pending URL; without a handler, or past MAX_CLARIFICATION_ROUNDS, refused.
 */
function resourceClarification(self: Self11, used: Used, event: Extract<CallEvent11, { type: 'response' }>, pending: Pending, requirement: Requirement): CallStep11 {
  if (!self.interaction.clarify) return reject('challenge_unsatisfiable', 'The resource asks a clarification and this agent answers none (no onClarification)', requirement);
  const doc = event.body === undefined ? undefined : jsonObject(event.body);
  const question = doc?.clarification;
  if (typeof question !== 'string' || question.trim() === '' || question.length > MAX_CLARIFICATION_TEXT) {
    return reject('challenge_malformed', `The resource asks a clarification without a question (its body needs "clarification": a non-empty string of at most ${MAX_CLARIFICATION_TEXT} characters)`, requirement);
  }
  const rounds = pending.rounds ?? 0;
  if (rounds >= MAX_CLARIFICATION_ROUNDS) return reject('challenge_unsatisfiable', `The resource asked another clarification after ${MAX_CLARIFICATION_ROUNDS} in this call`, requirement);
  const clarification = clarificationOf(doc!, question, pending.location);
  return { state: { phase: 'clarifying', used, presented: event.presented, pending: { ...pending, rounds: rounds + 1 } }, action: { type: 'clarify', clarification, deadline: pending.deadline } };
}

/** The resource's answer to a clarification response POSTed to its pending URL: polls go on, or the call ends. */
function answeredClarification(state: Extract<CallState11, { phase: 'sent' }>, event: Extract<CallEvent11, { type: 'response' }>): CallStep11 {
  const pending = { ...state.pending!, answering: undefined };
  // 2xx: taken; 400: too late (the resource moved on), the poll tells how the call ended.
  if ((event.status >= 200 && event.status < 300) || event.status === 400) return pollLater(state.used, event.presented, pending, 0, event.now);
  if (event.status === 503) return pollLater(state.used, event.presented, pending, retryAfter11(header(event.headers, 'retry-after'), event.now, pending.interval), event.now);
  if (event.status === 429) return slowDown(state.used, event.presented, pending, event.now);
  return settle(event);
}

/** A 429 while polling (section 8, item 6): five seconds slower from now on, then the next poll. */
function slowDown(used: Used, presented: Presented, pending: Pending, now: number): CallStep11 {
  const slower = { ...pending, interval: Math.min(MAX_POLL_INTERVAL, pending.interval + 5) };
  return pollLater(used, presented, slower, slower.interval, now);
}

function respond(self: Self11, state: Extract<CallState11, { phase: 'sent' }>, event: Extract<CallEvent11, { type: 'response' }>, personToken: Presented | undefined): CallStep11 {
  if (state.pending?.answering === true) return answeredClarification(state, event);
  if (event.status === 401) return unauthorized(self, state, event, personToken);
  if (event.status === 202) return accepted(self, state, event, personToken);
  if (event.status === 429 && state.pending !== undefined) return slowDown(state.used, event.presented, state.pending, event.now);
  return settle(event);
}

function expected(state: CallState11, event: CallEvent11): never {
  throw new Error(`nextStep11: event ${event.type} in phase ${state.phase}`);
}

/**
 * One step of a -11 call. `personToken` is the person token the agent last presented to this
 * resource (a step-up challenge names its jti). Check failures become `reject` actions.
 */
export function nextStep11(self: Self11, state: CallState11, event: CallEvent11, personToken?: Presented): CallStep11 {
  switch (state.phase) {
    case 'start':
      if (event.type !== 'begin') return expected(state, event);
      return { state: { phase: 'presenting', used: FRESH, pending: undefined }, action: { type: 'present', which: 'best' } };
    case 'presenting': {
      if (event.type !== 'presentation') return expected(state, event);
      const { used, pending } = state;
      // A held call is finished at its pending URL (section 6.5.1); anything else re-sends the request.
      return { state: { phase: 'sent', used, pending }, action: pending ? { type: 'send', presented: event.presented, poll: pending.location } : { type: 'send', presented: event.presented } };
    }
    case 'sent':
      return event.type === 'response' ? respond(self, state, event, personToken) : expected(state, event);
    case 'interacting': {
      if (event.type !== 'interacted') return expected(state, event);
      // The deadline set at the first 202 holds: a new interaction does not push it back.
      const pending = { ...state.pending, deadline: state.pending.deadline ?? event.now + self.interaction.timeoutMs / 1000 };
      return pollLater(state.used, state.presented, pending, pending.interval, event.now);
    }
    case 'waiting': {
      if (event.type !== 'waited') return expected(state, event);
      const { used, pending, presented } = state;
      return { state: { phase: 'sent', used, pending }, action: { type: 'send', presented, poll: pending.location } };
    }
    case 'clarifying': {
      if (event.type !== 'clarified') return expected(state, event);
      // "Clarification Response": a signed JSON POST to the pending URL; then polls go on.
      const { used, pending, presented } = state;
      return {
        state: { phase: 'sent', used, pending: { ...pending, answering: true } },
        action: { type: 'send', presented, poll: pending.location, answer: { action: 'clarification_response', clarification_response: event.answer } },
      };
    }
    case 'done':
      return expected(state, event);
  }
}

// ---------------------------------------------------------------------------------------------
// Flights to the person server (AAuth -11 sections 7.1, 7.2, 8; profile section 8).

/** What the agent reads from `{ps}/.well-known/aauth-person.json`. */
export interface PersonServerMetadata {
  issuer: string;
  personTokenEndpoint: URL;
  authTokenEndpoint: URL;
  /** `mission_endpoint`, when the person server supports missions. */
  missionEndpoint?: URL | undefined;
}

/** One person token, auth token or mission request, fixed for its lifetime. */
export interface Flight11 {
  /** `mission`: a proposal to `mission_endpoint` (-11 "Mission Creation"); `expect.resource` is unused. */
  kind: 'person' | 'auth' | 'mission';
  ps: string;
  /** The JSON body: `{resource, ...}`, `{resource_token, presented_token, ...}` or the mission proposal. */
  payload: Readonly<Record<string, unknown>>;
  expect: IssuedExpectation;
  interaction: InteractionPolicy;
  allowLoopback: boolean;
}

export type FlightState11 =
  | { phase: 'start'; flight: Flight11 }
  | { phase: 'discovering'; flight: Flight11 }
  | { phase: 'posted'; flight: Flight11; endpoint: URL; retried?: true }
  | { phase: 'reposting'; flight: Flight11; endpoint: URL }
  | { phase: 'interacting'; flight: Flight11; endpoint: URL; location: URL; interval: number; deadline?: number | undefined; asked?: readonly string[] | undefined; rounds?: number | undefined }
  /** `hold`: whole seconds left before the deadline once the wait is over, the most a poll may be held (`Prefer: wait`). */
  | { phase: 'waiting'; flight: Flight11; endpoint: URL; location: URL; interval: number; deadline: number; hold: number; asked?: readonly string[] | undefined; rounds?: number | undefined }
  | { phase: 'polled'; flight: Flight11; endpoint: URL; location: URL; interval: number; deadline: number; asked?: readonly string[] | undefined; rounds?: number | undefined }
  /** A clarification was asked (`rounds` so far, this one included): the caller's answer is awaited, then posted (`answering`). */
  | ({ phase: 'clarifying' | 'answering' } & OpenRequest & { rounds: number })
  | { phase: 'done' };

/** A request the person server holds open at `location`, polled until `deadline`. */
interface OpenRequest {
  flight: Flight11;
  endpoint: URL;
  location: URL;
  interval: number;
  deadline: number;
  asked?: readonly string[] | undefined;
  rounds?: number | undefined;
}

export type FlightEvent11 =
  | { type: 'begin' }
  | { type: 'discovered'; metadata: PersonServerMetadata }
  | { type: 'answer'; status: number; headers: Headers; body: Uint8Array; now: number }
  | { type: 'interacted'; now: number }
  /** The caller's answer to the clarification asked (`onClarification`'s, checked). */
  | { type: 'clarified'; answer: string; now: number }
  | { type: 'waited' }
  /** The `renew` action is done (the agent token renewed, or the clock corrected). */
  | { type: 'renewed' };

export type FlightAction11 =
  | { type: 'discover'; ps: string }
  /** A request to the person server, signed with the agent token (`sig=jwt`), covering the body. */
  | { type: 'request'; method: 'POST' | 'GET'; url: URL; headers: Record<string, string>; body?: Uint8Array }
  | { type: 'interact'; interaction: Interaction }
  /** Ask the caller (`onClarification`) the person's question; its answer is awaited until `deadline` (epoch seconds, the flight's). */
  | { type: 'clarify'; clarification: Omit<Clarification, 'authServer'>; deadline: number }
  | { type: 'wait'; ms: number }
  | { type: 'issued'; presented: Presented; expiresAt: number }
  /** The mission was approved (a `mission` flight). */
  | { type: 'approved'; mission: ApprovedMission11 }
  /** `pending`: the request the person server still holds open there, withdrawn by the effects. */
  | { type: 'fail'; error: AAuthError; pending?: URL }
  /**
   * The person server refused the signature (401): renew the agent token (`expired_jwt`,
   * `revoked_jwt`) or correct the signing clock (`clock_skew`), then the POST is sent again, once.
   */
  | { type: 'renew'; agentToken: boolean; clockOffset?: number };

export interface FlightStep11 {
  state: FlightState11;
  action: FlightAction11;
}

/** The `error` of a problem+json body (a peer that puts the -09 code only there). */
function problemError(body: Uint8Array): string | undefined {
  const error = jsonObject(body)?.error;
  return typeof error === 'string' ? error : undefined;
}

/** A person server's refusal (problem+json `error` and `detail`, section 9) as an error the agent throws. */
function refusal11(answer: { status: number; body: Uint8Array }, code: AAuthErrorCode, what: string): AAuthError {
  const doc = jsonObject(answer.body);
  const error = typeof doc?.error === 'string' ? redact(doc.error) : undefined;
  const detail = typeof doc?.detail === 'string' ? redact(doc.detail) : typeof doc?.error_description === 'string' ? redact(doc.error_description) : undefined;
  const summary = [error, detail].filter(Boolean).join(': ');
  return new AAuthError(code, `The person server refused ${what} (HTTP ${answer.status}${summary ? `, ${summary}` : ''})`, {
    status: downstreamStatus(code),
    details: { status: answer.status, error, detail },
  });
}

/** What a flight asks for, in messages. */
const WHAT = { person: 'the person token request', auth: 'the auth token request', mission: 'the mission proposal' } as const;

function issued11(flight: Flight11, answer: Extract<FlightEvent11, { type: 'answer' }>): FlightStep11 {
  if (flight.kind === 'mission') return { state: DONE, action: { type: 'approved', mission: parseMission11(answer.body, flight.expect, answer.now) } };
  const token = parseIssued11(answer.body, flight.expect, answer.now);
  const candidates = [token.exp];
  if (token.expiresIn !== undefined) candidates.push(answer.now + token.expiresIn);
  const { expiresIn: _e, ...presented } = token;
  return { state: DONE, action: { type: 'issued', presented, expiresAt: Math.min(...candidates) } };
}

/** The 202 of the POST: wait for the person (interaction), for an approver, or just for the server. */
function deferred(state: Extract<FlightState11, { phase: 'posted' }>, answer: Extract<FlightEvent11, { type: 'answer' }>): FlightStep11 {
  const { flight, endpoint } = state;
  const what = WHAT[flight.kind];
  const locationText = answer.headers.get('location');
  let location: URL | undefined;
  try {
    location = locationText === null ? undefined : new URL(locationText, endpoint);
  } catch {
    location = undefined;
  }
  // Section 8, item 6: the pending URL is on the responding server's origin (polls are signed).
  if (location === undefined || location.origin !== endpoint.origin) {
    throw new AAuthError('auth_server_error', `The person server answered ${what} with 202 without a same-origin Location`, { status: 502 });
  }
  const interval = retryAfter11(answer.headers.get('retry-after'), answer.now);
  const requirement = parseRequirement(answer.headers);
  if (requirement?.requirement === 'interaction') return interact11(flight, endpoint, location, interval, requirement);
  const deadline = answer.now + flight.interaction.timeoutMs / 1000;
  if (requirement?.requirement === 'clarification') return clarify11({ flight, endpoint, location, interval, deadline }, answer);
  if (requirement !== undefined && requirement.requirement !== 'approval') {
    throw new AAuthError('challenge_unsatisfiable', `The person server requires ${JSON.stringify(redact(requirement.requirement))}, which this agent cannot provide`, { status: 502 });
  }
  return { state: { phase: 'waiting', flight, endpoint, location, interval, deadline, hold: holdFor(deadline, answer.now, interval) }, action: { type: 'wait', ms: interval * 1000 } };
}

/**
 * A 202 asking for an interaction (`requirement=interaction; url; code`): hand it to the caller, or
 * fail without a handler; at most MAX_INTERACTIONS per flight, within the deadline of its first 202.
 */
function interact11(flight: Flight11, endpoint: URL, location: URL, interval: number, requirement: Requirement, deadline?: number, asked: readonly string[] = [], rounds?: number): FlightStep11 {
  const url = interactionUrl(requirement, flight.interaction, flight.allowLoopback);
  if (url === undefined) throw new AAuthError('auth_server_error', 'The person server asks for an interaction without a usable https url or a code', { status: 502 });
  if (!flight.interaction.handler) {
    const error = new AAuthError('interaction_required', `A user must approve this request at ${url}`, { details: { url, code: requirement.code } });
    return { state: DONE, action: { type: 'fail', error } };
  }
  if (asked.length >= MAX_INTERACTIONS) {
    throw new AAuthError('auth_server_error', `The person server asked for another interaction after ${MAX_INTERACTIONS} in one request`, { status: 502 });
  }
  return {
    // The clarification rounds so far carry over: a new interaction does not reset them.
    state: { phase: 'interacting', flight, endpoint, location, interval, deadline, asked: [requirement.code!, ...asked], rounds },
    action: { type: 'interact', interaction: { url, code: requirement.code!, location: location.href } },
  };
}

/**
 * A 202 asking a clarification (`requirement=clarification`, AAuth -11 "Clarification Chat"): the
 * person asked the agent a question. Handed to `onClarification`, whose answer is posted to the
 * pending URL; without a handler, or past MAX_CLARIFICATION_ROUNDS, the request is withdrawn.
 */
function clarify11(open: OpenRequest, answer: Extract<FlightEvent11, { type: 'answer' }>): FlightStep11 {
  const withdrawn = (code: AAuthErrorCode, message: string): FlightStep11 => ({ state: DONE, action: { type: 'fail', error: new AAuthError(code, message, { status: 502 }), pending: open.location } });
  const doc = jsonObject(answer.body);
  const question = doc?.clarification;
  if (!open.flight.interaction.clarify) {
    const quoted = typeof question === 'string' ? ` (${JSON.stringify(redact(question))})` : '';
    return withdrawn('challenge_unsatisfiable', `The person server asks a clarification${quoted} and this agent answers none (no onClarification); the request was withdrawn`);
  }
  if (typeof question !== 'string' || question.trim() === '' || question.length > MAX_CLARIFICATION_TEXT) {
    return withdrawn('auth_server_error', `The person server asks a clarification without a question (its body needs "clarification": a non-empty string of at most ${MAX_CLARIFICATION_TEXT} characters); the request was withdrawn`);
  }
  const rounds = open.rounds ?? 0;
  if (rounds >= MAX_CLARIFICATION_ROUNDS) {
    return withdrawn('auth_server_error', `The person server asked another clarification after ${MAX_CLARIFICATION_ROUNDS} in one request; the request was withdrawn`);
  }
  const clarification = clarificationOf(doc!, question, open.location);
  return { state: { ...open, phase: 'clarifying', rounds: rounds + 1 }, action: { type: 'clarify', clarification, deadline: open.deadline } };
}

/** The longest a poll sent after waiting `wait` s may be held by the server: up to the deadline, at most MAX_HOLD. */
function holdFor(deadline: number, now: number, wait: number): number {
  return Math.max(0, Math.min(MAX_HOLD, Math.floor(deadline - now - wait)));
}

function pollAgain(state: OpenRequest, now: number): FlightStep11 {
  const { flight, endpoint, location, interval, deadline, asked, rounds } = state;
  if (now >= deadline) {
    return { state: DONE, action: { type: 'fail', error: new AAuthError('interaction_timeout', `The person server did not answer within ${Math.round(flight.interaction.timeoutMs / 1000)} s`) } };
  }
  const wait = Math.min(interval, deadline - now);
  return { state: { phase: 'waiting', flight, endpoint, location, interval, deadline, hold: holdFor(deadline, now, wait), asked, rounds }, action: { type: 'wait', ms: wait * 1000 } };
}

/** A poll's answer (section 8, item 6): 200 issued; 202 pending; 429 slower; 403 / 408 / 410 / 5xx end it. */
function polled(state: Extract<FlightState11, { phase: 'polled' }>, answer: Extract<FlightEvent11, { type: 'answer' }>): FlightStep11 {
  const fail = (code: AAuthErrorCode): FlightStep11 => ({ state: DONE, action: { type: 'fail', error: refusal11(answer, code, 'the pending request') } });
  switch (answer.status) {
    case 200:
      return issued11(state.flight, answer);
    case 202: {
      // Unknown `status` values are `pending` (section 8, item 6). A poll may bring an interaction
      // the first answer did not (a four-party access server asks for one after the person
      // consented at the person server, "AS Response"): each new code is handed over once.
      const interval = retryAfter11(answer.headers.get('retry-after'), answer.now, state.interval);
      const requirement = parseRequirement(answer.headers);
      if (requirement?.requirement === 'interaction' && requirement.code !== undefined && !(state.asked ?? []).includes(requirement.code)) {
        return interact11(state.flight, state.endpoint, state.location, interval, requirement, state.deadline, state.asked, state.rounds);
      }
      if (requirement?.requirement === 'clarification') return clarify11({ ...state, interval }, answer);
      return pollAgain({ ...state, interval }, answer.now);
    }
    case 429:
      return pollAgain({ ...state, interval: Math.min(MAX_POLL_INTERVAL, state.interval + 5) }, answer.now);
    case 503:
      return pollAgain({ ...state, interval: retryAfter11(answer.headers.get('retry-after'), answer.now, state.interval) }, answer.now);
    case 403:
      return fail('interaction_denied');
    case 408:
      return fail('interaction_expired');
    case 410:
    case 404:
      return fail('pending_not_found');
    default:
      return fail('auth_server_error');
  }
}

function flightStep(state: FlightState11, event: FlightEvent11): FlightStep11 {
  const bad = (): never => {
    throw new Error(`nextFlight11: event ${event.type} in phase ${state.phase}`);
  };
  switch (state.phase) {
    case 'start':
      if (event.type !== 'begin') return bad();
      return { state: { phase: 'discovering', flight: state.flight }, action: { type: 'discover', ps: state.flight.ps } };
    case 'discovering': {
      if (event.type !== 'discovered') return bad();
      const { flight } = state;
      const endpoint = flight.kind === 'person' ? event.metadata.personTokenEndpoint : flight.kind === 'auth' ? event.metadata.authTokenEndpoint : event.metadata.missionEndpoint;
      if (endpoint === undefined) {
        throw new AAuthError('auth_server_discovery_failed', `${flight.ps} publishes no mission_endpoint: it does not take mission proposals`, { status: 502 });
      }
      // Section 8: a signed JSON POST covering content-type and content-digest; the server may hold it 45 s.
      const headers = { 'content-type': 'application/json', accept: 'application/json', prefer: 'wait=45' };
      const body = new TextEncoder().encode(JSON.stringify(flight.payload));
      return { state: { phase: 'posted', flight, endpoint }, action: { type: 'request', method: 'POST', url: endpoint, headers, body } };
    }
    case 'posted':
      if (event.type !== 'answer') return bad();
      if (event.status === 200) return issued11(state.flight, event);
      if (event.status === 202) return deferred(state, event);
      // Issue 17: the user withdrew this agent's grant (the kit's person server says so once, 403
      // grant_withdrawn): a typed "reconnect required", never a retry; the next call asks the person.
      if (event.status === 403 && problemError(event.body) === 'grant_withdrawn') {
        const resource = typeof state.flight.payload.resource === 'string' ? state.flight.payload.resource : state.flight.expect.resource;
        const error = new AAuthReconnectRequiredError(
          `The person server ${state.flight.ps} refused ${WHAT[state.flight.kind]}: the user withdrew this agent's grant; the person must connect (consent) again, which the next call asks for`,
          { authServer: state.flight.ps, resource: String(resource) },
          refusal11(event, 'auth_server_error', WHAT[state.flight.kind]),
        );
        return { state: DONE, action: { type: 'fail', error } };
      }
      if (event.status === 401 && state.retried === undefined) {
        // AG-60: a refused agent token is renewed at its provider; clock_skew corrects from `Date`.
        const code = signatureErrorCode(event.headers) ?? problemError(event.body);
        const date = event.headers.get('date');
        const at = date === null ? Number.NaN : Date.parse(date) / 1000;
        const { flight, endpoint } = state;
        if (code === 'expired_jwt' || code === 'revoked_jwt') return { state: { phase: 'reposting', flight, endpoint }, action: { type: 'renew', agentToken: true } };
        if (code === 'clock_skew' && Number.isFinite(at)) {
          return { state: { phase: 'reposting', flight, endpoint }, action: { type: 'renew', agentToken: false, clockOffset: at - event.now } };
        }
      }
      return { state: DONE, action: { type: 'fail', error: refusal11(event, 'auth_server_error', WHAT[state.flight.kind]) } };
    case 'reposting': {
      if (event.type !== 'renewed') return bad();
      const { flight, endpoint } = state;
      const headers = { 'content-type': 'application/json', accept: 'application/json', prefer: 'wait=45' };
      const body = new TextEncoder().encode(JSON.stringify(flight.payload));
      return { state: { phase: 'posted', flight, endpoint, retried: true }, action: { type: 'request', method: 'POST', url: endpoint, headers, body } };
    }
    case 'interacting': {
      if (event.type !== 'interacted') return bad();
      // Set once, at the first interaction of the flight: a new one does not push it back.
      const deadline = state.deadline ?? event.now + state.flight.interaction.timeoutMs / 1000;
      return pollAgain({ ...state, deadline }, event.now);
    }
    case 'waiting': {
      if (event.type !== 'waited') return bad();
      const { flight, endpoint, location, interval, deadline, hold, asked, rounds } = state;
      // Polls are signed GETs, never a re-POST; `Prefer: wait` invites a long poll, held no longer
      // than the interaction deadline leaves (none in its last second: the poll is a last look).
      const headers: Record<string, string> = hold >= 1 ? { accept: 'application/json', prefer: `wait=${hold}` } : { accept: 'application/json' };
      return {
        state: { phase: 'polled', flight, endpoint, location, interval, deadline, asked, rounds },
        action: { type: 'request', method: 'GET', url: location, headers },
      };
    }
    case 'polled':
      return event.type === 'answer' ? polled(state, event) : bad();
    case 'clarifying': {
      if (event.type !== 'clarified') return bad();
      // The answer is a signed JSON POST to the pending URL ("Clarification Response"); then polls go on.
      const headers = { 'content-type': 'application/json', accept: 'application/json' };
      const body = new TextEncoder().encode(JSON.stringify({ action: 'clarification_response', clarification_response: event.answer }));
      return { state: { ...state, phase: 'answering' }, action: { type: 'request', method: 'POST', url: state.location, headers, body } };
    }
    case 'answering': {
      if (event.type !== 'answer') return bad();
      if (event.status === 200 || event.status === 202 || event.status === 204) return pollAgain(state, event.now);
      // 400: the answer came too late (the person decided meanwhile, or the question was closed):
      // the poll tells how the request ended; withdrawing here would throw away the person's
      // approval. A server that keeps asking the question it refused answers to runs out of rounds.
      if (event.status === 400) return pollAgain(state, event.now);
      // 503 / 429 (the person server's store briefly out, or too many requests): the answer was not
      // taken, so the question is still open; back off as a poll does, and the next poll asks it again.
      if (event.status === 503) return pollAgain({ ...state, interval: retryAfter11(event.headers.get('retry-after'), event.now, state.interval) }, event.now);
      if (event.status === 429) return pollAgain({ ...state, interval: Math.min(MAX_POLL_INTERVAL, state.interval + 5) }, event.now);
      return { state: DONE, action: { type: 'fail', error: refusal11(event, 'auth_server_error', 'the clarification response'), pending: state.location } };
    }
    case 'done':
      return bad();
  }
}

/** One step of a person server flight: pure; an answer the checks refuse becomes a `fail` action. */
export function nextFlight11(state: FlightState11, event: FlightEvent11): FlightStep11 {
  try {
    return flightStep(state, event);
  } catch (error) {
    if (isAAuthError(error)) return { state: DONE, action: { type: 'fail', error } };
    throw error;
  }
}
