import { AAuthError, buildChallenge } from '@aauth-kit/core';
import { sendJson, toHttpRequest } from '@aauth-kit/core/internal';
import type { ReplayStore, Verifier } from '@aauth-kit/verifier';
import express, { type Request, type Router } from 'express';
import type { PendingRequest } from '../pending-store.js';
import { refusalOf } from './audit.js';
import { endpoints, type ServerContext, type Signer } from './context.js';
import { deliverTaken } from './deliver-taken.js';
import { isDiscoveryFailure, uniformSignerRefusal } from './discovery-refusal.js';
import { bodyErrorHandler, sendRefusal } from './http-edge.js';
import { verifySigner } from './signer.js';
import type { TokenRequestFields, TokenService } from './token-service.js';

const MAX_TOKEN_FIELD = 16 * 1024;

function parseFields(req: Request): TokenRequestFields {
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  let data: Record<string, unknown>;
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new AAuthError('invalid_request', 'The body is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new AAuthError('invalid_request', 'The body must be a JSON object');
    }
    data = parsed as Record<string, unknown>;
  } else if (type === 'application/x-www-form-urlencoded') {
    const params = new URLSearchParams(body.toString('utf8'));
    data = {};
    for (const name of new Set(params.keys())) {
      const values = params.getAll(name);
      data[name] = values.length === 1 ? values[0] : values;
    }
  } else {
    throw new AAuthError('invalid_request', 'Content-Type must be application/json or application/x-www-form-urlencoded');
  }
  const fields: TokenRequestFields = {};
  for (const name of ['resource_token', 'upstream_token', 'auth_token'] as const) {
    const value = data[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TOKEN_FIELD) {
      throw new AAuthError('invalid_request', `${name} must be a non-empty string of at most ${MAX_TOKEN_FIELD} characters, given once`);
    }
    fields[name] = value;
  }
  return fields;
}

function pendingHeaders(ctx: ServerContext, request: PendingRequest, retryAfter: number): Record<string, string> {
  return {
    Location: endpoints(ctx.issuer).pending(request.id),
    'Retry-After': String(retryAfter),
    'Cache-Control': 'no-store',
    AAuth: buildChallenge({ require: 'interaction', code: request.code }),
  };
}

function pendingBody(ctx: ServerContext, request: PendingRequest): Record<string, string> {
  return { status: 'pending', location: endpoints(ctx.issuer).pending(request.id), require: 'interaction', code: request.code };
}

/** Where poll signatures are remembered (finding 8), and for how long a signature stays acceptable, in seconds. */
export interface PollReplay {
  store: ReplayStore;
  ttl: number;
}

/** The token endpoint and the pending URLs (section 8). */
export function createTokenRouter(ctx: ServerContext, verifier: Verifier, tokens: TokenService, maxBodyBytes: number, polls: PollReplay): Router {
  const router = express.Router();
  const base = `${ctx.issuerPath}/protocol/aauth`;
  const raw = express.raw({ type: () => true, limit: maxBodyBytes });

  async function signer(req: Request): Promise<Signer> {
    try {
      // Never from the Host header: the URL the agent signed is the configured base URL's (section 3).
      const body = Buffer.isBuffer(req.body) ? req.body : undefined;
      // The request target as text (issue 18): the verifier splits a plain path itself, no URL parse.
      return await verifySigner(verifier, toHttpRequest(req, ctx.origin, body, true), req.socket.remoteAddress ?? 'unknown');
    } catch (error) {
      // The audit keeps the detail; the caller gets one answer for every discovery failure (issue 13, finding 12).
      tokens.refused(error, undefined);
      throw isDiscoveryFailure(error) ? uniformSignerRefusal(error) : error;
    }
  }

  router.post(`${base}/token`, raw, async (req, res) => {
    try {
      const who = await signer(req);
      let fields: TokenRequestFields;
      try {
        fields = parseFields(req);
      } catch (error) {
        tokens.refused(error, who);
        throw error;
      }
      const outcome = await tokens.request(who, fields);
      if (outcome.kind === 'token') {
        // A token answer is made per exchange and never revalidated: no ETag work (issue 18).
        sendJson(res, 200, outcome.response, { 'Cache-Control': 'no-store' });
      } else {
        res.status(202).set(pendingHeaders(ctx, outcome.request, 0)).json(pendingBody(ctx, outcome.request));
      }
    } catch (error) {
      sendRefusal(res, error, ctx.warn);
    }
  });

  router.get(`${base}/pending/:id`, async (req, res) => {
    try {
      const who = await signer(req);
      const id = String(req.params.id);
      const refuse = (e: AAuthError, request?: PendingRequest): AAuthError => {
        ctx.audit({
          type: 'request.refused',
          time: ctx.now(),
          endpoint: 'pending',
          agent: who.agent,
          thumbprint: who.thumbprint,
          ...(request ? { resource: request.resource, scope: request.scope, ...(request.username !== undefined ? { username: request.username } : {}) } : {}),
          ...refusalOf(e),
        });
        return e;
      };
      // A poll's signature is single use (finding 8): a captured poll replayed after approval must not take the token.
      let first: boolean;
      try {
        first = await polls.store.checkAndStore(`aauth-poll:${who.thumbprint}:${who.signature}`, polls.ttl);
      } catch (error) {
        throw refuse(new AAuthError('replay_store_failed', undefined, { cause: error }));
      }
      if (!first) throw refuse(new AAuthError('signature_replayed', 'This poll was already made: each poll of a pending URL needs a new signature'));
      const found = /^[A-Za-z0-9_-]{16,128}$/.test(id) ? await ctx.store.get(id) : undefined;
      // A -11 person server request is polled at the person server's own pending URL, never here.
      const request = found?.draft11 === undefined ? found : undefined;
      if (!request) throw refuse(new AAuthError('pending_not_found'));
      // Section 8: only the key that made the request may poll it.
      if (request.thumbprint !== who.thumbprint) throw refuse(new AAuthError('access_denied', 'The pending request was made with another key'), request);
      if (request.expiresAt < ctx.now()) throw refuse(new AAuthError('pending_expired'), request);
      if (request.status === 'pending') {
        res.status(202).set(pendingHeaders(ctx, request, 1)).json(pendingBody(ctx, request));
        return;
      }
      // Before it is taken: a 503 revocation_settling (retry in a second) must leave it to the next poll.
      const iat = request.status === 'approved' ? await tokens.settle(request) : undefined;
      // Single use: whoever takes the decided entry first gets the outcome.
      const taken = await ctx.store.take(id);
      if (!taken) throw refuse(new AAuthError('pending_not_found'), request);
      if (taken.status === 'denied') throw refuse(new AAuthError('access_denied', 'The user denied the request'), taken);
      if (taken.status !== 'approved') throw refuse(new AAuthError('pending_withdrawn'), taken);
      // A 5xx on the way (the policy unavailable): put back for the next poll, not lost.
      const response = await deliverTaken(ctx.store, taken, ctx.now(), () => tokens.deliver(taken, iat), ctx.warn);
      res.status(200).set('Cache-Control', 'no-store').json(response);
    } catch (error) {
      sendRefusal(res, error, ctx.warn);
    }
  });

  // Body-parser failures (too large, bad encoding) on the token endpoint: 413 / 400 JSON, never a 500.
  router.use(base, bodyErrorHandler(maxBodyBytes, ctx.warn));

  return router;
}
