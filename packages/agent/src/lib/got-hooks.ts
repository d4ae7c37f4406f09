import { AAuthError } from '@aauth-kit/core';
import { AAuthChallengeError } from '../aauth-challenge-error.js';
import { SIGNATURE_HEADERS } from '../build-signed-request.js';
import type { GotAAuthContext, GotHooks, GotOptionsLike, GotResponseLike } from '../types.js';
import { aauthCall, type AgentCore, checkCallOptions } from './aauth-call.js';
import { downstreamStatus } from './downstream-status.js';
import type { Carried, State } from './next-step.js';
import { REFUSAL_MAX_BYTES } from './refusal-body.js';
import { advance, type Hop } from './run-call.js';

/** Where a got request stands in the step machine, kept in its `context` between the hooks. */
interface GotCall {
  state: State;
  /** The request as the call began (its route). */
  origin: Hop;
  /** The token the pending attempt presents, and the origin it may be shown to. */
  carried: Carried | undefined;
  tokenOrigin: string;
  /** The last hop signed, and what it presented. */
  hop: Hop;
  presented: Carried | undefined;
}

const CALL = 'aauthCall';

function urlOf(options: GotOptionsLike): URL | undefined {
  if (options.url === undefined) return undefined;
  return options.url instanceof URL ? options.url : new URL(options.url);
}

function userOptions(options: GotOptionsLike): GotAAuthContext {
  const value = options.context.aauth;
  return typeof value === 'object' && value !== null ? (value as GotAAuthContext) : {};
}

/** Replace a streamed got body with its bytes so the signature covers it and the retry resends it. */
async function bufferBody(options: GotOptionsLike, max: number): Promise<Uint8Array | undefined> {
  const body = options.body;
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return body;
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  const iterable = body as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
  if (typeof iterable[Symbol.asyncIterator] !== 'function' && typeof iterable[Symbol.iterator] !== 'function') {
    throw new TypeError('options.body of this type cannot be signed');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<unknown>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk as Uint8Array);
    size += bytes.length;
    if (size > max) throw new AAuthError('body_too_large', `The request body is larger than ${max} bytes`, { status: downstreamStatus('body_too_large') });
    chunks.push(bytes);
  }
  const bytes = Buffer.concat(chunks);
  options.body = bytes;
  if (options.headers['transfer-encoding'] === undefined) options.headers['content-length'] = String(bytes.length);
  return bytes;
}

function toFetchResponse(response: GotResponseLike): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  return new Response(response.rawBody && response.rawBody.length > 0 ? response.rawBody : null, { status: response.statusCode, headers });
}

/**
 * got 14 hooks driving the agent's step machine: got sends (and follows redirects, calling
 * beforeRequest per hop), beforeRequest signs, afterResponse feeds the answer to the machine and
 * retries once through `retryWithMergedOptions`.
 */
export function createGotHooks(core: AgentCore): GotHooks {
  const { config } = core;

  const beforeRequest = async (options: GotOptionsLike): Promise<void> => {
    const url = urlOf(options);
    if (url === undefined) return;
    const user = userOptions(options);
    for (const name of Object.keys(options.headers)) {
      if ((SIGNATURE_HEADERS as readonly string[]).includes(name.toLowerCase())) delete options.headers[name];
    }
    const body = await bufferBody(options, config.maxBodyBytes);
    const hop: Hop = { method: options.method.toUpperCase(), url };
    let call = options.context[CALL] as GotCall | undefined;
    const effects = aauthCall(core, config.fetch, call?.origin ?? hop, user);
    if (call === undefined) {
      checkCallOptions(config, user);
      const { state, action } = await advance(effects.start, { type: 'begin' }, effects, undefined);
      if (action.type !== 'send') throw new Error(`A first attempt cannot ${action.type}`);
      call = { state, origin: hop, carried: action.carried, tokenOrigin: url.origin, hop, presented: undefined };
    }
    // A token is only ever shown to the origin it is for (got may have followed a redirect).
    const presented = call.tokenOrigin === url.origin ? call.carried : undefined;
    const headers = effects.present({ ...hop, headers: options.headers, body }, presented?.token);
    for (const name of Object.keys(options.headers)) delete options.headers[name];
    Object.assign(options.headers, headers);
    options.context[CALL] = { ...call, hop, presented } satisfies GotCall;
  };

  const afterResponse = async <R extends GotResponseLike>(
    response: R,
    retryWithMergedOptions: (options: { context: Record<string, unknown> }) => never,
  ): Promise<R> => {
    const options = response.request.options;
    const call = options.context[CALL] as GotCall | undefined;
    if (call === undefined) return response;
    const effects = aauthCall(core, config.fetch, call.origin, userOptions(options));
    try {
      const event = { type: 'response', url: call.hop.url, status: response.statusCode, headers: response.headers, carried: call.presented, now: config.now() } as const;
      const { state, action } = await advance(call.state, event, effects, call.hop);
      switch (action.type) {
        case 'return':
          effects.settle(action, call.hop);
          return response;
        case 'reject': {
          const raw = response.rawBody?.subarray(0, REFUSAL_MAX_BYTES);
          const body = raw !== undefined && raw.length > 0 ? new TextDecoder().decode(raw) : undefined;
          throw new AAuthChallengeError(action.code, action.message, { challenge: action.challenge, response: toFetchResponse(response), body });
        }
        case 'send': {
          effects.retrying(call.hop);
          const next: GotCall = { ...call, state, carried: action.carried, tokenOrigin: call.hop.url.origin };
          // preserveHooks keeps these hooks on the retry, so its answer is seen (and never retried).
          return await retryWithMergedOptions({ context: { [CALL]: next }, preserveHooks: true } as { context: Record<string, unknown> });
        }
      }
    } catch (error) {
      effects.failed(error, call.hop);
      throw error;
    }
  };

  return { beforeRequest: [beforeRequest], afterResponse: [afterResponse] };
}

