import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AAuthError, generateKey, mintAuthToken11, mintPersonToken, type SigningKey } from '@aauth-kit/core';
import { algOf11 } from '@aauth-kit/core/internal';
import { createResource, type ResourceRevocationOptions } from '@aauth-kit/express';
import { createMemoryRevocationStore, type RevocationStore } from '@aauth-kit/verifier';
import { parseRevocationBody, resolveRevocationOptions } from '../src/lib/revocation.js';
import { send, signed, startApp, startServer, type TestServer } from './helpers.js';

// The resource's revocation endpoint (AAuth -11 "Token Revocation", RS-03, RS-43, RS-60, RS-61):
// options validated at creation, who may revoke, the body, and the verifier consulting the store.
const key = generateKey({ kid: 'res-1' });
const now = () => Date.now() / 1000;

describe('draft11.revocation options, validated at creation', () => {
  const make = (revocation: unknown, extra: Record<string, unknown> = {}) =>
    createResource({ identity: 'https://api.example', key, draft11: { revocation: revocation as ResourceRevocationOptions }, ...extra });

  it('off by default: no revocation_endpoint, and revocationEndpoint() says what is missing', () => {
    const resource = createResource({ identity: 'https://api.example', key });
    expect(resource.metadata.revocation_endpoint).toBeUndefined();
    expect(() => resource.revocationEndpoint()).toThrow('resource.revocationEndpoint(): options.draft11.revocation is not set');
  });

  it('true publishes the default path; path is configurable', () => {
    expect(make(true).metadata.revocation_endpoint).toBe('https://api.example/aauth/revoke');
    expect(make({ path: '/revoke' }).metadata.revocation_endpoint).toBe('https://api.example/revoke');
  });

  it('misuse throws a TypeError naming the option', () => {
    expect(() => make('yes')).toThrow('options.draft11.revocation must be true or an object');
    expect(() => make({ path: 'revoke' })).toThrow('options.draft11.revocation.path must be a path starting with /');
    expect(() => make({ path: '/revoke?x' })).toThrow('options.draft11.revocation.path');
    expect(() => make({ ratePerMinute: 0 })).toThrow('options.draft11.revocation.ratePerMinute must be a positive integer');
    expect(() => make({ issuers: 'some' })).toThrow("options.draft11.revocation.issuers must be 'any' or an array");
    expect(() => make({ store: { isRevoked: () => false } })).toThrow('options.draft11.revocation.store must have revoke(issuer, jti, until) and isRevoked(issuer, jti) methods');
    expect(() => make(true, { generations: ['keycloak'] })).toThrow("options.draft11.revocation needs -11: options.generations does not include 'draft-11'");
    expect(() => make(true, { revocation: { check: true } })).toThrow('options.revocation must have an isRevoked(issuer, jti) method');
  });
});

describe('who may revoke (RS-61)', () => {
  const ps = 'https://ps.example';
  const as = 'https://as.example';

  it('by default the person servers and auth issuers the resource accepts, each through its own document', () => {
    const r = resolveRevocationOptions(true, { personServers: [ps], authIssuers: [ps, as] }, now)!;
    expect(r.accepts(ps, 'aauth-person.json')).toBe(true);
    expect(r.accepts(as, 'aauth-access.json')).toBe(true);
    expect(r.accepts('https://other.example', 'aauth-person.json')).toBe(false);
    // An agent, or a resource, is no revoker; nor is a signer without dwk.
    expect(r.accepts(ps, 'aauth-agent.json')).toBe(false);
    expect(r.accepts(ps, 'aauth-resource.json')).toBe(false);
    expect(r.accepts(ps, undefined)).toBe(false);
  });

  it("personServers 'any' lets any person server revoke its own tokens; an access server must be an auth issuer", () => {
    const r = resolveRevocationOptions(true, { personServers: 'any', authIssuers: [] }, now)!;
    expect(r.accepts('https://anyone.example', 'aauth-person.json')).toBe(true);
    expect(r.accepts('https://anyone.example', 'aauth-access.json')).toBe(false);
  });

  it("an explicit list, or 'any'", () => {
    const list = resolveRevocationOptions({ issuers: [as] }, { personServers: 'any', authIssuers: [] }, now)!;
    expect(list.accepts(as, 'aauth-access.json')).toBe(true);
    expect(list.accepts(ps, 'aauth-person.json')).toBe(false);
    const any = resolveRevocationOptions({ issuers: 'any' }, { personServers: [], authIssuers: [] }, now)!;
    expect(any.accepts('https://x.example', 'aauth-access.json')).toBe(true);
    expect(any.accepts('https://x.example', 'aauth-agent.json')).toBe(false);
  });
});

describe('the revocation body (AAuth -11 "Revocation Request")', () => {
  const iss = 'https://ps.example';
  const body = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

  it('{jti, exp}; an iss naming the signer is tolerated (the profile body)', () => {
    expect(parseRevocationBody(body({ jti: 'a', exp: 100 }), 'application/json', iss)).toEqual({ jti: 'a', exp: 100 });
    expect(parseRevocationBody(body({ jti: 'a', exp: 100, iss }), 'application/json; charset=utf-8', iss)).toEqual({ jti: 'a', exp: 100 });
  });

  it.each([
    ['not json', 'application/json', 'The body must be a JSON object {"jti", "exp"}'],
    ['null', 'application/json', 'The body must be a JSON object {"jti", "exp"}'],
    [{ exp: 1 }, 'application/json', '"jti" must be a non-empty string of at most 256 characters'],
    [{ jti: 'x'.repeat(257), exp: 1 }, 'application/json', '"jti" must be a non-empty string of at most 256 characters'],
    [{ jti: 'a' }, 'application/json', '"exp" must be the revoked token\'s exp'],
    [{ jti: 'a', exp: 1.5 }, 'application/json', '"exp" must be the revoked token\'s exp'],
    [{ jti: 'a', exp: 1, iss: 'https://other.example' }, 'application/json', '"iss" names another issuer than the signer'],
    [{ jti: 'a', exp: 1 }, 'text/plain', 'Content-Type must be application/json'],
  ])('%j (%s): invalid_request', (value, type, message) => {
    let error: unknown;
    try {
      parseRevocationBody(body(value), type, iss);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AAuthError);
    expect((error as AAuthError).code).toBe('invalid_request');
    expect((error as AAuthError).status).toBe(400);
    expect((error as AAuthError).message).toContain(message);
  });
});

describe('the endpoint and the verifier, over loopback', () => {
  let ps: TestServer;
  const psKey = generateKey({ kid: 'ps-1' });
  const agentKey = generateKey({ kid: 'agent-1' });
  const closers: Array<() => Promise<void>> = [];

  /** A -11 person server's metadata and JWKS (the key with alg) at `srv`. */
  function publish(srv: TestServer, signing: SigningKey, dwk = 'aauth-person.json', issuer = srv.url): void {
    const { kid: _kid, ...jwk } = signing.toPublishedJwk() as unknown as Record<string, string>;
    srv.routes[`/.well-known/${dwk}`] = { body: { issuer, jwks_uri: `${srv.url}/jwks.json`, auth_token_endpoint: `${srv.url}/t`, person_token_endpoint: `${srv.url}/p` } };
    srv.routes['/jwks.json'] = { body: { keys: [{ ...jwk, kid: signing.kid, alg: algOf11(signing.jwk) }] } };
  }

  async function site(revocation: ResourceRevocationOptions | true, extra: Record<string, unknown> = {}) {
    const started = await startApp();
    closers.push(started.close);
    const resource = createResource({ identity: started.identity, key, generations: ['draft-11'], ...extra, draft11: { allowLoopback: true, personServers: [ps.url], revocation } });
    started.app.use(resource.revocationEndpoint());
    started.app.get('/me', resource.require({ level: 'person' }), (req, res) => res.json(req.aauth));
    return { ...started, resource };
  }

  const revoke = (url: string, body: unknown, signing = psKey, id = ps.url, dwk = 'aauth-person.json') =>
    send(
      signed({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }, signing, { scheme: 'jwks_uri', id, dwk, kid: signing.kid }, { signatureKeyForm: 'dictionary' }),
    );

  const personToken = (aud: string, jti: string) =>
    mintPersonToken(psKey, { issuer: ps.url, audience: aud, sub: 'person-1', agentKey: agentKey.jwk, jti, allowLoopback: true });

  const callMe = (url: string, jwt: string) => send(signed({ method: 'GET', url }, agentKey, { scheme: 'jwt', jwt }, { signatureKeyForm: 'dictionary' }));

  beforeAll(async () => {
    ps = await startServer();
    publish(ps, psKey);
    closers.push(ps.close);
  });

  afterAll(async () => {
    await Promise.all(closers.map((c) => c()));
  });

  it('a pushed revocation is keyed by (caller, jti): the person token is refused with revoked_jwt, another jti is not', async () => {
    const s = await site(true);
    const revoked = await personToken(s.identity, 'p-1');
    const other = await personToken(s.identity, 'p-2');
    expect((await callMe(`${s.identity}/me`, revoked)).status).toBe(200);
    const exp = Math.floor(now()) + 600;
    const answer = await revoke(`${s.identity}/aauth/revoke`, { jti: 'p-1', exp });
    expect([answer.status, answer.text, answer.headers['content-type']]).toEqual([200, '', undefined]);
    const refused = await callMe(`${s.identity}/me`, revoked);
    expect(refused.status).toBe(401);
    expect(refused.headers['signature-error']).toBe('error=revoked_jwt');
    expect((await callMe(`${s.identity}/me`, other)).status).toBe(200);
  });

  it('an auth token revoked: 401 revoked_jwt with requirement=person-token (RS-43)', async () => {
    const s = await site(true);
    const jwt = await mintAuthToken11(psKey, { issuer: ps.url, audience: s.identity, sub: 'person-1', agentKey: agentKey.jwk, scope: 'read', jti: 'a-1', allowLoopback: true });
    expect((await revoke(`${s.identity}/aauth/revoke`, { jti: 'a-1', exp: Math.floor(now()) + 600 })).status).toBe(200);
    const refused = await callMe(`${s.identity}/me`, jwt);
    expect(refused.status).toBe(401);
    expect(refused.headers['signature-error']).toBe('error=revoked_jwt');
    expect(refused.headers['aauth-requirement']).toBe('requirement=person-token');
  });

  it("a revocation whose exp has passed is answered 200 and kept nowhere; the app's own revocation check is consulted too", async () => {
    const store = createMemoryRevocationStore();
    const s = await site({ store }, { revocation: { isRevoked: (_iss: string, jti: string) => jti === 'app-revoked' } });
    expect((await revoke(`${s.identity}/aauth/revoke`, { jti: 'old', exp: Math.floor(now()) - 3600 })).status).toBe(200);
    expect(store.size).toBe(0);
    const refused = await callMe(`${s.identity}/me`, await personToken(s.identity, 'app-revoked'));
    expect(refused.headers['signature-error']).toBe('error=revoked_jwt');
  });

  it("the metadata's issuer must be the signer (issuer_mismatch), and its key must carry alg", async () => {
    const s = await site({ issuers: 'any' });
    const liar = await startServer();
    closers.push(liar.close);
    const liarKey = generateKey({ kid: 'liar-1' });
    publish(liar, liarKey, 'aauth-person.json', 'https://someone-else.example');
    const mismatch = await revoke(`${s.identity}/aauth/revoke`, { jti: 'x', exp: Math.floor(now()) + 60 }, liarKey, liar.url);
    expect(mismatch.status).toBe(401);
    expect(mismatch.headers['signature-error']).toBe('error=issuer_mismatch');
    const noAlg = await startServer();
    closers.push(noAlg.close);
    noAlg.routes['/.well-known/aauth-access.json'] = { body: { issuer: noAlg.url, jwks_uri: `${noAlg.url}/jwks.json` } };
    noAlg.routes['/jwks.json'] = { body: { keys: [liarKey.toPublishedJwk()] } };
    const missing = await revoke(`${s.identity}/aauth/revoke`, { jti: 'x', exp: Math.floor(now()) + 60 }, liarKey, noAlg.url, 'aauth-access.json');
    expect(missing.status).toBe(401);
    // Core's mapping of a key without alg (the same as for an agent's key under jwks_uri).
    expect(missing.headers['signature-error']).toBe('error=unsupported_algorithm');
  });

  it("a full store: 429 rate_limited with Retry-After; a failing store: 500 server_error (the caller's request was fine)", async () => {
    const full: RevocationStore = { isRevoked: () => false, revoke: async () => 'full' };
    const s = await site({ store: full });
    const a = await revoke(`${s.identity}/aauth/revoke`, { jti: 'x', exp: Math.floor(now()) + 60 });
    expect([a.status, a.json.error, a.headers['retry-after']]).toEqual([429, 'rate_limited', '60']);
    const broken: RevocationStore = {
      isRevoked: () => false,
      revoke: async () => {
        throw new Error('down');
      },
    };
    const t = await site({ store: broken });
    const b = await revoke(`${t.identity}/aauth/revoke`, { jti: 'x', exp: Math.floor(now()) + 60 });
    expect([b.status, b.json.error]).toEqual([500, 'server_error']);
  });

  it('a resource speaking both generations takes a person server signing under jwks_uri as -11', async () => {
    const s = await site(true, { generations: ['keycloak', 'draft-11'] });
    expect(s.resource.generations).toEqual(['keycloak', 'draft-11']);
    const jwt = await personToken(s.identity, 'both-1');
    expect((await revoke(`${s.identity}/aauth/revoke`, { jti: 'both-1', exp: Math.floor(now()) + 600 })).status).toBe(200);
    expect((await callMe(`${s.identity}/me`, jwt)).headers['signature-error']).toBe('error=revoked_jwt');
  });

  it('other paths pass through to the app', async () => {
    const s = await site(true);
    s.app.get('/other', (_q, res) => res.json({ ok: true }));
    const res = await send({ method: 'GET', url: `${s.identity}/other`, headers: {} });
    expect([res.status, res.json]).toEqual([200, { ok: true }]);
  });
});
