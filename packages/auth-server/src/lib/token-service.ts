import { randomBytes } from 'node:crypto';
import { hashOnce } from '@aauth-kit/core/internal';
import { newTokenId } from './token-id.js';
import {
  ACT_MAX_DEPTH,
  AAuthError,
  AUTH_TOKEN,
  REFRESH_TOKEN,
  RESOURCE_TOKEN,
  TOKEN_LEEWAY,
  actChainDepth,
  decodeToken,
  isAAuthError,
  parseScope,
  type ActClaim,
  type PublicJwk,
  type ResourceTokenClaims,
} from '@aauth-kit/core';
import type { VerifiedToken } from '@aauth-kit/verifier';
import type { JWTPayload } from 'jose';
import type { PendingRequest } from '../pending-store.js';
import type { ServerContext, Signer } from './context.js';
import { refusalOf } from './audit.js';
import { checkNotRevoked } from './grant-revoked.js';
import { auditReason, isDiscoveryFailure, uniformTokenRefusal } from './discovery-refusal.js';
import { chainAgents, checkAgentAllowed, checkChainAllowed, checkScopesAllowed, consentScopes } from './policy.js';

/** The body fields of a token request (section 8). */
export interface TokenRequestFields {
  resource_token?: string;
  upstream_token?: string;
  auth_token?: string;
}

/** The successful answer of the token endpoint and of a decided poll. */
export interface TokenResponse {
  auth_token: string;
  expires_in: number;
}

export type TokenOutcome = { kind: 'token'; response: TokenResponse } | { kind: 'pending'; request: PendingRequest };

/** What an issued auth token says (section 7), before signing. */
interface Grant {
  aud: string;
  agent: string;
  sub?: string;
  scope: string;
  cnf: PublicJwk;
  act?: ActClaim;
  /** When the grant this token continues began (OIDC `auth_time`); default: now, a new grant. */
  authTime?: number;
}

/** How many times an issuance waits for a revocation's second to pass before it answers 503 `revocation_settling`. */
const SETTLE_ROUNDS = 2;

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** SHA-256, base64url. */
const sha256 = (text: string): string => hashOnce('sha256', text, 'base64url');


/** Re-throw a token check failure as the auth server's `invalid_grant` (section 8), keeping the reason. */
function asGrantError(what: string, error: unknown): AAuthError {
  if (isAAuthError(error) && (error.code === 'invalid_grant' || error.code === 'access_denied' || error.code === 'grant_revoked' || error.code === 'revocation_store_failed')) return error;
  // A fetch the caller's token made us do: one answer, the detail for the audit (issue 13, finding 12).
  if (isDiscoveryFailure(error)) return uniformTokenRefusal(what, error);
  const reason = error instanceof Error ? error.message : String(error);
  return new AAuthError('invalid_grant', `${what} refused: ${reason}`, { cause: error });
}

function publicJwk(jwk: PublicJwk): PublicJwk {
  if (jwk.kty === 'OKP') return { kty: 'OKP', crv: jwk.crv, x: jwk.x };
  if (jwk.kty === 'EC') return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
  return { kty: 'RSA', n: jwk.n, e: jwk.e };
}

/**
 * Refuse an `act` chain deeper than the realm allows (section 8, `aauth.exchange.max.depth`),
 * which is never more than the kit's one limit: a deeper token would be refused everywhere.
 */
export function checkDelegationDepth(depth: number, maxDepth: number): void {
  const limit = Math.min(maxDepth, ACT_MAX_DEPTH);
  if (depth > limit) {
    throw new AAuthError('invalid_grant', `Delegation chain too deep: ${depth} act levels, the limit is ${limit} (aauth.exchange.max.depth)`);
  }
}

/**
 * When the grant a token continues began: its `auth_time`, else (a token issued before this claim,
 * or by an issuer that does not set it) its `iat`.
 */
function grantStart(token: VerifiedToken, now: number): number {
  const { auth_time: authTime, iat } = token.claims;
  const start = typeof authTime === 'number' && Number.isFinite(authTime) ? authTime : iat;
  // Never later than now: a grant cannot begin in the future.
  return typeof start === 'number' && Number.isFinite(start) ? Math.min(Math.floor(start), Math.floor(now)) : Math.floor(now);
}

/** The auth server's token logic: the three request kinds of section 8, and delivery after consent. */
export function createTokenService(ctx: ServerContext) {
  const { issuer, realm } = ctx;
  const { policy } = realm;

  /**
   * The `iat` of a token of `grant` (issue 17). A revocation by agent or grant covers every `iat` up
   * to the second it was recorded in, so a token issued after it in that same second must not carry
   * that second. It is not dated ahead either (a second revocation in the same second would then
   * miss it although it was issued before): issuance waits for the next second and reads again. The
   * second is taken before the read, so a revocation recorded after the read covers the token.
   */
  async function issuedAt(grant: Grant): Promise<number> {
    const registry = ctx.revocation;
    if (registry === undefined) return Math.floor(ctx.now());
    const agents = [grant.agent, ...chainAgents(grant.act)];
    for (let round = 0; ; round++) {
      const t = ctx.now();
      const second = Math.floor(t);
      const covered = await registry.coveredThrough(issuer, agents, grant.sub);
      if (covered === undefined || covered < second) return second;
      if (round === SETTLE_ROUNDS) {
        throw new AAuthError('revocation_settling', `A revocation covering this token (${[`of agent ${grant.agent}`, ...(agents.length > 1 ? ['of an agent in its act chain'] : []), ...(grant.sub === undefined ? [] : ["of the user's grant"])].join(', or ')}) was recorded in this second (or a later one, by a server whose clock is ahead of this one's): retry in a second`, { headers: { 'Retry-After': '1' } });
      }
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(1, Math.ceil((covered + 1 - t) * 1000)))));
    }
  }

  /** Sign a token of `grant`; `settled` is its `iat` when {@link issuedAt} was asked already. */
  async function mint(grant: Grant, settled?: number): Promise<{ response: TokenResponse; jti: string }> {
    const iat = settled ?? (await issuedAt(grant));
    const jti = newTokenId();
    // The grant's absolute end (issue 13, finding 6): no token of it outlives auth_time + ssoSessionMaxLifespan.
    const authTime = grant.authTime ?? iat;
    const exp = Math.min(iat + realm.accessTokenLifespan, authTime + realm.ssoSessionMaxLifespan);
    // Claim order as section 7 lists them; `sub` and `act` only when there is one.
    const claims: Record<string, unknown> = { iss: issuer, aud: grant.aud, agent: grant.agent };
    if (grant.sub !== undefined) claims.sub = grant.sub;
    claims.scope = grant.scope;
    claims.cnf = { jwk: publicJwk(grant.cnf) };
    claims.iat = iat;
    claims.exp = exp;
    claims.jti = jti;
    claims.auth_time = authTime;
    if (grant.act !== undefined) claims.act = grant.act;
    const token = await ctx.key.sign('auth+jwt', claims as JWTPayload);
    return { response: { auth_token: token, expires_in: exp - iat }, jti };
  }

  /** Section 8: the resource token, through the one token verification (its key from the resource's metadata). */
  async function verifyResource(jwt: string, signer: Signer): Promise<ResourceTokenClaims> {
    try {
      // The signer checks (agent, agent_jkt) are claim checks: a token for someone else costs no metadata fetch.
      const verified = await ctx.tokens.verifyToken(jwt, RESOURCE_TOKEN, { audience: issuer, agent: signer.agent, agentJkt: signer.thumbprint, caller: signer.caller });
      return verified.claims as unknown as ResourceTokenClaims;
    } catch (error) {
      throw asGrantError('resource_token', error);
    }
  }

  /** Section 8, exchange: the upstream auth token, issued by this realm or a trusted issuer, for the signer. */
  async function verifyUpstream(jwt: string, signer: Signer): Promise<VerifiedToken> {
    try {
      const token = await ctx.tokens.verifyToken(jwt, AUTH_TOKEN, { audience: signer.agent, caller: signer.caller });
      await checkNotRevoked(ctx, token, 'upstream_token');
      return token;
    } catch (error) {
      if (isAAuthError(error, 'token_audience_invalid')) {
        throw new AAuthError('invalid_grant', `upstream_token refused: it was issued for another audience, not the signer ${signer.agent}`);
      }
      if (isAAuthError(error, 'token_issuer_untrusted')) {
        const iss = String(error.details?.issuer);
        throw new AAuthError('invalid_grant', `upstream_token refused: issuer ${JSON.stringify(iss)} is not trusted (aauth.trusted.issuers)`);
      }
      throw asGrantError('upstream_token', error);
    }
  }

  /** Section 8, refresh: one of this realm's own auth tokens, possibly expired within the refresh window, bound to the signer. */
  async function verifyForRefresh(jwt: string, signer: Signer): Promise<VerifiedToken> {
    let token: VerifiedToken;
    try {
      token = await ctx.tokens.verifyToken(jwt, REFRESH_TOKEN, {
        audience: null,
        issuers: [issuer],
        algorithms: [ctx.key.alg],
        refreshWindow: realm.refreshLifespan,
      });
    } catch (error) {
      if (isAAuthError(error, 'token_issuer_untrusted')) throw new AAuthError('invalid_grant', 'auth_token refused: it was not issued by this server');
      if (isAAuthError(error, 'token_expired')) {
        throw new AAuthError('invalid_grant', `auth_token refused: it expired more than ${realm.refreshLifespan} s ago (aauth.refresh.lifespan)`);
      }
      throw asGrantError('auth_token', error);
    }
    // "Refresh ... with the same key" (section 8): proof of possession of the bound key.
    if (token.cnf?.thumbprint !== signer.thumbprint) throw new AAuthError('invalid_grant', 'auth_token refused: it is bound to another key (cnf.jwk)');
    const holder = token.agent ?? token.claims.aud;
    if (holder !== signer.agent) throw new AAuthError('invalid_grant', `auth_token refused: it was issued to ${String(holder)}, not ${signer.agent}`);
    // Issue 17: a revoked token (or agent, or withdrawn grant) ends its refresh lineage; told only to its holder.
    await checkNotRevoked(ctx, token, 'auth_token');
    // Refresh never ends otherwise (issue 13, finding 6): the lineage is bounded from its start.
    const max = realm.ssoSessionMaxLifespan;
    if (grantStart(token, ctx.now()) + max <= ctx.now()) {
      throw new AAuthError(
        'grant_lifetime_exceeded',
        `auth_token refused: the grant it continues began more than ${max} s ago (the realm's ssoSessionMaxLifespan); ask the resource again`,
      );
    }
    return token;
  }

  /**
   * A resource token is redeemed once (issue 13, finding 11): remembered in the used-token store
   * until its `exp` plus the leeway its verification allows. Called once every check passed, so a
   * refused request does not burn the token; the store's check-and-set is atomic.
   */
  async function redeem(rt: ResourceTokenClaims): Promise<void> {
    const key = `aauth:resource-token:${sha256(`${rt.iss}\n${rt.jti}`)}`;
    const ttl = Math.max(1, Math.ceil(rt.exp + TOKEN_LEEWAY - ctx.now()));
    let first: boolean;
    try {
      first = await ctx.usedTokens.checkAndStore(key, ttl);
    } catch (error) {
      if (isAAuthError(error)) throw error;
      throw new AAuthError('replay_store_failed', 'The store of redeemed resource tokens failed', { cause: error });
    }
    if (!first) throw new AAuthError('resource_token_replayed', 'resource_token refused: it was already redeemed; ask the resource for a new one');
  }

  async function createPending(base: Omit<PendingRequest, 'id' | 'code' | 'createdAt' | 'expiresAt' | 'status'>): Promise<PendingRequest> {
    const createdAt = Math.floor(ctx.now());
    for (let attempt = 0; ; attempt++) {
      const bytes = randomBytes(8);
      const code = Array.from(bytes, (b) => CODE_ALPHABET[b & 31]).join('');
      const request: PendingRequest = {
        ...base,
        id: randomBytes(32).toString('base64url'),
        code,
        createdAt,
        expiresAt: createdAt + ctx.pendingLifetime,
        status: 'pending',
      };
      try {
        await ctx.store.put(request);
        return request;
      } catch (error) {
        // Only a clash of id or code is worth another draw; a full or failing store answers now.
        if (!isAAuthError(error, 'pending_conflict') || attempt >= 3) throw error;
      }
    }
  }

  function refused(error: unknown, signer: Signer | undefined, extra: { resource?: string; scope?: string } = {}): void {
    const refusal = refusalOf(error);
    ctx.audit({
      type: 'request.refused',
      time: ctx.now(),
      endpoint: 'token',
      ...(signer ? { agent: signer.agent, thumbprint: signer.thumbprint } : {}),
      ...extra,
      ...refusal,
      reason: auditReason(error, refusal.reason),
    });
  }

  async function auth(signer: Signer, resourceToken: string): Promise<TokenOutcome> {
    checkAgentAllowed(policy, signer.agent);
    const rt = await verifyResource(resourceToken, signer);
    checkScopesAllowed(policy, parseScope(rt.scope));
    // The issuance policy after the realm's rules (issue 17); before redeeming, so a denial does not burn the resource token.
    const scopes = await ctx.policy({ generation: 'keycloak', endpoint: 'aauth-token', operation: 'auth', stage: 'request', agent: signer.agent, chain: [], resource: rt.iss, scopes: parseScope(rt.scope) });
    await redeem(rt);
    const needConsent = consentScopes(policy, scopes);
    if (needConsent.length > 0) {
      const request = await createPending({
        thumbprint: signer.thumbprint,
        agent: signer.agent,
        resource: rt.iss,
        scope: scopes.join(' '),
        consentScopes: needConsent,
        kind: 'auth',
        cnfJwk: publicJwk(signer.jwk),
      });
      ctx.audit({ type: 'consent.required', time: ctx.now(), endpoint: 'token', agent: signer.agent, thumbprint: signer.thumbprint, resource: rt.iss, scope: request.scope });
      return { kind: 'pending', request };
    }
    const scope = scopes.join(' ');
    const { response, jti } = await mint({ aud: rt.iss, agent: signer.agent, scope, cnf: signer.jwk });
    ctx.audit({ type: 'token.issued', time: ctx.now(), endpoint: 'token', agent: signer.agent, thumbprint: signer.thumbprint, resource: rt.iss, scope, jti });
    return { kind: 'token', response };
  }

  async function exchange(signer: Signer, resourceToken: string, upstreamToken: string): Promise<TokenOutcome> {
    if (!policy.enabled || !policy.exchangeEnabled) {
      throw new AAuthError('access_denied', 'Token exchange is disabled in this realm (aauth.exchange.enabled)');
    }
    checkAgentAllowed(policy, signer.agent);
    const upstream = await verifyUpstream(upstreamToken, signer);
    const upstreamStart = grantStart(upstream, ctx.now());
    if (upstreamStart + realm.ssoSessionMaxLifespan <= ctx.now()) {
      throw new AAuthError('grant_lifetime_exceeded', `upstream_token refused: the grant it continues began more than ${realm.ssoSessionMaxLifespan} s ago (the realm's ssoSessionMaxLifespan)`);
    }
    // Every agent the upstream token passed through, not only the signer (issue 13, finding 15).
    checkChainAllowed(policy, [upstream.agent, ...chainAgents(upstream.act)]);
    const rt = await verifyResource(resourceToken, signer);
    const scopes = parseScope(rt.scope);
    checkScopesAllowed(policy, scopes);
    // Scope narrowing (section 8): the downstream scopes must all be in the upstream token.
    const upstreamScopes = upstream.scope;
    const expansion = scopes.filter((s) => !upstreamScopes.includes(s));
    if (expansion.length > 0) {
      // Say the fix: the token the signer was called with must already carry the downstream scope,
      // which its caller gets by the signer's route requiring that scope too.
      const missing = expansion.join(' ');
      throw new AAuthError(
        'invalid_grant',
        `Scope expansion refused: ${missing} is not in the upstream token's scope (${upstreamScopes.join(' ') || 'none'}); ` +
          `an exchange only narrows, so the route of ${signer.agent} that was called with the upstream token must also require ${missing}`,
      );
    }
    const act: ActClaim = { agent: upstream.agent ?? signer.agent };
    if (upstream.subject !== undefined) act.sub = upstream.subject;
    if (upstream.act !== undefined) act.act = upstream.act;
    // The upstream chain passed the one act rule; the new level on top of it must fit the realm's limit.
    checkDelegationDepth(1 + actChainDepth(upstream.act), policy.maxDepth);
    const granted = await ctx.policy({
      generation: 'keycloak',
      endpoint: 'aauth-token',
      operation: 'exchange',
      stage: 'request',
      ...(upstream.subject !== undefined ? { user: upstream.subject } : {}),
      agent: signer.agent,
      chain: chainAgents(act),
      resource: rt.iss,
      scopes,
    });
    await redeem(rt);
    const scope = granted.join(' ');
    // Consent is bound to the resource it was given for (issue 13, finding 15): the upstream token's
    // consent was for the signer, so scopes that need consent here need the user's consent again,
    // and only the user the token acts for may give it (checked on delivery).
    const needConsent = consentScopes(policy, granted);
    if (needConsent.length > 0) {
      const request = await createPending({
        thumbprint: signer.thumbprint,
        agent: signer.agent,
        resource: rt.iss,
        scope,
        consentScopes: needConsent,
        kind: 'exchange',
        cnfJwk: publicJwk(signer.jwk),
        act,
      });
      ctx.audit({ type: 'consent.required', time: ctx.now(), endpoint: 'token', agent: signer.agent, thumbprint: signer.thumbprint, resource: rt.iss, scope, act });
      return { kind: 'pending', request };
    }
    // The exchanged token continues the upstream grant, and ends with it.
    const grant: Grant = { aud: rt.iss, agent: signer.agent, scope, cnf: signer.jwk, act, authTime: upstreamStart };
    if (upstream.subject !== undefined) grant.sub = upstream.subject;
    return issue('token.exchanged', signer, grant);
  }

  /** Mint the token of a grant and audit its issuance. */
  async function issue(type: 'token.exchanged' | 'token.refreshed', signer: Signer, grant: Grant): Promise<TokenOutcome> {
    const { response, jti } = await mint(grant);
    ctx.audit({
      type,
      time: ctx.now(),
      endpoint: 'token',
      agent: signer.agent,
      thumbprint: signer.thumbprint,
      ...(grant.sub !== undefined ? { sub: grant.sub } : {}),
      resource: grant.aud,
      scope: grant.scope,
      jti,
      ...(grant.act !== undefined ? { act: grant.act } : {}),
    });
    return { kind: 'token', response };
  }

  async function refresh(signer: Signer, authToken: string): Promise<TokenOutcome> {
    checkAgentAllowed(policy, signer.agent);
    const old = await verifyForRefresh(authToken, signer);
    checkChainAllowed(policy, chainAgents(old.act));
    checkScopesAllowed(policy, old.scope);
    const scopes = await ctx.policy({
      generation: 'keycloak',
      endpoint: 'aauth-token',
      operation: 'refresh',
      stage: 'request',
      ...(old.subject !== undefined ? { user: old.subject } : {}),
      agent: signer.agent,
      chain: chainAgents(old.act),
      resource: old.audience as string,
      scopes: [...old.scope],
    });
    const grant: Grant = { aud: old.audience as string, agent: signer.agent, scope: scopes.join(' '), cnf: signer.jwk, authTime: grantStart(old, ctx.now()) };
    if (old.subject !== undefined) grant.sub = old.subject;
    // The chain passed the one act rule when the token was verified.
    if (old.act !== undefined) grant.act = old.act;
    return issue('token.refreshed', signer, grant);
  }

  return {
    /** Handle a verified token request; audits the outcome, refusals included. */
    async request(signer: Signer, fields: TokenRequestFields): Promise<TokenOutcome> {
      try {
        if (!policy.enabled) throw new AAuthError('access_denied', 'AAuth is disabled in this realm (aauth.enabled)');
        const { resource_token: rt, upstream_token: up, auth_token: at } = fields;
        if (at !== undefined) {
          if (rt !== undefined || up !== undefined) {
            throw new AAuthError('invalid_request', 'A refresh request carries auth_token alone, without resource_token or upstream_token');
          }
          return await refresh(signer, at);
        }
        if (rt === undefined) {
          throw new AAuthError('invalid_request', 'The request needs resource_token (or auth_token to refresh)');
        }
        return up === undefined ? await auth(signer, rt) : await exchange(signer, rt, up);
      } catch (error) {
        // For the audit only (never trusted): the resource and scopes the (maybe invalid) resource token names.
        const extra: { resource?: string; scope?: string } = {};
        try {
          if (fields.resource_token !== undefined) {
            const { iss, scope } = decodeToken(fields.resource_token).claims;
            extra.resource = String(iss);
            if (typeof scope === 'string') extra.scope = scope.slice(0, 2048);
          }
        } catch {
          // Not a JWT: the event names no resource.
        }
        refused(error, signer, extra);
        throw error;
      }
    },

    /**
     * The `iat` of the token of an approved pending request, settled before the caller takes it
     * (single use): a 503 `revocation_settling` then leaves the request to the next poll, as its
     * `Retry-After` says. Read earlier than the signing, the second can only be covered by more
     * revocations, never by fewer.
     */
    async settle(request: PendingRequest): Promise<number> {
      return issuedAt({ aud: request.resource, agent: request.agent, scope: request.scope, cnf: request.cnfJwk, ...(request.sub === undefined ? {} : { sub: request.sub }), ...(request.act === undefined ? {} : { act: request.act }) });
    },

    /** Deliver the token of an approved pending request (single use is the caller's job); `iat` from {@link settle}. */
    async deliver(request: PendingRequest, iat?: number): Promise<TokenResponse> {
      // An exchange for a user's token continues that user's grant: only that user may consent to it.
      const actsFor = request.kind === 'exchange' ? request.act?.sub : undefined;
      let scope = request.scope;
      try {
        if (actsFor !== undefined && request.sub !== actsFor) {
          throw new AAuthError('consent_user_mismatch', 'The request was approved by another user than the one the upstream token acts for');
        }
        // Asked again now the user is known (issue 17): a rule about users, or time, holds at delivery too.
        const granted = await ctx.policy({
          generation: 'keycloak',
          endpoint: 'aauth-token',
          operation: request.kind === 'exchange' ? 'exchange' : 'auth',
          stage: 'consented',
          ...(request.sub !== undefined ? { user: request.sub } : {}),
          agent: request.agent,
          chain: chainAgents(request.act),
          resource: request.resource,
          scopes: parseScope(request.scope),
        });
        scope = granted.join(' ');
      } catch (error) {
        ctx.audit({
          type: 'request.refused',
          time: ctx.now(),
          endpoint: 'pending',
          agent: request.agent,
          thumbprint: request.thumbprint,
          ...(request.username !== undefined ? { username: request.username } : {}),
          resource: request.resource,
          scope: request.scope,
          ...refusalOf(error),
        });
        throw error;
      }
      const grant: Grant = { aud: request.resource, agent: request.agent, scope, cnf: request.cnfJwk };
      if (request.sub !== undefined) grant.sub = request.sub;
      if (request.act !== undefined) grant.act = request.act;
      const { response, jti } = await mint(grant, iat);
      ctx.audit({
        type: request.kind === 'exchange' ? 'token.exchanged' : 'token.issued',
        time: ctx.now(),
        endpoint: 'pending',
        agent: request.agent,
        thumbprint: request.thumbprint,
        ...(request.sub !== undefined ? { sub: request.sub } : {}),
        ...(request.username !== undefined ? { username: request.username } : {}),
        resource: request.resource,
        scope,
        jti,
        ...(request.act !== undefined ? { act: request.act } : {}),
      });
      return response;
    },

    refused,
  };
}

export type TokenService = ReturnType<typeof createTokenService>;
