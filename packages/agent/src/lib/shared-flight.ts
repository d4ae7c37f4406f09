/** One operation shared by the callers that need its result (single flight), cancelled when all of them gave up. */
export interface SharedFlight<T> {
  promise: Promise<T>;
  controller: AbortController;
  /** Callers waiting for it now. */
  waiters: number;
}

/**
 * Wait for the operation under `key` in `flights`, starting it with `start` when none is under way.
 * `signal` is this caller's: when it aborts, this caller stops waiting at once (its reason), and if
 * no other caller waits any more the operation's own signal aborts and the entry is forgotten, so
 * the next caller starts afresh (a consent the only caller gave up on is not joined later, its
 * polling stops). A caller without a signal waits to the end. The entry is forgotten when the
 * operation settles too.
 */
export function joinShared<T>(flights: Map<string, SharedFlight<T>>, key: string, start: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  let flight = flights.get(key);
  if (flight === undefined) {
    const controller = new AbortController();
    const created: SharedFlight<T> = { promise: Promise.resolve(undefined as T), controller, waiters: 0 };
    created.promise = start(controller.signal).finally(() => {
      if (flights.get(key) === created) flights.delete(key);
    });
    // Every caller may have left: its rejection (the abort) is nobody's to handle.
    created.promise.catch(() => undefined);
    flights.set(key, created);
    flight = created;
  }
  const shared = flight;
  shared.waiters++;
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const leave = (): void => {
      if (done) return;
      done = true;
      shared.waiters--;
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      if (done) return;
      leave();
      if (shared.waiters === 0) {
        shared.controller.abort(signal!.reason);
        if (flights.get(key) === shared) flights.delete(key);
      }
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    shared.promise.then(
      (value) => {
        leave();
        resolve(value);
      },
      (error: unknown) => {
        leave();
        reject(error);
      },
    );
  });
}

/** Wait for `promise`, but give up (only this caller) with the signal's reason as soon as it aborts. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}

/** `sleep(ms)`, but rejecting with the signal's reason as soon as it aborts (a sleeper given by the user may ignore its signal). */
export function sleepUnlessAborted(sleep: (ms: number, signal?: AbortSignal) => Promise<void>, ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return untilAborted(sleep(ms, signal), signal);
}
