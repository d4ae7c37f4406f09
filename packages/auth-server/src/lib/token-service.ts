import { randomBytes } from 'node:crypto';
import {
  AAuthError,
  checkResourceTokenClaims,
  computeThumbprint,
  decodeToken,
  isAAuthError,
  parseScope,
  tokenKind,
  verifyResourceToken,
  verifyToken,
  type ActClaim,
  type AuthTokenClaims,
  type PublicJwk,
  type ResourceTokenClaims,
} from '@aauth-kit/core';
import type { JWTPayload } from 'jose';
import type { PendingRequest } from '../pending-store.js';
import type { ServerContext, Signer } from './context.js';
import { checkAgentAllowed, checkScopesAllowed, consentScopes } from './policy.js';

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
}

const LEEWAY = 5;
const MAX_ACT_WALK = 64;
const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** Re-throw a token check failure as the auth server's `invalid_grant` (section 8), keeping the reason. */
function asGrantError(what: string, error: unknown): AAuthError {
  if (isAAuthError(error) && (error.code === 'invalid_grant' || error.code === 'access_denied')) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new AAuthError('invalid_grant', `${what} refused: ${reason}`, { cause: error });
}

function publicJwk(jwk: PublicJwk): PublicJwk {
  if (jwk.kty === 'OKP') return { kty: 'OKP', crv: jwk.crv, x: jwk.x };
  if (jwk.kty === 'EC') return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
  return { kty: 'RSA', n: jwk.n, e: jwk.e };
}

/** Walk an `act` chain from a verified token: each level an object with a string `agent`. Returns its depth. */
function actDepth(act: unknown, what: string): number {
  let depth = 0;
  let node = act;
  while (node !== undefined) {
    if (typeof node !== 'object' || node === null || typeof (node as ActClaim).agent !== 'string') {
      throw new AAuthError('invalid_grant', `${what} has a malformed act claim`);
    }
    const sub = (node as ActClaim).sub;
    if (sub !== undefined && typeof sub !== 'string') throw new AAuthError('invalid_grant', `${what} has a malformed act claim`);
    depth++;
    if (depth > MAX_ACT_WALK) throw new AAuthError('invalid_grant', `${what} has an act chain deeper than ${MAX_ACT_WALK}`);
    node = (node as ActClaim).act;
  }
  return depth;
}

/** The auth server's token logic: the three request kinds of section 8, and delivery after consent. */
export function createTokenService(ctx: ServerContext) {
  const { issuer, realm } = ctx;
  const { policy } = realm;

  async function mint(grant: Grant): Promise<{ response: TokenResponse; jti: string }> {
    const iat = Math.floor(ctx.now());
    const jti = randomBytes(16).toString('base64url');
    // Claim order as section 7 lists them; `sub` and `act` only when there is one.
    const claims: Record<string, unknown> = { iss: issuer, aud: grant.aud, agent: grant.agent };
    if (grant.sub !== undefined) claims.sub = grant.sub;
    claims.scope = grant.scope;
    claims.cnf = { jwk: publicJwk(grant.cnf) };
    claims.iat = iat;
    claims.exp = iat + realm.accessTokenLifespan;
    claims.jti = jti;
    if (grant.act !== undefined) claims.act = grant.act;
    const token = await ctx.key.sign('auth+jwt', claims as JWTPayload);
    return { response: { auth_token: token, expires_in: realm.accessTokenLifespan }, jti };
  }

  async function verifyResource(jwt: string, signer: Signer): Promise<ResourceTokenClaims> {
    try {
      // Cheap claim checks first (agent, agent_jkt): a token for someone else costs no metadata fetch.
      const { claims } = decodeToken(jwt);
      checkResourceTokenClaims(claims, { agent: signer.agent, agentJkt: signer.thumbprint });
      const verified = await verifyResourceToken(jwt, {
        audience: issuer,
        agent: signer.agent,
        agentJkt: signer.thumbprint,
        now: ctx.now,
        leeway: LEEWAY,
        // Section 8: the signature is checked with the JWKS of the resource's own metadata.
        getKey: async (header, c) => (await ctx.keys.resolveResourceJwk(String(c.iss), header.kid)) as never,
      });
      return verified.claims;
    } catch (error) {
      throw asGrantError('resource_token', error);
    }
  }

  async function verifyUpstream(jwt: string, signer: Signer): Promise<AuthTokenClaims> {
    let claims: AuthTokenClaims;
    try {
      const decoded = decodeToken<AuthTokenClaims>(jwt);
      const iss = decoded.claims.iss;
      const own = iss === issuer;
      if (!own && !policy.trustedIssuers.includes(iss)) {
        throw new AAuthError('invalid_grant', `upstream_token refused: issuer ${JSON.stringify(iss)} is not trusted (aauth.trusted.issuers)`);
      }
      const verified = await verifyToken<AuthTokenClaims>(jwt, {
        kind: 'auth',
        issuers: [iss],
        audience: signer.agent,
        now: ctx.now,
        leeway: LEEWAY,
        ...(own ? { algorithms: [ctx.key.alg] } : {}),
        getKey: own
          ? (header) => {
              if (header.kid !== ctx.key.kid) throw new AAuthError('token_signature_invalid', 'Auth token: unknown kid');
              return ctx.key.publicKey;
            }
          : async (header) => (await ctx.keys.resolveIssuerJwk(iss, header.kid)) as never,
      });
      claims = verified.claims;
    } catch (error) {
      if (isAAuthError(error, 'token_audience_invalid')) {
        throw new AAuthError('invalid_grant', `upstream_token refused: it was issued for another audience, not the signer ${signer.agent}`);
      }
      throw asGrantError('upstream_token', error);
    }
    const cnf = claims.cnf as { jwk?: unknown } | undefined;
    if (typeof cnf !== 'object' || cnf === null || typeof cnf.jwk !== 'object' || cnf.jwk === null) {
      throw new AAuthError('invalid_grant', 'upstream_token refused: it has no cnf.jwk');
    }
    if (claims.sub !== undefined && typeof claims.sub !== 'string') throw new AAuthError('invalid_grant', 'upstream_token refused: sub is not a string');
    if (claims.agent !== undefined && typeof claims.agent !== 'string') {
      throw new AAuthError('invalid_grant', 'upstream_token refused: agent is not a string');
    }
    return claims;
  }

  async function verifyForRefresh(jwt: string, signer: Signer): Promise<AuthTokenClaims> {
    let claims: AuthTokenClaims;
    try {
      const decoded = decodeToken<AuthTokenClaims>(jwt);
      if (tokenKind(decoded.header.typ) !== 'auth') throw new AAuthError('token_typ_invalid', `typ ${JSON.stringify(decoded.header.typ)} is not auth+jwt`);
      if (decoded.claims.iss !== issuer) throw new AAuthError('token_issuer_untrusted', 'it was not issued by this server');
      if (decoded.header.alg !== ctx.key.alg || decoded.header.kid !== ctx.key.kid) {
        throw new AAuthError('token_signature_invalid', 'it was not signed with this realm key');
      }
      // An expired token is the normal input here, so jose's exp check is replaced by the refresh window below.
      await ctx.key.verify(jwt).catch(() => {
        throw new AAuthError('token_signature_invalid', 'its signature does not verify');
      });
      claims = decoded.claims;
    } catch (error) {
      throw asGrantError('auth_token', error);
    }
    const now = ctx.now();
    if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number' || typeof claims.aud !== 'string') {
      throw new AAuthError('invalid_grant', 'auth_token refused: exp, iat or aud is missing');
    }
    if (claims.iat - LEEWAY > now) throw new AAuthError('invalid_grant', 'auth_token refused: iat is in the future');
    if (claims.exp + realm.refreshLifespan < now) {
      throw new AAuthError('invalid_grant', `auth_token refused: it expired more than ${realm.refreshLifespan} s ago (aauth.refresh.lifespan)`);
    }
    let bound: string | undefined;
    try {
      bound = computeThumbprint((claims.cnf as { jwk?: unknown } | undefined)?.jwk);
    } catch {
      bound = undefined;
    }
    // "Refresh ... with the same key" (section 8): proof of possession of the bound key.
    if (bound !== signer.thumbprint) throw new AAuthError('invalid_grant', 'auth_token refused: it is bound to another key (cnf.jwk)');
    const holder = claims.agent ?? claims.aud;
    if (holder !== signer.agent) throw new AAuthError('invalid_grant', `auth_token refused: it was issued to ${String(holder)}, not ${signer.agent}`);
    return claims;
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
        if (attempt >= 3) throw error;
      }
    }
  }

  function refused(error: unknown, signer: Signer | undefined, extra: { resource?: string; scope?: string } = {}): void {
    const e = isAAuthError(error) ? error : undefined;
    ctx.audit({
      type: 'request.refused',
      time: ctx.now(),
      endpoint: 'token',
      ...(signer ? { agent: signer.agent, thumbprint: signer.thumbprint } : {}),
      ...extra,
      status: e?.status ?? 500,
      error: e?.error ?? 'server_error',
      reason: e?.message ?? 'internal error',
    });
  }

  async function auth(signer: Signer, resourceToken: string): Promise<TokenOutcome> {
    checkAgentAllowed(policy, signer.agent);
    const rt = await verifyResource(resourceToken, signer);
    const scopes = parseScope(rt.scope);
    checkScopesAllowed(policy, scopes);
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
    const rt = await verifyResource(resourceToken, signer);
    const scopes = parseScope(rt.scope);
    checkScopesAllowed(policy, scopes);
    // Scope narrowing (section 8): the downstream scopes must all be in the upstream token.
    const upstreamScopes = parseScope(upstream.scope);
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
    if (upstream.sub !== undefined) act.sub = upstream.sub;
    if (upstream.act !== undefined) act.act = upstream.act;
    const depth = actDepth(act, 'upstream_token');
    if (depth > policy.maxDepth) {
      throw new AAuthError('invalid_grant', `Delegation chain too deep: ${depth} act levels, the limit is ${policy.maxDepth} (aauth.exchange.max.depth)`);
    }
    const scope = scopes.join(' ');
    const needConsent = upstream.sub === undefined ? consentScopes(policy, scopes) : [];
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
    const grant: Grant = { aud: rt.iss, agent: signer.agent, scope, cnf: signer.jwk, act };
    if (upstream.sub !== undefined) grant.sub = upstream.sub;
    const { response, jti } = await mint(grant);
    ctx.audit({
      type: 'token.exchanged',
      time: ctx.now(),
      endpoint: 'token',
      agent: signer.agent,
      thumbprint: signer.thumbprint,
      ...(upstream.sub !== undefined ? { sub: upstream.sub } : {}),
      resource: rt.iss,
      scope,
      jti,
      act,
    });
    return { kind: 'token', response };
  }

  async function refresh(signer: Signer, authToken: string): Promise<TokenOutcome> {
    checkAgentAllowed(policy, signer.agent);
    const old = await verifyForRefresh(authToken, signer);
    const scopes = parseScope(old.scope);
    checkScopesAllowed(policy, scopes);
    const grant: Grant = { aud: old.aud as string, agent: signer.agent, scope: scopes.join(' '), cnf: signer.jwk };
    if (typeof old.sub === 'string') grant.sub = old.sub;
    if (old.act !== undefined) {
      actDepth(old.act, 'auth_token');
      grant.act = old.act;
    }
    const { response, jti } = await mint(grant);
    ctx.audit({
      type: 'token.refreshed',
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
        let resource: string | undefined;
        try {
          if (fields.resource_token !== undefined) resource = String(decodeToken(fields.resource_token).claims.iss);
        } catch {
          resource = undefined;
        }
        refused(error, signer, resource === undefined ? {} : { resource });
        throw error;
      }
    },

    /** Deliver the token of an approved pending request (single use is the caller's job). */
    async deliver(request: PendingRequest): Promise<TokenResponse> {
      const grant: Grant = { aud: request.resource, agent: request.agent, scope: request.scope, cnf: request.cnfJwk };
      if (request.sub !== undefined) grant.sub = request.sub;
      if (request.act !== undefined) grant.act = request.act;
      const { response, jti } = await mint(grant);
      ctx.audit({
        type: request.kind === 'exchange' ? 'token.exchanged' : 'token.issued',
        time: ctx.now(),
        endpoint: 'pending',
        agent: request.agent,
        thumbprint: request.thumbprint,
        ...(request.sub !== undefined ? { sub: request.sub } : {}),
        resource: request.resource,
        scope: request.scope,
        jti,
        ...(request.act !== undefined ? { act: request.act } : {}),
      });
      return response;
    },

    refused,
  };
}

export type TokenService = ReturnType<typeof createTokenService>;
