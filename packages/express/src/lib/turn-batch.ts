import { AsyncResource } from 'node:async_hooks';
import type { NextFunction, Request, Response } from 'express';

// Issue 18: the guarded GETs that arrive in one turn of the event loop are verified together, after
// node has read them all (a setImmediate), instead of each between the reads of the others. Node
// reads every ready socket of a turn in one go; verifying in between makes the HTTP parser, express
// and the Ed25519 verify take turns on one core's caches, and each runs cold. Grouped, each runs
// warm: measured in BENCHMARKS.md (figure 5). Requests are run in the order they arrived, each in
// its own async context (AsyncLocalStorage, a tracer's span), as if it had not waited.

type Step = (req: Request, res: Response, next: NextFunction) => Promise<void> | undefined;

interface Waiting {
  step: Step;
  req: Request;
  res: Response;
  next: NextFunction;
  scope: AsyncResource;
  done: (() => void) | undefined;
}

let waiting: Waiting[] = [];
let running = false;

/** Run each waiting step in arrival order (steps queued while these run go to the next turn's batch). */
function runWaiting(): void {
  const batch = waiting;
  waiting = [];
  running = true;
  try {
    for (let i = 0; i < batch.length; i++) {
      const w = batch[i]!;
      w.scope.runInAsyncScope(runOne, undefined, w);
      w.scope.emitDestroy();
    }
  } finally {
    running = false;
  }
}

function runOne(w: Waiting): void {
  let ran: Promise<void> | undefined;
  try {
    ran = w.step(w.req, w.res, w.next);
  } catch (error) {
    // As express would for a middleware that threw.
    w.done?.();
    w.next(error);
    return;
  }
  const done = w.done;
  if (done === undefined) return;
  if (ran === undefined) done();
  else ran.then(done, done);
}

/**
 * Run `step(req, res, next)` with the other steps of this turn, after the turn's reads; at once when
 * called from such a run (a second guard on the same request). With `settled`, the promise returned
 * settles when the step (and any promise it returned) has.
 */
export function inTurnBatch(step: Step, req: Request, res: Response, next: NextFunction, settled: boolean): Promise<void> | undefined {
  if (running) return step(req, res, next);
  const entry: Waiting = { step, req, res, next, scope: new AsyncResource('AAUTH_VERIFY', { requireManualDestroy: true }), done: undefined };
  if (waiting.push(entry) === 1) setImmediate(runWaiting);
  if (!settled) return undefined;
  return new Promise<void>((resolve) => {
    entry.done = resolve;
  });
}
