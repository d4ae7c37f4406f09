import { AAuthError, decodeToken, type SigningKey } from '@aauth-kit/core';
import { serveDocuments, toHttpRequest } from '@aauth-kit/core/internal';
import type { Verifier } from '@aauth-kit/verifier';
import express, { type Request, type Response, type Router } from 'express';
import { refusalOf } from '../audit.js';
import type { ServerContext } from '../context.js';
import { bodyReadError } from '../http-edge.js';
import { jwksDocument, parseJsonBody, refuse11 } from '../server-11.js';
import { createServerRevocation, signatureKeyOf } from '../server-revocation.js';
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

/** The longest lifetime of a token revoked here (person tokens: 1 h; resource tokens are shorter). */
const MAX_TOKEN_LIFETIME = 3600;

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

  /** The person server that signed: sig=jwks_uri, dwk aauth-person.json, a trusted id, the key its metadata publishes (AS-10). */
  async function personServerOf(req: Request): Promise<PersonServerCaller> {
    const body = Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined;
    const caller = req.socket.remoteAddress ?? 'unknown';
    const sk = await signatureKeyOf(verifier, issuer, req, body, caller);
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
  const revocation = createServerRevocation(ctx, {
    issuer,
    verifier,
    role: 'access server',
    parties: {
      'aauth-person.json': { kind: 'person', name: 'person servers', maxLifetime: MAX_TOKEN_LIFETIME },
      'aauth-resource.json': { kind: 'resource', name: 'resources', maxLifetime: MAX_TOKEN_LIFETIME },
    },
    refusal: (kind, id) =>
      kind === 'person' && !trustedPersonServers.includes(id)
        ? `The person server ${JSON.stringify(id.slice(0, 200))} is not trusted by this access server (realm attribute aauth.access.trusted.person.servers)`
        : undefined,
  });

  router.post(ACCESS_PATHS.revocation, revocation.raw(config.maxBodyBytes), async (req, res) => {
    let who: string | undefined;
    try {
      const revoked = await revocation.accept(req);
      who = revoked.id;
      res.set('Cache-Control', 'no-store');
      if (revoked.kind === 'resource') {
        // Nothing downstream: recorded, answered at once with an empty body.
        await service.revokeResourceToken(revoked.id, revoked.jti, revoked.exp);
        res.status(200).set('Content-Length', '0').end();
        return;
      }
      res.status(200).json(await service.revokePersonToken(revoked.id, revoked.jti, revoked.exp));
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
