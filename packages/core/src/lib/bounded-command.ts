import { AAuthError, type AAuthErrorCode } from '../errors.js';

/** ioredis states in which a command would only wait in the client's offline queue. */
const DISCONNECTED = new Set(['reconnecting', 'close', 'end']);

/** Options of {@link boundedCommands}. */
export interface BoundedCommandsOptions {
  /** The refusal's code (`replay_store_failed`, `store_unavailable`, ...): a 503 with `Retry-After`. */
  code: AAuthErrorCode;
  /** The store as the messages name it: `The replay store`. */
  store: string;
  /** What waits, for the refusal when `maxPending` commands are unanswered: `replay checks`. */
  waiting: string;
  /** Longest wait for an answer, in ms. */
  timeoutMs: number;
  /** Most commands sent and not yet answered (whether or not their callers still wait). */
  maxPending: number;
  /** The client's connection state (ioredis `status`), read before each command. */
  status: () => unknown;
}

/** One command to a shared store, bounded; `pending` counts the commands Redis has not answered yet. */
export interface BoundedCommands {
  <T>(send: () => Promise<T> | T): Promise<T>;
  readonly pending: number;
}

/**
 * Bound the commands a store sends to Redis (or another shared store): refused at once while the
 * client is disconnected or `maxPending` commands are unanswered (a hung server keeps them queued in
 * the client: without the bound an outage grows memory as fast as callers arrive), else the answer
 * or, past `timeoutMs`, the refusal. Every refusal is a 503 of `code` with `Retry-After`; Redis's
 * own error (OOM, NOPERM, ...) is kept as its `cause`.
 */
export function boundedCommands(options: BoundedCommandsOptions): BoundedCommands {
  const { code, store, waiting, timeoutMs, maxPending, status } = options;
  const retryAfter = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  const failure = (message: string, cause?: unknown): AAuthError =>
    new AAuthError(code, message, { headers: { 'Retry-After': retryAfter }, ...(cause === undefined ? {} : { cause }) });
  let pending = 0;
  const run = async <T>(send: () => Promise<T> | T): Promise<T> => {
    const state = status();
    if (typeof state === 'string' && DISCONNECTED.has(state)) throw failure(`${store} is not connected`);
    if (pending >= maxPending) throw failure(`Too many ${waiting} are waiting for ${store.charAt(0).toLowerCase()}${store.slice(1)}`);
    pending++;
    let sent: Promise<T>;
    try {
      sent = Promise.resolve(send());
    } catch (error) {
      pending--;
      throw failure(`${store} failed`, error);
    }
    // Counted down when Redis answers, not when the caller gives up: the command is still queued.
    // (A late answer after the timeout must not surface as an unhandled rejection either.)
    sent.then(
      () => void pending--,
      () => void pending--,
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(failure(`${store} did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([sent, late]);
    } catch (error) {
      throw error instanceof AAuthError ? error : failure(`${store} failed`, error);
    } finally {
      clearTimeout(timer);
    }
  };
  Object.defineProperty(run, 'pending', { get: () => pending });
  return run as BoundedCommands;
}

/**
 * A store refusal for an operator's log: its message and, when Redis itself refused the command
 * (`OOM command not allowed ...`, `NOPERM ...`), Redis's words, which the message sent to clients
 * leaves out.
 */
export function storeFailureText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  const said = cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : undefined;
  if (said === undefined || said.length === 0) return error.message;
  const clean = said.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, 300);
  return `${error.message}: ${clean}`;
}
