import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey, parseChallenge, parseRequirement } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { send, startApp } from './helpers.js';

// An unsigned request speaks neither generation. A resource that speaks both answers it with the
// Keycloak profile's AAuth header and, for a -11 caller, AAuth-Requirement (agent-token, or
// person-token where an auth token is needed: AAuth -11 "Agent Token Required", RS-11/RS-30),
// Signature-Error invalid_signature and the schemes and algorithms it accepts (conformance audit).

let web: Awaited<ReturnType<typeof startApp>>;
let only: Awaited<ReturnType<typeof startApp>>;

beforeAll(async () => {
  web = await startApp();
  only = await startApp();
  const both = createResource({ identity: web.identity, key: generateKey({ kid: 'r' }), authServer: 'http://127.0.0.1:9/realms/x', draft11: { allowLoopback: true } });
  web.app.get('/sig', both.require(), (_q, s) => s.json({}));
  web.app.get('/id', both.require({ level: 'identity' }), (_q, s) => s.json({}));
  web.app.get('/data', both.require({ scope: 'read' }), (_q, s) => s.json({}));
  const keycloak = createResource({ identity: only.identity, key: generateKey({ kid: 'r' }), authServer: 'http://127.0.0.1:9/realms/x', generations: ['keycloak'] });
  only.app.get('/data', keycloak.require({ scope: 'read' }), (_q, s) => s.json({}));
});
afterAll(async () => {
  await Promise.all([web.close(), only.close()]);
});

describe('an unsigned request to a resource speaking both generations', () => {
  it('is told, in both headers, what each generation needs', async () => {
    const cases = [
      ['/sig', 'pseudonym', 'agent-token', 'hwk, jwks_uri, jwt'],
      ['/id', 'identity', 'agent-token', 'jwks_uri, jwt'],
      ['/data', 'auth-token', 'person-token', 'jwt'],
    ] as const;
    for (const [path, keycloak, draft11, schemes] of cases) {
      const res = await send({ method: 'GET', url: `${web.identity}${path}` });
      expect(res.status, path).toBe(401);
      expect(parseChallenge({ aauth: res.headers.aauth as string })?.require, path).toBe(keycloak);
      expect(parseRequirement(res.headers['aauth-requirement'] as string), path).toMatchObject({ requirement: draft11 });
      expect(res.headers['signature-error'], path).toBe('error=invalid_signature');
      expect(res.headers['accept-signature-scheme'], path).toBe(schemes);
      expect(res.headers['accept-signature-alg'], path).toBe('Ed25519, ES256');
      // The body stays the Keycloak profile's JSON.
      expect(res.json, path).toMatchObject({ error: 'invalid_signature' });
    }
  });

  it('a resource configured to the Keycloak profile alone answers as before (no -11 headers)', async () => {
    const res = await send({ method: 'GET', url: `${only.identity}/data` });
    expect(res.status).toBe(401);
    expect(res.headers.aauth).toMatch(/^require=auth-token/);
    expect(res.headers['aauth-requirement']).toBeUndefined();
    expect(res.headers['signature-error']).toBeUndefined();
  });
});
