import { createHash } from 'node:crypto';
import { isAAuthError } from '@aauth-kit/core';
import { TELEMETRY_ATTRIBUTES as A, type TelemetryAttributes } from '@aauth-kit/core/internal';
import { defaultScheme, signWith } from '../build-signed-request.js';
import type { CachedToken } from '../token-cache.js';
import { askTokenServer, handOverInteraction } from './http.js';
import { createIssuerMetadataResolver } from './issuer-metadata.js';
import { cacheVerdict, type Carried, type ExchangeDecision, type IssuedToken, nextStep, startFlight, type StepEvent, type TokenFlight } from './next-step.js';
import type { AgentConfig } from './resolve-options.js';
import { recordIssued, signTraced, traceTokenRequest } from './telemetry.js';
import { joinShared, sleepUnlessAborted, type SharedFlight } from './shared-flight.js';

/** Where a token worked: method, origin and path, for one upstream token (its hash). */
export interface Route {
  method: string;
  url: URL;
  upstream: string;
}

/** The agent's tokens: its cache, route hints, and one token request or refresh per key at a time. */
export interface TokenStore {
  /** A cached token for a first attempt: one that worked on this route, else for (origin, `scope`); an expiring one is refreshed first. */
  find(route: Route, scope: string | undefined, transport: typeof fetch): Promise<Carried | undefined>;
  /** A token for a challenge: cached unless it is `avoid` (the one just refused), else from the auth server (single flight). */
  /**
   * A token for `decision`: cached, or from one token request shared by concurrent callers. `signal`
   * is this caller's: it stops waiting at once, and when every caller of the request gave up the
   * request (or its consent polling) is cancelled and forgotten, so a later call starts afresh.
   */
  obtain(decision: ExchangeDecision, upstreamToken: string | undefined, avoid: string | undefined, transport: typeof fetch, signal?: AbortSignal | undefined): Promise<Carried>;
  /** A 401 answered a request carrying this token: drop it, unless the cache already holds a newer one. */
  evict(carried: Carried): void;
  /** The token worked on this route: present it there first next time. */
  remember(route: Route, carried: Carried): void;
  forget(route: Route): void;
  /** Forget the tokens of a resource identity, or of every route at that URL's origin. */
  invalidate(resource: string): void;
  flush(): void;
}

const MAX_HINTS = 1000;

/** sha-256 of the upstream token: cache keys never hold the token itself. */
export function upstreamHash(token: string | undefined): string {
  return token === undefined ? '' : createHash('sha256').update(token).digest('base64url');
}

function cacheKey(resource: string, scope: string, agent: string, upstream: string): string {
  return JSON.stringify([resource, scope, agent, upstream]);
}

/**
 * Whether `entry` may sit under cache key `key` ({@link cacheKey}: its first member is the resource):
 * an entry copied under another resource's key (a cache shared through Redis, or the caller's own)
 * would be presented to that resource.
 */
export function belongsTo(key: unknown, entry: CachedToken): key is string {
  return typeof key === 'string' && key.startsWith(`[${JSON.stringify(entry.resource)},`);
}

function hintKey(route: Route): string {
  return `${route.method.toUpperCase()} ${route.url.origin}${route.url.pathname} ${route.upstream}`;
}

/** The token store of one agent (configured once, at `createAgent`). */
export function createTokenStore(config: AgentConfig): TokenStore {
  const cache = config.tokenCache;
  const metadata = createIssuerMetadataResolver({ ...config.discovery, now: config.now });
  const requests = new Map<string, SharedFlight<IssuedToken>>();
  /** Cache key -> the refresh under way for it; resolves undefined when it failed. */
  const refreshing = new Map<string, Promise<string | undefined>>();
  /** Route -> the cache key of the token that worked there. */
  const hints = new Map<string, string>();
  const ownScheme = defaultScheme(config.identity) as 'jwks_uri' | 'hwk';
  const agentName = config.identity ?? `pseudonymous:${config.key.thumbprint}`;

  /**
   * Whether the entry under `key` may be shown on `origin`: only on its own resource's origin
   * (issue 13, finding 9), whatever a route hint says.
   */
  function presentableOn(key: string, origin: string): boolean {
    const resource = cache.get(key)?.resource;
    if (resource === undefined) return true;
    try {
      return new URL(resource).origin === origin;
    } catch {
      return false;
    }
  }

  /**
   * Run a token request or refresh to its end: the step machine decides, this performs. One
   * `aauth.token_request` client span: the token endpoint's request, then each poll of the
   * pending URL as an `aauth.interaction.poll` event (docs/telemetry.md).
   */
  function fly(flight: TokenFlight, transport: typeof fetch, attributes: TelemetryAttributes, signal?: AbortSignal): Promise<IssuedToken> {
    const { telemetry } = config;
    return telemetry.span('aauth.token_request', 'client', { ...attributes, [A.authServer]: flight.issuer, [A.resource]: flight.resource }, async (span) => {
      let state = startFlight(flight);
      let event: StepEvent = { type: 'begin' };
      let requests = 0;
      for (;;) {
        // Every caller gave up: no further request, poll or wait.
        signal?.throwIfAborted();
        const step = nextStep(state, event);
        state = step.state;
        const action = step.action;
        switch (action.type) {
          case 'discover':
            event = { type: 'discovered', metadata: await metadata.resolve(action.issuer, transport) };
            break;
          case 'request': {
            const { method, url, body } = action;
            event = await traceTokenRequest(span, requests++, url, () => {
              const headers = signTraced(telemetry, action.signAs, () => signWith(config.signer, { method, url, headers: action.headers, body: body ?? null }, { scheme: action.signAs }).headers);
              return askTokenServer(config, transport, url, { method, headers, body }, signal);
            });
            break;
          }
          case 'interact':
            event = await handOverInteraction(config, action.authServer, action.interaction);
            break;
          case 'wait':
            await sleepUnlessAborted(config.sleep, action.ms, signal);
            event = { type: 'waited' };
            break;
          case 'issued':
            recordIssued(telemetry, span, action.token);
            return { token: action.token, expiresAt: action.expiresAt };
          case 'fail':
            span.set({ [A.outcome]: 'refused' });
            throw action.error;
          default:
            throw new Error(`A token flight cannot ${action.type}`);
        }
      }
    });
  }

  /** Section 8: the cached token goes back to its issuer as `{auth_token}`; any failure drops the entry. */
  async function refresh(key: string, entry: CachedToken, authServer: string, transport: typeof fetch): Promise<string | undefined> {
    const base = { resource: entry.resource, authServer, scope: entry.scope };
    const flight: TokenFlight = {
      issuer: authServer,
      payload: { auth_token: entry.token },
      signAs: entry.signAs ?? ownScheme,
      thumbprint: config.key.thumbprint,
      resource: entry.resource,
      maxLifetime: config.maxTokenLifetime,
      interaction: undefined,
    };
    try {
      const issued = await fly(flight, transport, { [A.endpoint]: 'refresh', [A.scope]: entry.scope });
      cache.set(key, { ...entry, token: issued.token, expiresAt: issued.expiresAt });
      config.emit({ type: 'refreshed', ...base, expiresAt: issued.expiresAt });
      return issued.token;
    } catch (error) {
      if (cache.get(key)?.token === entry.token) cache.delete(key);
      const code = isAAuthError(error) ? error.code : 'auth_server_error';
      const message = isAAuthError(error) ? error.message : 'The refresh failed';
      config.emit({ type: 'refresh_failed', ...base, code, message });
      return undefined;
    }
  }

  /** The token under `key` if it can be presented; an expiring one is refreshed (one refresh per key at a time). */
  async function fresh(key: string, transport: typeof fetch): Promise<string | undefined> {
    const entry = cache.get(key);
    if (entry === undefined) return undefined;
    if (!belongsTo(key, entry)) {
      cache.delete(key);
      return undefined;
    }
    const verdict = cacheVerdict(entry, config.now(), config.refresh);
    if (verdict === 'use') return entry.token;
    if (verdict === 'drop' || entry.authServer === undefined) {
      cache.delete(key);
      return undefined;
    }
    let flight = refreshing.get(key);
    if (flight === undefined) {
      flight = refresh(key, entry, entry.authServer, transport).finally(() => refreshing.delete(key));
      refreshing.set(key, flight);
    }
    return flight;
  }

  /** A token request for `decision`, cached until its `exp` (section 8). */
  async function request(decision: ExchangeDecision, upstreamToken: string | undefined, transport: typeof fetch, key: string, signal: AbortSignal): Promise<IssuedToken> {
    const payload: Record<string, string> = { resource_token: decision.resourceToken };
    if (upstreamToken !== undefined) payload.upstream_token = upstreamToken;
    const flight: TokenFlight = {
      issuer: decision.authServer,
      payload,
      signAs: decision.signAs,
      thumbprint: config.key.thumbprint,
      resource: decision.resource,
      maxLifetime: config.maxTokenLifetime,
      interaction: config.interaction,
    };
    const issued = await fly(flight, transport, { [A.endpoint]: 'token', [A.scope]: decision.scope }, signal);
    const { resource, authServer, scope, signAs } = decision;
    cache.set(key, { token: issued.token, expiresAt: issued.expiresAt, resource, scope, authServer, signAs });
    config.emit({ type: 'exchanged', resource, authServer, scope, exchange: upstreamToken !== undefined, cached: false, expiresAt: issued.expiresAt });
    return issued;
  }

  return {
    async find(route, scope, transport) {
      const hinted = hints.get(hintKey(route));
      if (hinted !== undefined && presentableOn(hinted, route.url.origin)) {
        const token = await fresh(hinted, transport);
        if (token !== undefined) return { token, cacheKey: hinted };
      }
      if (scope === undefined) return undefined;
      const key = cacheKey(route.url.origin, scope, agentName, route.upstream);
      const token = await fresh(key, transport);
      return token === undefined ? undefined : { token, cacheKey: key };
    },

    async obtain(decision, upstreamToken, avoid, transport, signal) {
      const key = cacheKey(decision.resource, decision.scope, decision.claims.agent, upstreamHash(upstreamToken));
      const cached = await fresh(key, transport);
      if (cached !== undefined && cached !== avoid) {
        const expiresAt = cache.get(key)?.expiresAt ?? 0;
        const { resource, authServer, scope } = decision;
        config.emit({ type: 'exchanged', resource, authServer, scope, exchange: upstreamToken !== undefined, cached: true, expiresAt });
        return { token: cached, cacheKey: key };
      }
      const issued = await joinShared(requests, key, (own) => request(decision, upstreamToken, transport, key, own), signal);
      return { token: issued.token, cacheKey: key };
    },

    evict(carried) {
      if (carried.cacheKey !== undefined && cache.get(carried.cacheKey)?.token === carried.token) cache.delete(carried.cacheKey);
    },

    remember(route, carried) {
      if (carried.cacheKey === undefined) return;
      const key = hintKey(route);
      hints.delete(key);
      hints.set(key, carried.cacheKey);
      while (hints.size > MAX_HINTS) hints.delete(hints.keys().next().value as string);
    },

    forget(route) {
      hints.delete(hintKey(route));
    },

    invalidate(resource) {
      cache.deleteResource(resource);
      let origin: string | undefined;
      try {
        origin = new URL(resource).origin;
      } catch {
        origin = undefined;
      }
      for (const [hint, key] of hints) {
        const [target] = JSON.parse(key) as [string];
        const hintOrigin = hint.split(' ')[1] ?? '';
        if (target === resource || (origin !== undefined && hintOrigin.startsWith(`${origin}/`))) {
          cache.delete(key);
          hints.delete(hint);
        }
      }
    },

    flush() {
      cache.clear();
      hints.clear();
      metadata.clear();
    },
  };
}
