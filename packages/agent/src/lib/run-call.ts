import { type Action, type Carried, nextStep, type State, type Step, type StepEvent } from './next-step.js';
import type { PreparedRequest } from './prepare-request.js';
import { challengeError } from './refusal-body.js';
import { discard, type Present, sendFollowing, type Sent } from './send-following.js';
import { untilAborted } from './shared-flight.js';

/** A request as events and route hints name it. */
export interface Hop {
  method: string;
  url: URL;
}

/** What an adapter performs for the step machine, besides sending. */
export interface CallEffects {
  /** Look in the cache for a first attempt's token (AAuth only). */
  find?(): Promise<Carried | undefined>;
  /** Obtain a token; `answered` is the request whose 401 asked for it (none for a bearer first attempt). */
  obtain(action: Extract<Action, { type: 'obtain' }>, answered: Hop | undefined, signal?: AbortSignal | undefined): Promise<Carried>;
  /** The retry is about to be sent to `answered`. */
  retrying(answered: Hop): void;
  /** The call ends with the response to `answered`. */
  settle(action: Extract<Action, { type: 'return' }>, answered: Hop): void;
  /** The call failed (after `answered`, if it had been sent). */
  failed(error: unknown, answered: Hop | undefined): void;
  /** The resource answered in AAuth -11: finish the call in that generation (`'auto'` agents only). */
  switchGeneration?(answered: Sent): Promise<Response>;
}

/** The send, reject or return the machine asks for, with its new state. */
export type Outward = { state: State; action: Extract<Action, { type: 'send' | 'reject' | 'return' | 'switch' }> };

/**
 * Step the machine from `state` on `event`, performing token look-ups and token requests, until it
 * asks to send, reject or return. A look-up or exchange may be shared with other callers (single
 * flight): `signal` aborts only this caller's wait.
 */
export async function advance(
  state: State,
  event: StepEvent,
  effects: CallEffects,
  answered: Hop | undefined,
  signal?: AbortSignal | undefined,
): Promise<Outward> {
  let step: Step = nextStep(state, event);
  for (;;) {
    const { action } = step;
    switch (action.type) {
      case 'find-token':
        if (effects.find === undefined) throw new Error('This call has no token cache to look in');
        step = nextStep(step.state, { type: 'token', carried: await untilAborted(effects.find(), signal) });
        break;
      case 'obtain':
        // The signal goes along too: a token request whose every caller gave up is cancelled.
        step = nextStep(step.state, { type: 'token', carried: await untilAborted(effects.obtain(action, answered, signal), signal) });
        break;
      case 'send':
      case 'reject':
      case 'return':
      case 'switch':
        return { state: step.state, action };
      default:
        throw new Error(`A call cannot ${action.type}`);
    }
  }
}

/**
 * Drive one call with `fetch` semantics: the first attempt, and at most one retry, each sent
 * through the one redirect follower. A resource is called at most twice per call, redirects aside.
 */
export async function runCall(
  start: State,
  request: PreparedRequest,
  transport: typeof fetch,
  now: () => number,
  present: Present,
  effects: CallEffects,
): Promise<Response> {
  let state = start;
  let event: StepEvent = { type: 'begin' };
  let last: Sent | undefined;
  try {
    for (;;) {
      const out = await advance(state, event, effects, last?.request, request.signal);
      state = out.state;
      const { action } = out;
      if (action.type === 'return') {
        effects.settle(action, last!.request);
        return last!.response;
      }
      if (action.type === 'switch') {
        if (effects.switchGeneration === undefined) throw new Error('This call cannot switch generation');
        return await effects.switchGeneration(last!);
      }
      // The resource's body usually says why (clock, unknown key, metadata): read it, bounded.
      if (action.type === 'reject') throw await challengeError(action, last!.response);
      if (last !== undefined) {
        // The retry goes where the 401 came from, with the same bytes (issue 4: body intact).
        await discard(last.response);
        effects.retrying(last.request);
      }
      last = await sendFollowing(transport, last?.request ?? request, action.carried, present);
      event = { type: 'response', url: last.request.url, status: last.response.status, headers: last.response.headers, carried: last.carried, now: now() };
    }
  } catch (error) {
    effects.failed(error, last?.request);
    throw error;
  }
}
