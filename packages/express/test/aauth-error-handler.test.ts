import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AAuthError, generateKey, parseChallenge } from '@aauth-kit/core';
import { aauthErrorHandler, createResource } from '@aauth-kit/express';
import { authClaims, send, signed, startAgent, startApp, startIssuer } from './helpers.js';

// aauthErrorHandler(): AAuthErrors as JSON with their status and headers (issue 11, item 5); and
// onError, which hears refusals but not the normal first challenge (issue 11, item 8).

let agent: Awaited<ReturnType<typeof startAgent>>;
let issuer: Awaited<ReturnType<typeof startIssuer>>;
let web: Awaited<ReturnType<typeof startApp>>;
const heard: AAuthError[] = [];

beforeAll(async () => {
  agent = await startAgent();
  issuer = await startIssuer();
  web = await startApp();
  const resource = createResource({ identity: web.identity, key: generateKey(), authServer: issuer.issuer, errors: 'next', onError: (e) => heard.push(e) });
  const { app } = web;
  app.use(resource.wellKnown());
  app.get('/data', resource.require({ scope: 'read' }), (_req, res) => res.json({ ok: true }));
  // What agent.fetch throws when a downstream call fails (the agent package is not a dependency here).
  app.get('/downstream', () => {
    throw new AAuthError('auth_server_error', 'The auth server refused the token request (HTTP 403, access_denied: blocked)');
  });
  // got wraps the AAuthError in a RequestError whose cause it is.
  app.get('/wrapped', () => {
    throw Object.assign(new Error('Request failed'), { code: 'auth_server_untrusted', cause: new AAuthError('auth_server_untrusted') });
  });
  app.get('/plain', () => {
    throw new Error('not ours');
  });
  app.get('/late', (_req, res, next) => {
    res.status(200).write('partial');
    next(new AAuthError('auth_server_error'));
  });
  app.use(aauthErrorHandler());
  // Whatever aauthErrorHandler passes on reaches the next handler.
  app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    if (res.headersSent) return void res.end(' | ended by the next handler');
    res.status(500).type('text/plain').send(`next handler: ${error.message}`);
  });
});
afterAll(async () => {
  await Promise.all([agent.close(), issuer.close(), web.close()]);
});

const jwks = () => `sig=(scheme=jwks_uri id="${agent.id}" kid="agent-1")`;

describe('aauthErrorHandler()', () => {
  it("the resource's own refusal (errors: 'next') keeps its 401, AAuth challenge and JSON body", async () => {
    const res = await send(signed({ method: 'GET', url: `${web.identity}/data` }, agent.key, jwks()));
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json).toMatchObject({ error: 'invalid_auth_token', error_description: expect.stringMatching(/^Authorization required: /) });
    expect(parseChallenge(res.headers as Record<string, string>)).toMatchObject({ require: 'auth-token', authServer: issuer.issuer, resourceToken: expect.any(String) });
  });

  it('an unsigned request: 401 invalid_signature JSON with the challenge header', async () => {
    const res = await send({ method: 'GET', url: `${web.identity}/data` });
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ error: 'invalid_signature', error_description: expect.any(String) });
    expect(res.headers.aauth).toBe(`require=auth-token; auth-server="${issuer.issuer}"`);
  });

  it('an agent-side failure in a route: 502 JSON, no challenge', async () => {
    const res = await send({ method: 'GET', url: `${web.identity}/downstream` });
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json).toEqual({ error: 'server_error', error_description: 'The auth server refused the token request (HTTP 403, access_denied: blocked)' });
    expect(res.headers.aauth).toBeUndefined();
  });

  it("an AAuthError as another error's cause (got's RequestError) is answered the same way", async () => {
    const res = await send({ method: 'GET', url: `${web.identity}/wrapped` });
    expect(res.status).toBe(502);
    expect(res.json).toEqual({ error: 'server_error', error_description: 'The challenge names an auth server this agent does not trust' });
  });

  it('other errors, and errors after the response started, go to the next handler', async () => {
    const plain = await send({ method: 'GET', url: `${web.identity}/plain` });
    expect([plain.status, plain.text]).toEqual([500, 'next handler: not ours']);
    const late = await send({ method: 'GET', url: `${web.identity}/late` });
    expect([late.status, late.text]).toEqual([200, 'partial | ended by the next handler']);
  });
});

describe('onError', () => {
  it('does not hear the normal first challenge (no auth token yet), and hears a refused token', async () => {
    heard.length = 0;
    const first = await send(signed({ method: 'GET', url: `${web.identity}/data` }, agent.key, jwks()));
    expect(first.status).toBe(401);
    expect(heard).toEqual([]);

    const expired = await issuer.mint(authClaims({ audience: web.identity, agent: agent.id, cnf: agent.key, iat: Math.floor(Date.now() / 1000) - 1000 }));
    const refused = await send(signed({ method: 'GET', url: `${web.identity}/data` }, agent.key, { scheme: 'jwt', jwt: expired }));
    expect(refused.status).toBe(401);
    expect(heard.map((e) => [e.code, e.status])).toEqual([['token_expired', 401]]);

    const unsigned = await send({ method: 'GET', url: `${web.identity}/data` });
    expect(unsigned.status).toBe(401);
    expect(heard.map((e) => e.code)).toEqual(['token_expired', 'signature_missing']);
  });
});
