// Issue 15 acceptance: a Keycloak-profile agent and a -11 agent call the same express route in one
// test, and each gets its own generation's challenge and success (draft-11 profile section 1).
import { generateKey, parseRequirement, parseSignatureError, signRequest, decodeToken, type SigningKey } from '@aauth-kit/core';
import { serializeSignatureKey } from '@aauth-kit/core/internal';
import { createResource, type Resource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentId, agentToken, authToken11, fetch11, personToken, startIssuer11, type Issuer11 } from './fixtures/draft11-issuers.js';
import { createTestAuthServer, type TestAuthServer } from './fixtures/fake-auth-server.js';
import { hostedAgent, type HostedAgent } from './fixtures/hosted-agent.js';
import { listen, type Listening } from './fixtures/http.js';

let as: TestAuthServer;
let keycloakAgent: HostedAgent;
let ap: Issuer11;
let ps: Issuer11;
let site: Listening;
let resource: Resource;
let url: string;
const agentKey: SigningKey = generateKey({ kid: 'agent-11' });

beforeAll(async () => {
  as = await createTestAuthServer();
  keycloakAgent = await hostedAgent({ authServer: as.issuer });
  ap = await startIssuer11('aauth-agent.json');
  ps = await startIssuer11('aauth-person.json');
  const app = express();
  site = await listen(app);
  url = site.origin;
  resource = createResource({
    identity: url,
    key: generateKey({ kid: 'resource-1' }),
    authServer: as.issuer,
    scopes: { 'data.read': 'Read market data' },
    // Loopback development: the -11 identity is http://127.0.0.1:port (off by default).
    draft11: { allowLoopback: true, personServers: [ps.issuer], accessMode: 'auth-token', authorizationEndpoint: '/authorize' },
  });
  const whoami = (req: Request, res: Response) => res.json(req.aauth);
  app.use(resource.wellKnown());
  app.get('/data', resource.require({ scope: 'data.read' }), whoami);
  app.get('/hello', resource.require({ level: 'identity' }), whoami);
  app.post('/authorize', resource.authorizationEndpoint());
});

afterAll(async () => {
  await Promise.all([as?.close(), keycloakAgent?.close(), ap?.close(), ps?.close(), site?.close()]);
});

describe('one route, two generations (draft-11 profile section 1)', () => {
  it('a Keycloak-profile agent gets the AAuth challenge in JSON, then success with its auth token', async () => {
    // Its first request, as the Keycloak-profile agent signs it: jwks_uri, parenthesised form.
    const request = { method: 'GET', url: `${url}/data`, headers: {} };
    const sk = serializeSignatureKey({ scheme: 'jwks_uri', id: keycloakAgent.identity, kid: 'agent-1' });
    const first = await fetch(request.url, { headers: signRequest(request, { key: keycloakAgent.key, signatureKey: sk }).headers });
    expect(first.status).toBe(401);
    expect(first.headers.get('content-type')).toMatch(/^application\/json/);
    expect(first.headers.get('aauth')).toMatch(/^require=auth-token; resource-token="[^"]+"; auth-server="/);
    expect(first.headers.get('aauth-requirement')).toBeNull();
    expect(first.headers.get('signature-error')).toBeNull();
    const rt = decodeToken(/resource-token="([^"]+)"/.exec(first.headers.get('aauth')!)![1]!);
    expect(rt.header.typ).toBe('resource+jwt');
    expect(rt.claims).toMatchObject({ iss: url, aud: as.issuer, agent: keycloakAgent.identity, agent_jkt: keycloakAgent.key.thumbprint, scope: 'data.read' });
    expect(await first.json()).toEqual({ error: 'invalid_auth_token', error_description: expect.stringContaining('Authorization required') });

    // The agent takes it from there: the auth server, then the retry with its auth+jwt.
    const res = await keycloakAgent.agent.fetch(`${url}/data`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ generation: 'keycloak', scheme: 'jwt', agent: keycloakAgent.identity, sub: 'user-1', scope: ['data.read'] });
    expect(as.tokenRequests).toHaveLength(1);
  });

  it('a -11 agent gets AAuth-Requirement in problem+json: person-token, then auth-token with a resource token, then success', async () => {
    const agentJwt = await agentToken(ap, agentKey, { ps: ps.issuer });

    // 1. The agent token alone: the route needs the person first (RS-30).
    const first = await fetch11(`${url}/data`, agentKey, agentJwt);
    expect(first.status).toBe(401);
    expect(first.headers.get('content-type')).toBe('application/problem+json');
    expect(parseRequirement(first.headers.get('aauth-requirement')!)).toMatchObject({ requirement: 'person-token', known: true });
    expect(first.headers.get('aauth')).toBeNull();
    expect(first.headers.get('signature-error')).toBeNull();
    expect(first.headers.get('accept-signature-scheme')).toBe('jwt');
    expect(first.headers.get('accept-signature-alg')).toBe('Ed25519, ES256');
    expect(first.body).toMatchObject({ error: 'person_token_required', status: 401 });

    // 2. A person token for this resource: the challenge carries a -11 resource token.
    const personJwt = await personToken(ps, agentKey, url, { sub: 'person-7', missionS256: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk' });
    const second = await fetch11(`${url}/data`, agentKey, personJwt);
    expect(second.status).toBe(401);
    const requirement = parseRequirement(second.headers.get('aauth-requirement')!);
    expect(requirement).toMatchObject({ requirement: 'auth-token', resourceToken: expect.any(String) });
    expect(second.headers.get('signature-error')).toBeNull();
    // The resource token verifies with the resource's published key (alg Ed25519) and names this person.
    const jwks = (await (await fetch(`${url}/jwks.json`)).json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys[0]).toMatchObject({ kid: 'resource-1', alg: 'Ed25519', kty: 'OKP' });
    const { payload, protectedHeader } = await jwtVerify(requirement.resourceToken!, createLocalJWKSet(jwks as never), { algorithms: ['Ed25519'] });
    expect(protectedHeader).toMatchObject({ typ: 'aa-resource+jwt', alg: 'Ed25519', kid: 'resource-1' });
    const personClaims = decodeToken(personJwt).claims;
    expect(payload).toMatchObject({
      iss: url,
      dwk: 'aauth-resource.json',
      aud: ps.issuer, // three-party: the person server that issued the person token (RS-31)
      ps: ps.issuer,
      sub: 'person-7',
      presented_jti: personClaims.jti,
      agent_jkt: agentKey.thumbprint,
      scope: 'data.read',
      mission_s256: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
    });
    expect(payload).not.toHaveProperty('agent');
    expect((payload.exp as number) - (payload.iat as number)).toBeLessThanOrEqual(300);

    // 3. The auth token from the person server: success, and req.aauth names the person by (iss, sub).
    const authJwt = await authToken11(ps, agentKey, url, { sub: 'person-7', scope: 'data.read' });
    const third = await fetch11(`${url}/data`, agentKey, authJwt);
    expect(third.status).toBe(200);
    expect(third.body).toMatchObject({
      generation: 'draft-11',
      scheme: 'jwt',
      accessMode: 'auth-token',
      agent: `pseudonymous:${agentKey.thumbprint}`,
      thumbprint: agentKey.thumbprint,
      ps: ps.issuer,
      sub: 'person-7',
      person: { issuer: ps.issuer, sub: 'person-7' },
      scope: ['data.read'],
      token: { kind: 'auth', issuer: ps.issuer, sub: 'person-7', jti: decodeToken(authJwt).claims.jti },
    });
  });

  it('an identity route: the -11 agent token is the agent identity (aauth:local@domain), the Keycloak agent its URL', async () => {
    const agentJwt = await agentToken(ap, agentKey, { ps: ps.issuer });
    const eleven = await fetch11(`${url}/hello`, agentKey, agentJwt);
    expect(eleven.status).toBe(200);
    expect(eleven.body).toMatchObject({ generation: 'draft-11', accessMode: 'agent-token', agent: agentId(ap), agentId: agentId(ap), ps: ps.issuer, token: { kind: 'agent', issuer: ap.issuer } });
    const res = await keycloakAgent.agent.fetch(`${url}/hello`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ generation: 'keycloak', scheme: 'jwks_uri', agent: keycloakAgent.identity });
  });

  it('publishes one metadata document for both: resource (Keycloak profile) and issuer, access_mode, signature_window (-11)', async () => {
    const doc = (await (await fetch(`${url}/.well-known/aauth-resource.json`)).json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      resource: url,
      issuer: url,
      jwks_uri: `${url}/jwks.json`,
      access_mode: 'auth-token',
      authorization_endpoint: `${url}/authorize`,
      signature_window: 60,
      scope_descriptions: { 'data.read': 'Read market data' },
    });
    expect(resource.generations).toEqual(['keycloak', 'draft-11']);
  });

  it('a -11 signature failure answers Signature-Error in problem+json; the Keycloak one keeps its JSON', async () => {
    const agentJwt = await agentToken(ap, agentKey);
    const stale = await fetch11(`${url}/hello`, agentKey, agentJwt, { now: () => Date.now() / 1000 - 600 });
    expect(stale.status).toBe(401);
    expect(parseSignatureError(stale.headers.get('signature-error'))).toMatchObject({ error: 'invalid_signature', known: true });
    expect(stale.body).toMatchObject({ error: 'invalid_signature', type: 'urn:ietf:params:sig-error:invalid_signature' });
    const request = { method: 'GET', url: `${url}/hello`, headers: {} };
    const sk = serializeSignatureKey({ scheme: 'jwks_uri', id: keycloakAgent.identity, kid: 'agent-1' });
    const old = await fetch(request.url, { headers: signRequest(request, { key: keycloakAgent.key, signatureKey: sk, now: () => Date.now() / 1000 - 600 }).headers });
    expect(old.status).toBe(401);
    expect(old.headers.get('signature-error')).toBeNull();
    expect(await old.json()).toMatchObject({ error: 'invalid_signature' });
  });

  it('a 403 (Keycloak insufficient_scope) never carries Signature-Error or Accept-Signature-*', async () => {
    const jwt = await as.issue({ aud: url, agent: keycloakAgent.identity, sub: 'user-1', scope: 'data.write', cnf: keycloakAgent.key.jwk });
    const request = { method: 'GET', url: `${url}/data`, headers: {} };
    const res = await fetch(request.url, { headers: signRequest(request, { key: keycloakAgent.key, signatureKey: { scheme: 'jwt', jwt } }).headers });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'insufficient_scope' });
    for (const h of ['signature-error', 'accept-signature-scheme', 'accept-signature-alg', 'aauth-requirement']) expect(res.headers.get(h), h).toBeNull();
  });
});

describe('the -11 authorization endpoint (AAuth -11 "Authorization Endpoint Request", RS-20)', () => {
  const post = (jwt: string, body: unknown) => fetch11(`${url}/authorize`, agentKey, jwt, { method: 'POST', body: JSON.stringify(body) });

  it('a person token and {scope} get a resource token for that person', async () => {
    const personJwt = await personToken(ps, agentKey, url, { sub: 'person-9', tenant: 'org-1' });
    const res = await post(personJwt, { scope: 'data.read', account: 'acct-42' });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const rt = decodeToken(res.body.resource_token as string);
    expect(rt.header).toMatchObject({ typ: 'aa-resource+jwt', alg: 'Ed25519' });
    expect(rt.claims).toMatchObject({ iss: url, aud: ps.issuer, ps: ps.issuer, sub: 'person-9', tenant: 'org-1', account: 'acct-42', presented_jti: decodeToken(personJwt).claims.jti, agent_jkt: agentKey.thumbprint, scope: 'data.read' });
  });

  it('without a person token: 401 requirement=person-token; a bad body 400 invalid_request; an unknown scope 400 invalid_scope', async () => {
    const agentJwt = await agentToken(ap, agentKey, { ps: ps.issuer });
    const none = await post(agentJwt, { scope: 'data.read' });
    expect(none.status).toBe(401);
    expect(parseRequirement(none.headers.get('aauth-requirement')!)).toMatchObject({ requirement: 'person-token' });
    const personJwt = await personToken(ps, agentKey, url);
    const bad = await post(personJwt, { scopes: 'data.read' });
    expect([bad.status, bad.body.error, bad.headers.get('content-type')]).toEqual([400, 'invalid_request', 'application/problem+json']);
    expect(bad.headers.get('signature-error')).toBeNull();
    const unknown = await post(personJwt, { scope: 'data.delete' });
    expect([unknown.status, unknown.body.error]).toEqual([400, 'invalid_scope']);
  });
});
