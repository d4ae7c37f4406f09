import { createHash } from 'node:crypto';
import { isAAuthError } from '@aauth-kit/core';
import { catchRejection, TELEMETRY_ATTRIBUTES as A } from '@aauth-kit/core/internal';
import { egressProblem } from '../lib/http.js';
import { startCall } from '../lib/next-step.js';
import { readRequest } from '../lib/prepare-request.js';
import { runCall } from '../lib/run-call.js';
import { agentTelemetry, recordIssued } from '../lib/telemetry.js';
import { sendExchange, type ExchangeTransport } from './lib/client.js';
import { buildExchangeForm, requireSubjectToken } from './lib/form.js';
import { functionOption, normaliseScope, positiveOption, resolveTarget, type ResolvedTarget } from './lib/options.js';
import { TokenExchangeError } from './token-exchange-error.js';
import type {
  CredentialOptions,
  ExchangedToken,
  TokenExchangeEvent,
  TokenExchangeFetchInit,
  TokenExchanger,
  TokenExchangerOptions,
  TokenProviderRequest,
} from './types.js';

/** `init` members the bearer fetch consumes; the others pass through to the transport. */
const OWN_INIT = new Set(['method', 'headers', 'body', 'redirect', 'signal', 'duplex', 'window', 'context', 'scope']);
const BEARER = { kind: 'bearer' } as const;

const KNOWN = new Set([
  'targets', 'subjectTokenProvider', 'actorTokenProvider', 'fetch', 'now', 'renewBefore', 'maxEntries', 'timeoutMs', 'maxBytes',
  'maxBodyBytes', 'onEvent', 'telemetry',
]);

/** sha-256 of a token: cache keys never hold the token itself. */
function hash(token: string | undefined): string {
  return token === undefined ? '' : createHash('sha256').update(token).digest('base64url');
}

interface Entry {
  ref: string;
  token: ExchangedToken;
}

type Provider<C> = (request: TokenProviderRequest<C>) => string | undefined | null | Promise<string | undefined | null>;

/**
 * Create a token exchanger for bearer downstreams (issue 8): named targets, a subject token per
 * request from `subjectTokenProvider`, one exchange per (target, subject token, scope) until
 * `renewBefore` s before expiry, concurrent misses sharing one exchange, and a fetch wrapper that
 * evicts on a downstream 401 and retries once. Options are validated here.
 */
export function createTokenExchanger<C = unknown>(options: TokenExchangerOptions<C>): TokenExchanger<C> {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  for (const k of Object.keys(options)) if (!KNOWN.has(k)) throw new TypeError(`options.${k} is not an option of createTokenExchanger`);
  if (typeof options.targets !== 'object' || options.targets === null || Array.isArray(options.targets)) {
    throw new TypeError('options.targets must be an object of named targets');
  }
  const targets = new Map<string, ResolvedTarget>();
  for (const [ref, value] of Object.entries(options.targets)) targets.set(ref, resolveTarget(value, `options.targets.${ref}`, ['origins']));
  if (targets.size === 0) throw new TypeError('options.targets must name at least one target');
  const subjectTokenProvider = functionOption(options.subjectTokenProvider, 'options.subjectTokenProvider');
  if (subjectTokenProvider === undefined) throw new TypeError('options.subjectTokenProvider must be a function');
  const actorTokenProvider: Provider<C> | undefined = functionOption(options.actorTokenProvider, 'options.actorTokenProvider');
  const now = functionOption(options.now, 'options.now') ?? (() => Date.now() / 1000);
  const transport: ExchangeTransport = {
    fetch: functionOption(options.fetch, 'options.fetch') ?? globalThis.fetch.bind(globalThis),
    now,
    timeoutMs: positiveOption(options.timeoutMs, 'options.timeoutMs', 10_000),
    maxBytes: positiveOption(options.maxBytes, 'options.maxBytes', 64 * 1024, true),
  };
  const renewBefore = options.renewBefore ?? 30;
  if (typeof renewBefore !== 'number' || !Number.isFinite(renewBefore) || renewBefore < 0) {
    throw new TypeError('options.renewBefore must be a number of seconds, at least 0');
  }
  const maxEntries = positiveOption(options.maxEntries, 'options.maxEntries', 1000, true);
  const maxBodyBytes = positiveOption(options.maxBodyBytes, 'options.maxBodyBytes', 16 * 1024 * 1024, true);
  const onEvent = functionOption(options.onEvent, 'options.onEvent');
  const telemetry = agentTelemetry(options.telemetry);

  const cache = new Map<string, Entry>();
  const inflight = new Map<string, { ref: string; promise: Promise<ExchangedToken> }>();
  // Bumped by flush() and invalidate(ref): an exchange that started before does not refill the cache.
  let epoch = 0;
  const refEpochs = new Map<string, number>();
  const epochOf = (ref: string): string => `${epoch}:${refEpochs.get(ref) ?? 0}`;

  function emit(event: TokenExchangeEvent): void {
    try {
      // An async hook's rejection is ignored as a throw is (unhandled, it would end the process).
      catchRejection(onEvent?.(event), () => undefined);
    } catch {
      // An audit hook must not break requests.
    }
  }

  function targetOf(ref: string): ResolvedTarget {
    const target = typeof ref === 'string' ? targets.get(ref) : undefined;
    if (target === undefined) throw new TypeError(`${JSON.stringify(ref)} is not a target of this token exchanger (options.targets)`);
    return target;
  }

  /** The tokens of one call: the subject token is required before anything else happens. */
  async function tokensFor(ref: string, context: C | undefined): Promise<{ subject: string; actor: string | undefined }> {
    const subject = requireSubjectToken(await subjectTokenProvider!({ ref, context }));
    const actorValue = actorTokenProvider === undefined ? undefined : await actorTokenProvider({ ref, context });
    if (actorValue !== undefined && actorValue !== null && typeof actorValue !== 'string') throw new TypeError('options.actorTokenProvider must return a string');
    return { subject, actor: actorValue === null || actorValue === '' ? undefined : actorValue };
  }

  /** A token for the key: cached (unless it is `avoid`, the token just refused), else one shared exchange. */
  async function obtain(
    ref: string,
    target: ResolvedTarget,
    tokens: { subject: string; actor: string | undefined },
    scope: string | undefined,
    avoid?: string,
  ): Promise<{ token: ExchangedToken; key: string }> {
    const key = JSON.stringify([ref, hash(tokens.subject), hash(tokens.actor), scope ?? '']);
    const entry = cache.get(key);
    if (entry !== undefined) {
      const fresh = entry.token.expiresAt !== undefined && entry.token.expiresAt - renewBefore > now();
      if (fresh && entry.token.accessToken !== avoid) {
        cache.delete(key);
        cache.set(key, entry);
        emit({ type: 'exchanged', ref, cached: true, expiresAt: entry.token.expiresAt, scope: entry.token.scope });
        return { token: entry.token, key };
      }
      cache.delete(key);
    }
    let flight = inflight.get(key);
    if (flight === undefined) {
      const started = epochOf(ref);
      const promise = (async () => {
        const request = await buildExchangeForm(target, { subjectToken: tokens.subject, actorToken: tokens.actor, scope }, now);
        const endpoint = { [A.endpoint]: 'rfc8693', [A.url]: `${request.url.origin}${request.url.pathname}`, [A.serverAddress]: request.url.hostname, [A.scope]: scope };
        const token = await telemetry.span('aauth.token_request', 'client', endpoint, async (span) => {
          telemetry.inject(request.headers);
          const issued = await sendExchange(request, transport, target, scope);
          span.set({ [A.outcome]: 'issued' });
          recordIssued(telemetry, span, issued.accessToken);
          return issued;
        });
        // Without a known expiry the token is used once and not cached.
        if (token.expiresAt !== undefined && epochOf(ref) === started) {
          cache.set(key, { ref, token });
          while (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
        }
        emit({ type: 'exchanged', ref, cached: false, expiresAt: token.expiresAt, scope: token.scope });
        return token;
      })();
      flight = { ref, promise };
      inflight.set(key, flight);
      const own = flight;
      promise.then(
        () => inflight.get(key) === own && inflight.delete(key),
        () => inflight.get(key) === own && inflight.delete(key),
      );
    }
    return { token: await flight.promise, key };
  }

  /** A 401 answered the request carrying this token: drop it, unless the cache already holds a newer one. */
  function evict(ref: string, key: string, accessToken: string): void {
    if (cache.get(key)?.token.accessToken === accessToken) cache.delete(key);
    emit({ type: 'evicted', ref, reason: 'unauthorized' });
  }

  function scopeOf(target: ResolvedTarget, override: unknown, path: string): string | undefined {
    return override === undefined ? target.scope : normaliseScope(override, path);
  }

  function failedEvent(ref: string, error: unknown): void {
    if (isAAuthError(error)) emit({ type: 'failed', ref, code: error.code, message: error.message });
  }

  async function credential(ref: string, opts: CredentialOptions<C> = {}): Promise<ExchangedToken> {
    const target = targetOf(ref);
    const scope = scopeOf(target, opts.scope, 'options.scope');
    try {
      return (await obtain(ref, target, await tokensFor(ref, opts.context), scope)).token;
    } catch (error) {
      failedEvent(ref, error);
      throw error;
    }
  }

  function checkDestination(ref: string, target: ResolvedTarget, url: URL): void {
    const problem = egressProblem(url);
    if (problem) throw new TypeError(`Refusing to send the ${ref} token to ${url.origin}: ${problem}`);
    if (target.origins !== undefined && !target.origins.includes(url.origin)) {
      throw new TypeError(`Refusing to send the ${ref} token to ${url.origin}: not in options.targets.${ref}.origins`);
    }
  }

  function bearerOf(token: ExchangedToken): string {
    // RFC 6750: only a Bearer token goes in `Authorization: Bearer`.
    if (token.tokenType !== 'Bearer') {
      throw new TokenExchangeError('exchange_failed', `The issued token has token_type ${JSON.stringify(token.tokenType)}, which cannot be sent as a bearer token`);
    }
    return token.accessToken;
  }

  /** `exchanger.fetch`: the agent's one call loop in bearer mode, presenting `Authorization: Bearer`. */
  async function bearerFetch(ref: string, input: string | URL | Request, init?: TokenExchangeFetchInit<C>): Promise<Response> {
    const target = targetOf(ref);
    const scope = scopeOf(target, init?.scope, 'init.scope');
    const request = await readRequest(input, init, maxBodyBytes, OWN_INIT);
    checkDestination(ref, target, request.url);
    let tokens: { subject: string; actor: string | undefined } | undefined;
    const present = (hop: { headers: Headers }, token: string | undefined): Headers => {
      const headers = new Headers(hop.headers);
      if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
      const trace: Record<string, string> = {};
      telemetry.inject(trace);
      for (const [name, value] of Object.entries(trace)) headers.set(name, value);
      return headers;
    };
    const attributes = { [A.scheme]: 'bearer', [A.httpMethod]: request.method, [A.url]: `${request.url.origin}${request.url.pathname}`, [A.serverAddress]: request.url.hostname };
    return telemetry.span('aauth.call', 'client', attributes, async (span) => {
      const response = await runCall(startCall(BEARER, 'obtain'), request, transport.fetch, now, present, {
        async obtain(action) {
          // Issue 8: a 401 from the downstream evicts the token; one retry with a new one, never a loop.
          if (action.evict?.cacheKey !== undefined) evict(ref, action.evict.cacheKey, action.evict.token);
          tokens ??= await tokensFor(ref, init?.context);
          const obtained = await obtain(ref, target, tokens, scope, action.avoid);
          return { token: bearerOf(obtained.token), cacheKey: obtained.key };
        },
        retrying: (answered) => emit({ type: 'retried', ref, method: answered.method, url: `${answered.url.origin}${answered.url.pathname}` }),
        settle(action) {
          if (action.evict?.cacheKey !== undefined) evict(ref, action.evict.cacheKey, action.evict.token);
        },
        failed: (error) => failedEvent(ref, error),
      });
      span.set({ [A.httpStatus]: response.status });
      return response;
    });
  }

  return Object.freeze({
    credential,
    fetch: bearerFetch,
    fetchFor(ref: string) {
      targetOf(ref);
      return (input: string | URL | Request, init?: TokenExchangeFetchInit<C>) => bearerFetch(ref, input, init);
    },
    invalidate(ref: string) {
      targetOf(ref);
      refEpochs.set(ref, (refEpochs.get(ref) ?? 0) + 1);
      for (const [key, entry] of cache) if (entry.ref === ref) cache.delete(key);
      for (const [key, flight] of inflight) if (flight.ref === ref) inflight.delete(key);
      emit({ type: 'evicted', ref, reason: 'invalidate' });
    },
    flush() {
      epoch++;
      cache.clear();
      inflight.clear();
      for (const ref of targets.keys()) emit({ type: 'evicted', ref, reason: 'flush' });
    },
  });
}
