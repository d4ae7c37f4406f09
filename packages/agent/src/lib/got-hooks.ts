import { PassThrough } from 'node:stream';
import { AAuthError } from '@aauth-kit/core';
import { type OpenSpan, TELEMETRY_ATTRIBUTES as A } from '@aauth-kit/core/internal';
import { AAuthChallengeError } from '../aauth-challenge-error.js';
import { SIGNATURE_HEADERS } from '../build-signed-request.js';
import type { GotAAuthContext, GotHooks, GotOptionsLike, GotResponseLike } from '../types.js';
import { aauthCall, type AgentCore, checkCallOptions, eventUrl, generationFor } from './aauth-call.js';
import { downstreamStatus } from './downstream-status.js';
import { type Call11, type Draft11Core, isClarification } from './draft11-call.js';
import type { Carried, State } from './next-step.js';
import { challengeError, REFUSAL_MAX_BYTES } from './refusal-body.js';
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

/** Where a got request speaking AAuth -11 stands: the call (draft11-call.ts) and its send under way. */
interface GotCall11 {
  run: Call11;
  /** The token the send presents, and the origin it may be shown to. */
  token: string;
  tokenOrigin: string;
  /** The last hop signed, whether it carried `token`, and the session header the signer added to it. */
  hop: Hop;
  carried: boolean;
  session: string | undefined;
  /** The caller's own `timeout.request` (ms), read before the first poll bounded it; restored for a re-send. */
  userTimeout?: { request: number | undefined };
}

const CALL = 'aauthCall';
const CALL11 = 'aauthCall11';
/** The call's `aauth.call` span, open from the first beforeRequest to the answer returned or the error thrown. */
const SPAN = 'aauthCallSpan';
/** Set on a poll of a pending URL (its URL): got's timeout on it is the agent's bound, said as resource_unreachable. */
const POLLING = 'aauthPolling';
/** Headers that describe a body: a poll of a pending URL is a bodiless GET (profile section 8, item 6). */
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location', 'transfer-encoding'];

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
  const tooLarge = () => new AAuthError('body_too_large', `The request body is larger than ${max} bytes`, { status: downstreamStatus('body_too_large') });
  // maxBodyBytes holds for every body, as for agent.fetch (before: only streams and iterables).
  const bounded = (bytes: Uint8Array): Uint8Array => {
    if (bytes.byteLength > max) throw tooLarge();
    return bytes;
  };
  if (typeof body === 'string') return bounded(Buffer.from(body, 'utf8'));
  if (body instanceof Uint8Array) return bounded(body);
  if (ArrayBuffer.isView(body)) return bounded(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
  const iterable = body as Partial<AsyncIterable<unknown> & Iterable<unknown>> & { pipe?: unknown };
  let source = body as AsyncIterable<unknown>;
  if (typeof iterable[Symbol.asyncIterator] !== 'function' && typeof iterable[Symbol.iterator] !== 'function') {
    if (typeof iterable.pipe !== 'function') {
      const kind = (body as { constructor?: { name?: unknown } }).constructor?.name;
      throw new TypeError(
        `options.body (${typeof kind === 'string' && kind !== '' ? kind : typeof body}) cannot be signed: give a string, a Buffer or typed array, a stream, an (async) iterable of chunks, or a FormData`,
      );
    }
    // A stream without async iteration (the form-data package's FormData, which got takes): read
    // it through a PassThrough. Its pipe stops writing when the PassThrough closes.
    const through = new PassThrough();
    (body as NodeJS.EventEmitter).on?.('error', (error: Error) => through.destroy(error));
    (body as { pipe(destination: NodeJS.WritableStream): unknown }).pipe(through);
    source = through;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk as Uint8Array);
    size += bytes.length;
    if (size > max) throw tooLarge();
    chunks.push(bytes);
  }
  const bytes = Buffer.concat(chunks);
  options.body = bytes;
  if (options.headers['transfer-encoding'] === undefined) options.headers['content-length'] = String(bytes.length);
  return bytes;
}

/** got's header record as strings (a repeated header joined, an unset one left out). */
function flatHeaders(headers: GotOptionsLike['headers']): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) flat[name] = value.join(', ');
    else if (value !== undefined) flat[name] = value;
  }
  return flat;
}

/** Start a -11 call for a got request: the machine's first send (the best token this agent holds). */
async function begin11(core: AgentCore, draft11: Draft11Core, hop: Hop, user: GotAAuthContext, signal: AbortSignal | undefined): Promise<GotCall11> {
  const run = draft11.begin(core.config.fetch, hop, user, signal);
  try {
    const out = await run.next({ type: 'begin' });
    if (out.type !== 'send') throw new Error(`A first attempt cannot ${out.type}`);
    return { run, token: out.presented.token, tokenOrigin: hop.url.origin, hop, carried: true, session: undefined };
  } catch (error) {
    throw run.failed(error, hop.url);
  }
}

/** Sign one hop of a -11 send under `sig=jwt`: the send's token on its own origin, else the agent token. */
function sign11(options: GotOptionsLike, call: GotCall11, hop: Hop, body: Uint8Array | undefined): void {
  // The session header an earlier hop carried is the signer's to add again, or not.
  if (call.session !== undefined && options.headers.authorization === call.session) delete options.headers.authorization;
  const own = flatHeaders(options.headers);
  call.carried = call.tokenOrigin === hop.url.origin;
  const headers = call.run.sign({ ...hop, headers: own, body }, call.carried ? call.token : undefined);
  call.session = headers.authorization !== undefined && headers.authorization !== own.authorization ? headers.authorization : undefined;
  call.hop = hop;
  for (const name of Object.keys(options.headers)) delete options.headers[name];
  Object.assign(options.headers, headers);
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
 * got 14 hooks driving the agent's step machines: got sends (and follows redirects, calling
 * beforeRequest per hop), beforeRequest signs, afterResponse feeds the answer to the machine and
 * sends what it asks for through `retryWithMergedOptions`: the Keycloak profile retries once; a
 * -11 call (draft11-call.ts, the same one agent.fetch runs) re-sends per requirement met, or polls.
 */
export function createGotHooks(core: AgentCore): GotHooks {
  const { config } = core;

  /**
   * One `aauth.call` client span per got call, as agent.fetch has (docs/telemetry.md): opened by
   * the call's first beforeRequest, every later hook runs inside it, and it ends with the answer
   * the hooks return, the error they throw, or got's own error (beforeError).
   */
  const spanOf = (options: GotOptionsLike, url: URL): OpenSpan => {
    const known = options.context[SPAN] as OpenSpan | undefined;
    if (known !== undefined) return known;
    const opened = config.telemetry.open('aauth.call', 'client', {
      [A.agent]: config.identity ?? `jkt:${config.key.thumbprint}`,
      [A.httpMethod]: options.method.toUpperCase(),
      [A.url]: eventUrl(url),
      [A.serverAddress]: url.hostname,
    });
    options.context[SPAN] = opened;
    return opened;
  };
  /**
   * Run one hook's work inside the call's span; an error thrown through it ends the span, unless
   * `goesOn` says the call continues (got's retry signal is thrown as an error).
   */
  const inSpan = async <T>(span: OpenSpan, work: () => Promise<T>, goesOn: () => boolean = () => false): Promise<T> => {
    try {
      return await span.within(work);
    } catch (error) {
      if (!goesOn()) span.end(error);
      throw error;
    }
  };
  /** The hooks hand `response` back to got: the call is over, with its status. */
  const answered = <R extends GotResponseLike>(span: OpenSpan, response: R): R => {
    span.handle.set({ [A.httpStatus]: response.statusCode });
    span.end();
    return response;
  };

  const beforeRequest = async (options: GotOptionsLike): Promise<void> => {
    const url = urlOf(options);
    if (url === undefined) return;
    return inSpan(spanOf(options, url), () => signHop(options, url));
  };

  const signHop = async (options: GotOptionsLike, url: URL): Promise<void> => {
    const user = userOptions(options);
    for (const name of Object.keys(options.headers)) {
      if ((SIGNATURE_HEADERS as readonly string[]).includes(name.toLowerCase())) delete options.headers[name];
    }
    // The signed headers replace got's as strings, a list joined with ", ": a cookie list would go
    // out as one cookie `a=1, b=2`. Join it as Node's http would have sent it: `a=1; b=2`.
    const cookie = options.headers.cookie;
    if (Array.isArray(cookie)) options.headers.cookie = cookie.join('; ');
    const method = options.method.toUpperCase();
    // got.stream.post(url) with the body written into the stream: the request is signed before the
    // body exists, so its content-digest cannot cover it (a resource refuses it as unsigned body).
    // GET, HEAD, DELETE and OPTIONS streams without options.body are signed as bodiless requests
    // (got.stream.delete(url).end() sends none; a body written into one goes out uncovered).
    if ((options as { isStream?: unknown }).isStream === true && (options.body === undefined || options.body === null) && !['GET', 'HEAD', 'DELETE', 'OPTIONS'].includes(method)) {
      throw new TypeError(
        `got.stream ${method}: a body written into the stream cannot be signed (it is sent after the signature); give it as options.body (got.stream.post(url, { body })) or use got's promise API`,
      );
    }
    const body = await bufferBody(options, config.maxBodyBytes);
    const hop: Hop = { method, url };
    const call11 = options.context[CALL11] as GotCall11 | undefined;
    if (call11 !== undefined) return sign11(options, call11, hop, body);
    let call = options.context[CALL] as GotCall | undefined;
    if (call === undefined) {
      checkCallOptions(config, user);
      // The generation this origin speaks (profile section 1): -11 calls run draft11-call.ts's machine.
      const generation = core.draft11 !== undefined ? generationFor(core, url) : 'keycloak';
      (options.context[SPAN] as OpenSpan).handle.set({ [A.generation]: generation });
      if (core.draft11 !== undefined && generation === 'draft-11') {
        const started = await begin11(core, core.draft11, hop, user, options.signal);
        options.context[CALL11] = started;
        return sign11(options, started, hop, body);
      }
    }
    // An 'auto' agent's Keycloak-profile call watches for an answer in -11 (it then switches).
    const effects = aauthCall(core, config.fetch, call?.origin ?? hop, user, core.draft11 !== undefined && config.generation === 'auto');
    if (call === undefined) {
      // got's signal, as agent.fetch's: a token request every waiting caller gave up on is cancelled.
      const { state, action } = await advance(effects.start, { type: 'begin' }, effects, undefined, options.signal);
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
    const span = options.context[SPAN] as OpenSpan | undefined;
    if (span === undefined) return response;
    // retryWithMergedOptions throws got's retry signal: the call goes on, its span stays open.
    let retrying = false;
    const retry = (merged: { context: Record<string, unknown> }): never => {
      retrying = true;
      return retryWithMergedOptions(merged);
    };
    return inSpan(span, () => afterResponseIn(span, response, retry), () => retrying);
  };

  const afterResponseIn = async <R extends GotResponseLike>(
    span: OpenSpan,
    response: R,
    retryWithMergedOptions: (options: { context: Record<string, unknown> }) => never,
  ): Promise<R> => {
    const options = response.request.options;
    const call11 = options.context[CALL11] as GotCall11 | undefined;
    if (call11 !== undefined) return afterResponse11(span, response, call11, retryWithMergedOptions);
    const call = options.context[CALL] as GotCall | undefined;
    if (call === undefined) return answered(span, response);
    const user = userOptions(options);
    const effects = aauthCall(core, config.fetch, call.origin, user, core.draft11 !== undefined && config.generation === 'auto');
    let draft11: Draft11Core | undefined;
    try {
      const event = { type: 'response', url: call.hop.url, status: response.statusCode, headers: response.headers, carried: call.presented, now: config.now() } as const;
      const { state, action } = await advance(call.state, event, effects, call.hop, options.signal);
      switch (action.type) {
        case 'return':
          effects.settle(action, call.hop);
          return answered(span, response);
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
        case 'switch':
          draft11 = core.draft11;
          if (draft11 === undefined) throw new Error('A got call cannot switch generation without options.draft11');
          span.handle.set({ [A.generation]: 'draft-11' });
          break;
      }
    } catch (error) {
      effects.failed(error, call.hop);
      throw error;
    }
    // The resource answered the Keycloak-profile attempt in -11: remember, and go on in -11 where it
    // answered (got retries there), as agent.fetch does.
    draft11.learn(call.hop.url.origin, 'draft-11');
    const next = await begin11(core, draft11, call.hop, user, options.signal);
    return await retryWithMergedOptions({ context: { [CALL]: undefined, [CALL11]: next }, preserveHooks: true } as { context: Record<string, unknown> });
  };

  /** afterResponse of a -11 call: feed the answer to the machine; re-send, poll, return or reject. */
  const afterResponse11 = async <R extends GotResponseLike>(
    span: OpenSpan,
    response: R,
    call: GotCall11,
    retryWithMergedOptions: (options: { context: Record<string, unknown> }) => never,
  ): Promise<R> => {
    const options = response.request.options;
    try {
      const requirement = response.headers['aauth-requirement'];
      // A resource's question (202 requirement=clarification) is read from the body got has buffered.
      const body = response.statusCode === 202 && isClarification(Array.isArray(requirement) ? requirement[0] : requirement) && response.rawBody !== undefined ? response.rawBody.subarray(0, config.tokenRequest.maxBytes) : undefined;
      const out = await call.run.next({ type: 'response', url: call.hop.url, status: response.statusCode, headers: response.headers, carried: call.carried, body });
      switch (out.type) {
        case 'return':
          return answered(span, response);
        case 'reject':
          throw await challengeError(out, toFetchResponse(response));
        case 'send': {
          call.token = out.presented.token;
          call.tokenOrigin = (out.poll ?? call.hop.url).origin;
          const timeout = (options as { timeout?: { request?: number } }).timeout;
          call.userTimeout ??= { request: timeout?.request };
          if (out.poll === undefined) {
            // A re-send of the call: got's timeout as the caller set it (a poll before may have bounded it).
            const restore = call.userTimeout.request !== timeout?.request ? { timeout: { request: call.userTimeout.request } } : {};
            return await retryWithMergedOptions({ context: { [CALL11]: call, [POLLING]: undefined }, ...restore, preserveHooks: true } as unknown as { context: Record<string, unknown> });
          }
          // A held call or a resource-managed interaction is finished by signed GETs of the pending URL.
          options.body = undefined;
          for (const name of Object.keys(options.headers)) if (BODY_HEADERS.includes(name.toLowerCase())) delete options.headers[name];
          // A poll is a request of the agent's own, bounded as agent.fetch bounds it (tokenRequest.timeoutMs,
          // or the caller's own timeout when shorter): got sets none, so a pending URL that never answers
          // would hold the call forever. A clarification response is a signed JSON POST there, then polls go on.
          const bound = Math.min(config.tokenRequest.timeoutMs, call.userTimeout.request ?? Number.POSITIVE_INFINITY);
          const send =
            out.answer === undefined
              ? { method: 'GET' }
              : { method: 'POST', body: JSON.stringify(out.answer), headers: { 'content-type': 'application/json', accept: 'application/json' } };
          return await retryWithMergedOptions({
            context: { [CALL11]: call, [POLLING]: `${out.poll.origin}${out.poll.pathname}` },
            url: out.poll,
            ...send,
            timeout: { request: bound },
            preserveHooks: true,
          } as unknown as { context: Record<string, unknown> });
        }
      }
    } catch (error) {
      throw call.run.failed(error, call.hop.url);
    }
  };

  /** got's own error (network, timeout, an error thrown by a hook): the call's span ends failed. */
  const beforeError = <E extends Error>(error: E): E => {
    const context = (error as { request?: { options?: GotOptionsLike } }).request?.options?.context;
    const polling = context?.[POLLING];
    if (typeof polling === 'string' && error.name === 'TimeoutError' && context?.[CALL11] !== undefined) {
      // The agent's bound on a poll (above), said as agent.fetch says it; got's error carries it as cause.
      const seconds = config.tokenRequest.timeoutMs / 1000;
      const unreachable = new AAuthError('resource_unreachable', `The resource did not answer a poll of its pending URL ${polling} within ${seconds} s (or the got timeout, when shorter)`);
      Object.defineProperty(error, 'code', { value: unreachable.code, configurable: true, writable: true, enumerable: true });
      error.message = unreachable.message;
      Object.defineProperty(error, 'cause', { value: unreachable, configurable: true, writable: true });
    }
    const span = context?.[SPAN] as OpenSpan | undefined;
    span?.end(error);
    return error;
  };

  return { beforeRequest: [beforeRequest], afterResponse: [afterResponse], beforeError: [beforeError] };
}

