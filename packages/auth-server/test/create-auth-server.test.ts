import { computeThumbprint, generateKey, signRequest } from '@aauth-kit/core';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  decideOverHttp,
  decodeJwt,
  signedFetch,
  startAuthServer,
  startParty,
  testRealm,
  type Party,
  type TestAuthServer,
} from '../../../test/fixtures/auth-server.js';

const USER_ID = 'c0ffee00-0000-4000-8000-000000000001';
const SCA_SCOPE = 'supply-chain:optimize market-analysis:analyze';

let as: TestAuthServer;
let backend: Party;
let sca: Party;
let maa: Party;

beforeAll(async () => {
  [as, backend, sca, maa] = await Promise.all([startAuthServer(), startParty('backend'), startParty('sca'), startParty('maa')]);
});
afterAll(async () => {
  await Promise.all([as?.close(), backend?.close(), sca?.close(), maa?.close()]);
});

/** `agent` asks for a token to `resource` with `scope`, signed with its own key (jwks_uri). */
async function requestToken(agent: Party, resource: Party, scope: string, extra: Record<string, string> = {}, server = as) {
  const rt = await resource.resourceToken({ agent: agent.identity, agentJkt: agent.key.thumbprint, scope, audience: server.issuer });
  return signedFetch(server.tokenEndpoint, { key: agent.key, signatureKey: agent.signatureKey, json: { resource_token: rt, ...extra } });
}

async function poll(location: string, agent: Party) {
  return signedFetch(location, { key: agent.key, signatureKey: agent.signatureKey });
}

/** Backend -> SCA with consent by mcp-user: the demo's first hop. */
async function userTokenForSca(scope = SCA_SCOPE): Promise<string> {
  const pending = await requestToken(backend, sca, scope);
  expect(pending.status).toBe(202);
  const decided = await decideOverHttp(as.interactionEndpoint, String(pending.body.code), 'approve');
  expect(decided.status).toBe(200);
  const done = await poll(String(pending.body.location), backend);
  expect(done.status).toBe(200);
  return String(done.body.auth_token);
}

async function verifyWithRealmJwks(jwt: string) {
  const jwks = (await (await fetch(`${as.issuer}/protocol/aauth/certs`)).json()) as { keys: object[] };
  return jwtVerify(jwt, createLocalJWKSet(jwks as never), { issuer: as.issuer, typ: 'auth+jwt' });
}

describe('metadata and keys', () => {
  it('serves issuer metadata with and without .json', async () => {
    for (const path of ['/.well-known/aauth-issuer.json', '/.well-known/aauth-issuer']) {
      const res = await fetch(`${as.issuer}${path}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        issuer: as.issuer,
        token_endpoint: `${as.issuer}/protocol/aauth/token`,
        interaction_endpoint: `${as.issuer}/protocol/aauth/interact`,
        jwks_uri: `${as.issuer}/protocol/aauth/certs`,
      });
    }
    expect(as.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/realms\/aauth-test$/);
  });

  it('serves the same RS256 JWKS at the aauth and openid-connect certs paths', async () => {
    const a = await (await fetch(`${as.issuer}/protocol/aauth/certs`)).json();
    const b = await (await fetch(`${as.issuer}/protocol/openid-connect/certs`)).json();
    expect(a).toEqual(b);
    expect(a).toEqual(as.server.jwks());
    const key = (a as { keys: Array<Record<string, string>> }).keys[0]!;
    expect(key).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(key.kid).toBe(computeThumbprint(key));
    expect(key.d).toBeUndefined();
  });

  it('warns that the key is ephemeral and the pending store in-memory', () => {
    expect(as.warnings.some((w) => /ephemeral/.test(w))).toBe(true);
    expect(as.warnings.some((w) => /pending consent requests are kept in memory/.test(w))).toBe(true);
  });
});

describe('auth: resource_token alone', () => {
  it('issues an auth token with exactly the section 7 claims, RS256 with kid', async () => {
    const res = await requestToken(backend, sca, 'market-analysis:analyze');
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['auth_token', 'expires_in']);
    expect(res.body.expires_in).toBe(300);
    expect(res.headers.get('cache-control')).toBe('no-store');
    // Sent as JSON straight to node's response: the type, the exact length, no ETag for an answer never revalidated.
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(JSON.stringify(res.body)));
    expect(res.headers.get('etag')).toBeNull();
    const jwt = String(res.body.auth_token);
    const { payload, protectedHeader } = await verifyWithRealmJwks(jwt);
    expect(protectedHeader).toEqual({ alg: 'RS256', typ: 'auth+jwt', kid: as.server.jwks().keys[0]!['kid' as never] });
    expect(payload).toEqual({
      iss: as.issuer,
      aud: sca.identity,
      agent: backend.identity,
      scope: 'market-analysis:analyze',
      cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: backend.key.jwk.x } },
      iat: expect.any(Number),
      exp: (payload.iat as number) + 300,
      jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      // The start of the grant, which bounds its refreshes (issue 13, finding 6).
      auth_time: payload.iat,
    });
    expect(computeThumbprint((payload.cnf as { jwk: object }).jwk)).toBe(backend.key.thumbprint);
  });

  it('accepts a form-encoded body too', async () => {
    const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'data:read', audience: as.issuer });
    const res = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, form: { resource_token: rt } });
    expect(res.status).toBe(200);
    expect(decodeJwt(String(res.body.auth_token)).claims.scope).toBe('data:read');
  });

  it('serves a pseudonymous (hwk) agent with agent pseudonymous:<thumbprint>', async () => {
    const key = generateKey();
    const agent = `pseudonymous:${key.thumbprint}`;
    const rt = await sca.resourceToken({ agent, agentJkt: key.thumbprint, scope: 'data:read', audience: as.issuer });
    const res = await signedFetch(as.tokenEndpoint, { key, json: { resource_token: rt } });
    expect(res.status).toBe(200);
    expect(decodeJwt(String(res.body.auth_token)).claims).toMatchObject({ agent, aud: sca.identity });
  });
});

describe('consent: 202 -> interaction -> poll', () => {
  it('answers 202 with the exact headers and body, then delivers the token once after approval', async () => {
    const res = await requestToken(backend, sca, SCA_SCOPE);
    expect(res.status).toBe(202);
    const code = String(res.body.code);
    expect(code).toMatch(/^[A-Z2-9]{8}$/);
    const location = res.headers.get('location')!;
    expect(location).toMatch(new RegExp(`^${as.issuer.replace(/\./g, '\\.')}/protocol/aauth/pending/[A-Za-z0-9_-]{43}$`));
    expect(res.headers.get('retry-after')).toBe('0');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('aauth')).toBe(`require=interaction; code="${code}"`);
    expect(res.body).toEqual({ status: 'pending', location, require: 'interaction', code });

    const waiting = await poll(location, backend);
    expect(waiting.status).toBe(202);
    expect(waiting.body).toEqual({ status: 'pending', location, require: 'interaction', code });

    // A callback on the agent's own origin (issue 13: callbacks are bound to the agent).
    const decided = await decideOverHttp(as.interactionEndpoint, code, 'approve', { callback: `${backend.identity}/done?x=1` });
    expect(decided.status).toBe(303);
    expect(decided.headers.get('location')).toBe(`${backend.identity}/done?x=1`);

    const done = await poll(location, backend);
    expect(done.status).toBe(200);
    const { payload } = await verifyWithRealmJwks(String(done.body.auth_token));
    expect(payload).toEqual({
      iss: as.issuer,
      aud: sca.identity,
      agent: backend.identity,
      sub: USER_ID,
      scope: SCA_SCOPE,
      cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: backend.key.jwk.x } },
      iat: expect.any(Number),
      exp: (payload.iat as number) + 300,
      jti: expect.any(String),
      // The consent starts the grant.
      auth_time: payload.iat,
    });

    const again = await poll(location, backend);
    expect(again.status).toBe(404);
    expect(again.body).toEqual({ error: 'not_found', error_description: 'No such pending request' });
  });

  it('a denial polls as 403 access_denied, once', async () => {
    const res = await requestToken(backend, sca, 'supply-chain:optimize');
    expect(res.status).toBe(202);
    const decided = await decideOverHttp(as.interactionEndpoint, String(res.body.code), 'deny');
    expect(decided.status).toBe(200);
    expect(await decided.text()).toContain('You denied the request');
    const denied = await poll(String(res.body.location), backend);
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({ error: 'access_denied', error_description: 'The user denied the request' });
    expect((await poll(String(res.body.location), backend)).status).toBe(404);
  });

  it('consent-required prefixes trigger consent as well', async () => {
    const res = await requestToken(backend, sca, 'user.profile');
    expect(res.status).toBe(202);
  });

  it('a poll signed by another key is 403 access_denied and does not consume the request', async () => {
    const res = await requestToken(backend, sca, 'supply-chain:optimize');
    const location = String(res.body.location);
    const other = await signedFetch(location, { key: generateKey() });
    expect(other.status).toBe(403);
    expect(other.body).toEqual({ error: 'access_denied', error_description: 'The pending request was made with another key' });
    const sameIdentityOtherKey = await signedFetch(location, { key: sca.key, signatureKey: sca.signatureKey });
    expect(sameIdentityOtherKey.status).toBe(403);
    expect((await poll(location, backend)).status).toBe(202);
  });

  it('an unknown pending id is 404 not_found and an unsigned poll 401 invalid_request', async () => {
    const before = as.audit.length;
    const unknown = await poll(`${as.issuer}/protocol/aauth/pending/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`, backend);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toBe('not_found');
    // The audit event carries the kit's code, not only the wire error several codes share.
    expect(as.audit.slice(before)).toEqual([
      expect.objectContaining({ type: 'request.refused', endpoint: 'pending', code: 'pending_not_found', status: 404, error: 'not_found' }),
    ]);
    const unsigned = await fetch(`${as.issuer}/protocol/aauth/pending/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`);
    expect(unsigned.status).toBe(401);
    expect(((await unsigned.json()) as { error: string }).error).toBe('invalid_request');
  });
});

describe('exchange: resource_token + upstream_token', () => {
  it('issues aud, agent, sub, scope, cnf.jwk and act exactly as specified', async () => {
    const upstream = await userTokenForSca();
    const res = await requestToken(sca, maa, 'market-analysis:analyze', { upstream_token: upstream });
    expect(res.status).toBe(200);
    const { payload, protectedHeader } = await verifyWithRealmJwks(String(res.body.auth_token));
    expect(protectedHeader.typ).toBe('auth+jwt');
    expect(payload).toEqual({
      iss: as.issuer,
      aud: maa.identity,
      agent: sca.identity,
      sub: USER_ID,
      scope: 'market-analysis:analyze',
      cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: sca.key.jwk.x } },
      iat: expect.any(Number),
      exp: (payload.iat as number) + 300,
      jti: expect.any(String),
      act: { agent: backend.identity, sub: USER_ID },
      // The exchange continues the user's grant.
      auth_time: decodeJwt(upstream).claims.auth_time,
    });
    const exchanged = as.audit.filter((e) => e.type === 'token.exchanged').at(-1)!;
    expect(exchanged).toMatchObject({ agent: sca.identity, sub: USER_ID, resource: maa.identity, scope: 'market-analysis:analyze' });
  });

  it('nests act on a second hop', async () => {
    const d = await startParty('d');
    try {
      const upstream = await userTokenForSca();
      const second = await requestToken(sca, maa, 'market-analysis:analyze', { upstream_token: upstream });
      const third = await requestToken(maa, d, 'market-analysis:analyze', { upstream_token: String(second.body.auth_token) });
      expect(third.status).toBe(200);
      expect(decodeJwt(String(third.body.auth_token)).claims).toMatchObject({
        aud: d.identity,
        agent: maa.identity,
        sub: USER_ID,
        act: { agent: sca.identity, sub: USER_ID, act: { agent: backend.identity, sub: USER_ID } },
      });
    } finally {
      await d.close();
    }
  });

  it('refuses scope expansion with 400 invalid_grant', async () => {
    const upstream = await userTokenForSca('supply-chain:optimize');
    const res = await requestToken(sca, maa, 'market-analysis:analyze', { upstream_token: upstream });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: 'invalid_grant',
      error_description:
        "Scope expansion refused: market-analysis:analyze is not in the upstream token's scope (supply-chain:optimize); " +
        `an exchange only narrows, so the route of ${sca.identity} that was called with the upstream token must also require market-analysis:analyze`,
    });
  });

  it('refuses an upstream token issued for another audience with 400 invalid_grant', async () => {
    const upstream = await userTokenForSca();
    // maa presents a token whose aud is sca.
    const res = await requestToken(maa, sca, 'market-analysis:analyze', { upstream_token: upstream });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    expect(res.body.error_description).toBe(`upstream_token refused: it was issued for another audience, not the signer ${maa.identity}`);
  });
});

describe('refresh: auth_token alone', () => {
  it('re-issues an expired token with the same key, keeping aud, sub, scope and act', async () => {
    let offset = 0;
    const now = () => Date.now() / 1000 + offset;
    const server = await startAuthServer({ now });
    try {
      const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'data:read', audience: server.issuer });
      const first = await signedFetch(server.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
      expect(first.status).toBe(200);
      const old = decodeJwt(String(first.body.auth_token)).claims;
      offset = 600; // expired 300 s ago, inside the 1800 s refresh window
      const refreshed = await signedFetch(server.tokenEndpoint, {
        key: backend.key,
        signatureKey: backend.signatureKey,
        json: { auth_token: first.body.auth_token },
        now,
      });
      expect(refreshed.status).toBe(200);
      const claims = decodeJwt(String(refreshed.body.auth_token)).claims;
      expect(claims).toEqual({ ...old, iat: expect.any(Number), exp: expect.any(Number), jti: expect.any(String) });
      expect(claims.iat).toBeGreaterThanOrEqual((old.iat as number) + 600);
      expect(claims.jti).not.toBe(old.jti);
      expect(server.audit.filter((e) => e.type === 'token.refreshed')).toHaveLength(1);

      offset = 600 + 300 + 1801;
      const tooOld = await signedFetch(server.tokenEndpoint, {
        key: backend.key,
        signatureKey: backend.signatureKey,
        json: { auth_token: refreshed.body.auth_token },
        now,
      });
      expect(tooOld.status).toBe(400);
      expect(tooOld.body).toEqual({ error: 'invalid_grant', error_description: 'auth_token refused: it expired more than 1800 s ago (aauth.refresh.lifespan)' });
    } finally {
      await server.close();
    }
  });

  it('keeps sub and act when refreshing an exchanged token', async () => {
    const upstream = await userTokenForSca();
    const exchanged = await requestToken(sca, maa, 'market-analysis:analyze', { upstream_token: upstream });
    const refreshed = await signedFetch(as.tokenEndpoint, { key: sca.key, signatureKey: sca.signatureKey, json: { auth_token: exchanged.body.auth_token } });
    expect(refreshed.status).toBe(200);
    expect(decodeJwt(String(refreshed.body.auth_token)).claims).toMatchObject({
      aud: maa.identity,
      agent: sca.identity,
      sub: USER_ID,
      act: { agent: backend.identity, sub: USER_ID },
    });
  });

  it('refuses a refresh signed by another key with 400 invalid_grant', async () => {
    const first = await requestToken(backend, sca, 'data:read');
    const res = await signedFetch(as.tokenEndpoint, { key: generateKey(), json: { auth_token: first.body.auth_token } });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_grant', error_description: 'auth_token refused: it is bound to another key (cnf.jwk)' });
  });

  it('refuses to refresh a token of another issuer', async () => {
    const other = await startAuthServer({ realm: testRealm({}, { realm: 'other' }) });
    try {
      const first = await requestToken(backend, sca, 'data:read', {}, other);
      const res = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { auth_token: first.body.auth_token } });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_grant', error_description: 'auth_token refused: it was not issued by this server' });
    } finally {
      await other.close();
    }
  });
});

describe('trusted issuers', () => {
  it('exchanges a token from a trusted issuer (its keys fetched over HTTP) and refuses an untrusted one', async () => {
    const upstreamServer = await startAuthServer({ realm: testRealm({}, { realm: 'upstream' }) });
    const trusting = await startAuthServer({ realm: testRealm({ 'aauth.trusted.issuers': JSON.stringify([upstreamServer.issuer]) }, { realm: 'trusting' }) });
    try {
      const upstream = await requestToken(backend, sca, 'data:read', {}, upstreamServer);
      expect(upstream.status).toBe(200);
      const ok = await requestToken(sca, maa, 'data:read', { upstream_token: String(upstream.body.auth_token) }, trusting);
      expect(ok.status).toBe(200);
      expect(decodeJwt(String(ok.body.auth_token)).claims).toMatchObject({ iss: trusting.issuer, aud: maa.identity, act: { agent: backend.identity } });

      const refused = await requestToken(sca, maa, 'data:read', { upstream_token: String(upstream.body.auth_token) });
      expect(refused.status).toBe(400);
      expect(refused.body).toEqual({
        error: 'invalid_grant',
        error_description: `upstream_token refused: issuer ${JSON.stringify(upstreamServer.issuer)} is not trusted (aauth.trusted.issuers)`,
      });
    } finally {
      await Promise.all([upstreamServer.close(), trusting.close()]);
    }
  });
});

describe('exchange that needs consent', () => {
  it('an upstream token without a user, for a consent scope, goes through 202 and gets the user as sub', async () => {
    // The upstream realm needs no consent, so its token has no sub; the trusting realm wants consent for the scope.
    const upstreamServer = await startAuthServer({ realm: testRealm({ 'aauth.consent.required.scopes': '[]', 'aauth.consent.required.scope.prefixes': '[]' }, { realm: 'upstream' }) });
    const trusting = await startAuthServer({ realm: testRealm({ 'aauth.trusted.issuers': JSON.stringify([upstreamServer.issuer]) }, { realm: 'trusting' }) });
    try {
      const upstream = await requestToken(backend, sca, 'supply-chain:optimize', {}, upstreamServer);
      expect(upstream.status).toBe(200);
      expect(decodeJwt(String(upstream.body.auth_token)).claims.sub).toBeUndefined();
      const pending = await requestToken(sca, maa, 'supply-chain:optimize', { upstream_token: String(upstream.body.auth_token) }, trusting);
      expect(pending.status).toBe(202);
      const page = await (await fetch(`${trusting.interactionEndpoint}?code=${String(pending.body.code)}`)).text();
      expect(page).toContain(`<ol id="act"><li>${backend.identity}</li></ol>`);
      expect((await decideOverHttp(trusting.interactionEndpoint, String(pending.body.code), 'approve')).status).toBe(200);
      const done = await poll(String(pending.body.location), sca);
      expect(done.status).toBe(200);
      expect(decodeJwt(String(done.body.auth_token)).claims).toMatchObject({
        iss: trusting.issuer,
        aud: maa.identity,
        agent: sca.identity,
        sub: USER_ID,
        act: { agent: backend.identity },
      });
      expect(trusting.audit.map((e) => e.type)).toEqual(['consent.required', 'consent.granted', 'token.exchanged']);
    } finally {
      await Promise.all([upstreamServer.close(), trusting.close()]);
    }
  });
});

describe('refusals, each with its exact status and error', () => {
  it('blocked agent: 403 access_denied', async () => {
    const server = await startAuthServer({ realm: testRealm({ 'aauth.blocked.agents': JSON.stringify([backend.identity]) }) });
    try {
      const res = await requestToken(backend, sca, 'data:read', {}, server);
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ error: 'access_denied', error_description: `Agent ${backend.identity} is blocked by realm policy (aauth.blocked.agents)` });
      const refused = server.audit.find((e) => e.type === 'request.refused')!;
      expect(refused).toMatchObject({ agent: backend.identity, status: 403, error: 'access_denied', resource: sca.identity });
    } finally {
      await server.close();
    }
  });

  it('agent missing from a non-empty allow-list: 403 access_denied', async () => {
    const server = await startAuthServer({ realm: testRealm({ 'aauth.allowed.agents': JSON.stringify([sca.identity]) }) });
    try {
      expect((await requestToken(sca, maa, 'data:read', {}, server)).status).toBe(200);
      const res = await requestToken(backend, sca, 'data:read', {}, server);
      expect(res.status).toBe(403);
      expect(res.body.error).toBe('access_denied');
    } finally {
      await server.close();
    }
  });

  it('scope not allowed: 400 invalid_scope', async () => {
    const server = await startAuthServer({ realm: testRealm({ 'aauth.allowed.scopes': '["data:read"]' }) });
    try {
      expect((await requestToken(backend, sca, 'data:read', {}, server)).status).toBe(200);
      const res = await requestToken(backend, sca, 'data:read data:write', {}, server);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_scope', error_description: 'Scope data:write is not allowed by realm policy (aauth.allowed.scopes)' });
    } finally {
      await server.close();
    }
  });

  it('forged resource token (signed by a key the resource does not publish): 400 invalid_grant', async () => {
    const forger = generateKey({ kid: sca.key.kid });
    const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'data:read', audience: as.issuer, key: forger });
    const res = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    // The key is named (a resource restarted with a new key under the same kid is seen within a minute).
    expect(res.body.error_description).toMatch(
      /^resource_token refused: Resource token: the signature does not verify with the key kid "[^"]+" of http:\/\/127\.0\.0\.1:\d+ \(its JWKS is refetched on a failing signature at most once a minute/,
    );
  });

  it('resource token with a tampered payload: 400 invalid_grant', async () => {
    const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'data:read', audience: as.issuer });
    const [h, c, s] = rt.split('.');
    const claims = JSON.parse(Buffer.from(c!, 'base64url').toString());
    claims.scope = 'admin';
    const tampered = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    const res = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: tampered } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('expired resource token: 400 invalid_grant', async () => {
    const rt = await sca.resourceToken({
      agent: backend.identity,
      agentJkt: backend.key.thumbprint,
      scope: 'data:read',
      audience: as.issuer,
      lifetime: 60,
      now: () => Date.now() / 1000 - 120,
    });
    const res = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    expect(res.body.error_description).toMatch(/^resource_token refused: Resource token: expired \d+ s ago$/);
  });

  it('resource token for another auth server: 400 invalid_grant', async () => {
    const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'data:read', audience: 'http://localhost:1/realms/x' });
    const res = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    expect(res.body.error_description).toContain('aud');
  });

  it('agent_jkt mismatch: 400 invalid_grant', async () => {
    const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: generateKey().thumbprint, scope: 'data:read', audience: as.issuer });
    const res = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_grant', error_description: "resource_token refused: Resource token: agent_jkt is not the signer's key thumbprint" });
  });

  it('resource token issued to another agent: 400 invalid_grant', async () => {
    const rt = await sca.resourceToken({ agent: maa.identity, agentJkt: backend.key.thumbprint, scope: 'data:read', audience: as.issuer });
    const res = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('delegation deeper than aauth.exchange.max.depth: 400 invalid_grant', async () => {
    const server = await startAuthServer({ realm: testRealm({ 'aauth.exchange.max.depth': '1' }) });
    const d = await startParty('d');
    try {
      const first = await requestToken(backend, sca, 'data:read', {}, server);
      const second = await requestToken(sca, maa, 'data:read', { upstream_token: String(first.body.auth_token) }, server);
      expect(second.status).toBe(200);
      const third = await requestToken(maa, d, 'data:read', { upstream_token: String(second.body.auth_token) }, server);
      expect(third.status).toBe(400);
      expect(third.body).toEqual({
        error: 'invalid_grant',
        error_description: 'Delegation chain too deep: 2 act levels, the limit is 1 (aauth.exchange.max.depth)',
      });
    } finally {
      await Promise.all([server.close(), d.close()]);
    }
  });

  it('exchange disabled: 403 access_denied', async () => {
    const server = await startAuthServer({ realm: testRealm({ 'aauth.exchange.enabled': 'false' }) });
    try {
      const first = await requestToken(backend, sca, 'data:read', {}, server);
      const res = await requestToken(sca, maa, 'data:read', { upstream_token: String(first.body.auth_token) }, server);
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ error: 'access_denied', error_description: 'Token exchange is disabled in this realm (aauth.exchange.enabled)' });
    } finally {
      await server.close();
    }
  });

  it('AAuth disabled in the realm: 403 access_denied', async () => {
    const server = await startAuthServer({ realm: testRealm({ 'aauth.enabled': 'false' }) });
    try {
      const res = await requestToken(backend, sca, 'data:read', {}, server);
      expect(res.status).toBe(403);
      expect(res.body.error).toBe('access_denied');
    } finally {
      await server.close();
    }
  });

  it('an expired upstream token: 400 invalid_grant', async () => {
    let offset = 0;
    const now = () => Date.now() / 1000 + offset;
    const server = await startAuthServer({ now });
    try {
      const first = await requestToken(backend, sca, 'data:read', {}, server);
      offset = 400;
      const rt = await maa.resourceToken({ agent: sca.identity, agentJkt: sca.key.thumbprint, scope: 'data:read', audience: server.issuer, now });
      const res = await signedFetch(server.tokenEndpoint, {
        key: sca.key,
        signatureKey: sca.signatureKey,
        json: { resource_token: rt, upstream_token: first.body.auth_token },
        now,
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_grant');
      expect(res.body.error_description).toMatch(/^upstream_token refused: Auth token: expired/);
    } finally {
      await server.close();
    }
  });

  it('a resource token presented as upstream token: 400 invalid_grant', async () => {
    const rt = await maa.resourceToken({ agent: sca.identity, agentJkt: sca.key.thumbprint, scope: 'data:read', audience: as.issuer });
    const res = await requestToken(sca, maa, 'data:read', { upstream_token: rt });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('a pending request past its 600 s life polls as 408 expired', async () => {
    let offset = 0;
    const now = () => Date.now() / 1000 + offset;
    const server = await startAuthServer({ now });
    try {
      const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'supply-chain:optimize', audience: server.issuer });
      const pending = await signedFetch(server.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
      expect(pending.status).toBe(202);
      offset = 601;
      const res = await signedFetch(String(pending.body.location), { key: backend.key, signatureKey: backend.signatureKey, now });
      expect(res.status).toBe(408);
      expect(res.body).toEqual({ error: 'expired', error_description: 'The pending request has expired' });
      const page = await fetch(`${server.interactionEndpoint}?code=${String(pending.body.code)}`);
      expect(page.status).toBe(410);
    } finally {
      await server.close();
    }
  });
});

describe('request handling', () => {
  it('an unsigned token request is 401 invalid_request', async () => {
    const res = await fetch(as.tokenEndpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: 'The request must be signed with HTTP Message Signatures (wire profile section 8)' });
  });

  it('a bad signature is 401 invalid_signature', async () => {
    const body = JSON.stringify({ resource_token: 'x.y.z' });
    const headers = { 'content-type': 'application/json' };
    const signed = signRequest({ method: 'POST', url: as.tokenEndpoint, headers, body }, { key: backend.key });
    const res = await fetch(as.tokenEndpoint, { method: 'POST', headers: { ...headers, ...signed.headers }, body: body.replace('x', 'w') });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_signature');
  });

  it('a signature made for another authority (Host header spoofed) is 401 invalid_signature', async () => {
    const body = JSON.stringify({ resource_token: 'x.y.z' });
    const headers = { 'content-type': 'application/json' };
    const elsewhere = as.tokenEndpoint.replace('127.0.0.1', 'localhost');
    const signed = signRequest({ method: 'POST', url: elsewhere, headers, body }, { key: backend.key });
    const res = await fetch(as.tokenEndpoint, { method: 'POST', headers: { ...headers, ...signed.headers }, body });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_signature');
  });

  it('a body not covered by content-type is 401 invalid_signature', async () => {
    const body = JSON.stringify({ resource_token: 'x.y.z' });
    const headers = { 'content-type': 'application/json' };
    const signed = signRequest(
      { method: 'POST', url: as.tokenEndpoint, headers, body },
      { key: backend.key, components: ['@method', '@authority', '@path', 'content-digest', 'signature-key'] },
    );
    const res = await fetch(as.tokenEndpoint, { method: 'POST', headers: { ...headers, ...signed.headers }, body });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'invalid_signature', error_description: 'The signature must cover "content-type"' });
  });

  it('a replayed request is 401 invalid_signature', async () => {
    const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'data:read', audience: as.issuer });
    const body = JSON.stringify({ resource_token: rt });
    const headers = { 'content-type': 'application/json' };
    const signed = signRequest({ method: 'POST', url: as.tokenEndpoint, headers, body }, { key: backend.key, signatureKey: backend.signatureKey });
    const send = () => fetch(as.tokenEndpoint, { method: 'POST', headers: { ...headers, ...signed.headers }, body });
    expect((await send()).status).toBe(200);
    const second = await send();
    expect(second.status).toBe(401);
    expect(await second.json()).toMatchObject({ error: 'invalid_signature', error_description: 'The signature was already used' });
  });

  it('the jwt scheme is refused at the token endpoint with 401 unsupported_scheme', async () => {
    const token = await requestToken(backend, sca, 'data:read');
    const res = await signedFetch(as.tokenEndpoint, {
      key: backend.key,
      signatureKey: { scheme: 'jwt', jwt: String(token.body.auth_token) },
      json: { resource_token: 'a.b.c' },
    });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('unsupported_scheme');
    expect(res.headers.get('accept-signature-scheme')).toBe('hwk, jwks_uri');
  });

  it.each([
    ['malformed JSON', { body: '{"resource_token":', contentType: 'application/json' }, 'The body is not valid JSON'],
    ['a JSON array', { body: '[]', contentType: 'application/json' }, 'The body must be a JSON object'],
    ['an unknown content type', { body: 'resource_token=x', contentType: 'text/plain' }, 'Content-Type must be application/json or application/x-www-form-urlencoded'],
    ['no token at all', { json: { scope: 'x' } }, 'The request needs resource_token (or auth_token to refresh)'],
    ['a non-string token', { json: { resource_token: 42 } }, 'resource_token must be a non-empty string of at most 16384 characters, given once'],
    ['a repeated form field', { form: undefined, body: 'resource_token=a&resource_token=b', contentType: 'application/x-www-form-urlencoded' }, 'resource_token must be a non-empty string of at most 16384 characters, given once'],
    ['auth_token with resource_token', { json: { auth_token: 'a.b.c', resource_token: 'a.b.c' } }, 'A refresh request carries auth_token alone, without resource_token or upstream_token'],
  ])('%s is 400 invalid_request', async (_name, input, description) => {
    const res = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, ...(input as object) });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_request', error_description: description });
  });

  it('a garbage resource token is 400 invalid_grant', async () => {
    const res = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: 'not-a-jwt' } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });

  it('an oversized body is 413 and the server keeps answering', async () => {
    const res = await fetch(as.tokenEndpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(70 * 1024) });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: 'The request body is larger than 65536 bytes' });
    expect((await requestToken(backend, sca, 'data:read')).status).toBe(200);
  });
});

describe('audit', () => {
  it('records every decision with who, for whom, resource, scope and time, and never a token', async () => {
    const server = await startAuthServer();
    try {
      const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'supply-chain:optimize', audience: server.issuer });
      const pending = await signedFetch(server.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
      await decideOverHttp(server.interactionEndpoint, String(pending.body.code), 'approve', { password: 'wrong' }).catch(() => undefined);
      await decideOverHttp(server.interactionEndpoint, String(pending.body.code), 'approve');
      const done = await signedFetch(String(pending.body.location), { key: backend.key, signatureKey: backend.signatureKey });
      expect(done.status).toBe(200);
      await requestToken(backend, sca, 'data:read', { upstream_token: 'a.b.c' }, server);

      const types = server.audit.map((e) => e.type);
      expect(types).toEqual(['consent.required', 'login.failed', 'consent.granted', 'token.issued', 'request.refused']);
      expect(server.audit[1]).toMatchObject({ code: 'login_failed', status: 401, error: 'access_denied', reason: 'Invalid user name or password' });
      const granted = server.audit[2]!;
      expect(granted).toMatchObject({ agent: backend.identity, sub: USER_ID, username: 'mcp-user', resource: sca.identity, scope: 'supply-chain:optimize', endpoint: 'interact' });
      const issued = server.audit[3]!;
      expect(issued).toMatchObject({ agent: backend.identity, thumbprint: backend.key.thumbprint, sub: USER_ID, resource: sca.identity, endpoint: 'pending' });
      expect(issued.jti).toBe(decodeJwt(String(done.body.auth_token)).claims.jti);
      for (const e of server.audit) expect(typeof e.time).toBe('number');
      const text = JSON.stringify(server.audit);
      expect(text).not.toContain(String(done.body.auth_token));
      expect(text).not.toContain(rt);
      expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/);
      expect(text).not.toContain(String(pending.body.location));
    } finally {
      await server.close();
    }
  });

  it('a throwing onAudit listener does not break the request', async () => {
    const warnings: string[] = [];
    const server = await startAuthServer({
      onAudit: () => {
        throw new Error('listener down');
      },
      onWarning: (w) => warnings.push(w),
    });
    try {
      expect((await requestToken(backend, sca, 'data:read', {}, server)).status).toBe(200);
      expect(warnings).toContain('onAudit threw: listener down');
    } finally {
      await server.close();
    }
  });

  it('an async onAudit listener that rejects (its database is down) neither breaks the request nor ends the process', async () => {
    const warnings: string[] = [];
    const server = await startAuthServer({
      onAudit: async () => {
        throw new Error('audit database down');
      },
      onWarning: (w) => warnings.push(w),
    });
    try {
      // An unsigned request: anyone can make the server emit a refusal event.
      const refused = await fetch(`${server.issuer}/protocol/aauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(refused.status).toBe(401);
      expect((await requestToken(backend, sca, 'data:read', {}, server)).status).toBe(200);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w === 'onAudit rejected: audit database down')).toHaveLength(2);
    } finally {
      await server.close();
    }
  });

  it('an onWarning that throws or rejects (the logger down) changes no answer and ends no process: it is reported on console.warn beside its warning', async () => {
    const reported: string[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const consoleWarn = vi.spyOn(console, 'warn').mockImplementation((m: unknown) => void reported.push(String(m)));
    let calls = 0;
    try {
      // At construction (the in-memory pending store is warned about): createAuthServer still returns.
      const server = await startAuthServer({
        onAudit: async () => {
          throw new Error('audit database down');
        },
        onWarning: () => {
          calls++;
          if (calls % 2 === 0) return Promise.reject(new Error('log shipper rejected'));
          throw new Error('logger down');
        },
      });
      try {
        // Each audit event's rejection is warned about from a promise callback.
        const refused = await fetch(`${server.issuer}/protocol/aauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        expect(refused.status).toBe(401);
        expect((await requestToken(backend, sca, 'data:read', {}, server)).status).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 20));
      } finally {
        await server.close();
      }
    } finally {
      consoleWarn.mockRestore();
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(reported).toContain('[aauth-auth-server] onWarning rejected (log shipper rejected) on the warning: pending consent requests are kept in memory: a fleet of auth servers needs a shared options.pendingStore');
    expect(reported).toContain('[aauth-auth-server] onWarning threw (logger down) on the warning: onAudit rejected: audit database down');
    expect(reported).toContain('[aauth-auth-server] onWarning rejected (log shipper rejected) on the warning: onAudit rejected: audit database down');
  });
});
