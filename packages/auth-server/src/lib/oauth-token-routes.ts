import { AAuthError, isAAuthError } from '@aauth-kit/core';
import express, { type Request, type Response, type Router } from 'express';
import { refusalOf } from './audit.js';
import { claimedClientId, createClientAuthGuard, type TokenForm } from './client-auth.js';
import type { ServerContext } from './context.js';
import { bodyErrorHandler, sendRefusal } from './http-edge.js';
import type { OAuthTokenService } from './oauth-token-service.js';

/** RFC 8693 section 2.1: `audience` and `resource` may appear more than once; nothing else may (RFC 6749 section 3.2). */
const REPEATABLE = new Set(['audience', 'resource']);
const MAX_PARAMS = 100;
/** RFC 6749 sections 5.1 and 5.2: token responses, refusals included, are never cached (Pragma for HTTP/1.0 caches, as Keycloak sends). */
const NO_CACHE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

/** Parse an `application/x-www-form-urlencoded` token request; anything else is 400 invalid_request. */
export function parseTokenForm(req: Request): TokenForm {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new AAuthError('invalid_request', 'The token request must be application/x-www-form-urlencoded (RFC 6749 section 3.2)');
  }
  const body = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
  const params = new URLSearchParams(body);
  const form: TokenForm = { single: new Map(), repeated: new Map() };
  let count = 0;
  for (const [name, value] of params) {
    if (++count > MAX_PARAMS) throw new AAuthError('invalid_request', `The token request has more than ${MAX_PARAMS} parameters`);
    // RFC 6749 section 3.2: parameters sent without a value are treated as omitted.
    if (value === '') continue;
    if (REPEATABLE.has(name)) {
      form.repeated.set(name, [...(form.repeated.get(name) ?? []), value]);
    } else if (form.single.has(name)) {
      throw new AAuthError('invalid_request', `The parameter ${name} appears more than once (RFC 6749 section 3.2)`);
    } else {
      form.single.set(name, value);
    }
  }
  return form;
}

/**
 * The OAuth 2.0 token endpoint at Keycloak's path, `{issuer}/protocol/openid-connect/token`:
 * RFC 8693 token exchange and client credentials, answered as RFC 6749 sections 5.1 and 5.2 say.
 */
export function createOAuthTokenRouter(ctx: ServerContext, service: OAuthTokenService, maxBodyBytes: number): Router {
  const router = express.Router();
  const path = `${ctx.issuerPath}/protocol/openid-connect/token`;
  // Issue 13, finding 14: guessing client secrets backs off per client and per source address.
  const guard = createClientAuthGuard(ctx.rateLimits);
  router.post(path, express.raw({ type: () => true, limit: maxBodyBytes }), async (req: Request, res: Response) => {
    try {
      let form: TokenForm;
      try {
        form = parseTokenForm(req);
      } catch (error) {
        ctx.audit({ type: 'request.refused', time: ctx.now(), endpoint: 'openid-connect', ...refusalOf(error) });
        throw error;
      }
      const source = req.socket.remoteAddress ?? 'unknown';
      const clientId = claimedClientId(req.headers.authorization, form);
      try {
        await guard.check(clientId, source);
      } catch (error) {
        ctx.audit({ type: 'request.refused', time: ctx.now(), endpoint: 'openid-connect', ...(clientId !== undefined ? { client: clientId.slice(0, 256) } : {}), ...refusalOf(error) });
        throw error;
      }
      let response: Awaited<ReturnType<OAuthTokenService['request']>>;
      try {
        response = await service.request({ form, authorization: req.headers.authorization });
      } catch (error) {
        if (isAAuthError(error, 'invalid_client')) await guard.failed(clientId, source);
        throw error;
      }
      await guard.succeeded(clientId);
      res.status(200).set(NO_CACHE).json(response);
    } catch (error) {
      sendRefusal(res, error, ctx.warn, NO_CACHE);
    }
  });
  // Body-parser failures (too large, bad encoding): 413 / 400 JSON, never a 500.
  router.use(path, bodyErrorHandler(maxBodyBytes, ctx.warn, NO_CACHE));
  return router;
}
