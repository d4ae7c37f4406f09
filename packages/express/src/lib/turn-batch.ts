import { AsyncResource } from 'node:async_hooks';
import type { NextFunction, Request, Response } from 'express';

// Issue 18: the guarded GETs that arrive in one turn of the event loop are verified together, after
// node has read them all (a setImmediate), instead of each between the reads of the others. Node
// reads every ready socket of a turn in one go; verifying in between makes the HTTP parser, express
// and the Ed25519 verify take turns on one core's caches, and each runs cold. Grouped, each runs
// warm: measured in BENCHMARKS.md (figure 5). A step verifies its request and hands back what is left
// (`req.aauth` and the route, or the refusal) as a function; those run once every request of the
// batch is verified, so the verifies run one after the other and so do the routes. Requests are
// verified, and then answered, in the order they arrived, each in its own async context
// (AsyncLocalStorage, a tracer's span), as if it had not waited.

/** What is left of a request once it is verified: run its route, or answer its refusal. */
export type Answer = () => void;

/** Verify a request: the rest of it, or a promise when it waits for something (a key fetch). */
export type Step = (req: Request, res: Response, next: NextFunction) => Promise<void> | Answer;

interface Waiting {
  step: Step;
  req: Request;
  res: Response;
  next: NextFunction;
  scope: AsyncResource;
  done: (() => void) | undefined;
  answer: Answer | undefined;
}

let waiting: Waiting[] = [];
let running = false;

/**
 * Requests verified before their routes run, at most: a turn with more (a flood of connections)
 * is taken in groups of this many, so that an answer waits for at most this many verifies of
 * others (~1.3 ms at ~40 us each) however many requests the turn read.
 */
const TURN_BATCH_GROUP = 32;

/** Verify waiting requests in arrival order, then answer them, a group at a time (steps queued meanwhile go to the next turn's batch). */
function runWaiting(): void {
  const batch = waiting;
  waiting = [];
  running = true;
  try {
    for (let from = 0; from < batch.length; from += TURN_BATCH_GROUP) {
      const to = Math.min(batch.length, from + TURN_BATCH_GROUP);
      for (let i = from; i < to; i++) {
        const w = batch[i]!;
        w.scope.runInAsyncScope(verifyOne, undefined, w);
      }
      for (let i = from; i < to; i++) {
        const w = batch[i]!;
        if (w.answer !== undefined) w.scope.runInAsyncScope(answerOne, undefined, w);
        w.scope.emitDestroy();
      }
    }
  } finally {
    running = false;
  }
}

function verifyOne(w: Waiting): void {
  let ran: Promise<void> | Answer;
  try {
    ran = w.step(w.req, w.res, w.next);
  } catch (error) {
    // As express would for a middleware that threw.
    w.answer = () => w.next(error);
    return;
  }
  if (typeof ran === 'function') {
    w.answer = ran;
    return;
  }
  const done = w.done;
  if (done !== undefined) ran.then(done, done);
}

function answerOne(w: Waiting): void {
  const answer = w.answer!;
  w.answer = undefined;
  try {
    answer();
  } catch (error) {
    w.next(error);
  }
  w.done?.();
}

/** What a step handed back, answered at once: its promise when it waits, undefined once answered. */
export function answerNow(ran: Promise<void> | Answer): Promise<void> | undefined {
  if (typeof ran !== 'function') return ran;
  ran();
  return undefined;
}

/**
 * Verify with the other requests of this turn, after the turn's reads, then answer with them; at
 * once when called from such a run (a second guard on the same request). With `settled`, the
 * promise returned settles when the request was answered (and any promise its step returned has).
 */
export function inTurnBatch(step: Step, req: Request, res: Response, next: NextFunction, settled: boolean): Promise<void> | undefined {
  if (running) return answerNow(step(req, res, next));
  const entry: Waiting = { step, req, res, next, scope: new AsyncResource('AAUTH_VERIFY', { requireManualDestroy: true }), done: undefined, answer: undefined };
  if (waiting.push(entry) === 1) setImmediate(runWaiting);
  if (!settled) return undefined;
  return new Promise<void>((resolve) => {
    entry.done = resolve;
  });
}
