import { AAuthError, type AAuthErrorCode, type Challenge, decodeToken, type HeadersInput, isAAuthError, parseChallenge, signRequest } from '@aauth-kit/core';
import { TELEMETRY_ATTRIBUTES as A } from '@aauth-kit/core/internal';
import { SIGNATURE_HEADERS } from '../build-signed-request.js';
import type { AAuthCallOptions, Generation } from '../types.js';
import { type ApprovedMission11, type Presented, presentable, readPresented } from './checks-11.js';
import { downstreamStatus } from './downstream-status.js';
import { askClarification, askTokenServer, handOverInteraction } from './http.js';
import {
  type CallEvent11,
  type CallState11,
  type Flight11,
  type FlightEvent11,
  nextFlight11,
  nextStep11,
  type Self11,
} from './next-step-11.js';
import { createPersonServerResolver } from './person-server-metadata.js';
import type { PreparedRequest } from './prepare-request.js';
import { challengeError, readBounded, REFUSAL_TIMEOUT_MS } from './refusal-body.js';
import type { AgentConfig, Draft11Config } from './resolve-options.js';
import { discard, sendFollowing, type Sent } from './send-following.js';
import { recordIssued, signTraced, traceTokenRequest } from './telemetry.js';
import { upstreamHash } from './token-store.js';
import { joinShared, sleepUnlessAborted, type SharedFlight, untilAborted } from './shared-flight.js';

// The effects of the -11 machines (next-step-11.ts): the agent token, the person server flights,
// the per-resource person, auth and session tokens, the generation learnt per resource, and the
// signing clock's correction. One per agent, made at `createAgent`.

const MAX_ENTRIES = 1000;

/** The largest clock correction the agent takes from a `clock_skew` answer, seconds (a host clock an hour off is broken, not skewed). */
const MAX_CLOCK_OFFSET = 3600;

/** How long the DELETE that withdraws an abandoned request may take, ms (it never holds the call up). */
const WITHDRAW_TIMEOUT_MS = 5000;

/** A Map that forgets its oldest entry past `MAX_ENTRIES`. */
class Bounded<V> extends Map<string, V> {
  override set(key: string, value: V): this {
    super.delete(key);
    super.set(key, value);
    while (this.size > MAX_ENTRIES) super.delete(this.keys().next().value as string);
    return this;
  }
}

/** The -11 side of one agent. */
export interface Draft11Core {
  readonly draft11: Draft11Config;
  /** The current agent token, minted or renewed when it nears expiry. */
  agentToken(): Promise<Presented>;
  /** The generation learnt for an origin (`'auto'` agents), if any. */
  learnt(origin: string): Generation | undefined;
  learn(origin: string, generation: Generation): void;
  /** Propose a mission (`agent.proposeMission`); the approval's person tokens are held for the mission. */
  proposeMission(transport: typeof fetch, proposal: Record<string, unknown>): Promise<ApprovedMission11>;
  /** Run one -11 call (agent.fetch). */
  call(transport: typeof fetch, request: PreparedRequest, options: AAuthCallOptions | undefined): Promise<Response>;
  /** Begin one -11 call for an adapter that sends itself (the got hooks); `transport` reaches the person server. */
  /** `signal`: the caller's; a token flight every caller gave up on is cancelled (see shared-flight.ts). */
  begin(transport: typeof fetch, request: Hop11, options: AAuthCallOptions | undefined, signal?: AbortSignal | undefined): Call11;
  flush(): void;
  invalidate(resource: string): void;
}

/** A request as a -11 call names it. */
export interface Hop11 {
  method: string;
  url: URL;
}

/** What an adapter feeds a -11 call: its start, or the answer to the send it asked for. */
export type Input11 =
  | { type: 'begin' }
  /** `carried`: the request that answered presented the send's token (false after a redirect to another origin). */
  | { type: 'response'; url: URL; status: number; headers: HeadersInput; carried: boolean; body?: Uint8Array | undefined };

/** What a -11 call asks its adapter to do next. */
export type Outward11 =
  /**
   * Send the request again (to the URL that answered last), or a GET to `poll`, presenting
   * `presented`; with `answer`, a JSON POST of it to `poll` (a clarification response).
   */
  | { type: 'send'; presented: Presented; poll: URL | undefined; answer?: Record<string, unknown> | undefined }
  /** Hand the last response back. */
  | { type: 'return' }
  /** Throw an `AAuthChallengeError` for the last response. */
  | { type: 'reject'; code: AAuthErrorCode; message: string; challenge: Challenge | undefined };

/** Whether an `AAuth-Requirement` value asks a clarification (its first member, as parsed). */
export function isClarification(value: string | null | undefined): boolean {
  return value !== null && value !== undefined && /^\s*requirement\s*=\s*"?clarification"?\s*(;|$)/.test(value);
}

/** One -11 call, stepped by the adapter that sends its requests. */
export interface Call11 {
  /** Feed the machine until it asks to send, return or reject (token flights, waits and interactions happen here). */
  next(input: Input11): Promise<Outward11>;
  /** The headers of one hop of a send: signed under `sig=jwt` with `token`, else the agent token; with the origin's session token. */
  sign(hop: Hop11 & { headers: Headers | Record<string, string>; body: Uint8Array | undefined }, token: string | undefined): Record<string, string>;
  /** The error to throw for `error` (5xx for an AAuthError), reported as a `failed` event at `at`. */
  failed(error: unknown, at?: URL): unknown;
}

/** Turn an error for the agent's caller into a 5xx one: a downstream call failed (issue 11, item 5). */
function downstream(error: unknown): unknown {
  if (!isAAuthError(error) || error.status >= 500) return error;
  return new AAuthError(error.code, error.message, { status: downstreamStatus(error.code), details: error.details, cause: error });
}

/** Where person and auth tokens are held: per resource origin, upstream token (hash) and mission. */
function tokenKey(origin: string, chain: string, mission: string | undefined): string {
  return `${origin} ${chain} ${mission ?? ''}`;
}

/** Create the -11 side of an agent. */
export function createDraft11Core(config: AgentConfig, draft11: Draft11Config): Draft11Core {
  const thumbprint = config.key.thumbprint;
  const resolver = createPersonServerResolver({ ...config.discovery, now: config.now, allowLoopback: draft11.allowLoopback });
  const persons = new Bounded<Presented>();
  const auths = new Bounded<Presented>();
  const sessions = new Bounded<string>();
  const generations = new Bounded<Generation>();
  const inflight = new Map<string, SharedFlight<Presented>>();
  /**
   * Seconds added to the clock when signing to an origin, learnt from its `clock_skew` answer's
   * `Date` (-09): for that origin only, and at most MAX_CLOCK_OFFSET either way (a server naming an
   * absurd date must not move the clock the agent signs with for everyone else).
   */
  const clockOffsets = new Bounded<number>();
  const learnOffset = (origin: string, offset: number): void => {
    clockOffsets.set(origin, Math.max(-MAX_CLOCK_OFFSET, Math.min(MAX_CLOCK_OFFSET, offset)));
  };
  let current: Presented | undefined;
  let renewing: Promise<Presented> | undefined;

  /** A fresh agent token: minted by the agent's own provider, or from the external source. */
  async function fetchAgentToken(): Promise<Presented> {
    const now = config.now();
    let token: string;
    if (draft11.provider !== undefined) {
      token = draft11.provider.mintAgentToken({
        local: draft11.local,
        agentKey: config.key,
        ps: draft11.ps,
        lifetime: draft11.agentTokenLifetime,
      });
    } else if (typeof draft11.agentToken === 'function') {
      token = await draft11.agentToken();
    } else {
      token = draft11.agentToken!;
    }
    try {
      return readPresented(token, 'agent', thumbprint, now);
    } catch (error) {
      throw new AAuthError(isAAuthError(error) ? error.code : 'token_malformed', `The agent token is not usable: ${(error as Error).message}`, { status: 502 });
    }
  }

  /** One renewal at a time; `force` renews even a token that is still good (it was refused). */
  function renew(force: boolean): Promise<Presented> {
    if (!force && current !== undefined && presentable(current, config.now())) return Promise.resolve(current);
    if (force && draft11.provider === undefined && typeof draft11.agentToken === 'string') {
      return Promise.reject(new AAuthError('challenge_unsatisfiable', 'The resource refused the agent token and options.draft11.agentToken is a fixed string', { status: 502 }));
    }
    renewing ??= fetchAgentToken()
      .then((token) => {
        current = token;
        return token;
      })
      .finally(() => {
        renewing = undefined;
      });
    return renewing;
  }

  /** The person server of the agent: configured, else its agent token's `ps`. */
  async function ownPs(): Promise<string | undefined> {
    return draft11.ps ?? (await renew(false)).ps;
  }

  /**
   * Sign a request as -11 does: `Signature-Key: sig=jwt;jwt="..."`, covering `authorization` with a
   * session token. A request to a resource (`toResource`) declares what the agent can do in
   * `AAuth-Capabilities` (-11 "AAuth-Capabilities": agents SHOULD send it, and a resource that sees
   * none assumes no capability, so it would never answer requirement=interaction); a header the
   * caller set is kept.
   */
  function sign(request: { method: string; url: URL; headers: Headers | Record<string, string>; body: Uint8Array | undefined }, token: string, session: string | undefined, toResource = false, cover: readonly string[] = []): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [name, value] of new Headers(request.headers)) if (!(SIGNATURE_HEADERS as readonly string[]).includes(name)) headers[name] = value;
    if (session !== undefined) headers.authorization = `AAuth ${session}`;
    if (toResource && headers['aauth-capabilities'] === undefined) {
      const declared = capabilities();
      if (declared.length > 0) headers['aauth-capabilities'] = declared.join(', ');
    }
    const signed = signRequest(
      { method: request.method.toUpperCase(), url: request.url, headers, body: request.body },
      {
        key: config.key,
        signatureKey: { scheme: 'jwt', jwt: token },
        signatureKeyForm: 'dictionary',
        created: Math.floor(config.now() + (clockOffsets.get(request.url.origin) ?? 0)),
        // Profile section 5: a nonce is harmless to -11 peers and keeps replay caches apart.
        nonce: true,
        signatureEncoding: config.signer.options.signatureEncoding,
        ...(session !== undefined || cover.length > 0 ? { additionalComponents: [...cover, ...(session !== undefined ? ['authorization'] : [])] } : {}),
      },
    );
    return { ...headers, ...signed.headers };
  }

  /**
   * The components a resource asked to have covered, when the request can cover them: derived
   * components, the body's digest (computed when signing), and headers the request carries; else
   * the call ends, naming the one it cannot.
   */
  function coverable(required: readonly string[], headers: Headers): string[] {
    const out: string[] = [];
    for (const raw of required) {
      const name = raw.toLowerCase();
      if (name === 'signature-key' || name === 'content-digest' || name === 'authorization') continue;
      if (!name.startsWith('@') && !headers.has(name)) {
        throw new AAuthError('challenge_unsatisfiable', `The resource requires the ${JSON.stringify(name).slice(0, 80)} header to be covered by the signature, and the request has none: set it`, { status: 502 });
      }
      out.push(name);
    }
    return out;
  }

  /**
   * Run one flight to the person server (person token, auth token or mission), signed with the
   * agent token, in one `aauth.token_request` client span; polls are its events (docs/telemetry.md).
   */
  function fly(flight: Flight11, transport: typeof fetch, signal?: AbortSignal): Promise<Presented | ApprovedMission11> {
    const { telemetry } = config;
    const resource = flight.expect.resource === '' ? undefined : flight.expect.resource;
    const attributes = { [A.endpoint]: flight.kind, [A.authServer]: flight.ps, [A.resource]: resource, [A.generation]: 'draft-11' };
    return telemetry.span('aauth.token_request', 'client', attributes, async (span) => {
      let requests = 0;
      /** The origin the flight sent to last: a clock_skew correction is for it. */
      let sentTo: string | undefined;
      let state: Parameters<typeof nextFlight11>[0] = { phase: 'start', flight };
      let event: FlightEvent11 = { type: 'begin' };
      /** The pending URL of the request while the person server holds it open: withdrawn if the flight is given up. */
      let open: URL | undefined;
      try {
        for (;;) {
          // Every caller gave up: no further request, poll or wait.
          signal?.throwIfAborted();
          const step = nextFlight11(state, event);
          state = step.state;
          const { action } = step;
          // Open while it waits; a failure after a poll the server still answered as open (202, 429,
          // 503), or with no answer at all (the interaction deadline), leaves it open.
          const stillOpen = event.type !== 'answer' || event.status === 202 || event.status === 429 || event.status === 503;
          open = 'location' in state ? state.location : action.type === 'fail' ? (action.pending ?? (stillOpen ? open : undefined)) : undefined;
          switch (action.type) {
            case 'discover':
              event = { type: 'discovered', metadata: await resolver.resolve(action.ps, transport) };
              break;
            case 'request':
              sentTo = action.url.origin;
              event = await traceTokenRequest(span, requests++, action.url, async () => {
                const agent = await renew(false);
                const headers = signTraced(telemetry, 'jwt', () => sign({ method: action.method, url: action.url, headers: action.headers, body: action.body }, agent.token, undefined));
                return askTokenServer(config, transport, action.url, { method: action.method, headers, body: action.body }, signal);
              });
              break;
            case 'interact':
              event = await handOverInteraction(config, flight.ps, action.interaction);
              break;
            case 'clarify':
              // The caller's answer is awaited no longer than the flight's deadline, nor once every
              // caller gave up: the request is then withdrawn (below), not left for the person.
              event = await untilAborted(answerBy(askClarification(config, flight.ps, action.clarification), action.deadline), signal);
              break;
            case 'wait':
              await sleepUnlessAborted(config.sleep, action.ms, signal);
              event = { type: 'waited' };
              break;
            case 'renew':
              if (action.clockOffset !== undefined && sentTo !== undefined) learnOffset(sentTo, action.clockOffset);
              if (action.agentToken) await renew(true);
              event = { type: 'renewed' };
              break;
            case 'issued':
              recordIssued(telemetry, span, action.presented.token);
              return { ...action.presented, exp: Math.min(action.presented.exp, action.expiresAt) };
            case 'approved':
              span.set({ [A.outcome]: 'approved' });
              return action.mission;
            case 'fail':
              span.set({ [A.outcome]: 'refused' });
              throw action.error;
          }
        }
      } catch (error) {
        // Given up (aborted, timed out, the poll unanswered) while the person server still holds the
        // request: withdraw it (AAuth -11 "Cancel Request"), so no person is asked about it. Not an
        // interaction_required without a handler: the application may send the person to its url,
        // and the grant recorded there serves the call made again.
        if (open !== undefined && !(isAAuthError(error) && error.code === 'interaction_required')) withdraw(flight.ps, open, transport);
        throw error;
      }
    });
  }

  /** `answer`, unless the interaction deadline (epoch seconds) passes first: then interaction_timeout. */
  function answerBy<T>(answer: Promise<T>, deadline: number, whose = "the person server's question", then = 'the request was withdrawn'): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new AAuthError('interaction_timeout', `onClarification did not answer ${whose} before the interaction deadline (interactionTimeoutMs); ${then}`)),
        Math.max(0, (deadline - config.now()) * 1000),
      );
      timer.unref?.();
    });
    return Promise.race([answer, late]).finally(() => clearTimeout(timer));
  }

  /**
   * AAuth -11 "Cancel Request": a signed DELETE of the pending URL, sent on its own (the call that
   * gave up is not held for it), within WITHDRAW_TIMEOUT_MS; its outcome is the `withdrawn` event.
   */
  function withdraw(ps: string, url: URL, transport: typeof fetch): void {
    const done = (outcome: { status: number } | { code: string; message: string }) => config.emit({ type: 'withdrawn', authServer: ps, url: url.href, ...outcome });
    (async () => {
      const agent = await renew(false);
      const headers = sign({ method: 'DELETE', url, headers: {}, body: undefined }, agent.token, undefined);
      const res = await transport(url, { method: 'DELETE', headers, redirect: 'manual', signal: AbortSignal.timeout(WITHDRAW_TIMEOUT_MS) });
      await res.body?.cancel();
      done({ status: res.status });
    })().catch((error: unknown) => done({ code: isAAuthError(error) ? error.code : (error as Error)?.name ?? 'Error', message: String((error as Error)?.message ?? error) }));
  }

  /** A person token or auth token flight. */
  async function flyToken(flight: Flight11, transport: typeof fetch, signal?: AbortSignal): Promise<Presented> {
    const result = await fly(flight, transport, signal);
    if ('personTokens' in result) throw new Error(`A ${flight.kind} token flight ended with a mission`);
    return result;
  }

  /** Propose a mission at the agent's person server (-11 "Mission Creation"); hold the person tokens of its approval. */
  async function proposeMission(transport: typeof fetch, proposal: Record<string, unknown>): Promise<ApprovedMission11> {
    const ps = await ownPs();
    if (ps === undefined) {
      throw new AAuthError('challenge_unsatisfiable', 'agent.proposeMission() needs a person server: options.draft11.ps, or an agent token naming one (ps)', { status: 502 });
    }
    // The hints go along: a person server may need them to find the person to ask (introspection-aauth does).
    const payload = { ...proposal, ...draft11.hints };
    const result = await fly({ kind: 'mission', ps, payload, expect: { kind: 'person', thumbprint, resource: '', issuer: ps }, interaction: config.interaction, allowLoopback: draft11.allowLoopback }, transport);
    if (!('personTokens' in result)) throw new Error('A mission flight ended with a token');
    // -11 "Mission Approval": a person token per approved resource, held as if asked for in this mission.
    for (const [resource, token] of result.personTokens) {
      let origin: string;
      try {
        origin = new URL(resource).origin;
      } catch {
        continue; // not a resource identifier: nothing to hold it for
      }
      persons.set(tokenKey(origin, upstreamHash(undefined), result.s256), token);
    }
    return result;
  }

  /** One flight per key at a time (single flight), cancelled when every caller's `signal` aborted. */
  function shared(key: string, run: (signal: AbortSignal) => Promise<Presented>, signal: AbortSignal | undefined): Promise<Presented> {
    return joinShared(inflight, key, run, signal);
  }

  const capabilities = (): string[] => [...(config.interaction.handler ? ['interaction'] : []), ...(config.interaction.clarify ? ['clarification'] : [])];

  /**
   * Begin one -11 call: the machine's state and the call's effects, stepped by an adapter that
   * sends (agent.fetch's loop below, or the got hooks). Token flights, waits and interactions
   * happen inside `next`; the adapter only sends, and feeds each answer back.
   */
  function begin(transport: typeof fetch, request: Hop11, options: AAuthCallOptions | undefined, signal?: AbortSignal | undefined): Call11 {
    let state: CallState11 = { phase: 'start' };
    let self: Self11 | undefined;
    /** The URL that answered last (after redirects): where requirements come from. */
    let answered: URL | undefined;
    /** What the send under way presents, and the agent token it falls back to on another origin. */
    let presentedNow: Presented | undefined;
    let agentNow: Presented | undefined;
    let sessionSent = false;
    /** Components the resource asked to have covered (401 invalid_input's required_input), for the rest of the call. */
    let cover: string[] = [];
    let callerToken: Presented | undefined;
    /** The upstream token's `mission_s256`, if any (a chained call). */
    let upstreamMission: string | undefined;
    const upstreamToken = options?.upstreamToken;
    const chain = upstreamHash(upstreamToken);
    // -11 "Person Token Endpoint": one person token per resource and mission; the auth tokens
    // issued from it carry the mission too, so both are held per (resource, chain, mission).
    const mission = options?.missionS256 === null ? undefined : (options?.missionS256 ?? draft11.missionS256);
    const keyFor = (origin: string): string => tokenKey(origin, chain, mission);
    const emitAt = (url: URL, method = request.method): { method: string; url: string } => ({ method, url: `${url.origin}${url.pathname}` });

    async function selfOf(): Promise<Self11> {
      let upstreamPs: string | undefined;
      let upstreamClaims: Record<string, unknown> | undefined;
      if (upstreamToken !== undefined) {
        // Section 8, item 7: a chained request goes to the person server named by the upstream token's `ps`.
        try {
          const { claims } = decodeToken(upstreamToken);
          upstreamClaims = claims;
          upstreamPs = typeof claims.ps === 'string' ? claims.ps : typeof claims.iss === 'string' ? claims.iss : undefined;
        } catch {
          upstreamPs = undefined;
        }
        if (upstreamPs === undefined) throw new AAuthError('token_malformed', 'init.upstreamToken is not an auth token naming its person server (ps)', { status: 502 });
        upstreamMission = typeof upstreamClaims?.mission_s256 === 'string' ? upstreamClaims.mission_s256 : undefined;
      }
      // The caller's own auth token: an aa-auth+jwt bound to this key, still valid.
      callerToken = options?.authToken === undefined ? undefined : readPresented(options.authToken, 'auth', thumbprint, config.now());
      return { thumbprint, ps: upstreamPs ?? (await ownPs()), interaction: config.interaction, allowLoopback: draft11.allowLoopback };
    }

    async function next(input: Input11): Promise<Outward11> {
      let event: CallEvent11;
      if (input.type === 'begin') {
        self = await selfOf();
        event = { type: 'begin' };
      } else {
        answered = input.url;
        // A redirect to another origin drops the person or auth token: the agent token went there.
        const presented = input.carried ? presentedNow! : agentNow!;
        event = { type: 'response', url: input.url, status: input.status, headers: input.headers, presented, session: sessionSent, now: config.now(), body: input.body };
      }
      const me = self!;
      for (;;) {
        const here = answered?.origin ?? request.url.origin;
        const step = nextStep11(me, state, event, persons.get(keyFor(here)));
        state = step.state;
        const { action } = step;
        switch (action.type) {
          case 'present': {
            if (action.evict !== undefined) {
              for (const store of [persons, auths]) if (store.get(keyFor(here))?.token === action.evict.token) store.delete(keyFor(here));
              if (callerToken?.token === action.evict.token) callerToken = undefined;
            }
            let presented: Presented | undefined;
            if (action.which === 'best') {
              const now = config.now();
              const held = [callerToken, auths.get(keyFor(here)), persons.get(keyFor(here))].find((t) => t !== undefined && presentable(t, now));
              presented = held;
              callerToken = undefined; // the caller's token is tried once
            }
            event = { type: 'presentation', presented: presented ?? (await renew(false)) };
            break;
          }
          case 'renew-agent':
            event = { type: 'presentation', presented: await renew(true) };
            break;
          case 'obtain-person': {
            if (action.evict !== undefined) for (const store of [persons, auths]) if (store.get(keyFor(here))?.token === action.evict.token) store.delete(keyFor(here));
            config.emit({ type: 'challenged', ...emitAt(answered!), require: 'person-token', resource: here });
            const payload: Record<string, unknown> = { resource: here, capabilities: capabilities(), ...draft11.hints };
            if (upstreamToken !== undefined) payload.upstream_token = upstreamToken;
            if (mission !== undefined) payload.mission_s256 = mission;
            const person = await shared(`person ${keyFor(here)}`, async (own) => {
              const issued = await flyToken(
                {
                  kind: 'person',
                  ps: me.ps!,
                  payload,
                  // The person server stamps the mission it was asked for, and only that one.
                  expect: { kind: 'person', thumbprint, resource: here, issuer: me.ps!, missionS256: mission, ...(mission === undefined ? { upstreamMission } : {}) },
                  interaction: config.interaction,
                  allowLoopback: draft11.allowLoopback,
                },
                transport,
                own,
              );
              persons.set(keyFor(here), issued);
              return issued;
            }, signal);
            event = { type: 'presentation', presented: person };
            break;
          }
          case 'obtain-auth': {
            const rt = action.resourceToken;
            config.emit({ type: 'challenged', ...emitAt(answered!), require: 'auth-token', resource: rt.iss, authServer: me.ps, scope: rt.scope });
            // -11 section 7.2.1 (AG-21): `presented_token` is the token the challenged request carried.
            const payload: Record<string, unknown> = { resource_token: rt.token, presented_token: action.presented.token, capabilities: capabilities(), ...draft11.hints };
            if (upstreamToken !== undefined) payload.upstream_token = upstreamToken;
            if (rt.loginHint !== undefined) payload.login_hint = rt.loginHint;
            const auth = await shared(`auth ${keyFor(here)} ${rt.presentedJti} ${rt.scope}`, async (own) => {
              const issued = await flyToken(
                {
                  kind: 'auth',
                  ps: me.ps!,
                  payload,
                  // -11 "Auth Token": `mission_s256` is copied from the resource token.
                  expect: { kind: 'auth', thumbprint, resource: rt.iss, issuer: rt.aud, sub: rt.sub, missionS256: rt.missionS256 },
                  interaction: config.interaction,
                  allowLoopback: draft11.allowLoopback,
                },
                transport,
                own,
              );
              auths.set(keyFor(here), issued);
              config.emit({ type: 'exchanged', resource: rt.iss, authServer: me.ps!, scope: rt.scope, exchange: upstreamToken !== undefined, cached: false, expiresAt: issued.exp });
              return issued;
            }, signal);
            event = { type: 'presentation', presented: auth };
            break;
          }
          case 'send':
            if (action.clockOffset !== undefined && answered !== undefined) learnOffset(answered.origin, action.clockOffset);
            if (action.cover !== undefined) cover = action.cover;
            // A deferred call's pending URL is polled with GET (-11 "Deferred Responses"), whatever the call's method.
            if (answered !== undefined) config.emit({ type: 'retried', ...(action.poll !== undefined ? emitAt(action.poll, 'GET') : emitAt(answered)) });
            if (action.poll !== undefined) config.telemetry.active().event('aauth.interaction.poll', { [A.url]: `${action.poll.origin}${action.poll.pathname}` });
            agentNow = await renew(false);
            presentedNow = action.presented;
            return { type: 'send', presented: action.presented, poll: action.poll, answer: action.answer };
          case 'clarify': {
            // The resource's question (-11 "Clarification Required"), answered within the call's deadline.
            const asked = askClarification(config, here, action.clarification);
            event = await untilAborted(action.deadline === undefined ? asked : answerBy(asked, action.deadline, "the resource's question", 'the call ends'), signal);
            break;
          }
          case 'interact':
            config.emit({ type: 'interaction', authServer: here, url: action.interaction.url, code: action.interaction.code });
            await config.onInteraction?.(action.interaction);
            event = { type: 'interacted', now: config.now() };
            break;
          case 'wait':
            await sleepUnlessAborted(config.sleep, action.ms, signal);
            event = { type: 'waited' };
            break;
          case 'return': {
            const at = answered!.origin;
            // A session is the resource's for this caller chain and mission, as tokens are: an
            // intermediary serving several users never presents one user's session for another.
            if (typeof action.session === 'string') sessions.set(keyFor(at), action.session);
            else if (action.session === null) sessions.delete(keyFor(at));
            generations.set(at, 'draft-11');
            return { type: 'return' };
          }
          case 'reject': {
            let challenge: Challenge | undefined;
            try {
              challenge = input.type === 'response' ? parseChallenge(input.headers) : undefined;
            } catch {
              challenge = undefined;
            }
            return { type: 'reject', code: action.code, message: action.message, challenge };
          }
          case 'fail':
            throw action.error;
        }
      }
    }

    return {
      next,
      sign(hop, token) {
        const session = sessions.get(keyFor(hop.url.origin));
        sessionSent = session !== undefined;
        return signTraced(config.telemetry, 'jwt', () => {
          config.emit({ type: 'signed', ...emitAt(hop.url), scheme: 'jwt' });
          return sign(hop, token ?? agentNow!.token, session, true, cover.length === 0 ? cover : coverable(cover, new Headers(hop.headers)));
        });
      },
      failed(error, at) {
        const thrown = downstream(error);
        if (isAAuthError(thrown)) config.emit({ type: 'failed', ...emitAt(at ?? answered ?? request.url), code: thrown.code, message: thrown.message });
        return thrown;
      },
    };
  }

  /** A signal for one poll of `url`: aborted by the caller's, or past config.tokenRequest.timeoutMs with resource_unreachable. */
  function boundedPoll(parent: AbortSignal | undefined, url: URL): { signal: AbortSignal; done(): void } {
    const controller = new AbortController();
    const seconds = config.tokenRequest.timeoutMs / 1000;
    const timer = setTimeout(
      () => controller.abort(new AAuthError('resource_unreachable', `The resource did not answer a poll of its pending URL ${url.origin}${url.pathname} within ${seconds} s`)),
      config.tokenRequest.timeoutMs,
    );
    timer.unref?.();
    const onAbort = (): void => controller.abort(parent!.reason);
    if (parent?.aborted) controller.abort(parent.reason);
    else parent?.addEventListener('abort', onAbort, { once: true });
    return {
      signal: controller.signal,
      done() {
        clearTimeout(timer);
        parent?.removeEventListener('abort', onAbort);
      },
    };
  }

  /**
   * The body of a resource's `202 requirement=clarification` (its question), read from a copy of
   * the response (the response itself stays readable: it may be refused with it), at most
   * `tokenRequest.maxBytes`; undefined for any other response.
   */
  async function clarificationBody(response: Response): Promise<Uint8Array | undefined> {
    if (response.status !== 202 || !isClarification(response.headers.get('aauth-requirement'))) return undefined;
    try {
      // Bounded in size and time: a question longer than that is no question (the machine says so).
      return await readBounded(response.clone().body, config.tokenRequest.maxBytes, REFUSAL_TIMEOUT_MS);
    } catch {
      return undefined;
    }
  }

  /** agent.fetch's -11 call: each send through the one redirect follower, `begin` does the rest. */
  async function call(transport: typeof fetch, request: PreparedRequest, options: AAuthCallOptions | undefined): Promise<Response> {
    const run = begin(transport, request, options, request.signal);
    let last: Sent | undefined;
    try {
      let out = await run.next({ type: 'begin' });
      for (;;) {
        switch (out.type) {
          case 'send': {
            if (last !== undefined) await discard(last.response);
            // A poll is a request of the agent's own: bounded like a token request (a pending URL
            // that never answers ends the call), and by the caller's signal.
            const poll = out.poll === undefined ? undefined : boundedPoll(request.signal, out.poll);
            const base: PreparedRequest =
              out.poll === undefined
                ? (last?.request ?? request)
                : out.answer !== undefined
                  ? // A clarification response: a signed JSON POST to the pending URL (its digest covered).
                    { ...request, method: 'POST', url: out.poll, headers: new Headers({ accept: 'application/json', 'content-type': 'application/json' }), body: new TextEncoder().encode(JSON.stringify(out.answer)), signal: poll!.signal }
                  : { ...request, method: 'GET', url: out.poll, headers: new Headers({ accept: request.headers.get('accept') ?? '*/*' }), body: undefined, signal: poll!.signal };
            try {
              last = await sendFollowing(transport, base, { token: out.presented.token }, (hop, token) => run.sign(hop, token));
            } finally {
              poll?.done();
            }
            out = await run.next({ type: 'response', url: last.request.url, status: last.response.status, headers: last.response.headers, carried: last.carried !== undefined, body: await clarificationBody(last.response) });
            break;
          }
          case 'return':
            return last!.response;
          case 'reject':
            throw await challengeError(out, last!.response);
        }
      }
    } catch (error) {
      throw run.failed(error, last?.request.url);
    }
  }

  return {
    draft11,
    agentToken: () => renew(false),
    learnt: (origin) => generations.get(origin),
    learn: (origin, generation) => void generations.set(origin, generation),
    call,
    begin,
    proposeMission,
    flush() {
      persons.clear();
      auths.clear();
      sessions.clear();
      resolver.clear();
    },
    invalidate(resource) {
      let origin: string;
      try {
        origin = new URL(resource).origin;
      } catch {
        return;
      }
      for (const store of [persons, auths, sessions]) for (const key of [...store.keys()]) if (key.startsWith(`${origin} `)) store.delete(key);
    },
  };
}
