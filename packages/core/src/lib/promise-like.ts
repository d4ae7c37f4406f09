/** Whether `value` is a promise or another thenable (what an `async` hook returns). */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * What an application's hook returned, not awaited: a promise (an `async` hook) gets `onRejected` as
 * its rejection handler. Unhandled, its rejection would end the process (Node's default).
 */
export function catchRejection(result: unknown, onRejected: (error: unknown) => void): void {
  if (isPromiseLike(result)) Promise.resolve(result).catch(onRejected);
}

/**
 * Call an application's hook whose failure must change nothing (a logger, an error listener): a
 * throw is dropped, and so is a rejection when the hook is `async` (unhandled, it would end the process).
 */
export function callQuietly<A extends unknown[]>(hook: (...args: A) => unknown, ...args: A): void {
  try {
    catchRejection(hook(...args), () => undefined);
  } catch {
    // Dropped: see above.
  }
}
