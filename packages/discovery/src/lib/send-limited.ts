import { AAuthError, type AAuthErrorCode } from '@aauth-kit/core';
import { networkErrorText } from '@aauth-kit/core/internal';
import { readLimited } from '../read-limited.js';
import type { LimitedResponse, ResponseHeaders } from '../types.js';
import type { EgressPolicy } from './egress-policy.js';
import type { Transport, TransportAnswer, TransportRequest } from './node-transport.js';
import { raceSignal } from './race-signal.js';

/** What one send needs besides the request: transport, limits and the failure code. */
export interface SendLimits {
  /** A `fetch` (used as given) or discovery's node:http transport. */
  transport: Transport;
  timeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
  failureCode: AAuthErrorCode;
  /** The caller's: aborting it cancels the request, which rejects with its reason. */
  signal?: AbortSignal | undefined;
}

/** A signal aborted by the first of `signals` (AbortSignal.any, which Node 20.0-20.2 lack). */
function firstOf(signals: AbortSignal[]): AbortSignal {
  const any = (AbortSignal as { any?: (s: AbortSignal[]) => AbortSignal }).any;
  if (any !== undefined) return any(signals);
  const controller = new AbortController();
  for (const s of signals) {
    if (s.aborted) {
      controller.abort(s.reason);
      break;
    }
    s.addEventListener('abort', () => controller.abort(s.reason), { once: true, signal: controller.signal });
  }
  return controller.signal;
}

/** A request to send under limits. */
export type LimitedRequest = TransportRequest;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** `origin + path` of a URL: enough to say who failed, without echoing a query string. */
export function where(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function reason(error: unknown): string {
  return networkErrorText(error);
}

/**
 * A given `fetch` as a transport, called exactly as before there was another: `redirect: 'manual'`,
 * the signal, the request's own headers; its `Headers` are the answer's.
 */
export function fetchTransport(fetchImpl: typeof fetch): Transport {
  return async (url, request, signal) => {
    const response = await fetchImpl(url.href, {
      method: request.method,
      headers: request.headers,
      // No body member for a bodiless request (node 20's fetch given body: null does not see the server close the connection unanswered).
      ...(request.body === undefined ? {} : { body: request.body }),
      redirect: 'manual',
      signal,
    });
    const discard = async (): Promise<void> => {
      try {
        await response.body?.cancel();
      } catch {
        // The body is not needed; a failure to cancel it changes nothing.
      }
    };
    return {
      status: response.status,
      headers: response.headers,
      discard,
      read: (max, onTooLarge) => readLimited(response.body, max, onTooLarge),
    };
  };
}

/**
 * Send `request` under the discovery rules of wire profile section 4: the egress policy on every
 * hop, one time limit over everything (DNS, connect, redirects, body; also for a `fetch` that
 * ignores its signal), a size limit declared or streamed, and redirects followed only within the
 * same origin and only for requests without a body. Every failure is an `AAuthError`.
 */
export async function sendLimited(
  policy: EgressPolicy,
  url: URL,
  request: LimitedRequest,
  limits: SendLimits,
): Promise<LimitedResponse<ResponseHeaders>> {
  let current = url;
  const fail = (message: string, cause?: unknown): AAuthError =>
    new AAuthError(limits.failureCode, message, { ...(cause === undefined ? {} : { cause }), details: { url: current.href } });
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const caller = limits.signal;
  if (caller?.aborted) throw caller.reason;
  const signal = caller === undefined ? timeout : firstOf([timeout, caller]);

  const follow = async (): Promise<LimitedResponse<ResponseHeaders>> => {
    for (let hop = 0; ; hop++) {
      const addresses = await policy.check(current, signal);
      let answer: TransportAnswer;
      try {
        answer = await limits.transport(current, request, signal, addresses);
      } catch (error) {
        if (signal.aborted) throw error;
        throw fail(`Cannot reach ${where(current)}: ${reason(error)}`, error);
      }
      if (REDIRECTS.has(answer.status)) {
        await answer.discard();
        current = nextHop(answer, hop);
        continue;
      }
      return { status: answer.status, headers: answer.headers, body: await readBody(answer), url: current };
    }
  };

  const nextHop = (response: TransportAnswer, hop: number): URL => {
    const at = `${where(current)} redirected (${response.status})`;
    if (request.body !== undefined || limits.maxRedirects === 0) throw fail(`${at}; this request follows no redirects`);
    const location = response.headers.get('location');
    let next: URL | undefined;
    try {
      next = location === null ? undefined : new URL(location, current);
    } catch {
      next = undefined;
    }
    if (next === undefined) throw fail(`${at} without a valid Location`);
    // Section 4: no redirects to another host (nor scheme, nor port).
    if (next.origin !== url.origin) {
      // A URL without an origin (file:, data:) has the origin "null": name its scheme instead.
      const to = next.origin === 'null' ? `a ${next.protocol} URL` : next.origin;
      throw fail(`${at}: a redirect to another origin (${to}) is refused; only same-origin redirects are followed`);
    }
    if (hop >= limits.maxRedirects) throw fail(`${at}: too many redirects (at most ${limits.maxRedirects} are followed)`);
    return next;
  };

  const readBody = async (response: TransportAnswer): Promise<Uint8Array> => {
    const { maxBytes } = limits;
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > maxBytes) {
      await response.discard();
      throw fail(`${where(current)} answered ${declared} bytes, more than the ${maxBytes} allowed; an answer larger than ${maxBytes} bytes is refused unread`);
    }
    try {
      return await response.read(maxBytes, () =>
        fail(`${where(current)} answered more than the ${maxBytes} bytes allowed; an answer larger than ${maxBytes} bytes is refused`),
      );
    } catch (error) {
      if (error instanceof AAuthError || signal.aborted) throw error;
      throw fail(`Reading the answer of ${where(current)} failed: ${reason(error)}`, error);
    }
  };

  try {
    return await raceSignal(follow(), signal);
  } catch (error) {
    // The caller gave up: its reason, as fetch rejects (not a failure of the server).
    if (caller?.aborted) throw caller.reason;
    if (error instanceof AAuthError) throw error;
    if (signal.aborted) throw fail(`${where(current)} did not answer within ${limits.timeoutMs} ms`, error);
    throw fail(`Cannot reach ${where(current)}: ${reason(error)}`, error);
  }
}
