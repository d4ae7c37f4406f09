import type { SigningKey } from '@aauth-kit/core';
import express, { type Request, type Response, type Router } from 'express';

/**
 * The agent's metadata and JWKS (wire profile sections 2 and 9): `/.well-known/aauth-agent.json`
 * (and without `.json`) and `/jwks.json`. Mount it at the identity URL's path.
 */
export function createWellKnownRouter(identity: string, key: SigningKey, metadata: Record<string, string>): Router {
  // Section 9: only the known fields; the Keycloak extension fails on others.
  const document = { agent: identity, jwks_uri: `${identity}/jwks.json`, ...metadata };
  // Section 2: no `alg` in the published JWK (toPublishedJwk omits it).
  const jwks = { keys: [key.toPublishedJwk()] };
  const send = (body: unknown) => (_req: Request, res: Response): void => {
    res.set('cache-control', 'public, max-age=300');
    res.json(body);
  };
  const router = express.Router();
  router.get(['/.well-known/aauth-agent.json', '/.well-known/aauth-agent'], send(document));
  router.get('/jwks.json', send(jwks));
  return router;
}
