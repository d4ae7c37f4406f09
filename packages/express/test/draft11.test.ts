import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey, mintAgentToken, mintPersonToken } from '@aauth-kit/core';
import { algOf11 } from '@aauth-kit/core/internal';
import { aauthErrorHandler, createResource } from '@aauth-kit/express';
import { send, signed, startApp, startServer, type TestServer } from './helpers.js';

// The -11 side of the express resource (draft-11 profile sections 1, 2, 5, 7): which generations a
// resource speaks, its metadata and JWKS, and the problem+json answers through an app's error handler.
const key = generateKey({ kid: 'res-1' });

describe('createResource: generations and -11 options, validated at creation', () => {
  it('default: both generations for a -11 server identifier, the Keycloak profile alone otherwise (unchanged)', () => {
    expect(createResource({ identity: 'https://api.example', key }).generations).toEqual(['keycloak', 'draft-11']);
    // A loopback identity speaks -11 only with the explicit relaxation (off by default).
    expect(createResource({ identity: 'http://127.0.0.1:3000', key }).generations).toEqual(['keycloak']);
    expect(createResource({ identity: 'http://127.0.0.1:3000', key, draft11: { allowLoopback: true } }).generations).toEqual(['keycloak', 'draft-11']);
    // -11 identities are https and a bare host: a path keeps the resource on the Keycloak profile.
    expect(createResource({ identity: 'https://api.example/v1', key }).generations).toEqual(['keycloak']);
  });

  it('misuse throws a TypeError naming the option', () => {
    expect(() => createResource({ identity: 'https://api.example/v1', key, generations: ['draft-11'] })).toThrow(/options.identity must not have a path for -11/);
    expect(() => createResource({ identity: 'https://api.example', key, generations: [] })).toThrow(/options.generations/);
    expect(() => createResource({ identity: 'https://api.example', key, draft11: { accessMode: 'bearer' as never } })).toThrow(/options.draft11.accessMode/);
    expect(() => createResource({ identity: 'https://api.example', key, draft11: { authorizationEndpoint: 'authorize' } })).toThrow(/options.draft11.authorizationEndpoint/);
    expect(() => createResource({ identity: 'https://api.example', key, draft11: { accessServer: 'https://as.example:8443' } })).toThrow(/options.draft11.accessServer must not have a port/);
    const keycloakOnly = createResource({ identity: 'http://127.0.0.1:3000', key });
    expect(() => keycloakOnly.require({ level: 'person' })).toThrow(/level 'person' needs -11/);
    expect(() => keycloakOnly.authorizationEndpoint()).toThrow(/does not speak -11/);
    // -11 alone needs no Keycloak auth server for an auth-token route (the person token names the person server).
    expect(() => createResource({ identity: 'https://api.example', key, generations: ['draft-11'] }).require({ scope: 'read' })).not.toThrow();
    expect(() => createResource({ identity: 'https://api.example', key }).require({ scope: 'read' })).toThrow(/options.authServer is required/);
    const only11 = createResource({ identity: 'https://api.example', key, generations: ['draft-11'] });
    expect(() => only11.require({ level: 'person', deferred: true })).toThrow(/deferred is for -11 routes at the auth-token level/);
    expect(() => createResource({ identity: 'https://api.example', key, draft11: { pendingPath: 'pending/' } })).toThrow(/options.draft11.pendingPath/);
    expect(() => keycloakOnly.pendingEndpoint()).toThrow(/does not speak -11/);
  });
});

describe('metadata and JWKS', () => {
  it('a Keycloak-profile resource publishes exactly what it did (no issuer, keys without alg)', () => {
    const r = createResource({ identity: 'http://127.0.0.1:3000', key, scopes: { read: 'Read' } });
    expect(r.metadata).toEqual({ resource: 'http://127.0.0.1:3000', jwks_uri: 'http://127.0.0.1:3000/jwks.json', supported_scopes: ['read'], scope_descriptions: { read: 'Read' } });
    expect(r.wellKnown().documents['/jwks.json']).toEqual({ keys: [key.toPublishedJwk()] });
  });

  it('a -11 resource adds issuer, access_mode, authorization_endpoint, signature_window, and its key alg', () => {
    const r = createResource({
      identity: 'https://api.example',
      key,
      maxSkew: 30,
      scopes: { read: 'Read' },
      additionalSignatureComponents: ['content-digest'],
      draft11: { accessMode: 'person-token', authorizationEndpoint: '/authorize' },
    });
    expect(r.metadata).toEqual({
      resource: 'https://api.example',
      issuer: 'https://api.example',
      jwks_uri: 'https://api.example/jwks.json',
      access_mode: 'person-token',
      authorization_endpoint: 'https://api.example/authorize',
      signature_window: 30,
      supported_scopes: ['read'],
      scope_descriptions: { read: 'Read' },
      additional_signature_components: ['@query', 'content-digest'],
    });
    const handler = r.wellKnown();
    expect(handler.documents['/jwks.json']).toEqual({ keys: [{ ...key.toPublishedJwk(), alg: algOf11(key.jwk) }] });
    expect(handler.keys[0]).toMatchObject({ kid: 'res-1', alg: 'Ed25519' });
  });
});

describe('served over loopback', () => {
  let web: Awaited<ReturnType<typeof startApp>>;
  let ap: TestServer;
  const apKey = generateKey({ kid: 'ap-1' });
  const agentKey = generateKey({ kid: 'a-1' });
  const heard: string[] = [];

  beforeAll(async () => {
    web = await startApp();
    ap = await startServer();
    ap.routes['/.well-known/aauth-agent.json'] = { body: { issuer: ap.url, jwks_uri: `${ap.url}/jwks.json` } };
    ap.routes['/jwks.json'] = { body: { keys: [{ ...apKey.toPublishedJwk(), alg: 'Ed25519' }] } };
    const resource = createResource({ identity: web.identity, key, errors: 'next', draft11: { allowLoopback: true }, onError: (e) => heard.push(e.code) });
    web.app.use(resource.wellKnown());
    web.app.get('/me', resource.require({ level: 'person' }), (req, res) => res.json(req.aauth));
    web.app.get('/open', resource.require(), (req, res) => res.json(req.aauth));
    web.app.use(aauthErrorHandler());
  });
  afterAll(async () => {
    await Promise.all([web.close(), ap.close()]);
  });

  const agentJwt = () => mintAgentToken(apKey, { issuer: ap.url, sub: `aauth:bot@${new URL(ap.url).host}`, agentKey, allowLoopback: true });
  const jwtKey = (jwt: string) => `sig=jwt;jwt="${jwt}"`;

  it("errors: 'next' and aauthErrorHandler answer a -11 caller in problem+json with its headers", async () => {
    const res = await send(signed({ method: 'GET', url: `${web.identity}/me` }, agentKey, jwtKey(await agentJwt())));
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.headers['aauth-requirement']).toBe('requirement=person-token');
    expect(res.json).toMatchObject({ error: 'person_token_required', status: 401, detail: expect.any(String) });
    // A normal challenge on the way to a token is not an error for onError; a signature failure is.
    expect(heard).toEqual([]);
    const stale = await send(signed({ method: 'GET', url: `${web.identity}/me` }, agentKey, jwtKey(await agentJwt()), { now: () => Date.now() / 1000 - 600 }));
    expect(stale.status).toBe(401);
    expect(stale.headers['signature-error']).toBe('error=invalid_signature');
    expect(heard).toEqual(['signature_stale']);
  });

  it('the JWKS is served with alg, and a -11 caller sees req.aauth with its generation and agent identifier', async () => {
    const jwks = await send({ method: 'GET', url: `${web.identity}/jwks.json` });
    expect(jwks.json.keys[0]).toMatchObject({ kid: 'res-1', alg: 'Ed25519' });
    const res = await send(signed({ method: 'GET', url: `${web.identity}/open` }, agentKey, jwtKey(await agentJwt())));
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ generation: 'draft-11', accessMode: 'agent-token', agentId: `aauth:bot@${new URL(ap.url).host}`, token: { kind: 'agent', issuer: ap.url } });
  });

  it('a person token at a person route: req.aauth.person is (iss, sub)', async () => {
    const ps = await startServer();
    const psKey = generateKey({ kid: 'ps-1' });
    ps.routes['/.well-known/aauth-person.json'] = { body: { issuer: ps.url, jwks_uri: `${ps.url}/jwks.json`, auth_token_endpoint: `${ps.url}/t`, person_token_endpoint: `${ps.url}/p` } };
    ps.routes['/jwks.json'] = { body: { keys: [{ ...psKey.toPublishedJwk(), alg: 'Ed25519' }] } };
    try {
      const jwt = await mintPersonToken(psKey, { issuer: ps.url, audience: web.identity, sub: 'p-1', agentKey, allowLoopback: true });
      const res = await send(signed({ method: 'GET', url: `${web.identity}/me` }, agentKey, jwtKey(jwt)));
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ accessMode: 'person-token', ps: ps.url, sub: 'p-1', person: { issuer: ps.url, sub: 'p-1' } });
    } finally {
      await ps.close();
    }
  });
});
