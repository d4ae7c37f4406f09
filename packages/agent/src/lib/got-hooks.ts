import { AAuthError, isAAuthError } from '@aauth-kit/core';
import { AAuthChallengeError } from '../aauth-challenge-error.js';
import { SIGNATURE_HEADERS } from '../build-signed-request.js';
import type { AgentRequestInit, GotHooks, GotOptionsLike, GotResponseLike, SignatureScheme } from '../types.js';
import { downstreamStatus } from './downstream-status.js';
import { type AgentEngine, type CarriedToken, upstreamHash } from './engine.js';
import { eventUrl } from './fetch-flow.js';
import { REFUSAL_MAX_BYTES } from './refusal-body.js';

/** Per-request AAuth options for got: `context: { aauth: { upstreamToken, signatureScheme, authToken, scope } }`. */
export type GotAAuthContext = Pick<AgentRequestInit, 'upstreamToken' | 'signatureScheme' | 'authToken' | 'scope'>;

/** Set by afterResponse for the retry: the fresh token and where it may go. */
interface RetryState {
  token: string;
  cacheKey: string;
  origin: string;
}

/** Recorded by beforeRequest for afterResponse: how this attempt was signed. */
interface SentState {
  carried: CarriedToken | undefined;
  scheme: SignatureScheme;
  method: string;
  url: string;
}

const RETRY = 'aauthRetry';
const SENT = 'aauthSent';

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

/** got 14 hooks: sign in beforeRequest, answer a challenge in afterResponse, retry once. */
export function createGotHooks(engine: AgentEngine): GotHooks {
  const beforeRequest = async (options: GotOptionsLike): Promise<void> => {
    const url = urlOf(options);
    if (url === undefined) return;
    const user = userOptions(options);
    for (const name of Object.keys(options.headers)) {
      if ((SIGNATURE_HEADERS as readonly string[]).includes(name.toLowerCase())) delete options.headers[name];
    }
    const body = await bufferBody(options, engine.options.maxBodyBytes);
    const method = options.method.toUpperCase();
    const retry = options.context[RETRY] as RetryState | undefined;
    let carried: CarriedToken | undefined;
    // A token is only ever shown to the origin it was issued for (got may have followed a redirect).
    if (retry !== undefined && retry.origin === url.origin) carried = { token: retry.token, source: 'fresh', cacheKey: retry.cacheKey };
    else if (user.authToken !== undefined) carried = { token: user.authToken, source: 'explicit' };
    else if (user.signatureScheme === undefined) carried = await engine.firstToken(method, url, upstreamHash(user.upstreamToken), user.scope, engine.options.fetch);
    const signed = engine.sign(
      { method, url, headers: options.headers, body: body ?? null },
      carried === undefined ? { scheme: engine.ownScheme(user.signatureScheme) } : { scheme: 'jwt', authToken: carried.token },
    );
    for (const name of Object.keys(options.headers)) delete options.headers[name];
    Object.assign(options.headers, signed.headers);
    const sent: SentState = { carried, scheme: signed.scheme, method, url: url.href };
    options.context[SENT] = sent;
    engine.emit({ type: 'signed', method, url: eventUrl(url), scheme: signed.scheme });
  };

  const afterResponse = async <R extends GotResponseLike>(
    response: R,
    retryWithMergedOptions: (options: { context: Record<string, unknown> }) => never,
  ): Promise<R> => {
    const options = response.request.options;
    const sent = options.context[SENT] as SentState | undefined;
    if (sent === undefined) return response;
    const user = userOptions(options);
    const upstream = upstreamHash(user.upstreamToken);
    const url = new URL(sent.url);
    const retried = options.context[RETRY] !== undefined;
    if (retried) {
      // The one retry has been answered: never loop (issue 4).
      if (response.statusCode === 401) {
        engine.evict(sent.carried);
        engine.forgetHint(sent.method, url, upstream);
      } else if (sent.carried?.cacheKey !== undefined) {
        engine.rememberHint(sent.method, url, upstream, sent.carried.cacheKey);
      }
      return response;
    }
    if (response.statusCode !== 401) return response;
    try {
      const decision = engine.assess(response.statusCode, response.headers, sent.scheme);
      if (decision.action === 'reject') {
        const raw = response.rawBody?.subarray(0, REFUSAL_MAX_BYTES);
        throw new AAuthChallengeError(decision.code, decision.message, {
          challenge: decision.challenge,
          response: toFetchResponse(response),
          body: raw !== undefined && raw.length > 0 ? new TextDecoder().decode(raw) : undefined,
        });
      }
      if (decision.action !== 'exchange') {
        if (sent.carried?.source === 'cache') engine.evict(sent.carried);
        return response;
      }
      engine.emit({
        type: 'challenged',
        method: sent.method,
        url: eventUrl(url),
        require: decision.challenge.require,
        resource: decision.resource,
        authServer: decision.authServer,
        scope: decision.scope,
      });
      if (sent.carried?.source === 'cache') engine.evict(sent.carried);
      const obtained = await engine.obtainToken(decision, user.upstreamToken, engine.options.fetch, sent.carried?.token);
      engine.emit({ type: 'retried', method: sent.method, url: eventUrl(url) });
      const state: RetryState = { token: obtained.token, cacheKey: obtained.cacheKey, origin: url.origin };
      // preserveHooks keeps this hook on the retry, so the second answer is seen (and never retried).
      return await retryWithMergedOptions({ context: { [RETRY]: state }, preserveHooks: true } as { context: Record<string, unknown> });
    } catch (error) {
      if (isAAuthError(error)) engine.emit({ type: 'failed', method: sent.method, url: eventUrl(url), code: error.code, message: error.message });
      throw error;
    }
  };

  return { beforeRequest: [beforeRequest], afterResponse: [afterResponse] };
}
