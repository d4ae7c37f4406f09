import { randomUUID } from 'node:crypto';
import type { AuditEvent } from './audit-event.js';
import type { AuditSink, AuditSinkStats } from './audit-sink.js';
import { warningHook } from './lib/warning-hook.js';

/** The one Redis command the sink needs, as ioredis (and compatible clients) expose it. */
export interface RedisStreamClient {
  xadd(key: string, ...args: (string | number)[]): Promise<unknown>;
  /** ioredis's connection state, when the client has one: while it is `'reconnecting'`, `'close'` or `'end'` nothing is sent. */
  readonly status?: string | undefined;
}

/** Options of {@link createRedisAuditSink}; validated when it is called. */
export interface RedisAuditSinkOptions {
  /** Stream key; default `'aauth:audit'`. */
  stream?: string | undefined;
  /** Approximate length the stream is trimmed to (`XADD ... MAXLEN ~`); default 1000000. */
  maxLen?: number | undefined;
  /** Events waiting for Redis, at most; default 10000. While it is full, new events are dropped and counted. */
  maxBuffered?: number | undefined;
  /** Longest wait for one `XADD`, in ms; default 1000. Past it the event stays buffered and is sent again. */
  timeoutMs?: number | undefined;
  /** Pause before sending again after a failure, in ms; default 1000. */
  retryMs?: number | undefined;
  /** Receives warnings (outage begins, events dropped, outage ends); default `console.warn`. */
  onWarning?: ((message: string) => void) | undefined;
}

/** ioredis states in which a command would only wait in the client's offline queue. */
const DISCONNECTED = new Set(['reconnecting', 'close', 'end']);
const BATCH = 100;

function positiveInteger(value: unknown, path: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new TypeError(`${path} must be a positive integer`);
  return value;
}

interface Entry {
  id: string;
  json: string;
  /** Redis took it (perhaps after its attempt timed out): it leaves the buffer, and is never sent again. */
  done?: boolean;
}

/**
 * An audit sink appending each event to a Redis stream: `XADD {stream} MAXLEN ~ {maxLen} * id {uuid} event {json}`.
 * A failing Redis never fails or slows issuance: events wait in a bounded buffer and are sent again
 * every `retryMs`; a full buffer drops new events, counted in `stats().dropped`, with one warning per
 * outage. An `XADD` that timed out is not sent again while it may still land (nothing more is sent to
 * a Redis that holds commands unanswered); one answered late counts as written. Delivery is still at
 * least once (a connection lost after Redis took a command): readers dedupe on `id`.
 */
export function createRedisAuditSink(client: RedisStreamClient, options: RedisAuditSinkOptions = {}): AuditSink {
  if (typeof client !== 'object' || client === null || typeof client.xadd !== 'function') {
    throw new TypeError('client must be an ioredis-compatible client with xadd(key, ...args)');
  }
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const stream = options.stream ?? 'aauth:audit';
  if (typeof stream !== 'string' || stream.length === 0) throw new TypeError('options.stream must be a non-empty string');
  const maxLen = positiveInteger(options.maxLen, 'options.maxLen', 1_000_000);
  const maxBuffered = positiveInteger(options.maxBuffered, 'options.maxBuffered', 10_000);
  const timeoutMs = positiveInteger(options.timeoutMs, 'options.timeoutMs', 1000);
  const retryMs = positiveInteger(options.retryMs, 'options.retryMs', 1000);
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function') throw new TypeError('options.onWarning must be a function');
  const warn = warningHook(options.onWarning, '[aauth-audit]');

  let buffer: Entry[] = [];
  let running: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;
  let closed = false;
  let written = 0;
  let dropped = 0;
  /** Set while Redis fails: one warning when it starts, one when it ends. */
  let outage: { droppedBefore: number } | undefined;
  /** `dropped` when Redis last took a batch: drops after it belong to the outage that follows. */
  let droppedAtSuccess = 0;
  /** One warning per full buffer, again only once it has emptied. */
  let warnedFull = false;

  function failed(reason: string): void {
    if (outage === undefined) {
      outage = { droppedBefore: droppedAtSuccess };
      warn(`the audit stream ${stream} cannot be written (${reason}); buffering up to ${maxBuffered} events`);
    }
  }

  function recovered(): void {
    if (outage === undefined) return;
    const lost = dropped - outage.droppedBefore;
    outage = undefined;
    warn(`the audit stream ${stream} is written again${lost > 0 ? `; ${lost} event(s) were dropped meanwhile` : ''}`);
  }

  /** XADDs sent and not yet answered, including those whose wait timed out (a hung Redis holds them). */
  let unanswered = 0;

  function send(entry: Entry): Promise<unknown> {
    let sent: Promise<unknown>;
    try {
      sent = Promise.resolve(client.xadd(stream, 'MAXLEN', '~', maxLen, '*', 'id', entry.id, 'event', entry.json));
    } catch (error) {
      // A client that throws instead of rejecting (not ioredis): a failed send like any other, never
      // a rejection of the drain that nobody handles (it would end the process).
      return Promise.reject(error);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    unanswered++;
    // Counted as written when Redis answers, even after the wait timed out (then it is not sent again).
    sent.then(
      () => {
        unanswered--;
        if (!entry.done) {
          entry.done = true;
          written++;
        }
      },
      () => void unanswered--,
    );
    return Promise.race([sent, timeout]).finally(() => clearTimeout(timer));
  }

  async function drain(): Promise<void> {
    // Run the body after the caller stored this promise in `running`, so the `finally` below always
    // clears a stored promise (a body that finished synchronously would leave `running` set for good).
    await Promise.resolve();
    try {
      while (buffer.length > 0) {
        buffer = buffer.filter((e) => !e.done);
        if (buffer.length === 0) break;
        // A hung Redis (stopped, or a connection that stays 'ready' without answering): nothing more
        // is sent until the commands already sent are answered or fail; re-sending them would grow
        // the client's queue without bound and land each event many times.
        if (unanswered > 0) {
          failed(`${unanswered} XADD command(s) sent are not answered`);
          break;
        }
        const status = client.status;
        // During an outage, wait for a ready connection: a command queued offline while connecting
        // may land after its timeout and then be sent again (a duplicate).
        if (status !== undefined && (DISCONNECTED.has(status) || (outage !== undefined && status !== 'ready'))) {
          failed(`the connection is ${status}`);
          break;
        }
        const batch = buffer.slice(0, BATCH);
        // One connection answers in order; what failed stays at the head, in order, for the next try.
        const results = await Promise.allSettled(batch.map(send));
        const again = batch.filter((e, i) => results[i]!.status === 'rejected' && !e.done);
        buffer = [...again, ...buffer.slice(batch.length)];
        const rejection = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (rejection) {
          failed((rejection.reason as Error)?.message ?? String(rejection.reason));
          break;
        }
        recovered();
        droppedAtSuccess = dropped;
      }
      buffer = buffer.filter((e) => !e.done);
      if (buffer.length === 0) warnedFull = false;
    } finally {
      running = undefined;
    }
    if (buffer.length > 0 && !closed && retry === undefined) {
      retry = setTimeout(() => {
        retry = undefined;
        running ??= drain();
      }, retryMs);
      retry.unref();
    }
  }

  const write = (event: AuditEvent): void => {
    if (closed) {
      dropped++;
      return;
    }
    if (buffer.length >= maxBuffered) {
      dropped++;
      if (!warnedFull) {
        warnedFull = true;
        warn(`the audit buffer of ${stream} is full (${maxBuffered} events); new events are dropped and counted until Redis answers`);
      }
      return;
    }
    let json: string;
    try {
      json = JSON.stringify(event);
    } catch {
      dropped++;
      return;
    }
    buffer.push({ id: randomUUID(), json });
    // During an outage the retry timer sends; otherwise send now.
    if (retry === undefined) running ??= drain();
  };

  /** One attempt to send everything buffered; resolves when it succeeded or failed (never waits for Redis to come back). */
  async function flush(): Promise<void> {
    // A drain under way sends until the buffer is empty or Redis fails: its end is the answer.
    if (running !== undefined) {
      await running;
      return;
    }
    if (buffer.length === 0) return;
    if (retry !== undefined) {
      clearTimeout(retry);
      retry = undefined;
    }
    running ??= drain();
    await running;
  }

  return {
    write,
    flush,
    async close() {
      closed = true;
      await flush();
      if (retry !== undefined) clearTimeout(retry);
      retry = undefined;
      if (buffer.length > 0) {
        dropped += buffer.length;
        warn(`the audit stream ${stream} was closed with ${buffer.length} event(s) unsent; they are dropped`);
        buffer = [];
      }
    },
    stats(): AuditSinkStats {
      return { written, dropped, buffered: buffer.length };
    },
  };
}
