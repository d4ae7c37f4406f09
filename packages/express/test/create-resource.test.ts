import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AAuthError, decodeToken, generateKey, parseChallenge, verifyResourceToken, type SigningKey } from '@aauth-kit/core';
import { createVerifier } from '@aauth-kit/verifier';
import { createResource, type Resource } from '@aauth-kit/express';
import { authClaims, send, signed, startAgent, startApp, startIssuer } from './helpers.js';

let agent: Awaited<ReturnType<typeof startAgent>>;
let issuer: Awaited<ReturnType<typeof startIssuer>>;
let web: Awaited<ReturnType<typeof startApp>>;
let resource: Resource;
let resourceKey: SigningKey;
let identity: string;
const errors: AAuthError[] = [];

beforeAll(async () => {
  agent = await startAgent();
  issuer = await startIssuer();
  web = await startApp();
  identity = web.identity;
  resourceKey = generateKey({ kid: 'res-1' });
  resource = createResource({
    identity,
    key: resourceKey,
    authServer: issuer.issuer,
    scopes: { 'data.read': 'Read data', 'data.write': 'Write data' },
    onError: (e) => errors.push(e),
  });
  const { app } = web;
  app.use(resource.wellKnown());
  const echo = (req: express.Request, res: express.Response) => res.json({ aauth: req.aauth, body: req.body ?? null });
  app.get('/open', resource.require({ level: 'signature' }), echo);
  app.get('/id', resource.require({ level: 'identity' }), echo);
  app.get('/data', resource.require({ scope: 'data.read' }), echo);
  app.post('/data', resource.require({ level: 'auth-token', scope: ['data.write'] }), express.json(), echo);
  app.post('/json', resource.require(), express.json(), echo);
  app.post('/text', resource.require(), express.text(), echo);
  app.post('/raw', resource.require(), express.raw({ type: '*/*', limit: '1mb' }), echo);
  // A body parser mounted first: without the raw bytes the middleware refuses with the fix (a
  // TypeError to the app's error handler); with them kept by the parser's verify hook, it verifies.
  app.post('/parsed-first', express.json(), resource.require(), echo, (error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ name: error.name, message: error.message });
  });
  app.post('/parsed-kept', express.json({ verify: (req, _res, buf) => void ((req as express.Request & { rawBody?: Buffer }).rawBody = buf) }), resource.require(), echo);
});
afterAll(async () => {
  await Promise.all([agent.close(), issuer.close(), web.close()]);
});

const jwks = (): { scheme: 'jwks_uri'; id: string; kid: string } => ({ scheme: 'jwks_uri', id: agent.id, kid: 'agent-1' });
const token = async (scope = 'data.read', extra: Record<string, unknown> = {}) =>
  issuer.mint({ ...authClaims({ audience: identity, agent: agent.id, cnf: agent.key, scope, sub: 'mcp-user' }), ...extra });

describe('signature level: any valid signature (require=pseudonym)', () => {
  it('hwk sets req.aauth with the pseudonymous agent', async () => {
    const key = generateKey();
    const res = await send(signed({ method: 'GET', url: `${identity}/open` }, key));
    expect(res.status).toBe(200);
    expect(res.json.aauth).toEqual({ scheme: 'hwk', generation: 'keycloak', agent: `pseudonymous:${key.thumbprint}`, thumbprint: key.thumbprint, jwk: key.jwk, scope: [] });
  });

  it('jwks_uri sets the agent identity', async () => {
    const res = await send(signed({ method: 'GET', url: `${identity}/open` }, agent.key, jwks()));
    expect(res.status).toBe(200);
    expect(res.json.aauth).toMatchObject({ scheme: 'jwks_uri', agent: agent.id, thumbprint: agent.key.thumbprint });
  });

  it('jwt sets the token claims', async () => {
    const jwt = await token();
    const res = await send(signed({ method: 'GET', url: `${identity}/open` }, agent.key, { scheme: 'jwt', jwt }));
    expect(res.status).toBe(200);
    expect(res.json.aauth).toMatchObject({ scheme: 'jwt', agent: agent.id, sub: 'mcp-user', scope: ['data.read'], token: { raw: jwt, issuer: issuer.issuer, sub: 'mcp-user', agent: agent.id, scope: ['data.read'] } });
  });

  it('an unsigned request gets 401 invalid_signature with AAuth: require=pseudonym and no resource token', async () => {
    const res = await send({ method: 'GET', url: `${identity}/open` });
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ error: 'invalid_signature', error_description: 'The request is not signed (no Signature-Key, Signature-Input or Signature header)' });
    expect(res.headers.aauth).toBe('require=pseudonym');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
  });
});

describe('a signature made for another URL than the one this resource verifies (a wrong host name, a proxy)', () => {
  // Before, only "The signature does not verify with the signing key": nothing pointed at the URL.
  it('localhost for 127.0.0.1: 401 invalid_signature naming the @authority and @path this side verified', async () => {
    const port = new URL(identity).port;
    const res = await send(signed({ method: 'GET', url: `http://localhost:${port}/open` }, generateKey()), `${identity}/open`);
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_signature');
    expect(res.json.error_description).toBe(
      `The signature does not verify with the signing key; this side verified it for @authority "127.0.0.1:${port}" and @path "/open": ` +
        'if the key is right, the signer addressed another host or path (e.g. 127.0.0.1 for localhost, or through a proxy that rewrites them), and the identity must be the URL agents call',
    );
  });

  it('a path the signer saw with a prefix a proxy stripped', async () => {
    const req = signed({ method: 'GET', url: `${identity}/api/open` }, generateKey());
    const res = await send({ ...req, url: `${identity}/open` });
    expect(res.status).toBe(401);
    expect(res.json.error_description).toMatch(/; this side verified it for @authority "127\.0\.0\.1:\d+" and @path "\/open": if the key is right/);
  });
});

describe('identity level (require=identity)', () => {
  it('hwk gets 401 identity_required with AAuth: require=identity', async () => {
    const res = await send(signed({ method: 'GET', url: `${identity}/id` }, generateKey()));
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ error: 'identity_required', error_description: 'This resource requires an agent identity' });
    expect(res.headers.aauth).toBe('require=identity');
    expect(parseChallenge(res.headers as Record<string, string>)).toMatchObject({ require: 'identity', satisfiable: true });
  });

  it('jwks_uri and jwt pass', async () => {
    expect((await send(signed({ method: 'GET', url: `${identity}/id` }, agent.key, jwks()))).status).toBe(200);
    expect((await send(signed({ method: 'GET', url: `${identity}/id` }, agent.key, { scheme: 'jwt', jwt: await token() }))).status).toBe(200);
  });
});

describe('auth-token level (require=auth-token) and the resource token (sections 5, 6)', () => {
  async function challengeFor(key: SigningKey, sk?: Parameters<typeof signed>[2]) {
    const before = Math.floor(Date.now() / 1000);
    const res = await send(signed({ method: 'GET', url: `${identity}/data` }, key, sk));
    const after = Math.floor(Date.now() / 1000);
    return { res, before, after };
  }

  it('jwks_uri caller: 401 with a resource token minted for it, claims exact', async () => {
    const { res, before, after } = await challengeFor(agent.key, jwks());
    expect(res.status).toBe(401);
    // Section 5's wire error and text for a missing token, then how to get one (issue 11).
    expect(res.json).toEqual({
      error: 'invalid_auth_token',
      error_description: `Authorization required: this route needs an auth token with scope "data.read". Take the resource token of the AAuth header to the auth server ${issuer.issuer} and retry with the auth token it returns (Signature-Key scheme=jwt); an @aauth-kit/agent does this by itself`,
    });
    const header = res.headers.aauth as string;
    expect(header).toMatch(/^require=auth-token; resource-token="[^"]+"; auth-server="[^"]+"$/);
    const ch = parseChallenge(res.headers as Record<string, string>)!;
    expect(ch).toMatchObject({ require: 'auth-token', authServer: issuer.issuer, spelling: 'AAuth', satisfiable: true });
    const { header: h, claims } = decodeToken(ch.resourceToken!);
    expect(h).toEqual({ alg: 'EdDSA', typ: 'resource+jwt', kid: 'res-1' });
    expect(Object.keys(claims).sort()).toEqual(['agent', 'agent_jkt', 'aud', 'exp', 'iat', 'iss', 'jti', 'scope']);
    expect(claims).toMatchObject({ iss: identity, aud: issuer.issuer, agent: agent.id, agent_jkt: agent.key.thumbprint, scope: 'data.read' });
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(claims.iat).toBeLessThanOrEqual(after);
    expect(claims.exp).toBe((claims.iat as number) + 300);
    expect(typeof claims.jti).toBe('string');
    expect((claims.jti as string).length).toBeGreaterThanOrEqual(16);
  });

  it('the resource token verifies against the published metadata and JWKS, as an auth server would check it', async () => {
    const { res } = await challengeFor(agent.key, jwks());
    const rt = parseChallenge(res.headers as Record<string, string>)!.resourceToken!;
    const as = createVerifier({ identity: issuer.issuer });
    const verified = await verifyResourceToken(rt, {
      getKey: (hdr) => as.resolveResourceJwk(identity, hdr.kid) as never,
      audience: issuer.issuer,
      agent: agent.id,
      agentJkt: agent.key.thumbprint,
    });
    expect(verified.claims.iss).toBe(identity);
  });

  it('hwk caller: the resource token names the pseudonym', async () => {
    const key = generateKey();
    const { res } = await challengeFor(key);
    expect(res.status).toBe(401);
    const claims = decodeToken(parseChallenge(res.headers as Record<string, string>)!.resourceToken!).claims;
    expect(claims).toMatchObject({ agent: `pseudonymous:${key.thumbprint}`, agent_jkt: key.thumbprint });
  });

  it('jwt with the scope passes; jwt without it gets 403 insufficient_scope', async () => {
    const ok = await send(signed({ method: 'GET', url: `${identity}/data` }, agent.key, { scheme: 'jwt', jwt: await token('data.read other') }));
    expect(ok.status).toBe(200);
    expect(ok.json.aauth.scope).toEqual(['data.read', 'other']);
    const denied = await send(signed({ method: 'GET', url: `${identity}/data` }, agent.key, { scheme: 'jwt', jwt: await token('data.write') }));
    expect(denied.status).toBe(403);
    expect(denied.json.error).toBe('insufficient_scope');
    expect(denied.json.error_description).toMatch(/data\.read/);
    expect(denied.headers.aauth).toBeUndefined();
  });

  it('an expired token gets invalid_auth_token naming the check, with a fresh challenge for the same caller', async () => {
    const jwt = await token('data.read', { iat: Math.floor(Date.now() / 1000) - 900, exp: Math.floor(Date.now() / 1000) - 600 });
    const res = await send(signed({ method: 'GET', url: `${identity}/data` }, agent.key, { scheme: 'jwt', jwt }));
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_auth_token');
    expect(res.json.error_description).toMatch(/^Auth token: expired \d+ s ago$/);
    const claims = decodeToken(parseChallenge(res.headers as Record<string, string>)!.resourceToken!).claims;
    expect(claims).toMatchObject({ agent: agent.id, agent_jkt: agent.key.thumbprint, aud: issuer.issuer, scope: 'data.read' });
  });

  it('a token for another audience gets invalid_auth_token and a challenge', async () => {
    const jwt = await token('data.read', { aud: 'http://127.0.0.1:1' });
    const res = await send(signed({ method: 'GET', url: `${identity}/data` }, agent.key, { scheme: 'jwt', jwt }));
    expect(res.status).toBe(401);
    expect(res.json.error_description).toMatch(/aud/);
    expect(parseChallenge(res.headers as Record<string, string>)!.resourceToken).toBeDefined();
  });

  it('a forged token gets invalid_auth_token and no resource token (the caller is unknown)', async () => {
    const jwt = `${(await token()).slice(0, -6)}AAAAAA`;
    const res = await send(signed({ method: 'GET', url: `${identity}/data` }, agent.key, { scheme: 'jwt', jwt }));
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_auth_token');
    expect(res.headers.aauth).toBe(`require=auth-token; auth-server="${issuer.issuer}"`);
  });

  it('POST with a JSON body: verified digest, then express.json() still parses the body', async () => {
    const body = JSON.stringify({ order: 42, note: 'ünïcödé' });
    const res = await send(
      signed({ method: 'POST', url: `${identity}/data`, headers: { 'content-type': 'application/json' }, body }, agent.key, { scheme: 'jwt', jwt: await token('data.write') }),
    );
    expect(res.status).toBe(200);
    expect(res.json.body).toEqual({ order: 42, note: 'ünïcödé' });
  });
});

describe('raw body handling: the app body parser after the middleware still works', () => {
  const key = generateKey();
  it('express.json()', async () => {
    const res = await send(signed({ method: 'POST', url: `${identity}/json`, headers: { 'content-type': 'application/json' }, body: '{"a":[1,2]}' }, key));
    expect(res.status).toBe(200);
    expect(res.json.body).toEqual({ a: [1, 2] });
  });
  it('express.text()', async () => {
    const res = await send(signed({ method: 'POST', url: `${identity}/text`, headers: { 'content-type': 'text/plain' }, body: 'hello world' }, key));
    expect(res.json.body).toBe('hello world');
  });
  it('a body parser mounted before the middleware: a TypeError naming both fixes', async () => {
    const res = await send(signed({ method: 'POST', url: `${identity}/parsed-first`, headers: { 'content-type': 'application/json' }, body: '{"a":1}' }, key));
    expect(res.status).toBe(500);
    expect(res.json).toEqual({
      name: 'TypeError',
      message:
        'The request body was read before the AAuth middleware: mount require() before body parsers, ' +
        "or keep the raw bytes for it with the parser's verify hook: express.json({ verify: (req, _res, buf) => { req.rawBody = buf; } })",
    });
  });
  it('... and with the raw bytes kept by its verify hook (req.rawBody), the digest is checked and the request passes', async () => {
    const ok = await send(signed({ method: 'POST', url: `${identity}/parsed-kept`, headers: { 'content-type': 'application/json' }, body: '{"a":1}' }, key));
    expect(ok.status).toBe(200);
    expect(ok.json.body).toEqual({ a: 1 });
    const req = signed({ method: 'POST', url: `${identity}/parsed-kept`, headers: { 'content-type': 'application/json' }, body: '{"a":1}' }, key);
    const tampered = await send({ ...req, body: '{"a":2}' });
    expect(tampered.status).toBe(401);
    expect(tampered.json).toEqual({ error: 'invalid_signature', error_description: 'Content-Digest sha-256 does not match the received body' });
  });
  it('express.raw() sees the exact bytes', async () => {
    const body = 'x'.repeat(200_000);
    const res = await send(signed({ method: 'POST', url: `${identity}/raw`, headers: { 'content-type': 'application/octet-stream' }, body }, key));
    expect(res.status).toBe(200);
    expect(res.json.body.data.length).toBe(200_000);
  });
  it('a chunked body (no Content-Length) is read and re-readable', async () => {
    const req = signed({ method: 'POST', url: `${identity}/json`, headers: { 'content-type': 'application/json' }, body: '{"chunked":true}' }, key);
    const res = await send({ ...req, headers: [...Object.entries(req.headers), ['transfer-encoding', 'chunked']] });
    expect(res.status).toBe(200);
    expect(res.json.body).toEqual({ chunked: true });
  });
  it('a body whose digest does not match is refused before the parser', async () => {
    const req = signed({ method: 'POST', url: `${identity}/json`, headers: { 'content-type': 'application/json' }, body: '{"a":1}' }, key);
    const res = await send({ ...req, body: '{"a":2}' });
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('invalid_signature');
    expect(errors.at(-1)?.code).toBe('digest_mismatch');
  });
});

describe('@authority comes from the configured identity, never from Host or X-Forwarded-*', () => {
  it('a spoofed Host or X-Forwarded-Host does not matter for a request signed for the identity', async () => {
    const req = signed({ method: 'GET', url: `${identity}/open` }, generateKey());
    const res = await send({ ...req, headers: { ...req.headers, host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' } });
    expect(res.status).toBe(200);
  });

  it('a signature made for another authority does not verify here, whatever the Host header says', async () => {
    const other = `http://localhost:${web.port}`;
    const req = signed({ method: 'GET', url: `${other}/open` }, generateKey());
    const res = await send({ ...req, headers: { ...req.headers, host: `localhost:${web.port}`, 'x-forwarded-host': `localhost:${web.port}` } }, identity);
    expect(res.status).toBe(401);
    expect(errors.at(-1)?.code).toBe('signature_invalid');
  });
});

describe('wellKnown(): metadata and JWKS (section 9)', () => {
  it('serves the resource metadata with and without .json', async () => {
    for (const path of ['/.well-known/aauth-resource.json', '/.well-known/aauth-resource']) {
      const res = await send({ method: 'GET', url: `${identity}${path}` });
      expect(res.status).toBe(200);
      expect(res.json).toEqual({
        resource: identity,
        jwks_uri: `${identity}/jwks.json`,
        supported_scopes: ['data.read', 'data.write'],
        scope_descriptions: { 'data.read': 'Read data', 'data.write': 'Write data' },
      });
    }
  });

  it('serves the JWKS without alg', async () => {
    const res = await send({ method: 'GET', url: `${identity}/jwks.json` });
    expect(res.json).toEqual({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: resourceKey.jwk.x, kid: 'res-1' }] });
  });
});
