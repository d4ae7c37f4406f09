import { AAuthError, TOKEN_LEEWAY, decodeToken, isAAuthError } from '@aauth-kit/core';
import type { RevocationRegistry, RevocationStoreResult } from '@aauth-kit/verifier';
import express, { type Request, type Response, type Router } from 'express';
import { refusalOf } from './audit.js';
import { authenticateClient, claimedClientId, createClientAuthGuard, type TokenForm } from './client-auth.js';
import type { ServerContext } from './context.js';
import { bodyErrorHandler, sendRefusal } from './http-edge.js';
import { parseTokenForm } from './oauth-token-routes.js';

/** What the revocation endpoint needs beyond the context. */
export interface RevocationRouteConfig {
  registry: RevocationRegistry;
  /** Realm clients (confidential, client secret) that may revoke here. */
  clients: readonly string[];
  /** Issuers whose tokens this server issues: the realm's, and the -11 person and access servers'. */
  issuers: readonly string[];
  maxBodyBytes: number;
  /** The -11 person server's part of a grant revocation (its binding, grants and the pair's tokens); answers how many tokens it revoked. */
  withdrawGrant11?: ((user: string, agent: string, until: number) => Promise<number>) | undefined;
}

/** The answer of a recorded revocation. */
export interface RevocationAnswer {
  revoked: 'token' | 'agent' | 'grant';
  iss: string;
  jti?: string;
  agent?: string;
  sub?: string;
  /** Epoch seconds: when the entry expires, with the last token it can cover. */
  until: number;
  /** A grant revocation: how many -11 person and auth tokens of the pair the person server revoked (when it is served). */
  person_server_tokens?: number;
}

const MAX_PARAM = 16 * 1024;
const NO_CACHE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

/**
 * `POST {issuer}/protocol/aauth/revoke` (issue 17; RFC 7009 style: form-encoded, client
 * authentication by client secret, Basic or post). A listed realm client revokes one token
 * (`token`, or `jti` [+ `iss`]), every token of an agent (`agent`), or a user's grant to an agent
 * (`user` + `agent`: the user withdrew consent). 200 JSON {@link RevocationAnswer}; bad input 400
 * `invalid_request`; an unlisted client 403 `access_denied`; a failing store 503.
 */
export function createRevocationRouter(ctx: ServerContext, config: RevocationRouteConfig): Router {
  const router = express.Router();
  const path = `${ctx.issuerPath}/protocol/aauth/revoke`;
  const guard = createClientAuthGuard(ctx.rateLimits);
  const { realm } = ctx;
  // The longest a token issued now can be honoured: its lifetime, then the refresh window (section 8).
  const longest = Math.max(realm.accessTokenLifespan + realm.refreshLifespan, realm.person.tokenLifespan, realm.access.tokenLifespan) + TOKEN_LEEWAY;

  const param = (form: TokenForm, name: string): string | undefined => {
    const value = form.single.get(name);
    if (value !== undefined && value.length > MAX_PARAM) throw new AAuthError('invalid_request', `${name} is longer than ${MAX_PARAM} characters`);
    return value;
  };

  /** A user named by id (a token's `sub`) or by user name, as the realm knows it. */
  const userSub = (named: string): string => {
    const lower = named.toLowerCase();
    const user = realm.users.find((u) => u.id === named) ?? realm.users.find((u) => u.username === lower);
    if (user === undefined) throw new AAuthError('invalid_request', `user ${JSON.stringify(named.slice(0, 100))} is not a user of this realm (give its id or user name)`);
    return user.id;
  };

  async function revoke(form: TokenForm): Promise<RevocationAnswer> {
    const token = param(form, 'token');
    const jti = param(form, 'jti');
    const agent = param(form, 'agent');
    const user = param(form, 'user');
    const given = [token, jti, agent].filter((v) => v !== undefined).length;
    if (given !== 1) throw new AAuthError('invalid_request', 'Give exactly one of token, jti, or agent (with user, to withdraw that user\'s grant)');
    if (user !== undefined && agent === undefined) throw new AAuthError('invalid_request', 'user needs agent: a grant is one user\'s consent to one agent');
    const now = ctx.now();
    const stored = (result: RevocationStoreResult): void => {
      if (result === 'full') throw new AAuthError('rate_limited', 'The revocation store is full for this issuer: retry later', { headers: { 'Retry-After': '60' } });
    };
    if (token !== undefined || jti !== undefined) {
      let iss = param(form, 'iss') ?? ctx.issuer;
      let id = jti;
      let until = now + longest;
      if (token !== undefined) {
        let claims: Record<string, unknown>;
        try {
          claims = decodeToken(token).claims;
        } catch {
          throw new AAuthError('invalid_request', 'token is not a well-formed JWT');
        }
        if (typeof claims.iss !== 'string' || typeof claims.jti !== 'string') throw new AAuthError('invalid_request', 'token has no iss or no jti');
        iss = claims.iss;
        id = claims.jti;
        // Its own exp bounds the entry, plus the refresh window a Keycloak-profile token has.
        if (typeof claims.exp === 'number' && Number.isFinite(claims.exp)) until = Math.min(until, claims.exp + realm.refreshLifespan + TOKEN_LEEWAY);
      }
      if (!config.issuers.includes(iss)) throw new AAuthError('invalid_request', `iss ${JSON.stringify(iss.slice(0, 200))} is not an issuer of this server`);
      stored(await config.registry.revoke(iss, id!, until));
      return { revoked: 'token', iss, jti: id!, until };
    }
    const until = now + longest;
    if (user === undefined) {
      stored(await config.registry.revokeAgent(ctx.issuer, agent!, until));
      return { revoked: 'agent', iss: ctx.issuer, agent: agent!, until };
    }
    const sub = userSub(user);
    stored(await config.registry.revokeGrant(ctx.issuer, sub, agent!, until));
    // -11 (issue 17): the person server forgets the agent's binding and the grants, and revokes the pair's tokens.
    const count = config.withdrawGrant11 === undefined ? undefined : await config.withdrawGrant11(sub, agent!, until);
    return { revoked: 'grant', iss: ctx.issuer, agent: agent!, sub, until, ...(count !== undefined ? { person_server_tokens: count } : {}) };
  }

  router.post(path, express.raw({ type: () => true, limit: config.maxBodyBytes }), async (req: Request, res: Response) => {
    const source = req.socket.remoteAddress ?? 'unknown';
    let client: string | undefined;
    try {
      const form = parseTokenForm(req);
      client = claimedClientId(req.headers.authorization, form)?.slice(0, 256);
      await guard.check(client, source);
      try {
        authenticateClient(realm.clients, realm.name, req.headers.authorization, form);
      } catch (error) {
        if (isAAuthError(error, 'invalid_client')) await guard.failed(client, source);
        throw error;
      }
      await guard.succeeded(client);
      if (client === undefined || !config.clients.includes(client)) {
        throw new AAuthError('access_denied', `Client ${client ?? '(none)'} may not revoke at this server (options.revocation.clients)`);
      }
      const answer = await revoke(form);
      ctx.audit({
        type: 'token.revoked',
        time: ctx.now(),
        endpoint: 'revoke',
        client,
        ...(answer.agent !== undefined ? { agent: answer.agent } : {}),
        ...(answer.sub !== undefined ? { sub: answer.sub } : {}),
        ...(answer.jti !== undefined ? { jti: answer.jti } : {}),
        reason: `revoked by ${answer.revoked}`,
      });
      res.status(200).set(NO_CACHE).json(answer);
    } catch (error) {
      ctx.audit({ type: 'request.refused', time: ctx.now(), endpoint: 'revoke', ...(client !== undefined ? { client } : {}), ...refusalOf(error) });
      sendRefusal(res, error, ctx.warn, NO_CACHE);
    }
  });
  router.use(path, bodyErrorHandler(config.maxBodyBytes, ctx.warn, NO_CACHE));
  return router;
}
