import { AAuthError, decodeToken, parseSignatureKey, type SigningKey } from '@aauth-kit/core';
import { MAX_CLARIFICATION_TEXT, serveDocuments, showValue, toHttpRequest } from '@aauth-kit/core/internal';
import type { ReplayStore, Verifier } from '@aauth-kit/verifier';
import express, { type Request, type Response, type Router } from 'express';
import type { AuditEventType } from '../../audit-event.js';
import { openQuestion, type PendingRequest } from '../../pending-store.js';
import { refusalOf } from '../audit.js';
import { endpoints, type ServerContext } from '../context.js';
import { clarificationText } from '../consent-details.js';
import { deliverTaken } from '../deliver-taken.js';
import { bodyReadError } from '../http-edge.js';
import { jwksDocument, parseJsonBody, refuse11 } from '../server-11.js';
import { createServerRevocation } from '../server-revocation.js';
import type { Agent11, Outcome11, PersonService } from './person-service.js';

// The HTTP edge of the -11 person server (draft-11 profile sections 2, 5, 7, 8 and 9): its
// metadata and JWKS at the server identifier's origin, the two token endpoints, and the pending
// URLs the agent polls, and the revocation endpoint. Every request is signed under sig=jwt with an
// agent token, but a revocation by an agent provider or a resource, signed as itself under sig=jwks_uri.

/** The paths of the person server, under its identifier. */
export const PERSON_PATHS = {
  metadata: '/.well-known/aauth-person.json',
  jwks: '/aauth/person/jwks.json',
  personToken: '/aauth/person/person-token',
  authToken: '/aauth/person/auth-token',
  pending: '/aauth/person/pending',
  revocation: '/aauth/person/revoke',
} as const;

export interface PersonRoutesConfig {
  issuer: string;
  key: SigningKey;
  /** Verifies the agent's signed requests (-11 only, the loopback relaxation as configured). */
  verifier: Verifier;
  service: PersonService;
  maxBodyBytes: number;
  /** Poll signatures are single use (issue 13, finding 8). */
  polls: { store: ReplayStore; ttl: number };
}

/** The person server's metadata document (profile section 2). */
export function personMetadata(ctx: ServerContext, issuer: string): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}${PERSON_PATHS.jwks}`,
    person_token_endpoint: `${issuer}${PERSON_PATHS.personToken}`,
    auth_token_endpoint: `${issuer}${PERSON_PATHS.authToken}`,
    // No interaction_endpoint: in -11 it names the signed POST through which an agent relays an
    // interaction to its person server (section "Interaction Endpoint"), which this server does not
    // offer; a member pointing at the consent page would send such an agent HTML instead of the
    // 424 interaction_unavailable it falls back on. The consent page (the same one the Keycloak
    // profile uses) reaches agents as the url of each 202 requirement=interaction.
    revocation_endpoint: `${issuer}${PERSON_PATHS.revocation}`,
    scopes_supported: ctx.realm.policy.allowedScopes.length > 0 ? ctx.realm.policy.allowedScopes : ctx.realm.clientScopes.map((s) => s.name),
    // RECOMMENDED (-11 "PS Metadata"): the identity claims it can release (requirement=claims), from the realm's users.
    claims_supported: [...new Set(ctx.realm.users.flatMap((u) => Object.keys(u.claims ?? {})))].sort(),
    accept_signature_algs: ['Ed25519', 'ES256'],
    name: ctx.realm.displayName,
  };
}

/** The `typ` of the token under `sig=jwt` in `Signature-Key`, when there is one that decodes. */
function presentedTyp(req: Request): string | undefined {
  try {
    const { key } = parseSignatureKey(req.headers['signature-key'] as string | undefined);
    if (key.scheme !== 'jwt') return undefined;
    const typ = decodeToken(key.jwt).header.typ;
    return typeof typ === 'string' ? typ : '(none)';
  } catch {
    return undefined; // the verifier names what is wrong with it
  }
}

/** The scheme of the selected Signature-Key member, when the header parses. */
function signatureScheme(req: Request): string | undefined {
  try {
    return parseSignatureKey(req.headers['signature-key'] as string | undefined).key.scheme;
  } catch {
    return undefined; // the verifier names what is wrong with it
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Split `text` at `separator` outside RFC 9110 quoted strings. */
function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted && c === '\\') {
      current += c + (text[i + 1] ?? '');
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === separator && !quoted) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

/**
 * `Prefer: wait=N` (RFC 7240 section 4.3), N seconds. Only the first `wait` preference counts
 * (section 2), a parameter named wait after `;` is not one, and its value is `delta-seconds`
 * (RFC 9111 section 1.2.2), bare or quoted: a value too large to represent is `Infinity`, which the
 * caller caps at the realm's `aauth.person.max.wait` (never "no wait"). An empty or non-numeric value
 * is a preference the server cannot comply with, and RFC 7240 says to ignore it: undefined, as when absent.
 */
function preferWait(req: Request): number | undefined {
  const header = req.headers.prefer;
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  for (const preference of splitOutsideQuotes(text, ',')) {
    const head = splitOutsideQuotes(preference, ';')[0]!;
    const eq = head.indexOf('=');
    const name = (eq < 0 ? head : head.slice(0, eq)).trim().toLowerCase();
    if (name !== 'wait') continue;
    let value = eq < 0 ? '' : head.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (!/^[0-9]+$/.test(value)) return undefined;
    // 1*DIGIT of any length: past 2^31 a recipient takes "the greatest integer it can represent".
    return value.length > 9 ? Infinity : Number(value);
  }
  return undefined;
}

/** Answer a refusal as -11 does: problem+json, and `Signature-Error` on a signature failure (a 401). */
function refuse(res: Response, ctx: ServerContext, error: unknown, requiredInput?: readonly string[]): void {
  refuse11(res, ctx, error, 'person server', { schemes: ['jwt'], ...(requiredInput ? { requiredInput } : {}) });
}

/** The person server's router; mount at `/` of the app whose origin is the server identifier. */
export function createPersonRouter(ctx: ServerContext, config: PersonRoutesConfig): Router {
  const { issuer, key, verifier, service, polls } = config;
  const router = express.Router();
  const raw = express.raw({ type: () => true, limit: config.maxBodyBytes });
  router.use(serveDocuments({ [PERSON_PATHS.metadata]: personMetadata(ctx, issuer), [PERSON_PATHS.jwks]: jwksDocument(key) }, 'person server'));

  /** What a refused request was for (audit only, never trusted): a pending request's fields, else the body's `resource` or resource token. */
  type Target = { resource?: string; scope?: string; user?: string };
  const targetOf = (req: Request, pending?: PendingRequest): Target => {
    if (pending !== undefined) {
      const user = pending.username ?? pending.sub ?? pending.draft11?.user;
      return { resource: pending.resource, scope: pending.scope, ...(user !== undefined ? { user } : {}) };
    }
    try {
      const body = parseBody(req);
      if (typeof body.resource_token === 'string') {
        const { iss, scope } = decodeToken(body.resource_token).claims;
        return { resource: String(iss).slice(0, 2048), ...(typeof scope === 'string' ? { scope: scope.slice(0, 2048) } : {}) };
      }
      if (typeof body.resource === 'string') return { resource: body.resource.slice(0, 2048) };
    } catch {
      // No readable body or token: the event names no resource.
    }
    return {};
  };
  const audit = (error: unknown, agent?: Agent11, target: Target = {}) =>
    ctx.audit({ type: 'request.refused', time: ctx.now(), endpoint: 'token', ...(agent ? { agent: agent.id, thumbprint: agent.thumbprint } : {}), ...target, ...refusalOf(error) });

  /** The agent that signed the request: an agent token under sig=jwt, verified with its provider's key (profile section 4). */
  async function agentOf(req: Request): Promise<{ agent: Agent11; signature: string }> {
    const body = Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined;
    const caller = req.socket.remoteAddress ?? 'unknown';
    // Cheap check first: a person or auth token under sig=jwt is not an agent token. A token in
    // Signature-Key fails with 401 and Signature-Error (AAuth -11 "Token Endpoint Error Codes": the
    // table's codes are for tokens in the body only), here invalid_jwt.
    const typ = presentedTyp(req);
    if (typ !== undefined && typ !== 'aa-agent+jwt') {
      throw new AAuthError('token_typ_invalid', `Requests to the person server are signed with an agent token (aa-agent+jwt) under sig=jwt, not ${showValue(typ, 40)}`);
    }
    // Section 5: a body to a person server is covered by content-type and content-digest.
    const verified = await verifier.verify(toHttpRequest(req, issuer, body), { ...(body ? { requiredComponents: ['content-type', 'content-digest'] } : {}), caller });
    if (verified.presented?.kind !== 'agent') {
      // Another scheme (hwk, jwks_uri): 401 unsupported_scheme, with Accept-Signature-Scheme: jwt.
      if (verified.scheme !== 'jwt') throw new AAuthError('unsupported_scheme', `Requests to the person server are signed with an agent token (aa-agent+jwt) under sig=jwt, not sig=${verified.scheme}`);
      throw new AAuthError('token_typ_invalid', 'Requests to the person server are signed with an agent token (aa-agent+jwt) under sig=jwt');
    }
    const token = verified.presented.token;
    const cnf = (token.claims.cnf as { jwk: Record<string, string> }).jwk;
    const { kid: _k, ...jwk } = cnf;
    return {
      agent: {
        id: verified.agent,
        provider: String(token.claims.iss),
        thumbprint: verified.thumbprint,
        jwk,
        exp: token.expiresAt,
        caller,
        token: token.raw,
        ...(typeof token.claims.jti === 'string' ? { jti: token.claims.jti } : {}),
        ...(typeof token.claims.parent_agent === 'string' ? { parentAgent: token.claims.parent_agent } : {}),
      },
      signature: Buffer.from(verified.signed.signature).toString('base64url'),
    };
  }

  const parseBody = parseJsonBody;

  const pendingUrl = (request: PendingRequest) => `${issuer}${PERSON_PATHS.pending}/${request.id}`;

  /**
   * The 202 of a request that waits (section 8, item 4): for the person at this server's consent page
   * (`code`), or for the access server (AAuth -11 "AS Response"), whose interaction, if it asks for
   * one, is passed on, and whose `Retry-After` the agent is given.
   */
  function sendPending(res: Response, request: PendingRequest, code: string | undefined): void {
    const waiting = request.draft11?.federation?.pending;
    // AAuth -11 "Clarification Required": the person asked, or (four-party, "AS Response") the access
    // server did and it is passed down; either way the agent answers with a POST here.
    const person = openQuestion(request);
    const asked = person !== undefined ? { question: person.question, timeout: undefined, options: undefined } : waiting?.clarification;
    if (asked !== undefined) {
      const left = Math.max(0, Math.floor(request.expiresAt - ctx.now()));
      res.status(202).set({ Location: pendingUrl(request), 'Retry-After': '0', 'Cache-Control': 'no-store', 'AAuth-Requirement': 'requirement=clarification' });
      res.json({ status: 'pending', clarification: asked.question, timeout: Math.min(left, asked.timeout ?? left), ...(asked.options === undefined ? {} : { options: asked.options }) });
      return;
    }
    const retryAfter = waiting === undefined ? 5 : Math.max(0, Math.ceil(waiting.retryAt - ctx.now()));
    res.status(202).set({ Location: pendingUrl(request), 'Retry-After': String(retryAfter), 'Cache-Control': 'no-store' });
    const interaction = code !== undefined ? { url: endpoints(ctx.issuer).interaction, code } : waiting?.interaction;
    if (interaction !== undefined) {
      // Built here, not with core's serializeRequirement: under the loopback relaxation the URL is http.
      const sf = (v: string) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
      res.set('AAuth-Requirement', `requirement=interaction; url=${sf(interaction.url)}; code=${sf(interaction.code)}`);
    }
    res.json({ status: 'pending' });
  }

  /** A token request's or a poll's outcome: the token, or the 202 of a request that waits. */
  function sendOutcome(res: Response, outcome: Outcome11): void {
    if (outcome.kind === 'token') res.status(200).set('Cache-Control', 'no-store').json(outcome.body);
    else sendPending(res, outcome.request, outcome.code);
  }

  function tokenEndpoint(path: string, handle: (agent: Agent11, body: Record<string, unknown>) => Promise<Outcome11>) {
    router.post(path, raw, async (req, res) => {
      let agent: Agent11 | undefined;
      try {
        agent = (await agentOf(req)).agent;
        await service.noteAgentToken(agent);
        sendOutcome(res, await handle(agent, parseBody(req)));
      } catch (error) {
        audit(error, agent, targetOf(req));
        refuse(res, ctx, error, ['content-type', 'content-digest']);
      }
    });
  }
  tokenEndpoint(PERSON_PATHS.personToken, service.personToken);
  tokenEndpoint(PERSON_PATHS.authToken, service.authToken);

  // AAuth -11 "Token Revocation" (PS-110..PS-112): an agent provider revokes an agent token it
  // issued (dwk aauth-agent.json), a resource a resource token it issued (dwk aauth-resource.json),
  // each signing as itself; only issuers this server dealt with, else 403 unsupported_iss.
  const revocation = createServerRevocation(ctx, {
    issuer,
    verifier,
    role: 'person server',
    parties: {
      // An agent token lives at most 24 h (-11 "Agent Tokens"); a resource token 5 min, held to the person token's hour.
      'aauth-agent.json': { kind: 'agent', name: 'agent providers', maxLifetime: 24 * 3600 },
      'aauth-resource.json': { kind: 'resource', name: 'resources', maxLifetime: 3600 },
    },
    refusal: async (kind, id) =>
      (await service.knows(kind, id))
        ? undefined
        : `This person server takes revocations only from ${kind === 'agent' ? 'agent providers whose agent tokens it accepted' : 'resources it issued tokens for'}: ${JSON.stringify(id.slice(0, 200))} is none (AAuth -11 "Revocation Response")`,
  });

  /**
   * The holder form (profile section 8, item 8): signed with an agent token under sig=jwt, the body
   * names this server as `iss`. Without `iss` the body is the published draft's `{jti, exp}`, whose
   * issuer is the signer: an agent is none, so it is refused as a scheme this revocation does not
   * take (the draft wins over the profile: AAuth -11 "Keying Material", "Revocation Request").
   */
  async function revokeAsHolder(req: Request): Promise<Agent11> {
    const { agent } = await agentOf(req);
    await service.noteAgentToken(agent);
    const body = parseBody(req);
    if (body.iss === undefined) {
      throw new AAuthError(
        'unsupported_scheme',
        `A revocation {jti, exp} is signed by the token's issuer as a server (sig=jwks_uri; AAuth -11 "Revocation Request"), not by an agent; an agent revoking a token of this person server it holds names it {"iss": ${JSON.stringify(issuer)}, "jti"}`,
      );
    }
    await service.revoke(agent, body);
    return agent;
  }

  router.post(PERSON_PATHS.revocation, revocation.raw(config.maxBodyBytes), async (req, res) => {
    let agent: Agent11 | undefined;
    let server: string | undefined;
    try {
      res.set('Cache-Control', 'no-store');
      if (signatureScheme(req) === 'jwt') {
        agent = await revokeAsHolder(req);
        res.status(200).json({});
        return;
      }
      const revoked = await revocation.accept(req);
      server = revoked.id;
      if (revoked.kind === 'agent') await service.revokeAgentToken(revoked.id, revoked.jti, revoked.exp);
      else await service.revokeResourceToken(revoked.id, revoked.jti, revoked.exp);
      // An empty 200 once the cascade is terminal: a person server reports nothing to an agent
      // provider, and a resource token revocation has nothing downstream (-11 "Revocation Response").
      res.status(200).set('Content-Length', '0').end();
    } catch (error) {
      ctx.audit({ type: 'request.refused', time: ctx.now(), endpoint: 'token', ...(agent ? { agent: agent.id, thumbprint: agent.thumbprint } : server ? { agent: server } : {}), ...refusalOf(error) });
      // The draft's scheme for a revocation is named; the holder form is the kit's own (above).
      refuse11(res, ctx, error, 'person server', { schemes: ['jwks_uri'], requiredInput: ['content-type', 'content-digest'] });
    }
  });

  /**
   * A signed request to a pending URL (a poll, a DELETE) by a verified agent: its signature used
   * once; then how to find the agent's own request there (another generation's request, or another
   * key's, is not this agent's to see).
   */
  async function pendingOf(req: Request, who: Awaited<ReturnType<typeof agentOf>>, what: string): Promise<() => Promise<PendingRequest | undefined>> {
    if (!(await polls.store.checkAndStore(`aauth-poll-11:${who.agent.thumbprint}:${who.signature}`, polls.ttl))) {
      throw new AAuthError('signature_replayed', `This ${what} was already made: each request to a pending URL needs a new signature`);
    }
    const id = String(req.params.id);
    return async () => {
      const request = /^[A-Za-z0-9_-]{16,128}$/.test(id) ? await ctx.store.get(id) : undefined;
      return request && request.draft11 !== undefined && request.thumbprint === who.agent.thumbprint ? request : undefined;
    };
  }

  // Section 8, item 6: polls are signed GETs by the agent that asked; terminal answers consume the URL (then 410).
  router.get(`${PERSON_PATHS.pending}/:id`, async (req, res) => {
    let agent: Agent11 | undefined;
    let pending: PendingRequest | undefined;
    try {
      const who = await agentOf(req);
      agent = who.agent;
      const find = await pendingOf(req, who, 'poll');
      let request = await find();
      if (request === undefined) throw new AAuthError('interaction_code_invalid', 'This pending URL is unknown or already answered');
      pending = request;
      await service.noteAgentToken(agent);
      // AAuth -11 "Presenting a Revoked Token": a request whose agent token or resource token was revoked ends `revoked`.
      const endIfRevoked = async (r: PendingRequest): Promise<void> => {
        const why = await service.revokedDependency(r);
        if (why === undefined) return;
        await ctx.store.take(r.id);
        throw new AAuthError('pending_revoked', why);
      };
      await endIfRevoked(request);
      // Prefer: wait=N: hold the poll until the person decides or N seconds pass, capped by the realm
      // (aauth.person.max.wait). The wait held is echoed in Preference-Applied (RFC 7240 section 3), so
      // an agent can tell a capped or an ignored (malformed) preference from one honoured as asked.
      const asked = preferWait(req);
      const wait = Math.min(asked ?? 0, ctx.realm.person.maxWait);
      if (wait > 0) res.set('Preference-Applied', `wait=${wait}`);
      const until = Date.now() + wait * 1000;
      // A question the person asks meanwhile ends the hold at once; one already open when the poll
      // came (the agent was told it, or is told it when the hold ends) holds it as a pending request
      // does, until it is answered: an agent that does not answer cannot poll it in a tight loop.
      const chatAt = (r: PendingRequest): string => `${r.chat?.length ?? 0}:${openQuestion(r) !== undefined}`;
      const chatAtStart = chatAt(request);
      while (request.status === 'pending' && chatAt(request) === chatAtStart && request.expiresAt >= ctx.now() && Date.now() < until && !res.destroyed) {
        await sleep(Math.min(200, until - Date.now()));
        const now = await find();
        // Answered meanwhile to another poll (the token taken): this one is over, as any later poll is.
        if (now === undefined) throw new AAuthError('interaction_code_invalid', 'This pending URL is unknown or already answered');
        request = now;
      }
      if (request.expiresAt < ctx.now() && request.status === 'pending') {
        await ctx.store.take(request.id);
        throw new AAuthError('pending_expired', 'The person did not answer in time');
      }
      if (request.status === 'pending') {
        sendPending(res, request, undefined);
        return;
      }
      await endIfRevoked(request);
      const taken = await ctx.store.take(request.id);
      if (!taken) throw new AAuthError('interaction_code_invalid', 'This pending URL was already answered');
      if (taken.status === 'denied') throw new AAuthError('pending_denied', 'The person denied the request');
      if (taken.status === 'withdrawn') throw new AAuthError('pending_withdrawn', 'This request was withdrawn by its agent (DELETE of the pending URL): start a new token request');
      // The token, or (four-party) still waiting for the access server: stored again, same URL. A
      // 5xx on the way (policy, records, access server): put back for the next poll, not lost.
      // What is left of the wait the agent asked for (and this server applies) is passed on to an access server it polls.
      const waitLeft = Math.max(0, Math.floor((until - Date.now()) / 1000));
      sendOutcome(res, await deliverTaken(ctx.store, taken, ctx.now(), () => service.deliver(taken, waitLeft), ctx.warn));
    } catch (error) {
      audit(error, agent, pending === undefined ? {} : targetOf(req, pending));
      refuse(res, ctx, error);
    }
  });

  /**
   * A signed change of a pending URL (DELETE, POST) by the agent that asked: its request found (else
   * 410 `unknown`), then `change`, which returns the audit event's type; the answer is 204. Refusals
   * are audited and answered as the polls' are (`requiredInput` for a POST's Signature-Error).
   */
  function changePending(method: 'DELETE' | 'POST', unknown: string, change: (req: Request, request: PendingRequest, agent: Agent11) => Promise<AuditEventType>, requiredInput?: string[]) {
    return async (req: Request, res: Response): Promise<void> => {
      let agent: Agent11 | undefined;
      let pending: PendingRequest | undefined;
      try {
        const who = await agentOf(req);
        agent = who.agent;
        const request = await (await pendingOf(req, who, method))();
        if (request === undefined) throw new AAuthError('interaction_code_invalid', unknown);
        pending = request;
        await service.noteAgentToken(agent);
        const type = await change(req, request, who.agent);
        ctx.audit({ type, time: ctx.now(), endpoint: 'pending', agent: agent.id, thumbprint: agent.thumbprint, ...targetOf(req, request) });
        res.status(204).set('Cache-Control', 'no-store').end();
      } catch (error) {
        audit(error, agent, pending === undefined ? {} : targetOf(req, pending));
        refuse(res, ctx, error, requiredInput);
      }
    };
  }

  // AAuth -11 "Cancel Request": the agent that asked withdraws its request with a signed DELETE of
  // the pending URL. The consent page then tells the person so; polls get 410 (the URL is consumed by
  // the first). A request already decided is consumed unissued; one the access server holds
  // (four-party) is withdrawn there too.
  router.delete(
    `${PERSON_PATHS.pending}/:id`,
    changePending('DELETE', 'This pending URL is unknown or already answered: there is nothing to withdraw', async (_req, request) => {
      if (request.status === 'withdrawn') throw new AAuthError('pending_withdrawn', 'This request was already withdrawn');
      // Still waiting: marked withdrawn (kept until it expires, so the consent page can say so).
      // Decided meanwhile, or the mark lost a race with the person's decision: consumed unissued.
      const withdrawn = request.status === 'pending' ? await ctx.store.decide(request.id, { status: 'withdrawn', sub: '', username: '' }) : undefined;
      if (withdrawn === undefined && (await ctx.store.take(request.id)) === undefined) {
        throw new AAuthError('interaction_code_invalid', 'This pending URL was answered meanwhile: there is nothing to withdraw');
      }
      service.withdrawAtAccessServer(request);
      return 'request.withdrawn';
    }),
  );

  /** A `clarification_response`: a string of at most MAX_CLARIFICATION_TEXT with something visible in it, else 400. */
  function clarificationAnswer(answer: unknown, what: string): string {
    // An answer with nothing visible in it (only spaces, invisible or control characters) says nothing.
    if (typeof answer !== 'string' || answer.length > MAX_CLARIFICATION_TEXT || clarificationText(answer) === undefined) {
      throw new AAuthError('invalid_request', `clarification_response must be a non-empty string of at most ${MAX_CLARIFICATION_TEXT} characters (Markdown), the answer to ${what}`);
    }
    return answer;
  }

  // AAuth -11 "Agent Response to Clarification": a POST to a pending URL answers the person's open
  // question (`clarification_response`; the consent page shows it) or replaces the request with a
  // new resource token (`updated_request`: the person then decides on the updated request); one
  // without a known `action` is 400, and so is an answer when no question is open.
  router.post(
    `${PERSON_PATHS.pending}/:id`,
    raw,
    changePending(
      'POST',
      'This pending URL is unknown or already answered',
      async (req, request, agent) => {
        const body = parseBody(req);
        const { action } = body;
        if (action !== 'clarification_response' && action !== 'updated_request') {
          throw new AAuthError('invalid_request', `A POST to a pending URL needs "action": "clarification_response" or "updated_request" (got ${action === undefined ? 'none' : showValue(action, 40)}); to withdraw the request, DELETE the pending URL`);
        }
        if (request.status === 'approved' && request.draft11?.federation?.pending?.clarification !== undefined) {
          // Four-party: the access server asked; the answer goes to it, and the request waits on.
          if (action === 'updated_request') {
            throw new AAuthError('invalid_request', "The open question is the access server's: answer it with clarification_response (an updated request answers the person's questions only), or DELETE the pending URL to withdraw the request");
          }
          const answer = clarificationAnswer(body.clarification_response, "the access server's question");
          const taken = await ctx.store.take(request.id);
          if (taken === undefined) throw new AAuthError('invalid_request', 'The request was answered or withdrawn meanwhile: there is nothing to answer; poll the pending URL with GET');
          // A 5xx on the way (the access server unreachable, the store): put back, the question still open.
          await deliverTaken(ctx.store, taken, ctx.now(), () => service.answerAccessServer(taken, answer), ctx.warn);
          return 'clarification.answered';
        }
        if (openQuestion(request) === undefined) {
          throw new AAuthError('invalid_request', `No clarification is open for this request (none was asked, or its answer came already): there is nothing to answer with ${action}; poll the pending URL with GET, or DELETE it to withdraw the request`);
        }
        if (action === 'updated_request') {
          const update = await service.updatedRequest(agent, request, body);
          const justification = typeof body.justification === 'string' ? body.justification : '';
          const updated = ctx.store.converse === undefined ? undefined : await ctx.store.converse(request.id, { answer: justification, update });
          if (updated === undefined) {
            throw new AAuthError('invalid_request', 'The question was answered meanwhile, or the person decided: there is nothing to update; poll the pending URL with GET');
          }
          if (updated.scope !== update.scope || updated.draft11?.resourceToken?.[1] !== update.draft11.resourceToken?.[1]) {
            throw new AAuthError('internal_error', "The pending store's converse() did not apply the updated request (a PendingStore of your own must apply change.update)");
          }
          // The audit event names the request as updated.
          Object.assign(request, { scope: updated.scope });
          return 'request.updated';
        }
        const answer = clarificationAnswer(body.clarification_response, "the person's question");
        const answered = ctx.store.converse === undefined ? undefined : await ctx.store.converse(request.id, { answer });
        if (answered === undefined) {
          throw new AAuthError('invalid_request', 'The question was answered meanwhile, or the person decided: there is nothing to answer; poll the pending URL with GET');
        }
        return 'clarification.answered';
      },
      ['content-type', 'content-digest'],
    ),
  );

  // Another method at an endpoint's path: 405 problem+json with Allow, never express's HTML 404.
  const onlyMethod = (allow: string) => (req: Request, res: Response) => {
    res.set('Allow', allow);
    refuse(res, ctx, new AAuthError('method_not_allowed', `${req.method} is not served here: use ${allow}`));
  };
  router.all([PERSON_PATHS.personToken, PERSON_PATHS.authToken, PERSON_PATHS.revocation], onlyMethod('POST'));
  router.all(`${PERSON_PATHS.pending}/:id`, onlyMethod('GET, POST, DELETE'));

  // Body-parser failures (too large, unreadable): problem+json, never express's 500 page.
  router.use('/aauth/person', (error: unknown, _req: Request, res: Response, next: (e?: unknown) => void) => {
    const refusal = bodyReadError(error, `${config.maxBodyBytes} bytes`);
    if (refusal) refuse(res, ctx, refusal);
    else next(error);
  });

  return router;
}
