import { AAuthError, decodeToken, parseSignatureKey, type SigningKey } from '@aauth-kit/core';
import { serveDocuments, toHttpRequest } from '@aauth-kit/core/internal';
import type { Verifier } from '@aauth-kit/verifier';
import express, { type Request, type Response, type Router } from 'express';
import { refusalOf } from '../audit.js';
import type { ServerContext } from '../context.js';
import { bodyReadError } from '../http-edge.js';
import { jwksDocument, parseJsonBody, refuse11 } from '../server-11.js';
import type { AccessService, PersonServerCaller } from './access-service.js';

// The HTTP edge of the -11 access server (AAuth -11 "Access Server Metadata", "AS Token
// Endpoint"; checklist AS-01..AS-03, AS-10): its metadata and JWKS at the server identifier's
// origin, and the token endpoint person servers call, signed as themselves under sig=jwks_uri.

/** The paths of the access server, under its identifier. */
export const ACCESS_PATHS = {
  metadata: '/.well-known/aauth-access.json',
  jwks: '/aauth/access/jwks.json',
  authToken: '/aauth/access/auth-token',
  revocation: '/aauth/access/revoke',
} as const;

/** Revocations one issuer may send per minute (more: 429 `rate_limited` with `Retry-After`). */
const REVOCATIONS_PER_MINUTE = 600;
/** A revocation body is two short members: anything much larger is not one. */
const MAX_REVOCATION_BYTES = 4096;
/** The longest lifetime of a token revoked here (person tokens: 1 h; resource tokens are shorter). */
const MAX_TOKEN_LIFETIME = 3600;
/** Most issuers whose rate is tracked at once (the oldest window goes first). */
const MAX_RATE_ENTRIES = 10_000;

export interface AccessRoutesConfig {
  issuer: string;
  key: SigningKey;
  /** Verifies the person servers' signed requests (-11 only, the loopback relaxation as configured). */
  verifier: Verifier;
  service: AccessService;
  /** Person servers whose requests are served (`aauth.access.trusted.person.servers`). */
  trustedPersonServers: readonly string[];
  maxBodyBytes: number;
}

/** The access server's metadata document (AS-01, AS-03). */
export function accessMetadata(ctx: ServerContext, issuer: string): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}${ACCESS_PATHS.jwks}`,
    auth_token_endpoint: `${issuer}${ACCESS_PATHS.authToken}`,
    // AS-02: person servers revoke person tokens here, resources the resource tokens addressed here.
    revocation_endpoint: `${issuer}${ACCESS_PATHS.revocation}`,
    accept_signature_algs: ['Ed25519', 'ES256'],
    name: ctx.realm.displayName,
  };
}

/** Answer a refusal as -11 does: problem+json, and `Signature-Error` on a signature failure (a 401). */
function refuse(res: Response, ctx: ServerContext, error: unknown): void {
  refuse11(res, ctx, error, 'access server', { requiredInput: ['content-type', 'content-digest'] }, (e, headers) => {
    // Only person servers call here, signing as themselves.
    if (e.status === 401 && e.code === 'unsupported_scheme') headers['Accept-Signature-Scheme'] = 'jwks_uri';
  });
}

/** The access server's router; mount at `/` of the app whose origin is the server identifier. */
export function createAccessRouter(ctx: ServerContext, config: AccessRoutesConfig): Router {
  const { issuer, key, verifier, service, trustedPersonServers } = config;
  const router = express.Router();
  const raw = express.raw({ type: () => true, limit: config.maxBodyBytes });
  router.use(serveDocuments({ [ACCESS_PATHS.metadata]: accessMetadata(ctx, issuer), [ACCESS_PATHS.jwks]: jwksDocument(key) }, 'access server'));

  /**
   * The selected Signature-Key member; when the request is unsigned or the header unreadable, the
   * verifier's refusal names what is missing (its Signature-Error), else the parse error.
   */
  async function signatureKeyOf(req: Request, body: Buffer | undefined, caller: string): Promise<ReturnType<typeof parseSignatureKey>['key']> {
    try {
      return parseSignatureKey(req.headers['signature-key'] as string | undefined).key;
    } catch (error) {
      await verifier.verify(toHttpRequest(req, issuer, body), { caller });
      throw error;
    }
  }

  /** The person server that signed: sig=jwks_uri, dwk aauth-person.json, a trusted id, the key its metadata publishes (AS-10). */
  async function personServerOf(req: Request): Promise<PersonServerCaller> {
    const body = Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined;
    const caller = req.socket.remoteAddress ?? 'unknown';
    const sk = await signatureKeyOf(req, body, caller);
    if (sk.scheme !== 'jwks_uri') throw new AAuthError('unsupported_scheme', `The access server serves person servers signing as themselves (sig=jwks_uri with dwk="aauth-person.json"), not ${sk.scheme}`);
    if (sk.dwk !== 'aauth-person.json') throw new AAuthError('signature_key_malformed', 'Signature-Key jwks_uri must name dwk="aauth-person.json": only person servers call this endpoint');
    // Trust before any fetch: an untrusted id is never looked up (refuse cheaply, no request to it).
    if (!trustedPersonServers.includes(sk.id)) {
      throw new AAuthError('person_server_untrusted', `The person server ${JSON.stringify(sk.id.slice(0, 200))} is not trusted by this access server (realm attribute aauth.access.trusted.person.servers)`);
    }
    // A body to an access server is covered by content-type and content-digest (AS-10).
    const verified = await verifier.verify(toHttpRequest(req, issuer, body), { requiredComponents: ['content-type', 'content-digest'], serverDocuments: ['aauth-person.json'], caller });
    if (verified.scheme !== 'jwks_uri' || verified.agent !== sk.id) throw new AAuthError('signature_key_malformed', 'The request must be signed by the person server named in Signature-Key');
    return { id: verified.agent, caller };
  }

  const parseBody = parseJsonBody;

  /** The resource and scopes a refused request's resource token names (audit only, never trusted). */
  const targetOf = (req: Request): { resource?: string; scope?: string } => {
    try {
      const rt = parseBody(req).resource_token;
      if (typeof rt !== 'string') return {};
      const { iss, scope } = decodeToken(rt).claims;
      return { resource: String(iss).slice(0, 2048), ...(typeof scope === 'string' ? { scope: scope.slice(0, 2048) } : {}) };
    } catch {
      return {};
    }
  };

  router.post(ACCESS_PATHS.authToken, raw, async (req, res) => {
    let ps: PersonServerCaller | undefined;
    try {
      ps = await personServerOf(req);
      const body = await service.authToken(ps, parseBody(req));
      res.status(200).set('Cache-Control', 'no-store').json(body);
    } catch (error) {
      ctx.audit({ type: 'request.refused', time: ctx.now(), endpoint: 'token', ...(ps ? { agent: ps.id } : {}), ...targetOf(req), ...refusalOf(error) });
      refuse(res, ctx, error);
    }
  });

  /**
   * Who revokes (AS-40): a server signing as itself under sig=jwks_uri, content-type and
   * content-digest covered. A trusted person server (dwk aauth-person.json) revokes person tokens;
   * a resource (dwk aauth-resource.json) the resource tokens it addressed here (AS-42). Anyone else
   * is `unsupported_iss`, refused before any key is fetched.
   */
  async function revokerOf(req: Request, body: Buffer | undefined): Promise<{ id: string; kind: 'person' | 'resource'; caller: string }> {
    const caller = req.socket.remoteAddress ?? 'unknown';
    const sk = await signatureKeyOf(req, body, caller);
    if (sk.scheme !== 'jwks_uri') throw new AAuthError('unsupported_scheme', `A revocation is signed by a person server or a resource as itself (sig=jwks_uri), not ${sk.scheme}`);
    const kind = sk.dwk === 'aauth-person.json' ? 'person' : sk.dwk === 'aauth-resource.json' ? 'resource' : undefined;
    if (kind === undefined) {
      throw new AAuthError('revocation_issuer_unsupported', `This access server takes revocations from person servers (dwk "aauth-person.json") and resources (dwk "aauth-resource.json"), not dwk ${JSON.stringify(String(sk.dwk).slice(0, 40))}`);
    }
    if (kind === 'person' && !trustedPersonServers.includes(sk.id)) {
      throw new AAuthError('revocation_issuer_unsupported', `The person server ${JSON.stringify(sk.id.slice(0, 200))} is not trusted by this access server (realm attribute aauth.access.trusted.person.servers)`);
    }
    const verified = await verifier.verify(toHttpRequest(req, issuer, body), { requiredComponents: ['content-type', 'content-digest'], serverDocuments: ['aauth-person.json', 'aauth-resource.json'], caller });
    if (verified.scheme !== 'jwks_uri' || verified.agent !== sk.id) throw new AAuthError('signature_key_malformed', 'The request must be signed by the server named in Signature-Key');
    return { id: verified.agent, kind, caller };
  }

  /** `{jti, exp}` (AS-40); an `iss` of the earlier form may only name the signer. */
  function revocationBody(req: Request, signer: string): { jti: string; exp: number } {
    const parsed = parseBody(req);
    const { jti, exp, iss } = parsed;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw new AAuthError('invalid_request', '"jti" must be a non-empty string of at most 256 characters');
    if (typeof exp !== 'number' || !Number.isInteger(exp) || exp <= 0) throw new AAuthError('invalid_request', '"exp" must be the revoked token\'s exp (a positive integer, epoch seconds)');
    if (iss !== undefined && iss !== signer) throw new AAuthError('invalid_request', '"iss" names another issuer than the signer: a server revokes only its own tokens');
    if (exp > ctx.now() + MAX_TOKEN_LIFETIME + 60) throw new AAuthError('invalid_request', `"exp" is more than ${MAX_TOKEN_LIFETIME} s ahead: no token revoked here lives that long`);
    return { jti, exp };
  }

  /** Fixed one-minute windows per issuer (bounded: the oldest issuer's window goes when full). */
  const windows = new Map<string, { start: number; count: number }>();
  function rateWait(id: string): number | undefined {
    const t = ctx.now();
    let w = windows.get(id);
    if (w === undefined || t - w.start >= 60) {
      windows.delete(id);
      if (windows.size >= MAX_RATE_ENTRIES) windows.delete(windows.keys().next().value as string);
      w = { start: t, count: 0 };
      windows.set(id, w);
    }
    if (w.count >= REVOCATIONS_PER_MINUTE) return Math.max(1, Math.ceil(w.start + 60 - t));
    w.count += 1;
    return undefined;
  }

  const rawRevocation = express.raw({ type: () => true, limit: Math.min(config.maxBodyBytes, MAX_REVOCATION_BYTES) });
  router.post(ACCESS_PATHS.revocation, rawRevocation, async (req, res) => {
    let who: string | undefined;
    try {
      const body = Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined;
      const revoker = await revokerOf(req, body);
      who = revoker.id;
      const { jti, exp } = revocationBody(req, revoker.id);
      const wait = rateWait(revoker.id);
      if (wait !== undefined) throw new AAuthError('rate_limited', `At most ${REVOCATIONS_PER_MINUTE} revocations a minute from ${revoker.id}`, { headers: { 'Retry-After': String(wait) } });
      res.set('Cache-Control', 'no-store');
      if (revoker.kind === 'resource') {
        // Nothing downstream: recorded, answered at once with an empty body.
        await service.revokeResourceToken(revoker.id, jti, exp);
        res.status(200).set('Content-Length', '0').end();
        return;
      }
      res.status(200).json(await service.revokePersonToken(revoker.id, jti, exp));
    } catch (error) {
      ctx.audit({ type: 'request.refused', time: ctx.now(), endpoint: 'token', ...(who ? { agent: who } : {}), ...refusalOf(error) });
      refuse(res, ctx, error);
    }
  });

  // Another method at the endpoint's path: 405 problem+json with Allow, never express's HTML 404.
  router.all([ACCESS_PATHS.authToken, ACCESS_PATHS.revocation], (req, res) => {
    res.set('Allow', 'POST');
    refuse(res, ctx, new AAuthError('method_not_allowed', `${req.method} is not served here: use POST`));
  });

  // Body-parser failures (too large, unreadable): problem+json, never express's 500 page.
  router.use('/aauth/access', (error: unknown, _req: Request, res: Response, next: (e?: unknown) => void) => {
    const refusal = bodyReadError(error, `${config.maxBodyBytes} bytes`);
    if (refusal) refuse(res, ctx, refusal);
    else next(error);
  });

  return router;
}
