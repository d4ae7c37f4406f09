import { randomBytes } from 'node:crypto';
import { ACT_MAX_DEPTH, AAuthError, parseScope, type ActClaim } from '@aauth-kit/core';
import type { JWTPayload } from 'jose';
import type { RealmClient } from '../load-realm.js';
import { refusalOf } from './audit.js';
import { auditReason } from './discovery-refusal.js';
import { authenticateClient, type TokenForm } from './client-auth.js';
import type { ServerContext } from './context.js';
import { ACCESS_TOKEN_TYP, verifyPresentedToken, type PresentedToken } from './presented-token.js';
import { chainAgents, checkChainAllowed } from './policy.js';
import { checkDelegationDepth } from './token-service.js';

/** The RFC 8693 section 2.1 token-exchange grant type. */
export const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** The RFC 6749 section 4.4 client-credentials grant type. */
export const GRANT_CLIENT_CREDENTIALS = 'client_credentials';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
/** Presented token types this server can read: its own JWTs (RFC 8693 section 3). */
const INPUT_TOKEN_TYPES = new Set([ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE]);
const MAX_TOKEN_PARAM = 16 * 1024;

/** The successful answer (RFC 6749 section 5.1, RFC 8693 section 2.2.1). */
export interface OAuthTokenResponse {
  access_token: string;
  issued_token_type?: string;
  token_type: 'Bearer' | 'N_A';
  expires_in: number;
  scope?: string;
}

/** What the route hands the service: the parsed form and the `Authorization` header. */
export interface OAuthTokenRequest {
  form: TokenForm;
  authorization: string | undefined;
}

function one(form: TokenForm, name: string): string | undefined {
  return form.single.get(name);
}

function checkScopeSyntax(scope: string | undefined): string[] {
  if (scope === undefined) return [];
  // RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by spaces.
  if (!/^[\x20\x21\x23-\x5B\x5D-\x7E]*$/.test(scope)) throw new AAuthError('invalid_scope', 'The scope has characters outside RFC 6749 section 3.3');
  return parseScope(scope);
}

/** The `sub` of every level of an RFC 8693 `act` claim, outermost first (bounded as the depth rule bounds it). */
function actChain(act: Record<string, unknown> | undefined): string[] {
  const out: string[] = [];
  let level: unknown = act;
  for (let depth = 0; depth <= ACT_MAX_DEPTH && typeof level === 'object' && level !== null; depth++) {
    const sub = (level as Record<string, unknown>).sub;
    if (typeof sub === 'string') out.push(sub);
    level = (level as Record<string, unknown>).act;
  }
  return out;
}

/** The OAuth token endpoint's logic: the token-exchange grant and client credentials. */
export function createOAuthTokenService(ctx: ServerContext) {
  const { realm, issuer } = ctx;

  function clientById(id: string): RealmClient | undefined {
    return realm.clients.find((c) => c.clientId === id);
  }

  /**
   * The `aud` of the issued token: each `audience` is a realm client id, each `resource` a client's
   * `rootUrl` (or a client id that is a URI); the requester may target itself and the clients in its
   * `aauth.exchange.audiences`. Anything else is 400 invalid_target (RFC 8693 section 2.2.2).
   */
  function targets(client: RealmClient, form: TokenForm): string[] {
    const out: string[] = [];
    const permit = (target: RealmClient | undefined, named: string, kind: 'audience' | 'resource'): void => {
      if (target === undefined || !target.enabled) throw new AAuthError('invalid_target', `The ${kind} ${JSON.stringify(named)} is not a client of this realm`);
      if (target.clientId !== client.clientId && !client.exchangeAudiences.includes(target.clientId)) {
        throw new AAuthError('invalid_target', `Client ${client.clientId} may not request tokens for ${target.clientId} (aauth.exchange.audiences)`);
      }
      if (!out.includes(target.clientId)) out.push(target.clientId);
    };
    for (const audience of form.repeated.get('audience') ?? []) permit(clientById(audience), audience, 'audience');
    for (const resource of form.repeated.get('resource') ?? []) {
      let absolute = false;
      try {
        absolute = new URL(resource).href.length > 0 && !resource.includes('#');
      } catch {
        absolute = false;
      }
      // RFC 8707 section 2: resource is an absolute URI without a fragment.
      if (!absolute) throw new AAuthError('invalid_target', `The resource ${JSON.stringify(resource)} is not an absolute URI without a fragment`);
      permit(realm.clients.find((c) => c.rootUrl === resource) ?? clientById(resource), resource, 'resource');
    }
    return out.length > 0 ? out : [client.clientId];
  }

  function requestedTokenType(form: TokenForm): { issued: string; tokenType: 'Bearer' | 'N_A' } {
    const requested = one(form, 'requested_token_type');
    if (requested === undefined || requested === ACCESS_TOKEN_TYPE) return { issued: ACCESS_TOKEN_TYPE, tokenType: 'Bearer' };
    // RFC 8693 section 2.2.1: a token that is not an access token has token_type N_A.
    if (requested === JWT_TOKEN_TYPE) return { issued: JWT_TOKEN_TYPE, tokenType: 'N_A' };
    throw new AAuthError('invalid_request', `requested_token_type ${JSON.stringify(requested)} is not supported (access_token or jwt)`);
  }

  async function mint(claims: { sub: string; aud: string[]; clientId: string; scope: string[]; act?: Record<string, unknown>; notAfter?: number }) {
    const iat = Math.floor(ctx.now());
    const exp = Math.min(iat + realm.accessTokenLifespan, claims.notAfter ?? Number.POSITIVE_INFINITY);
    const jti = randomBytes(16).toString('base64url');
    // RFC 9068 section 2.2 claims; `act` per RFC 8693 section 4.1.
    const payload: Record<string, unknown> = { iss: issuer, sub: claims.sub, aud: claims.aud.length === 1 ? claims.aud[0] : claims.aud, client_id: claims.clientId };
    if (claims.scope.length > 0) payload.scope = claims.scope.join(' ');
    Object.assign(payload, { iat, exp, jti });
    if (claims.act !== undefined) payload.act = claims.act;
    const token = await ctx.key.sign(ACCESS_TOKEN_TYP, payload as JWTPayload);
    return { token, jti, expiresIn: Math.max(0, exp - iat) };
  }

  function presentedParam(form: TokenForm, name: 'subject_token' | 'actor_token'): string | undefined {
    const value = one(form, name);
    if (value === undefined) return undefined;
    if (value.length === 0 || value.length > MAX_TOKEN_PARAM) throw new AAuthError('invalid_request', `${name} must be a non-empty string of at most ${MAX_TOKEN_PARAM} characters`);
    return value;
  }

  function tokenTypeParam(form: TokenForm, name: 'subject_token_type' | 'actor_token_type'): void {
    const type = one(form, name);
    if (type === undefined) throw new AAuthError('invalid_request', `${name} is required with ${name.replace('_type', '')} (RFC 8693 section 2.1)`);
    if (!INPUT_TOKEN_TYPES.has(type)) {
      throw new AAuthError('invalid_request', `${name} ${JSON.stringify(type)} is not supported: this server exchanges ${[...INPUT_TOKEN_TYPES].join(' or ')}`);
    }
  }

  /**
   * RFC 8693 section 2.1: the actor token represents the acting party, which here is the
   * authenticated client (issue 13, finding 1). It must name that client (its `sub`, or its AAuth
   * identity from `aauth.exchange.subject.audiences`) and, when this server issued it to a client,
   * have been issued to that one; a token naming the subject would erase or invert the `act` chain.
   */
  function checkActor(client: RealmClient, actor: PresentedToken, subject: PresentedToken): void {
    if (actor.subject === subject.subject) {
      throw new AAuthError('actor_token_is_subject', `actor_token refused: it names the subject ${JSON.stringify(subject.subject)}; the actor is the requesting client, never the subject`);
    }
    const namesClient = actor.subject === client.clientId || client.subjectAudiences.includes(actor.subject);
    const issuedToClient = actor.clientId === undefined || actor.clientId === client.clientId;
    if (!namesClient || !issuedToClient) {
      throw new AAuthError(
        'actor_token_not_client',
        `actor_token refused: it names ${JSON.stringify(actor.subject)}, not the requesting client ${client.clientId}; the actor token must be the client's own`,
      );
    }
  }

  async function exchange(client: RealmClient, form: TokenForm) {
    if (!client.tokenExchange) {
      throw new AAuthError('unauthorized_client', `Client ${client.clientId} may not use token exchange (standard.token.exchange.enabled)`);
    }
    // RFC 8693 section 2.1: subject_token and subject_token_type are required; actor_token_type goes with actor_token.
    const subjectToken = presentedParam(form, 'subject_token');
    if (subjectToken === undefined) throw new AAuthError('invalid_request', 'subject_token is required (RFC 8693 section 2.1)');
    tokenTypeParam(form, 'subject_token_type');
    const actorToken = presentedParam(form, 'actor_token');
    if (actorToken !== undefined) tokenTypeParam(form, 'actor_token_type');
    else if (one(form, 'actor_token_type') !== undefined) throw new AAuthError('invalid_request', 'actor_token_type is given without actor_token');
    const issued = requestedTokenType(form);
    const requested = checkScopeSyntax(one(form, 'scope'));

    const subject = await verifyPresentedToken(ctx, subjectToken, 'subject_token');
    // As Keycloak's standard token exchange: the requester must be an audience of the subject token.
    // A valid token refused by policy stays invalid_grant, like the actor and depth rules below
    // (Keycloak: 403 access_denied); an invalid token is invalid_request (verifyPresentedToken).
    if (!subject.aud.includes(client.clientId) && !subject.aud.some((a) => client.subjectAudiences.includes(a))) {
      throw new AAuthError('invalid_grant', `subject_token refused: it was not issued to client ${client.clientId} (aud ${JSON.stringify(subject.aud)}; see aauth.exchange.subject.audiences)`);
    }
    let actor: PresentedToken | undefined;
    if (actorToken !== undefined) {
      if (actorToken === subjectToken) {
        throw new AAuthError('actor_token_is_subject', 'actor_token refused: it is the subject_token; the actor is the requesting client, never the subject');
      }
      actor = await verifyPresentedToken(ctx, actorToken, 'actor_token');
      checkActor(client, actor, subject);
    }
    // Every agent the presented tokens passed through is checked against aauth.blocked.agents (issue 13, finding 15).
    checkChainAllowed(realm.policy, [subject.agent, ...chainAgents(subject.act), actor?.agent, ...chainAgents(actor?.act)]);
    const aud = targets(client, form);
    // Scopes narrow, never widen: every requested scope must be in the subject token.
    const widened = requested.filter((s) => !subject.scope.includes(s));
    if (widened.length > 0) throw new AAuthError('invalid_scope', `Scope ${widened.join(' ')} is not in the subject token's scope; an exchange can only narrow it`);
    const asked = requested.length > 0 ? requested : subject.scope;

    // RFC 8693 section 4.1: the actor (the actor token's subject, else the requesting client) becomes
    // `act`, and the subject token's own `act` nests inside it as the prior actor.
    const actorName = actor?.subject ?? client.clientId;
    let act: Record<string, unknown> | undefined;
    let depth = subject.actDepth;
    if (actorName !== subject.subject || subject.act !== undefined) {
      act = { sub: actorName };
      if (subject.act !== undefined) act.act = subject.act;
      depth++;
    }
    checkDelegationDepth(depth, realm.policy.maxDepth);
    // The exchanged token never outlives the token it was exchanged for (verification allowed a few seconds of leeway).
    if (subject.exp <= Math.floor(ctx.now())) throw new AAuthError('invalid_request', 'subject_token refused: it has expired');
    // The issuance policy after the realm's rules (issue 17): the chain is the actors, nearest first.
    const scope = await ctx.policy({
      generation: 'oauth',
      endpoint: 'oauth-token',
      operation: 'token-exchange',
      stage: 'request',
      user: subject.subject,
      agent: client.clientId,
      chain: actChain(act),
      resource: aud.join(' '),
      scopes: asked,
    });
    const minted = await mint({ sub: subject.subject, aud, clientId: client.clientId, scope, ...(act ? { act } : {}), notAfter: subject.exp });
    ctx.audit({
      type: 'token.exchanged',
      time: ctx.now(),
      endpoint: 'openid-connect',
      grantType: GRANT_TOKEN_EXCHANGE,
      client: client.clientId,
      sub: subject.subject,
      ...(act ? { actor: actorName, act: act as ActClaim } : {}),
      audience: aud,
      scope: scope.join(' '),
      scopesRequested: requested,
      scopesGranted: scope,
      jti: minted.jti,
    });
    const response: OAuthTokenResponse = {
      access_token: minted.token,
      issued_token_type: issued.issued,
      token_type: issued.tokenType,
      expires_in: minted.expiresIn,
    };
    if (scope.length > 0) response.scope = scope.join(' ');
    return response;
  }

  async function clientCredentials(client: RealmClient, form: TokenForm) {
    if (!client.serviceAccountsEnabled) {
      throw new AAuthError('unauthorized_client', `Client ${client.clientId} may not use client_credentials (serviceAccountsEnabled)`);
    }
    const requested = checkScopeSyntax(one(form, 'scope'));
    const allowed = [...client.defaultClientScopes, ...client.optionalClientScopes];
    const refused = requested.filter((s) => !allowed.includes(s));
    if (refused.length > 0) {
      throw new AAuthError('invalid_scope', `Scope ${refused.join(' ')} is not a default or optional client scope of ${client.clientId}`);
    }
    // As Keycloak: the default client scopes always, plus the optional ones requested; a client
    // scope with include.in.token.scope "false" (Keycloak's basic, service_account) is not listed.
    const hidden = new Set(realm.clientScopes.filter((s) => !s.includeInTokenScope).map((s) => s.name));
    const offered = [...new Set([...client.defaultClientScopes, ...requested])].filter((s) => !hidden.has(s));
    const aud = targets(client, form);
    const scope = await ctx.policy({
      generation: 'oauth',
      endpoint: 'oauth-token',
      operation: 'client-credentials',
      stage: 'request',
      agent: client.clientId,
      chain: [],
      resource: aud.join(' '),
      scopes: offered,
    });
    // RFC 9068 section 2.2: with no resource owner, `sub` identifies the client.
    const minted = await mint({ sub: client.clientId, aud, clientId: client.clientId, scope });
    ctx.audit({
      type: 'token.issued',
      time: ctx.now(),
      endpoint: 'openid-connect',
      grantType: GRANT_CLIENT_CREDENTIALS,
      client: client.clientId,
      sub: client.clientId,
      audience: aud,
      scope: scope.join(' '),
      scopesRequested: requested,
      scopesGranted: scope,
      jti: minted.jti,
    });
    const response: OAuthTokenResponse = { access_token: minted.token, token_type: 'Bearer', expires_in: minted.expiresIn };
    if (scope.length > 0) response.scope = scope.join(' ');
    return response;
  }

  return {
    /** Answer one token request; every outcome, refusals included, is an audit event. */
    async request(request: OAuthTokenRequest): Promise<OAuthTokenResponse> {
      const grantType = one(request.form, 'grant_type');
      let client: RealmClient | undefined;
      try {
        if (!realm.enabled) throw new AAuthError('access_denied', `The realm ${realm.name} is disabled`);
        if (grantType === undefined) throw new AAuthError('invalid_request', 'grant_type is required');
        client = authenticateClient(realm.clients, realm.name, request.authorization, request.form).client;
        if (grantType !== GRANT_TOKEN_EXCHANGE && grantType !== GRANT_CLIENT_CREDENTIALS) {
          throw new AAuthError('unsupported_grant_type', `grant_type ${JSON.stringify(grantType)} is not supported here (${GRANT_TOKEN_EXCHANGE} or ${GRANT_CLIENT_CREDENTIALS})`);
        }
        if (client.publicClient || client.bearerOnly) {
          throw new AAuthError('unauthorized_client', `Client ${client.clientId} is ${client.publicClient ? 'public' : 'bearer-only'} and may not use ${grantType}`);
        }
        return grantType === GRANT_TOKEN_EXCHANGE ? await exchange(client, request.form) : await clientCredentials(client, request.form);
      } catch (error) {
        const refusal = refusalOf(error);
        ctx.audit({
          type: 'request.refused',
          time: ctx.now(),
          endpoint: 'openid-connect',
          ...(grantType !== undefined && grantType.length <= 200 ? { grantType } : {}),
          ...(client ? { client: client.clientId } : {}),
          ...refusal,
          reason: auditReason(error, refusal.reason),
        });
        throw error;
      }
    },
  };
}

/** The OAuth token endpoint's logic, as the router uses it. */
export type OAuthTokenService = ReturnType<typeof createOAuthTokenService>;
