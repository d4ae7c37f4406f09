import { AAuthError, AUTH_TOKEN_11, computeThumbprint, parseRequirement, parseScope, signRequest, type ParsedRequirement, type SigningKey } from '@aauth-kit/core';
import { MAX_CLARIFICATION_ROUNDS, MAX_CLARIFICATION_TEXT, interactionUrlProblem, serverIdentifierProblem } from '@aauth-kit/core/internal';
import type { Verifier } from '@aauth-kit/verifier';

// The person server's side of four-party (AAuth -11 "PS-AS Federation", "AS Response", "Auth Token
// Delivery"; checklist PS-50..PS-55, AS-21, AS-22): discover the access server named by the resource
// token's `aud`, POST it the token request signed as this person server, follow its deferred answers
// ("Deferred Responses": 202 polled with signed GETs, `requirement=claims` answered, an interaction
// passed to the agent), and check the auth token before the agent sees it.

/** An access server's refusal, relayed to the agent with its `error` value and status (AS-22). */
export class RelayedRefusal extends AAuthError {
  constructor(status: number, error: string, detail: string) {
    super('access_server_refused', detail, { status });
    // The access server's own code, not the kit's table's: the agent reads what the AS said.
    Object.defineProperty(this, 'error', { value: error, enumerable: true });
  }
}

/** What the person server sends and what it expects back. */
export interface FederationRequest {
  /** The access server: the resource token's `aud`. */
  accessServer: string;
  resourceToken: string;
  agentToken: string;
  presentedToken?: string | undefined;
  upstreamToken?: string | undefined;
  /** The resource token's claims the answer is checked against. */
  resource: string;
  sub: string;
  scope: string;
  /** The agent's key thumbprint (`cnf.jwk` of the answer). */
  agentJkt: string;
  /** No token the agent gets outlives this (the agent token's, the person and upstream tokens' `exp`). */
  expCap: number;
  /** The agent's request ends then (epoch seconds): no request to the access server outlives it. */
  deadline?: number | undefined;
  /** `requirement=claims`: the person's claims of those names that this server holds (never `sub`, PS-55). */
  claims?: ((names: string[]) => Record<string, unknown>) | undefined;
  /** Who asked, for key discovery limits. */
  caller?: string | undefined;
  /** The agent declared the `clarification` capability: an access server's question is passed to it. */
  clarify?: boolean | undefined;
}

/**
 * An access server's deferred answer (AAuth -11 "Deferred Responses") that the person server goes
 * on polling while the agent's own request waits; kept with that pending request.
 */
export interface FederationPending {
  /** The access server's pending URL (`Location`, on its origin). */
  location: string;
  /** Seconds between polls: its `Retry-After` (default 5), five more after each 429. */
  interval: number;
  /** Epoch seconds: the access server is not polled again before. */
  retryAt: number;
  /** `requirement=interaction`: where the person goes; the person server's 202 tells the agent. */
  interaction?: { url: string; code: string } | undefined;
  /**
   * `requirement=clarification` (AAuth -11 "AS Response"): the access server's question, passed to
   * the agent in the person server's 202 until it answers (the access server is not polled meanwhile).
   */
  clarification?: { question: string; timeout?: number | undefined; options?: string[] | undefined } | undefined;
  /** The access server's questions so far in this token request (at most MAX_CLARIFICATION_ROUNDS). */
  clarifications?: number | undefined;
  /** The access server issued in answer to the agent's clarification response: delivered at the next poll (checked). */
  issued?: Record<string, unknown> | undefined;
  /** The access server refused in answer to the agent's clarification response: relayed at the next poll. */
  refused?: { status: number; error: string; detail: string } | undefined;
}

/** The access server issued (the auth token, checked), or it is still deciding. */
export type FederationOutcome = { kind: 'token'; body: Record<string, unknown> } | { kind: 'pending'; pending: FederationPending };

export interface FederationConfig {
  /** This person server's identifier (`id` of its signature, `ps` of the answer). */
  issuer: string;
  key: SigningKey;
  /** Fetches and checks the access server's metadata and keys (egress policy, caches). */
  verifier: Verifier;
  allowLoopback: boolean;
  /** Access servers federated to (`aauth.person.trusted.access.servers`); empty: none, four-party is off. */
  trustedAccessServers: readonly string[];
  fetch: typeof fetch;
  now: () => number;
  /** Longest wait for one answer of the access server, milliseconds; default 10000. */
  timeoutMs?: number | undefined;
}

/** As_unreachable (502): the agent may retry with a fresh resource token after a backoff (AS-22). */
const unreachable = (why: string, cause?: unknown) => new AAuthError('as_unreachable', `The access server could not issue the token: ${why}`, cause === undefined ? {} : { cause });

/** AAuth -11 "Polling with GET": 5 s without `Retry-After`; the kit polls at least every 300 s. */
const DEFAULT_INTERVAL = 5;
const MAX_INTERVAL = 300;
/** `requirement=claims` rounds one token request may take (a server asking forever is not followed). */
const MAX_CLAIMS_ROUNDS = 3;

/** `Retry-After` in seconds (delta-seconds only; `0` is "now"), else `fallback`. */
function retryAfterOf(headers: Headers, fallback: number): number {
  const text = headers.get('retry-after')?.trim();
  return text !== undefined && /^\d{1,9}$/.test(text) ? Math.min(MAX_INTERVAL, Number(text)) : fallback;
}

/** What one signed request to the access server brought back. */
interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown> | undefined;
}

/** The four-party federation of one person server. */
export function createFederation(config: FederationConfig) {
  const { issuer, key, verifier, allowLoopback, trustedAccessServers } = config;
  const timeoutMs = config.timeoutMs ?? 10_000;

  /** Refuse an access server the person server does not federate to, before anything is fetched from it. */
  function checkTrusted(accessServer: string): void {
    if (!trustedAccessServers.includes(accessServer)) {
      throw new AAuthError('resource_token_invalid', `resource_token: aud ${accessServer} is neither this person server nor an access server it federates to (realm attribute aauth.person.trusted.access.servers)`);
    }
  }

  /** The request's deadline passed while the access server was still deciding (AAuth -11 "Polling Error Codes": 408 expired). */
  const expired = (request: Pick<FederationRequest, 'accessServer'>) =>
    new AAuthError('pending_expired', `The access server ${request.accessServer} did not issue the token before this request expired; start over with a fresh resource token`);

  /**
   * One request to the access server, signed as this person server (sig=jwks_uri, id, dwk
   * aauth-person.json; a body covered by content-type and content-digest), bounded by the timeout
   * and by the agent request's deadline.
   */
  async function send(request: Pick<FederationRequest, 'accessServer' | 'deadline'>, method: 'GET' | 'POST' | 'DELETE', url: string, json?: unknown, prefer?: string): Promise<Answer> {
    const body = json === undefined ? undefined : JSON.stringify(json);
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    if (prefer !== undefined) headers.prefer = prefer;
    const signed = signRequest(
      { method, url, headers, body },
      { key, signatureKey: { scheme: 'jwks_uri', id: issuer, dwk: 'aauth-person.json', kid: key.kid }, nonce: true, now: config.now },
    );
    const left = request.deadline === undefined ? Infinity : Math.floor((request.deadline - config.now()) * 1000);
    if (left <= 0) throw expired(request);
    const wait = Math.min(timeoutMs, left);
    try {
      const res = await config.fetch(url, { method, headers: { ...headers, ...signed.headers }, body, redirect: 'manual', signal: AbortSignal.timeout(wait) });
      const text = (await res.text()).slice(0, 64 * 1024);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const object = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
      return { status: res.status, headers: res.headers, json: object };
    } catch (error) {
      // Cut short by the agent request's deadline, not by the access server's silence alone.
      if (wait < timeoutMs && (error as Error).name === 'TimeoutError') throw expired(request);
      throw unreachable(`no answer from ${url} within ${wait} ms (${(error as Error).message})`, error);
    }
  }

  /**
   * The agent withdrew the request this server was polling the access server for (AAuth -11 "Cancel
   * Request"): withdraw it there too, with a signed DELETE of the access server's pending URL, within
   * the timeout. Its answer is the access server's affair: resolved with the status, or the error.
   */
  async function withdraw(accessServer: string, pending: FederationPending): Promise<number> {
    return (await send({ accessServer, deadline: undefined }, 'DELETE', pending.location)).status;
  }

  /** Ask the access server for the token: its 200 checked, or its deferred answer to poll. */
  async function federate(request: FederationRequest): Promise<FederationOutcome> {
    checkTrusted(request.accessServer);
    let endpoint: string;
    try {
      const metadata = await verifier.resolveServerMetadata(request.accessServer, 'aauth-access.json', request.caller);
      endpoint = String(metadata.auth_token_endpoint);
      // The endpoint is the access server's own: never a request to another origin on its say-so.
      if (new URL(endpoint).origin !== request.accessServer) throw new Error(`auth_token_endpoint ${endpoint.slice(0, 200)} is not on ${request.accessServer}`);
    } catch (error) {
      throw unreachable(`its metadata (${(error as Error).message})`, error);
    }
    const answer = await send(request, 'POST', endpoint, {
      resource_token: request.resourceToken,
      agent_token: request.agentToken,
      ...(request.presentedToken !== undefined ? { presented_token: request.presentedToken } : {}),
      ...(request.upstreamToken !== undefined ? { upstream_token: request.upstreamToken } : {}),
    });
    return settle(request, answer, endpoint, undefined, 0);
  }

  /**
   * Poll a deferred answer (AAuth -11 "Polling with GET"): a signed GET of its pending URL once its
   * `Retry-After` has passed; before that, still pending as it was.
   */
  async function resume(request: FederationRequest, pending: FederationPending, wait = 0): Promise<FederationOutcome> {
    if (pending.issued !== undefined) return { kind: 'token', body: pending.issued };
    if (pending.refused !== undefined) throw new RelayedRefusal(pending.refused.status, pending.refused.error, pending.refused.detail);
    if (request.deadline !== undefined && request.deadline <= config.now()) throw expired(request);
    // The access server waits for the agent's answer to its question: nothing to ask it meanwhile.
    if (pending.clarification !== undefined) return { kind: 'pending', pending };
    if (config.now() < pending.retryAt) return { kind: 'pending', pending };
    // The agent's own long poll (Prefer: wait) is passed on, within one answer's timeout and the
    // request's deadline: the access server may hold the poll until it decides (RFC 7240).
    const left = request.deadline === undefined ? Infinity : request.deadline - config.now();
    const hold = Math.floor(Math.min(wait, timeoutMs / 1000 - 1, left - 1));
    return settle(request, await send(request, 'GET', pending.location, undefined, hold >= 1 ? `wait=${hold}` : undefined), pending.location, pending, 0);
  }

  /**
   * The agent's answer to the access server's question (AAuth -11 "Clarification Response"): POSTed,
   * signed as this person server, to the access server's pending URL. Its acknowledgement (a 2xx
   * without a token) lets the polls go on; a 202 is read as any deferred answer (another question, an
   * interaction), a 200 is the token (checked, kept for the agent's next poll), a refusal is relayed.
   */
  async function answer(request: FederationRequest, pending: FederationPending, text: string): Promise<FederationOutcome> {
    if (request.deadline !== undefined && request.deadline <= config.now()) throw expired(request);
    const { clarification: _answered, ...rest } = pending;
    const next: FederationPending = { ...rest, retryAt: config.now() };
    const reply = await send(request, 'POST', pending.location, { action: 'clarification_response', clarification_response: text });
    if (reply.status >= 200 && reply.status < 300 && reply.status !== 200 && reply.status !== 202) return { kind: 'pending', pending: next };
    try {
      return await settle(request, reply, pending.location, next, 0);
    } catch (error) {
      // A refusal (denied, expired, ...) ends the request at the agent's next poll, as a polled one does.
      if (error instanceof RelayedRefusal) return { kind: 'pending', pending: { ...next, refused: { status: error.status, error: error.error, detail: error.message } } };
      throw error;
    }
  }

  /** What an answer of the access server means (AAuth -11 "AS Response", "Deferred Response State Machine"). */
  async function settle(request: FederationRequest, answer: Answer, url: string, polling: FederationPending | undefined, rounds: number): Promise<FederationOutcome> {
    const { status, json } = answer;
    if (status === 200) return { kind: 'token', body: await delivered(request, json) };
    if (status === 202) return accepted(request, answer, url, polling, rounds);
    if (status === 402) {
      // "Payment required": the PS settles payment by a payment protocol and polls; the kit has none.
      throw new AAuthError('as_payment_unsupported', `The access server ${request.accessServer} requires payment (402) before it issues tokens, and this person server cannot settle payments`);
    }
    if (polling !== undefined && (status === 429 || status === 503)) {
      // Not terminal while polling: 429 slows down by five seconds, 503 backs off per Retry-After.
      const interval = status === 429 ? Math.min(MAX_INTERVAL, polling.interval + 5) : retryAfterOf(answer.headers, polling.interval);
      return { kind: 'pending', pending: { ...polling, interval, retryAt: config.now() + interval } };
    }
    // A terminal refusal of the AS (4xx with a code: denied, expired, invalid_code, ...) is relayed with its status.
    const code = json?.error;
    if (status >= 400 && status < 500 && status !== 401 && typeof code === 'string' && /^[a-z_]{1,64}$/.test(code)) {
      const detail = typeof json?.detail === 'string' ? json.detail.slice(0, 500) : `The access server refused with ${code}`;
      throw new RelayedRefusal(status, code, `The access server ${request.accessServer} refused: ${detail}`);
    }
    // A 401 is the AS refusing this person server's signature: not the agent's to repair.
    throw unreachable(`${url} answered ${status}${typeof code === 'string' ? ` ${code.slice(0, 64)}` : ''}`);
  }

  /** A 202: what the access server needs before it issues (AAuth -11 "AS Response", "Requirement Values"). */
  async function accepted(request: FederationRequest, answer: Answer, url: string, polling: FederationPending | undefined, rounds: number): Promise<FederationOutcome> {
    // "Pending Response": Location on the responding server's origin; a poll's 202 may leave it out.
    let location = polling?.location;
    const sent = answer.headers.get('location');
    if (sent !== null) {
      let at: URL | undefined;
      try {
        at = new URL(sent, url);
      } catch {
        at = undefined;
      }
      if (at === undefined || at.origin !== request.accessServer) throw unreachable(`its 202 names a pending URL that is not on ${request.accessServer}`);
      location = at.href;
    }
    if (location === undefined) throw unreachable('its 202 has no Location to poll');
    let requirement: ParsedRequirement | undefined;
    const header = answer.headers.get('aauth-requirement');
    try {
      requirement = header === null ? undefined : parseRequirement(header);
    } catch (error) {
      throw unreachable(`its 202 has a malformed AAuth-Requirement (${(error as Error).message})`, error);
    }
    const interval = retryAfterOf(answer.headers, polling?.interval ?? DEFAULT_INTERVAL);
    const pending: FederationPending = { location, interval, retryAt: config.now() + interval };
    if (polling?.interaction !== undefined) pending.interaction = polling.interaction;
    if (polling?.clarifications !== undefined) pending.clarifications = polling.clarifications;
    switch (requirement?.requirement) {
      case undefined:
      case 'approval':
        return { kind: 'pending', pending };
      case 'interaction':
        // "The PS directs the user to the AS's interaction URL, or passes the interaction requirement back to the agent": passed back.
        pending.interaction = interactionOf(request, requirement);
        return { kind: 'pending', pending };
      case 'claims': {
        // "Claims Required": the claims asked for, POSTed (signed) to the pending URL; never `sub` (PS-55).
        if (rounds >= MAX_CLAIMS_ROUNDS) throw unreachable(`it asked for claims ${rounds + 1} times for one token request`);
        const asked = Array.isArray(answer.json?.required_claims) ? answer.json.required_claims : [];
        const names = asked.filter((n): n is string => typeof n === 'string' && n !== 'sub' && n.length <= 128).slice(0, 64);
        const { sub: _never, ...claims } = request.claims?.(names) ?? {};
        return settle(request, await send(request, 'POST', location, claims), location, pending, rounds + 1);
      }
      case 'clarification': {
        // "The PS MAY pass the clarification down to the agent via a 202 response": to an agent that
        // declared it can answer; the person server answers none itself.
        if (request.clarify !== true) {
          throw new AAuthError(
            'as_requirement_unsupported',
            `The access server ${request.accessServer} asks a clarification, and the agent declared no clarification capability to answer it (capabilities: ["clarification"] in its token request)`,
          );
        }
        const question = answer.json?.clarification;
        if (typeof question !== 'string' || question.trim() === '' || question.length > MAX_CLARIFICATION_TEXT) {
          throw unreachable(`its requirement=clarification has no question (its body needs "clarification": a non-empty string of at most ${MAX_CLARIFICATION_TEXT} characters)`);
        }
        const asked = (polling?.clarifications ?? 0) + 1;
        if (asked > MAX_CLARIFICATION_ROUNDS) throw unreachable(`it asked a clarification ${asked} times for one token request (at most ${MAX_CLARIFICATION_ROUNDS})`);
        const { timeout, options } = answer.json!;
        pending.clarification = { question };
        if (typeof timeout === 'number' && Number.isFinite(timeout) && timeout >= 0) pending.clarification.timeout = Math.floor(timeout);
        // Its discrete answers, passed on when they are what the draft says (a list of short strings); else left out.
        if (Array.isArray(options) && options.length > 0 && options.length <= 20 && options.every((o) => typeof o === 'string' && o.trim() !== '' && o.length <= 512)) {
          pending.clarification.options = options as string[];
        }
        pending.clarifications = asked;
        return { kind: 'pending', pending };
      }
      default:
        throw new AAuthError(
          'as_requirement_unsupported',
          `The access server ${request.accessServer} answered 202 with requirement=${requirement!.requirement.slice(0, 64)}, which this person server does not support (it answers claims, polls approval, passes interaction and clarification on)`,
        );
    }
  }

  /** `requirement=interaction`'s url and code ("Interaction Required"), checked before an agent is sent there. */
  function interactionOf(request: FederationRequest, requirement: ParsedRequirement): { url: string; code: string } {
    const { url, code } = requirement;
    let problem: string | undefined = url === undefined ? 'has no url' : undefined;
    if (url !== undefined) {
      // The loopback relaxation admits http on local hosts, as for every other server URL.
      let loopbackHttp = false;
      try {
        loopbackHttp = allowLoopback && url.startsWith('http:') && serverIdentifierProblem(new URL(url).origin, { allowLoopback }) === undefined;
      } catch {
        loopbackHttp = false; // not a URL: interactionUrlProblem names it
      }
      const why = interactionUrlProblem(loopbackHttp ? `https:${url.slice(5)}` : url);
      if (why !== undefined) problem = `url ${why}`;
    }
    if (code === undefined || !/^[0-9A-Za-z-]{4,64}$/.test(code)) problem ??= 'has no usable code';
    if (problem !== undefined || url === undefined || code === undefined) throw unreachable(`its requirement=interaction ${problem ?? ''}`);
    return { url, code };
  }

  /** Auth Token Delivery: the access server's 200, verified before the agent sees it. */
  async function delivered(request: FederationRequest, answer: Record<string, unknown> | undefined): Promise<Record<string, unknown>> {
    const token = answer?.auth_token;
    if (typeof token !== 'string') throw unreachable('its answer has no auth_token');
    let claims: Record<string, unknown>;
    try {
      claims = (await verifier.verifyToken(token, AUTH_TOKEN_11, { audience: request.resource, issuers: [request.accessServer], allowLoopback, caller: request.caller })).claims;
    } catch (error) {
      throw unreachable(`its auth token does not verify (${(error as Error).message})`, error);
    }
    const problem = deliveryProblem(claims, request, issuer);
    if (problem !== undefined) throw unreachable(`its auth token ${problem}`);
    const expiresIn = Math.max(0, Number(claims.exp) - Math.floor(config.now()));
    return { auth_token: token, expires_in: expiresIn };
  }

  return { federate, resume, answer, withdraw, checkTrusted };
}
/** What is wrong with an access server's auth token for this request, or undefined (Auth Token Delivery; AS-20, AS-21). */
export function deliveryProblem(claims: Record<string, unknown>, request: FederationRequest, issuer: string): string | undefined {
  if (claims.iss !== request.accessServer) return `has iss ${String(claims.iss).slice(0, 200)}, not ${request.accessServer}`;
  if (claims.dwk !== 'aauth-access.json') return 'has no dwk "aauth-access.json"';
  if (claims.aud !== request.resource) return `has aud ${String(claims.aud).slice(0, 200)}, not the resource ${request.resource}`;
  if (claims.ps !== issuer) return `has ps ${String(claims.ps).slice(0, 200)}, not this person server`;
  if (claims.sub !== request.sub) return 'has another sub than the resource token';
  const jwk = (claims.cnf as { jwk?: unknown } | undefined)?.jwk;
  let jkt: string | undefined;
  try {
    jkt = jwk === undefined ? undefined : computeThumbprint(jwk as never);
  } catch {
    jkt = undefined;
  }
  if (jkt !== request.agentJkt) return "is not bound (cnf.jwk) to the agent's key";
  const asked = new Set(parseScope(request.scope));
  const broader = claims.scope === undefined ? [] : parseScope(String(claims.scope)).filter((s) => !asked.has(s));
  if (broader.length > 0) return `grants ${broader.join(' ')}, beyond the resource token's scope`;
  if (Number(claims.exp) > request.expCap) return 'outlives the agent token or the tokens presented (exp)';
  return undefined;
}

export type Federation = ReturnType<typeof createFederation>;
