import { isAAuthError } from '@aauth-kit/core';
import { TELEMETRY_ATTRIBUTES as A } from '@aauth-kit/core/internal';
import { defaultScheme, signWith } from '../build-signed-request.js';
import type { AAuthCallOptions, AgentRequestInit, Generation, RequestToSign } from '../types.js';
import type { Draft11Core } from './draft11-call.js';
import { type FirstToken, startCall, type State } from './next-step.js';
import { prepareRequest } from './prepare-request.js';
import { type AgentConfig, MISSION_S256 } from './resolve-options.js';
import { type CallEffects, type Hop, runCall } from './run-call.js';
import { discard } from './send-following.js';
import { signTraced } from './telemetry.js';
import { type Route, type TokenStore, upstreamHash } from './token-store.js';

/** One agent: its configuration and its tokens, shared by `agent.fetch`, `wrapFetch` and the got hooks. */
export interface AgentCore {
  config: AgentConfig;
  tokens: TokenStore;
  /** The -11 side; undefined for a Keycloak-profile-only agent. */
  draft11: Draft11Core | undefined;
}

/**
 * The generation a call to `url` starts in (profile section 1): the configured one, or for an
 * `'auto'` agent the one the resource's origin showed before, else the Keycloak profile (a -11
 * answer to that first attempt switches the call over).
 */
export function generationFor(core: AgentCore, url: URL): Generation {
  const { generation } = core.config;
  if (generation !== 'auto') return generation;
  return core.draft11?.learnt(url.origin) ?? 'keycloak';
}

/** The AAuth side of one call: where the machine starts, how a hop is signed, and the effects. */
export interface AAuthCall extends CallEffects {
  start: State;
  /** Sign one hop, with `token` in the `jwt` scheme or with the agent's own key. */
  present(hop: Hop & Pick<RequestToSign, 'headers' | 'body'>, token: string | undefined): Record<string, string>;
}

const SCHEMES = new Set(['hwk', 'jwks_uri', 'jwt']);

/** Where a URL appears in events: no query (it may hold secrets). */
export function eventUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** Per-call options (`init` of `agent.fetch`, got's `context.aauth`), checked before anything is sent. */
export function checkCallOptions(config: AgentConfig, init: AAuthCallOptions | undefined): void {
  if (init === undefined) return;
  if (init.signatureScheme !== undefined && !SCHEMES.has(init.signatureScheme)) {
    throw new TypeError(`init.signatureScheme must be hwk, jwks_uri or jwt (got ${JSON.stringify(init.signatureScheme)})`);
  }
  if (init.signatureScheme === 'jwt' && init.authToken === undefined) throw new TypeError('init.signatureScheme "jwt" needs init.authToken');
  if (init.signatureScheme === 'jwks_uri' && config.identity === undefined) {
    throw new TypeError('init.signatureScheme "jwks_uri" needs options.identity (this agent is pseudonymous)');
  }
  for (const name of ['upstreamToken', 'authToken', 'scope'] as const) {
    const value = init[name];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) throw new TypeError(`init.${name} must be a non-empty string`);
  }
  const mission = init.missionS256;
  if (mission !== undefined && mission !== null && (typeof mission !== 'string' || !MISSION_S256.test(mission))) {
    throw new TypeError(`init.missionS256 must be a mission's s256: the unpadded base64url SHA-256 of the mission blob, 43 characters, or null for none (got ${JSON.stringify(mission)})`);
  }
}

/**
 * The AAuth effects of a call that started as `origin`: cache look-ups and token requests through
 * the agent's token store, signatures, route hints and events (wire profile sections 3 to 8).
 */
export function aauthCall(core: AgentCore, transport: typeof fetch, origin: Hop, options: AAuthCallOptions | undefined, detect11 = false): AAuthCall {
  const { config, tokens } = core;
  const requested = options?.signatureScheme;
  const ownScheme = requested === 'hwk' || requested === 'jwks_uri' ? requested : (defaultScheme(config.identity) as 'jwks_uri' | 'hwk');
  const upstream = upstreamHash(options?.upstreamToken);
  const route = (hop: Hop): Route => ({ method: hop.method, url: hop.url, upstream });
  // The first attempt presents the caller's token, else a cached one, unless a scheme was forced.
  const first: FirstToken = options?.authToken !== undefined ? { token: options.authToken } : requested === undefined ? 'cached' : 'none';
  const emitAt = (hop: Hop): { method: string; url: string } => ({ method: hop.method, url: eventUrl(hop.url) });

  return {
    start: startCall({ kind: 'aauth', self: config.self, ownScheme, detect11 }, first),
    present(hop, token) {
      const scheme = token === undefined ? ownScheme : 'jwt';
      return signTraced(config.telemetry, scheme, () => {
        const signed = signWith(config.signer, hop, token === undefined ? { scheme: ownScheme } : { scheme: 'jwt', authToken: token });
        config.emit({ type: 'signed', ...emitAt(hop), scheme: signed.scheme });
        return signed.headers;
      });
    },
    find: () => tokens.find(route(origin), options?.scope, transport),
    obtain(action, answered, signal) {
      const decision = action.decision;
      if (decision === undefined) throw new Error('An AAuth call obtains a token only for a challenge');
      const { challenge, resource, authServer, scope } = decision;
      config.emit({ type: 'challenged', ...emitAt(answered ?? origin), require: challenge.require, resource, authServer, scope });
      if (action.evict) tokens.evict(action.evict);
      return tokens.obtain(decision, options?.upstreamToken, action.avoid, transport, signal);
    },
    retrying: (answered) => config.emit({ type: 'retried', ...emitAt(answered) }),
    settle(action, answered) {
      if (action.evict) tokens.evict(action.evict);
      if (action.forget) tokens.forget(route(origin));
      if (action.remember) {
        // The token worked where the retry went; the route the call began on shares the hint only on
        // that origin: a redirect from another origin must not teach the agent to show it there.
        tokens.remember(route(answered), action.remember);
        if (answered.url.origin === origin.url.origin) tokens.remember(route(origin), action.remember);
      }
      if (action.failed) config.emit({ type: 'failed', ...emitAt(answered), ...action.failed });
    },
    failed(error, answered) {
      if (isAAuthError(error)) config.emit({ type: 'failed', ...emitAt(answered ?? origin), code: error.code, message: error.message });
    },
  };
}

/**
 * `agent.fetch`: sign, send, and on a 401 AAuth challenge take the resource token to the auth
 * server and retry once with the auth token (wire profile sections 3 to 8).
 */
export function agentFetch(core: AgentCore, transport: typeof fetch, input: string | URL | Request, init?: AgentRequestInit): Promise<Response> {
  const { config } = core;
  // One `aauth.call` client span per call (docs/telemetry.md): its hops, token requests and
  // signatures are its children, and every request it sends carries its traceparent.
  return config.telemetry.span('aauth.call', 'client', { [A.agent]: config.identity ?? `jkt:${config.key.thumbprint}` }, async (span) => {
    checkCallOptions(config, init);
    const request = await prepareRequest(input, init, config.maxBodyBytes);
    const draft11 = core.draft11;
    const generation = draft11 !== undefined ? generationFor(core, request.url) : 'keycloak';
    if (span.recording) {
      span.set({ [A.httpMethod]: request.method, [A.url]: eventUrl(request.url), [A.serverAddress]: request.url.hostname, [A.generation]: generation });
    }
    let response: Response;
    if (draft11 !== undefined && generation === 'draft-11') {
      response = await draft11.call(transport, request, init);
    } else {
      const auto = draft11 !== undefined && config.generation === 'auto';
      const call = aauthCall(core, transport, request, init, auto);
      if (auto) {
        // The resource answered the Keycloak-profile attempt in -11: remember, and go on in -11.
        call.switchGeneration = async (answered) => {
          await discard(answered.response);
          draft11.learn(answered.request.url.origin, 'draft-11');
          span.set({ [A.generation]: 'draft-11' });
          return draft11.call(transport, request, init);
        };
      }
      response = await runCall(call.start, request, transport, config.now, call.present, call);
    }
    span.set({ [A.httpStatus]: response.status });
    return response;
  });
}
