import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AAuthError, decodeToken, generateKey, parseChallenge } from '@aauth-kit/core';
import { aauth, createResource } from '@aauth-kit/express';
import { send, signed, startApp } from './helpers.js';

describe('aauth(): the one-line shorthand', () => {
  let web: Awaited<ReturnType<typeof startApp>>;
  let handler: ReturnType<typeof aauth>;
  beforeAll(async () => {
    web = await startApp();
    handler = aauth({ identity: web.identity, key: generateKey({ kid: 'r1' }), authServer: 'http://localhost:8080/realms/aauth-test', scope: 'read' });
    web.app.use(handler);
    web.app.get('/api', (req, res) => res.json({ agent: req.aauth?.agent }));
  });
  afterAll(() => web.close());

  it('serves the metadata and JWKS without a signature', async () => {
    expect((await send({ method: 'GET', url: `${web.identity}/.well-known/aauth-resource.json` })).json).toEqual({ resource: web.identity, jwks_uri: `${web.identity}/jwks.json` });
    expect((await send({ method: 'GET', url: `${web.identity}/.well-known/aauth-resource` })).status).toBe(200);
    expect((await send({ method: 'GET', url: `${web.identity}/jwks.json` })).json.keys[0].kid).toBe('r1');
  });

  it('serves a document whatever its query, on HEAD too; anything else on its paths is guarded (issue 18: matched before the well-known handler)', async () => {
    const jwks = await send({ method: 'GET', url: `${web.identity}/jwks.json?x=1` });
    expect(jwks.status).toBe(200);
    expect(jwks.json.keys[0].kid).toBe('r1');
    const head = await send({ method: 'HEAD', url: `${web.identity}/.well-known/aauth-resource.json` });
    expect(head.status).toBe(200);
    expect(head.headers['cache-control']).toBe('public, max-age=300');
    // A POST to a document path, and a path that only starts like one, meet the guard.
    for (const [method, path] of [['POST', '/jwks.json'], ['GET', '/jwks.json/x'], ['GET', '/.well-known/aauth-resource.jsonx']] as const) {
      const res = await send({ method, url: `${web.identity}${path}` });
      expect(res.status).toBe(401);
      expect(res.headers.aauth).toBe('require=auth-token; auth-server="http://localhost:8080/realms/aauth-test"');
    }
  });

  it('guards everything else at the auth-token level with the given scope', async () => {
    const key = generateKey();
    const res = await send(signed({ method: 'GET', url: `${web.identity}/api` }, key));
    expect(res.status).toBe(401);
    const ch = parseChallenge(res.headers as Record<string, string>)!;
    expect(ch.authServer).toBe('http://localhost:8080/realms/aauth-test');
    expect(decodeToken(ch.resourceToken!).claims).toMatchObject({ scope: 'read', aud: 'http://localhost:8080/realms/aauth-test' });
    expect(handler.resource.verifier).toBeDefined();
  });
});

describe('createResource modes', () => {
  let web: Awaited<ReturnType<typeof startApp>>;
  const seen: unknown[] = [];
  beforeAll(async () => {
    web = await startApp();
    const strict = createResource({
      identity: web.identity,
      key: generateKey(),
      authServer: 'https://as.example',
      requirementHeader: true,
      additionalSignatureComponents: ['content-type'],
    });
    const passing = createResource({ identity: web.identity, key: generateKey(), errors: 'next' });
    const small = createResource({ identity: web.identity, key: generateKey(), maxBodyBytes: 10 });
    web.app.get('/strict/meta', (_req, res) => res.json(strict.metadata));
    web.app.all('/strict', strict.require({ scope: 'read' }), (_req, res) => res.json({ ok: true }));
    web.app.get('/next', passing.require(), (_req, res) => res.json({ ok: true }));
    web.app.get('/default-handler', passing.require(), (_req, res) => res.json({ ok: true }));
    web.app.post('/small', small.require(), (_req, res) => res.json({ ok: true }));
    web.app.use('/next', (err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      seen.push(err);
      res.status(418).json({ handledBy: 'app', code: (err as AAuthError).code });
    });
  });
  afterAll(() => web.close());

  it('requirementHeader adds AAuth-Requirement and Signature-Error (section 11)', async () => {
    const res = await send({ method: 'GET', url: `${web.identity}/strict` });
    expect(res.status).toBe(401);
    expect(res.headers.aauth).toBe('require=auth-token; auth-server="https://as.example"');
    expect(res.headers['aauth-requirement']).toBe('requirement=auth-token');
    expect(res.headers['signature-error']).toBe('error=invalid_signature');
    const key = generateKey();
    const challenged = await send(signed({ method: 'GET', url: `${web.identity}/strict`, headers: { 'content-type': 'text/plain' } }, key, undefined, { additionalComponents: ['content-type'] }));
    expect(challenged.status).toBe(401);
    const requirement = parseChallenge({ 'aauth-requirement': challenged.headers['aauth-requirement'] as string })!;
    expect(requirement).toMatchObject({ require: 'auth-token', spelling: 'AAuth-Requirement' });
    expect(requirement.resourceToken).toBe(parseChallenge(challenged.headers as Record<string, string>)!.resourceToken);
  });

  it('additionalSignatureComponents are published and enforced', async () => {
    expect((await send({ method: 'GET', url: `${web.identity}/strict/meta` })).json.additional_signature_components).toEqual(['content-type']);
    const res = await send(signed({ method: 'GET', url: `${web.identity}/strict`, headers: { 'content-type': 'text/plain' } }, generateKey()));
    expect(res.status).toBe(401);
    expect(res.json.error_description).toMatch(/content-type/);
  });

  it("errors: 'next' hands the AAuthError to the app's error handler", async () => {
    const res = await send({ method: 'GET', url: `${web.identity}/next` });
    expect(res.status).toBe(418);
    expect(res.json).toEqual({ handledBy: 'app', code: 'signature_missing' });
    expect(seen.at(-1)).toBeInstanceOf(AAuthError);
  });

  it("express's default error handler still sends the right status and AAuth header", async () => {
    const res = await send({ method: 'GET', url: `${web.identity}/default-handler` });
    expect(res.status).toBe(401);
    expect(res.headers.aauth).toBe('require=pseudonym');
  });

  it('maxBodyBytes refuses larger bodies with 413 body_too_large', async () => {
    const res = await send(signed({ method: 'POST', url: `${web.identity}/small`, headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(11) }, generateKey()));
    expect(res.status).toBe(413);
    expect(res.json).toEqual({ error: 'invalid_request', error_description: 'The request body is larger than 10 bytes' });
    const ok = await send(signed({ method: 'POST', url: `${web.identity}/small`, headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(10) }, generateKey()));
    expect(ok.status).toBe(200);
  });
});

describe('batch: false: a request verified without a wait runs its route in the same turn (issue 18)', () => {
  let web: Awaited<ReturnType<typeof startApp>>;
  const seen: Array<{ routeRan: boolean }> = [];
  beforeAll(async () => {
    web = await startApp();
    // With the default batch: true a GET's route runs after the turn's reads (turn-batch.test.ts).
    const guard = aauth({ identity: web.identity, key: generateKey(), level: 'signature', batch: false });
    const watched = (req: express.Request, res: express.Response, next: express.NextFunction) => {
      const entry = { routeRan: false };
      guard(req, res, (error?: unknown) => {
        entry.routeRan = true;
        next(error);
      });
      // What the guard had done by the time it returned.
      seen.push({ routeRan: entry.routeRan });
    };
    web.app.all('/api', watched, express.json(), (req, res) => res.json({ agent: req.aauth?.agent, body: req.body }));
  });
  afterAll(() => web.close());

  it('an hwk GET: the route ran before the guard returned', async () => {
    const key = generateKey();
    const res = await send(signed({ method: 'GET', url: `${web.identity}/api` }, key));
    expect(res.status).toBe(200);
    expect(res.json.agent).toBe(`pseudonymous:${key.thumbprint}`);
    expect(seen.at(-1)!.routeRan).toBe(true);
  });

  it('a body to read first: the route runs after the guard returned; a refusal is answered as before', async () => {
    const key = generateKey();
    const post = await send(signed({ method: 'POST', url: `${web.identity}/api`, headers: { 'content-type': 'application/json' }, body: '{"n":1}' }, key));
    expect(post.status).toBe(200);
    expect(post.json.body).toEqual({ n: 1 });
    expect(seen.at(-1)!.routeRan).toBe(false);
    const forged = signed({ method: 'GET', url: `${web.identity}/api` }, key);
    forged.headers.signature = forged.headers.signature!.replace(/:[^:]+:/, ':AAAA:');
    const refused = await send(forged);
    expect(refused.status).toBe(401);
    expect(seen.at(-1)!.routeRan).toBe(false);
  });
});
