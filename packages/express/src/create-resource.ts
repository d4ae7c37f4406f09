import {
  ACCEPT_SIGNATURE_ALGS,
  AAuthError,
  buildChallenge,
  computeThumbprint,
  createWellKnownHandler,
  hasScopes,
  mintResourceToken,
  mintResourceToken11,
  parseScope,
  type HttpRequest,
  type RequireLevel as ChallengeLevel,
  type WellKnownHandler,
} from '@aauth-kit/core';
import { SIGNATURE_SCHEMES, buildAcceptSignatureAlg, callQuietly, buildAcceptSignatureScheme, buildRequirement, hasBody, sendError, sendJson, sendProblem, toHttpRequest, toUrl } from '@aauth-kit/core/internal';
import { callerOf, createVerifier, requestGeneration, verifyNow, type PresentedToken, type VerifiedRequest } from '@aauth-kit/verifier';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { as11, isDraft11Error, missingRequirement, requirementChallenge, routeSchemes, signatureFailure, toInfo11, type Route11 } from './lib/draft11.js';
import { resolveResourceOptions, type ResolvedRoute } from './lib/options.js';
import { hasRawBodyToRead, readRawBody } from './lib/raw-body.js';
import { refuseRequestAsOptions } from './lib/factory-misuse.js';
import { createRevocationEndpoint } from './lib/revocation.js';
import { SessionTable, sessionTokenOf } from './lib/sessions.js';
import { HELD, PendingTable, anyHeld, dispatchHeld, heldElsewhere, heldPersonMismatch, peerOf, servePendingTable, replayResult, sizeOf, type Dispatcher, type HeldCall, type HeldPerson, type StoredResult } from './lib/deferred.js';
import { resourceTelemetry } from './lib/telemetry.js';
import { answerNow, inTurnBatch, type Answer, type Step } from './lib/turn-batch.js';

/** A deferred route's auth-token challenge: `require()` holds the call and answers 202 instead. */
class Defer {
  constructor(
    readonly challenge: AAuthError,
    readonly resourceToken: string,
    readonly thumbprint: string,
    readonly person: HeldPerson,
  ) {}
}
import type { AAuthInfo, RequireLevel, RequireOptions, Resource, ResourceOptions, WellKnownOptions } from './types.js';

/** `v` when it is a string. */
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** A verification still under way (a promise), not its result. */
const isPending = (value: VerifiedRequest | Promise<VerifiedRequest>): value is Promise<VerifiedRequest> => typeof (value as { then?: unknown }).then === 'function';

/** Challenges every agent meets on its way to a token: not passed to `onError`. */
const NORMAL_CHALLENGES = new Set<string>(['auth_token_required', 'agent_token_required', 'person_token_required']);

const WIRE_LEVEL: Record<Exclude<RequireLevel, 'person'>, ChallengeLevel> = { signature: 'pseudonym', identity: 'identity', 'auth-token': 'auth-token' };

/** True when a request carries any of the three signature header fields (RFC 9421, Signature-Key). */
function carriesSignature(req: Request): boolean {
  const h = req.headers;
  return h['signature-input'] !== undefined || h.signature !== undefined || h['signature-key'] !== undefined;
}

function toInfo(v: VerifiedRequest): AAuthInfo {
  if (v.generation === 'draft-11') return toInfo11(v);
  const info: AAuthInfo = { scheme: v.scheme, generation: 'keycloak', agent: v.agent, thumbprint: v.thumbprint, jwk: v.key.jwk, scope: [] };
  if (v.token) {
    const t = v.token;
    info.token = { raw: t.raw, issuer: t.issuer, scope: t.scope, exp: t.expiresAt };
    if (t.subject !== undefined) info.token.sub = info.sub = t.subject;
    if (t.agent !== undefined) info.token.agent = t.agent;
    if (t.act !== undefined) info.token.act = info.act = t.act;
    info.scope = t.scope;
  }
  return info;
}

/** The body of an authorization endpoint request: `scope` (required) and `account` (AAuth -11 "Account Binding"). */
function authorizationRequest(body: Buffer): { scope: string[]; account?: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw as11(new AAuthError('invalid_request', 'The body must be a JSON object with "scope"'), {});
  }
  const { scope, account } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const scopes = parseScope(scope);
  if (scopes.length === 0) throw as11(new AAuthError('invalid_request', '"scope" must be a non-empty space-separated string'), {});
  if (account !== undefined && (typeof account !== 'string' || account.length === 0 || account.length > 1024)) {
    throw as11(new AAuthError('invalid_request', '"account" must be a non-empty string'), {});
  }
  return account === undefined ? { scope: scopes } : { scope: scopes, account };
}

/**
 * Create an AAuth resource for express: route middleware that verifies signed requests and answers
 * with the challenges of wire profile section 5, and a router serving its metadata and JWKS.
 */
export function createResource(options: ResourceOptions): Resource {
  const o = resolveResourceOptions(options);
  const telemetry = resourceTelemetry(options.telemetry, o.identity, o.origin);
  const verifier = createVerifier(o.verifierOptions);
  const speaks11 = o.generations.includes('draft-11');
  const metadata: Record<string, unknown> = { resource: o.identity, jwks_uri: `${o.identity}/jwks.json`, ...o.metadata };
  if (speaks11) {
    // AAuth -11 "Resource Metadata": `issuer` names the resource (the Keycloak profile reads `resource`).
    metadata.issuer = o.identity;
    if (o.draft11.accessMode !== undefined) metadata.access_mode = o.draft11.accessMode;
    if (o.draft11.authorizationEndpoint !== undefined) metadata.authorization_endpoint = o.draft11.authorizationEndpoint;
    metadata.signature_window = o.signatureWindow;
    // RS-03: a resource that accepts person tokens publishes where their revocations reach it.
    if (o.draft11.revocation !== undefined) metadata.revocation_endpoint = `${o.identity}${o.draft11.revocation.path}`;
  }
  if (o.scopes) {
    metadata.supported_scopes = Object.keys(o.scopes);
    metadata.scope_descriptions = o.scopes;
  }
  // -11 "Covered Components": a resource that wants more than the base set says so here. Requests
  // with a body must cover content-digest unless requireContentDigest is false: advertise it, so an
  // agent learns it before its first refusal (invalid_input's required_input says the same).
  const additional = [...o.additionalSignatureComponents];
  if (speaks11 && o.verifierOptions.requireContentDigest !== false && !additional.includes('content-digest')) additional.push('content-digest');
  // A request with a query must cover @query (profile section 3): beyond -11's base set, so said
  // here too (a request without a query may cover it: its value is then "?").
  if (speaks11 && !additional.includes('@query')) additional.unshift('@query');
  if (additional.length > 0) metadata.additional_signature_components = additional;
  /** The -11 algorithms the verifier accepts: `Accept-Signature-Alg` names exactly these. */
  const algorithms11 = ACCEPT_SIGNATURE_ALGS.filter((a) => (o.verifierOptions.algorithms ?? ACCEPT_SIGNATURE_ALGS).includes(a));
  const publishedKey = o.key.toPublishedJwk();
  const clock = (): number => (o.now ?? (() => Date.now() / 1000))();
  const sessions = new SessionTable(o.draft11.sessionLifetime, o.draft11.maxSessions, clock);
  const pending = new PendingTable(o.draft11.maxPending, clock, o.draft11.maxPendingBytes);

  /** Rebuild `error` with the challenge headers of section 5 (and section 11 when enabled). */
  async function challenge(
    error: AAuthError,
    level: Exclude<RequireLevel, 'person'>,
    scope: string[],
    caller: { agent: string; thumbprint: string } | undefined,
  ): Promise<AAuthError> {
    const headers: Record<string, string> = {};
    const require = error.code === 'identity_required' ? 'identity' : WIRE_LEVEL[level];
    let resourceToken: string | undefined;
    // A resource token is minted only for a caller whose key this resource verified (section 6).
    if (level === 'auth-token' && caller && o.authServer && error.error === 'invalid_auth_token') {
      resourceToken = await mintResourceToken(o.key, {
        issuer: o.identity,
        audience: o.authServer,
        agent: caller.agent,
        agentJkt: caller.thumbprint,
        scope: scope.join(' '),
        now: o.now,
      });
    }
    const authServer = level === 'auth-token' ? o.authServer : undefined;
    headers.AAuth = buildChallenge({
      require,
      ...(resourceToken === undefined ? {} : { resourceToken }),
      ...(authServer === undefined ? {} : { authServer }),
    });
    if (o.requirementHeader) {
      headers['AAuth-Requirement'] = buildRequirement({ require, ...(resourceToken === undefined ? {} : { resourceToken }) });
    }
    if (error.code === 'unsupported_scheme') {
      headers['Signature-Error'] = 'error=unsupported_scheme';
      headers['Accept-Signature-Scheme'] = SIGNATURE_SCHEMES.join(', ');
    } else if (o.requirementHeader && error.error === 'invalid_signature') {
      headers['Signature-Error'] = 'error=invalid_signature';
    } else if (speaks11 && error.code === 'signature_missing') {
      // An unsigned request speaks neither generation: a resource that speaks both tells a -11
      // caller what it needs too (AAuth -11 "Agent Token Required", RS-11: the requirement, the
      // schemes and algorithms, Signature-Error for the missing signature), beside the Keycloak
      // profile's AAuth header; each caller reads the header it knows.
      headers['AAuth-Requirement'] = `requirement=${missingRequirement(level)}`;
      headers['Signature-Error'] = 'error=invalid_signature';
      headers['Accept-Signature-Scheme'] = buildAcceptSignatureScheme(routeSchemes(level));
      if (algorithms11.length > 0) headers['Accept-Signature-Alg'] = buildAcceptSignatureAlg(algorithms11);
    }
    return new AAuthError(error.code, error.message, { headers, cause: error.cause, ...(error.details ? { details: error.details } : {}) });
  }

  /** The per-caller discovery key (issue 13): the operator's `callerKey`, else the TCP peer. */
  function callerOfRequest(req: Request): string {
    const key = o.callerKey(req);
    return typeof key === 'string' && key.length > 0 ? key : (req.socket.remoteAddress ?? 'unknown');
  }

  function respond(error: AAuthError, req: Request, res: Response, next: NextFunction): void {
    telemetry.refused(error);
    // The normal first challenges (a well-signed request without the token the route needs; -11:
    // agent, person or auth token) are no error.
    // A failing logger (a throw, a rejection) must not turn a 401 into a 500 or end the process.
    if (o.onError && !NORMAL_CHALLENGES.has(error.code)) callQuietly(o.onError, error, req);
    if (o.errors === 'next' || res.headersSent) {
      next(error);
      return;
    }
    if (isDraft11Error(error)) sendProblem(res, error);
    else sendError(res, error);
  }

  /** What the -11 answers of `route` need (the components of `required_input`, the algorithms). */
  function route11(route: ResolvedRoute, request: HttpRequest): Route11 {
    const requiredInput = ['@method', '@authority', '@path'];
    if (toUrl(request.url).search.length > 1) requiredInput.push('@query');
    // A body is bound by content-digest unless the resource was told otherwise (requireContentDigest).
    if (hasBody(request.body) && o.verifierOptions.requireContentDigest !== false) requiredInput.push('content-digest');
    requiredInput.push(...route.requiredComponents, 'signature-key');
    return { level: route.level, requiredInput: [...new Set(requiredInput)], algorithms: algorithms11 };
  }

  /** Verify a -11 request for `route`; a refusal becomes its 401 with `Signature-Error` (`signatureFailure`). */
  async function verify11(request: HttpRequest, route: ResolvedRoute, r11: Route11, req: Request): Promise<VerifiedRequest> {
    try {
      return await verifier.verify(request, { requiredComponents: route.requiredComponents, caller: callerOfRequest(req) });
    } catch (error) {
      throw error instanceof AAuthError ? signatureFailure(error, r11) : error;
    }
  }

  /**
   * The person a verified person or auth token names (`ps`: a person token's issuer, an auth
   * token's `ps` claim) and its mission: what a resource token is issued for, and what an auth
   * token completing a held call must name again.
   */
  function personOf(presented: PresentedToken): HeldPerson {
    const t = presented.token;
    return { ps: presented.kind === 'person' ? t.issuer : (t.claims.ps as string), sub: t.subject!, missionS256: str(t.claims.mission_s256) };
  }

  /**
   * A -11 resource token for the person the presented token names (AAuth -11 "Resource Token
   * Structure"; RS-32, RS-34): `ps`, `sub` and `presented_jti` from that person or auth token,
   * `agent_jkt` the signer's key, `aud` the access server (four-party) or the person server.
   */
  function resourceToken11(presented: PresentedToken, thumbprint: string, scope: string[], account?: string, person: HeldPerson = personOf(presented)): Promise<string> {
    const t = presented.token;
    const { ps, sub, missionS256 } = person;
    return mintResourceToken11(o.key, {
      issuer: o.identity,
      audience: o.draft11.accessServer ?? ps,
      ps,
      sub,
      presentedJti: t.claims.jti as string,
      agentJkt: thumbprint,
      scope: scope.join(' '),
      // Copied unchanged when the token carried them (RS-32: a resource MUST NOT omit mission_s256).
      missionS256,
      tenant: str(t.claims.tenant),
      account,
      now: o.now,
      allowLoopback: o.draft11.allowLoopback,
    });
  }

  /**
   * The -11 access decision after a verified signature (AAuth -11 "Resource Access Modes"): which
   * credential the route needs and, for an auth-token route, the challenge with a resource token.
   */
  async function decide11(verified: VerifiedRequest, route: ResolvedRoute, r11: Route11): Promise<void> {
    const kind = verified.presented?.kind;
    switch (route.level) {
      case 'signature':
        return;
      case 'identity':
        if (kind === 'agent' || (kind === undefined && verified.scheme === 'jwks_uri')) return;
        throw requirementChallenge('agent-token', 'This resource requires an agent token (aa-agent+jwt under Signature-Key sig=jwt)', r11);
      case 'person':
        if (kind === 'person' || kind === 'auth') return;
        throw requirementChallenge('person-token', 'This resource requires a person token: get one for this resource from your person server', r11);
      case 'auth-token': {
        const presented = verified.presented;
        if (presented?.kind === 'auth' && hasScopes(presented.token.scope, route.scope)) return;
        if (presented?.kind !== 'auth' && presented?.kind !== 'person') {
          // RS-30: a resource token only after a verified person (or auth) token.
          throw requirementChallenge('person-token', 'This resource requires a person token before it can issue a resource token', r11);
        }
        // A person token (RS-30), or an auth token without the scope (step-up, RS-34): a resource token for it.
        const person = personOf(presented);
        const token = await resourceToken11(presented, verified.thumbprint, route.scope, undefined, person);
        const why =
          presented.kind === 'person'
            ? `This resource requires an auth token with scope "${route.scope.join(' ')}": take the resource token to your person server`
            : `The auth token does not carry the scope ${route.scope.filter((s) => !presented.token.scope.includes(s)).join(' ')}: take the resource token to your person server`;
        const challenge11 = requirementChallenge('auth-token', why, r11, token);
        throw route.deferred ? new Defer(challenge11, token, verified.thumbprint, person) : challenge11;
      }
    }
  }

  /** The -11 middleware path (draft-11 profile sections 4-7): problem+json answers in the caller's generation. */
  async function require11(request: HttpRequest, route: ResolvedRoute, req: Request): Promise<{ verified: VerifiedRequest; session?: Record<string, unknown> }> {
    let sessionToken: string | undefined;
    try {
      sessionToken = sessionTokenOf(req.headers.authorization);
    } catch (error) {
      throw error instanceof AAuthError ? as11(error, {}) : error;
    }
    // AAuth -11 "AAuth-Access": a request carrying a session token covers `authorization`.
    const signedRoute = sessionToken === undefined ? route : { ...route, requiredComponents: [...new Set([...route.requiredComponents, 'authorization'])] };
    const r11 = route11(signedRoute, request);
    const verified = await verify11(request, signedRoute, r11, req);
    await decide11(verified, route, r11);
    // Bound to the key it was issued to: a token replayed by another signer is no session.
    const session = sessionToken === undefined ? undefined : sessions.get(sessionToken, verified.thumbprint);
    return session === undefined ? { verified } : { verified, session };
  }

  function startSession(req: Request, res: Response, data: Record<string, unknown> = {}): string {
    const caller = req.aauth;
    if (caller === undefined || caller.generation !== 'draft-11') {
      throw new TypeError('resource.startSession(req, res): req must have passed resource.require() as a -11 caller');
    }
    if (typeof data !== 'object' || data === null) throw new TypeError('resource.startSession(req, res, data): data must be an object');
    const token = sessions.start(caller.thumbprint, data);
    res.setHeader('AAuth-Access', token);
    return token;
  }

  /** The pending URL of a held call (same origin as the resource; unguessable id). */
  const pendingUrl = (id: string): string => `${o.identity}${o.draft11.pendingPath}/${id}`;

  /** The 202 of a deferred auth-token challenge (AAuth -11 "Deferred Delivery", "Pending Response"). */
  function sendPending(res: Response, id: string, challenge: AAuthError): void {
    const headers = { ...challenge.headers, Location: pendingUrl(id), 'Retry-After': '0', 'Cache-Control': 'no-store' };
    sendJson(res, 202, { status: 'pending' }, headers, 'application/json');
  }

  function holdCall(defer: Defer, req: Request, res: Response, next: NextFunction, request: HttpRequest, route: ResolvedRoute): void {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.from(typeof request.body === 'string' ? request.body : '');
    const held: HeldCall = {
      method: req.method,
      url: req.originalUrl,
      headers: { ...req.headers },
      rawHeaders: [...req.rawHeaders],
      httpVersion: req.httpVersion,
      peer: peerOf(req),
      body,
      thumbprint: defer.thumbprint,
      person: defer.person,
      scope: route.scope,
      resourceToken: defer.resourceToken,
      exp: clock() + 300,
    };
    const id = pending.hold(held);
    if (id === undefined) {
      // Its body and headers alone are over one key's share of draft11.maxPendingBytes: it cannot be
      // held. The refusal goes to the app's error handler under errors: 'next', as every other refusal does.
      respond(as11(new AAuthError('body_too_large', `The request (${body.length} bytes of body, with its headers ${sizeOf(held)} bytes) is too large to hold while an auth token is obtained: send at most ${pending.perKeyBytes} bytes to this route`)), req, res, next);
      return;
    }
    sendPending(res, id, defer.challenge);
  }

  /**
   * The pending URLs of deferred routes: a signed GET by the key that made the call; while it
   * presents no auth token with the scope, 202 again; the first valid auth token runs the held call
   * (its response is this poll's); the same auth token again gets the stored response; anything
   * else after that 410. Unknown id or another key: 404.
   */
  function pendingEndpoint(): RequestHandler {
    if (!speaks11) throw new TypeError("resource.pendingEndpoint(): this resource does not speak -11 (options.generations has no 'draft-11')");
    const prefix = `${o.draft11.pendingPath}/`;
    servePendingTable(pending);
    return async function aauthPending(req: Request, res: Response, next: NextFunction): Promise<void> {
      if (!req.path.startsWith(prefix)) {
        next();
        return;
      }
      const id = req.path.slice(prefix.length);
      try {
        const call = pending.get(id);
        if (call === undefined) {
          // Another resource of this process (on the same path of the same app) holds it: its endpoint answers.
          if (heldElsewhere(pending, id)) {
            next();
            return;
          }
          throw as11(new AAuthError('pending_not_found'), {});
        }
        if (req.method !== 'GET') throw as11(new AAuthError('method_not_allowed', 'Poll a pending URL with GET'), { Allow: 'GET' });
        const request = toHttpRequest(req, o.origin, await readRawBody(req, o.maxBodyBytes, o.bodyTimeoutMs));
        const route: ResolvedRoute = { level: 'auth-token', scope: call.scope, requiredComponents: [...o.additionalSignatureComponents] };
        const r11 = route11(route, request);
        const verified = await verify11(request, route, r11, req);
        // Only the key that made the call may poll it (the agent is re-verified on every poll).
        if (verified.thumbprint !== call.thumbprint) throw as11(new AAuthError('pending_not_found'), {});
        const presented = verified.presented;
        const jti = presented?.kind === 'auth' ? (presented.token.claims.jti as string) : undefined;
        // Another poll is running the held call: wait for it, then answer as a repeat (it runs once).
        if (call.running !== undefined && call.result === undefined) await call.running.catch(() => undefined);
        if (call.result !== undefined) {
          if (jti !== undefined && jti === call.result.jti && call.result.dropped === true) {
            throw as11(new AAuthError('pending_not_found', 'The pending request is complete; its response was too large to keep for a repeat', { status: 410 }), {});
          }
          if (jti !== undefined && jti === call.result.jti) {
            replayResult(res, call.result.response);
            return;
          }
          throw as11(new AAuthError('pending_not_found', 'The pending request is complete', { status: 410 }), {});
        }
        // A run that produced no result (its response failed) is not retried: the call may have had effects.
        if (call.running !== undefined) throw as11(new AAuthError('pending_not_found', 'The pending request is complete', { status: 410 }), {});
        if (clock() >= call.exp) {
          pending.delete(id);
          throw as11(new AAuthError('pending_expired'), {});
        }
        if (presented?.kind !== 'auth' || !hasScopes(presented.token.scope, call.scope)) {
          sendPending(res, id, requirementChallenge('auth-token', 'Still waiting for an auth token with the scope of the held call', r11, call.resourceToken));
          return;
        }
        // The held call was made for one person (and mission): an auth token for another never runs it.
        const mismatch = heldPersonMismatch(call.person, presented.token);
        if (mismatch !== undefined) throw as11(new AAuthError('pending_person_mismatch', `${mismatch}: take the resource token of this pending request (its AAuth-Requirement) to your person server`), {});
        const info = toInfo(verified);
        // A response over one key's share of maxPendingBytes would not be kept: not buffered either.
        const running = dispatchHeld(req.app as unknown as Dispatcher, call, res, info, pending.perKeyBytes);
        call.running = running;
        let result: StoredResult;
        try {
          result = await running;
        } catch {
          // The run failed after its answer began: that poll's connection is closed, and later polls
          // are told the call is complete (410), never run it again.
          return;
        }
        pending.keepResult(id, { response: result, jti: jti!, until: presented.token.expiresAt });
      } catch (error) {
        if (error instanceof AAuthError) respond(error, req, res, next);
        else next(error);
      }
    };
  }

  /**
   * The Keycloak-profile middleware path (wire profile section 5), unchanged: JSON answers with
   * the `AAuth` challenge. A request verified without a wait (see verifyNow) that passes its level
   * is answered synchronously, with no promise (issue 18); a refusal always comes as a rejection.
   */
  function requireKeycloak(request: HttpRequest, route: ResolvedRoute, req: Request): VerifiedRequest | Promise<VerifiedRequest> {
    const level = route.level as Exclude<RequireLevel, 'person'>;
    let verified: VerifiedRequest | Promise<VerifiedRequest>;
    try {
      verified = verifyNow(verifier, request, { requiredComponents: route.requiredComponents, caller: callerOfRequest(req) });
    } catch (error) {
      return keycloakRefused(error, level, route);
    }
    if (isPending(verified)) {
      return verified.then(
        (v) => keycloakPassed(v, level, route),
        (error: unknown) => keycloakRefused(error, level, route),
      );
    }
    return keycloakPassed(verified, level, route);
  }

  /** A verified signature at `level`: the request itself when its level needs nothing more, else {@link keycloakLevel}. */
  function keycloakPassed(verified: VerifiedRequest, level: Exclude<RequireLevel, 'person'>, route: ResolvedRoute): VerifiedRequest | Promise<VerifiedRequest> {
    return level === 'signature' || (level === 'identity' && verified.scheme !== 'hwk') ? verified : keycloakLevel(verified, level, route);
  }

  /** A refused verification: its challenge (a 401), or the error itself (limits and malformed input keep their status). */
  async function keycloakRefused(error: unknown, level: Exclude<RequireLevel, 'person'>, route: ResolvedRoute): Promise<never> {
    if (!(error instanceof AAuthError)) throw error;
    const caller = callerOf(error);
    // Limits and malformed input keep their own status (413, 431, 400) and get no challenge.
    if (error.status !== 401) throw error;
    throw await challenge(error, level, route.scope, caller);
  }

  /** The Keycloak-profile level checks after a verified signature: an identity for `identity`, an auth token with the scope for `auth-token`. */
  async function keycloakLevel(verified: VerifiedRequest, level: Exclude<RequireLevel, 'person'>, route: ResolvedRoute): Promise<VerifiedRequest> {
    if (level === 'identity' && verified.scheme === 'hwk') {
      throw await challenge(new AAuthError('identity_required'), level, route.scope, undefined);
    }
    if (level === 'auth-token') {
      if (!verified.token) {
        // Wire profile section 5: the missing-token case is `invalid_auth_token` "Authorization required".
        const how = `Authorization required: this route needs an auth token with scope "${route.scope.join(' ')}". Take the resource token of the AAuth header to the auth server ${o.authServer} and retry with the auth token it returns (Signature-Key scheme=jwt); an @aauth-kit/agent does this by itself`;
        throw await challenge(new AAuthError('auth_token_required', how), level, route.scope, verified);
      }
      if (!hasScopes(verified.token.scope, route.scope)) {
        throw new AAuthError('insufficient_scope', `The auth token does not carry the scope ${route.scope.filter((s) => !verified.token!.scope.includes(s)).join(' ')}`);
      }
    }
    return verified;
  }

  function require(routeOptions: RequireOptions = {}): RequestHandler {
    const route = o.resolveRoute(routeOptions);

    /** Verified: `req.aauth` (with the -11 session when one was presented), then the route. */
    function accept(req: Request, next: NextFunction, verified: VerifiedRequest, session?: Record<string, unknown>): void {
      req.aauth = toInfo(verified);
      if (session !== undefined) {
        req.aauth.session = session;
        req.aauth.accessMode = 'session-token';
      }
      next();
    }

    /** Whether `request` is answered in -11 form: a person-level route is -11 only; else the generation it speaks (draft-11 profile section 1). */
    function answers11(request: HttpRequest): boolean {
      return route.level === 'person' || requestGeneration(request, o.generations) === 'draft-11';
    }

    /** {@link answers11} of `req` by its headers (the body is not read); a target that is no path is answered as before, in the Keycloak profile. */
    function callerSpeaks11(req: Request): boolean {
      try {
        return answers11(toHttpRequest(req, o.origin, undefined, true));
      } catch {
        return false;
      }
    }

    /** Refused: a deferred call is held (202), a challenge or refusal answered, anything else passed on. */
    function refuse(error: unknown, req: Request, res: Response, next: NextFunction, request: HttpRequest | undefined): void {
      if (error instanceof Defer && request !== undefined) holdCall(error, req, res, next, request, route);
      else if (error instanceof AAuthError) respond(error, req, res, next);
      else next(error);
    }

    /**
     * The request as the verifier takes it and its verification; what is left is handed back: as
     * a function (`req.aauth` and the route, or the refusal) when it was decided without a wait, so
     * that a turn's batch runs its verifies together and then its routes (lib/turn-batch.ts), else
     * a promise that answers once settled. A request target that is no path is refused here.
     * Draft-11 profile section 1: each caller is answered in the generation it speaks; a
     * person-level route is -11 only.
     */
    function verifyStep(req: Request, res: Response, next: NextFunction, body: Buffer | undefined): Promise<void> | Answer {
      let request: HttpRequest | undefined;
      let verified: VerifiedRequest | Promise<VerifiedRequest>;
      try {
        request = toHttpRequest(req, o.origin, body, true);
        if (answers11(request)) {
          const held = request;
          return require11(request, route, req).then(
            (result) => accept(req, next, result.verified, result.session),
            (error: unknown) => refuse(error, req, res, next, held),
          );
        }
        verified = requireKeycloak(request, route, req);
      } catch (error) {
        const held = request;
        return () => refuse(error, req, res, next, held);
      }
      if (isPending(verified)) {
        const held = request;
        return verified.then(
          (v) => accept(req, next, v),
          (error: unknown) => refuse(error, req, res, next, held),
        );
      }
      const done = verified;
      // A throw from the route (in next()) is express's, not a refusal.
      return () => accept(req, next, done);
    }

    /** {@link verifyStep}, then what it handed back at once: a Keycloak-profile request verified without a wait runs its route now (no promise). */
    const start = (req: Request, res: Response, next: NextFunction, body: Buffer | undefined): Promise<void> | undefined =>
      answerNow(verifyStep(req, res, next, body));

    const verifyWithoutBody: Step = (req, res, next) => verifyStep(req, res, next, undefined);

    // The promise returned, if any, settles once the route ran or the answer went out; express 5
    // passes a throw from the route's next() on to the error handlers, as for any async middleware.
    // Undefined when the route already ran or the answer went out (no wait: issue 18).
    return function aauthRequire(req: Request, res: Response, next: NextFunction): Promise<void> | undefined {
      // A held call run by the pending endpoint: verified there (the poll's auth token).
      const held = anyHeld() ? (req as Request & { [HELD]?: AAuthInfo })[HELD] : undefined;
      if (held !== undefined) {
        // The poll's auth token stands for this route too only if it carries this route's scope
        // (a second require() on the held call's path may ask for more than the deferred one did).
        if (route.level === 'auth-token' && !hasScopes(held.scope, route.scope)) {
          const missing = route.scope.filter((s) => !held.scope.includes(s)).join(' ');
          respond(as11(new AAuthError('insufficient_scope', `The auth token does not carry the scope ${missing}`), {}), req, res, next);
          return undefined;
        }
        req.aauth = held;
        next();
        return undefined;
      }
      if (hasRawBodyToRead(req)) {
        // No signature header at all: refused whatever the body holds, so it is not waited for
        // (a stalled body would hold the connection until bodyTimeoutMs); the rest of it is not
        // read either, so the connection closes after the answer.
        if (!carriesSignature(req)) {
          res.setHeader('Connection', 'close');
          return start(req, res, next, undefined);
        }
        // A body to read first (its content-digest is checked), then the same steps.
        return readRawBody(req, o.maxBodyBytes, o.bodyTimeoutMs).then(
          (body) => start(req, res, next, body),
          // A body too large or too slow is answered in the caller's generation, as a refusal of its signature would be.
          (error: unknown) => refuse(error instanceof AAuthError && callerSpeaks11(req) ? as11(error) : error, req, res, next, undefined),
        );
      }
      // No body announced (a GET): no read and no await of it; verified with the GETs that arrived
      // in the same turn of the event loop (issue 18, lib/turn-batch.ts).
      return o.batch ? inTurnBatch(verifyWithoutBody, req, res, next, telemetry.live()) : start(req, res, next, undefined);
    };
  }

  /**
   * AAuth -11 "Authorization Endpoint Request" (RS-20, RS-21): `POST {"scope": "..."[, "account"]}`
   * signed with a person token for this resource; answers `{"resource_token"}` for that person. No
   * person token: 401 `requirement=person-token`; a failing one: 401 with `Signature-Error`.
   */
  function authorizationEndpoint(): RequestHandler {
    if (!speaks11) throw new TypeError("resource.authorizationEndpoint(): this resource does not speak -11 (options.generations has no 'draft-11')");
    const route: ResolvedRoute = { level: 'person', scope: [], requiredComponents: [...o.additionalSignatureComponents] };
    return async function aauthAuthorizationEndpoint(req: Request, res: Response, next: NextFunction): Promise<void> {
      try {
        if (req.method !== 'POST') throw as11(new AAuthError('method_not_allowed', 'The authorization endpoint takes POST'), { Allow: 'POST' });
        const body = await readRawBody(req, o.maxBodyBytes, o.bodyTimeoutMs);
        const request = toHttpRequest(req, o.origin, body);
        const r11 = route11(route, request);
        const verified = await verify11(request, route, r11, req);
        const presented = verified.presented;
        if (verified.generation !== 'draft-11' || presented?.kind !== 'person') {
          throw requirementChallenge('person-token', 'The authorization endpoint requires a person token for this resource (RS-20)', r11);
        }
        const { scope, account } = authorizationRequest(body);
        if (o.scopes) {
          const unknown = scope.filter((s) => !(s in o.scopes!));
          if (unknown.length > 0) throw as11(new AAuthError('invalid_scope', `Unknown scope ${unknown.join(' ').slice(0, 200)}`), {});
        }
        const resourceToken = await resourceToken11(presented, verified.thumbprint, scope, account);
        sendJson(res, 200, { resource_token: resourceToken }, { 'Cache-Control': 'no-store' }, 'application/json');
      } catch (error) {
        if (error instanceof AAuthError) respond(isDraft11Error(error) ? error : as11(error, {}), req, res, next);
        else next(error);
      }
    };
  }

  /** AAuth -11 "Revocation Request" (RS-60): the endpoint person and access servers push revocations to. */
  function revocationEndpoint(): RequestHandler {
    const revocation = o.draft11.revocation;
    if (revocation === undefined) throw new TypeError('resource.revocationEndpoint(): options.draft11.revocation is not set');
    return createRevocationEndpoint({ revocation, verifier, origin: o.origin, algorithms: algorithms11, skew: o.signatureWindow, now: clock, callerKey: callerOfRequest, respond, bodyTimeoutMs: o.bodyTimeoutMs });
  }

  const resourcePaths = ['/.well-known/aauth-resource.json', '/.well-known/aauth-resource'];
  // An identity with a path (https://host/api): its documents are also served under that path, where
  // peers look for them ({identity}/.well-known/...) when wellKnown() is mounted at the root.
  const identityPath = new URL(o.identity).pathname;
  const resourceDocuments = Object.fromEntries(resourcePaths.map((path) => [path, metadata]));

  function wellKnown(wellKnownOptions: WellKnownOptions = {}): WellKnownHandler {
    if (typeof wellKnownOptions !== 'object' || wellKnownOptions === null) throw new TypeError('resource.wellKnown(options): options must be an object');
    const { agent } = wellKnownOptions;
    if (agent === undefined) {
      // -11 (draft-11 profile section 2): keys are published with their `alg`.
      return createWellKnownHandler({ documents: resourceDocuments, keys: [publishedKey], label: 'resource.wellKnown()', keyAlg: speaks11, identityPath });
    }
    // An app that is resource and agent under one identity: one JWKS with both keys (section 2),
    // both metadata documents (section 9), both naming the same jwks_uri.
    if (typeof agent !== 'object' || agent === null || typeof agent.wellKnown !== 'function') {
      throw new TypeError('resource.wellKnown(options): options.agent must be an agent from createAgent() (@aauth-kit/agent)');
    }
    if (agent.identity === undefined) {
      throw new TypeError('resource.wellKnown(options): options.agent has no identity (a pseudonymous agent publishes nothing)');
    }
    if (!sameIdentity(agent.identity)) {
      throw new TypeError(
        `resource.wellKnown(options): options.agent.identity (${agent.identity}) must be the resource identity (${o.identity}): ` +
          'both documents and the one JWKS are served from this mount point; mount agent.wellKnown() at its own identity path instead',
      );
    }
    const agentPublished = agent.wellKnown();
    const resourceJwk = publishedKey;
    const clash = agentPublished.keys.find((k) => k.kid === resourceJwk.kid && computeThumbprint(k) !== o.key.thumbprint);
    if (clash) {
      throw new TypeError(
        `resource.wellKnown(options): the agent key and the resource key are different keys with the same kid ${JSON.stringify(clash.kid)}; ` +
          'give each its own kid (generateKey({ kid }) or loadKeyFile(path, { kid }))',
      );
    }
    const documents: Record<string, unknown> = { ...resourceDocuments };
    for (const [path, document] of Object.entries(agentPublished.documents)) if (path.startsWith('/.well-known/')) documents[path] = document;
    return createWellKnownHandler({ documents, keys: [resourceJwk, ...agentPublished.keys], label: 'resource.wellKnown({ agent })', keyAlg: speaks11, identityPath });
  }

  function sameIdentity(other: string): boolean {
    const normal = (url: string): string => {
      try {
        return new URL(url).href.replace(/\/$/, '');
      } catch {
        return url;
      }
    };
    return normal(other) === normal(o.identity);
  }

  // Each guard inside its `aauth.verify` span when tracing is live (lib/telemetry.ts).
  const requireRoute = (routeOptions?: RequireOptions): RequestHandler => {
    refuseRequestAsOptions(routeOptions, 'resource.require', "app.get('/x', resource.require({ level: 'identity' }), handler)");
    return telemetry.traced(require(routeOptions));
  };
  const wellKnownHandler = (wellKnownOptions?: WellKnownOptions): WellKnownHandler => {
    refuseRequestAsOptions(wellKnownOptions, 'resource.wellKnown', 'app.use(resource.wellKnown())');
    return wellKnown(wellKnownOptions);
  };
  return { require: requireRoute, wellKnown: wellKnownHandler, verifier, metadata, generations: o.generations, authorizationEndpoint, startSession, pendingEndpoint, revocationEndpoint };
}
