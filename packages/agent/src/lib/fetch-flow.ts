import { isAAuthError } from '@aauth-kit/core';
import type { AgentRequestInit, SignatureScheme } from '../types.js';
import { type AgentEngine, type CarriedToken, upstreamHash } from './engine.js';
import { type PreparedRequest, prepareRequest } from './prepare-request.js';
import { challengeError } from './refusal-body.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;
const SCHEMES = new Set(['hwk', 'jwks_uri', 'jwt']);

interface Sent {
  response: Response;
  /** The request that produced `response` (after redirects). */
  request: PreparedRequest;
  carried: CarriedToken | undefined;
  scheme: SignatureScheme;
}

/** Where a URL appears in events: no query (it may hold secrets). */
export function eventUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** Wait for a shared operation, but give up (only this caller) when its signal aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}

/**
 * Send `request` signed (with `carried` in the `jwt` scheme, else the agent's own key), following
 * redirects as fetch would but re-signing each hop, since the signature covers `@authority` and
 * `@path`. A token is never carried to another origin.
 */
async function sendFollowing(
  engine: AgentEngine,
  transport: typeof fetch,
  request: PreparedRequest,
  carried: CarriedToken | undefined,
  ownScheme: 'jwks_uri' | 'hwk',
): Promise<Sent> {
  let current = request;
  let token = carried;
  for (let hop = 0; ; hop++) {
    const signed = engine.sign(
      { method: current.method, url: current.url, headers: current.headers, body: current.body ?? null },
      token === undefined ? { scheme: ownScheme } : { scheme: 'jwt', authToken: token.token },
    );
    engine.emit({ type: 'signed', method: current.method, url: eventUrl(current.url), scheme: signed.scheme });
    const response = await transport(current.url, {
      ...current.extra,
      method: current.method,
      headers: signed.headers,
      body: current.body ?? null,
      redirect: 'manual',
      ...(current.signal ? { signal: current.signal } : {}),
    });
    const location = response.headers.get('location');
    if (current.redirect === 'manual' || !REDIRECTS.has(response.status) || location === null) {
      return { response, request: current, carried: token, scheme: signed.scheme };
    }
    await discard(response);
    if (current.redirect === 'error') throw new TypeError(`fetch failed: ${current.url.href} redirected and redirect is "error"`);
    if (hop >= MAX_REDIRECTS) throw new TypeError('fetch failed: too many redirects');
    const next = new URL(location, current.url);
    const headers = new Headers(current.headers);
    let { method, body } = current;
    // Fetch standard, HTTP-redirect fetch: 303 (and 301/302 after POST) become a bodiless GET.
    if ((response.status === 303 && method !== 'HEAD') || ((response.status === 301 || response.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      for (const name of ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']) headers.delete(name);
    }
    if (next.origin !== current.url.origin) {
      for (const name of ['authorization', 'proxy-authorization', 'cookie']) headers.delete(name);
      token = undefined;
    }
    current = { ...current, url: next, method, body, headers };
  }
}

function checkInit(engine: AgentEngine, init: AgentRequestInit | undefined): void {
  if (init === undefined) return;
  if (init.signatureScheme !== undefined && !SCHEMES.has(init.signatureScheme)) {
    throw new TypeError(`init.signatureScheme must be hwk, jwks_uri or jwt (got ${JSON.stringify(init.signatureScheme)})`);
  }
  if (init.signatureScheme === 'jwt' && init.authToken === undefined) throw new TypeError('init.signatureScheme "jwt" needs init.authToken');
  if (init.signatureScheme === 'jwks_uri' && engine.identity === undefined) {
    throw new TypeError('init.signatureScheme "jwks_uri" needs options.identity (this agent is pseudonymous)');
  }
  for (const name of ['upstreamToken', 'authToken', 'scope'] as const) {
    const value = init[name];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) throw new TypeError(`init.${name} must be a non-empty string`);
  }
}

/**
 * `agent.fetch`: sign, send, and on a 401 AAuth challenge take the resource token to the auth
 * server and retry once with the auth token (wire profile sections 3 to 8). A resource is called
 * at most twice per call, redirects aside.
 */
export async function agentFetch(
  engine: AgentEngine,
  transport: typeof fetch,
  input: string | URL | Request,
  init?: AgentRequestInit,
): Promise<Response> {
  checkInit(engine, init);
  const request = await prepareRequest(input, init, engine.options.maxBodyBytes);
  const upstream = upstreamHash(init?.upstreamToken);
  const ownScheme = engine.ownScheme(init?.signatureScheme);
  let carried: CarriedToken | undefined;
  if (init?.authToken !== undefined) carried = { token: init.authToken, source: 'explicit' };
  else if (init?.signatureScheme === undefined) {
    // A refresh of an expiring cached token may be shared with other callers: an abort stops only this one.
    carried = await untilAborted(engine.firstToken(request.method, request.url, upstream, init?.scope, transport), request.signal);
  }

  let method = request.method;
  let url = eventUrl(request.url);
  try {
    const first = await sendFollowing(engine, transport, request, carried, ownScheme);
    method = first.request.method;
    url = eventUrl(first.request.url);
    const decision = engine.assess(first.response.status, first.response.headers, first.scheme);
    if (decision.action === 'reject') {
      // The resource's body usually says why (clock, unknown key, metadata): read it, bounded.
      throw await challengeError(decision, first.response);
    }
    if (decision.action !== 'exchange') {
      // Issue 4: a 401 on a request that carried a cached token evicts it.
      if (first.response.status === 401 && first.carried?.source === 'cache') engine.evict(first.carried);
      return first.response;
    }
    engine.emit({
      type: 'challenged',
      method,
      url,
      require: decision.challenge.require,
      resource: decision.resource,
      authServer: decision.authServer,
      scope: decision.scope,
    });
    if (first.carried?.source === 'cache') engine.evict(first.carried);
    // The exchange may be shared with other callers (single flight): an abort stops only this one.
    const obtained = await untilAborted(engine.obtainToken(decision, init?.upstreamToken, transport, first.carried?.token), request.signal);
    await discard(first.response);
    engine.emit({ type: 'retried', method, url });
    // The retry goes where the challenge came from, with the same bytes (issue 4: body intact).
    const fresh: CarriedToken = { token: obtained.token, source: 'fresh', cacheKey: obtained.cacheKey };
    const second = await sendFollowing(engine, transport, first.request, fresh, ownScheme);
    if (second.response.status === 401) {
      // Never loop: hand back the second refusal, and do not offer that token again.
      engine.evict(second.carried);
      engine.forgetHint(request.method, request.url, upstream);
      engine.emit({ type: 'failed', method, url, code: 'challenge_unsatisfiable', message: 'The resource refused the new auth token; not retrying again' });
    } else {
      engine.rememberHint(request.method, request.url, upstream, obtained.cacheKey);
      if (first.request.url.origin === request.url.origin) engine.rememberHint(first.request.method, first.request.url, upstream, obtained.cacheKey);
    }
    return second.response;
  } catch (error) {
    if (isAAuthError(error)) engine.emit({ type: 'failed', method, url, code: error.code, message: error.message });
    throw error;
  }
}
