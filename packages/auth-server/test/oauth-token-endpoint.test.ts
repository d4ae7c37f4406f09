import { generateKey, signJwt } from '@aauth-kit/core';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, freePort, signedFetch, startAuthServer, startParty, testRealm, type Party, type TestAuthServer } from '../../../test/fixtures/auth-server.js';
import { ACCESS_TOKEN, basic, exchangeRealm, tokenPost, TOKEN_EXCHANGE, USER_ID, userToken } from '../../../test/fixtures/oauth.js';

/**
 * The OAuth token endpoint of the embedded server (issue 8): RFC 8693 token exchange and client
 * credentials for the realm file's clients, errors exactly as RFC 6749 section 5.2 and RFC 8693
 * section 2.2.2 say, one audit event per decision.
 */
let offset = 0;
let as: TestAuthServer;
let backend: Party;
let sca: Party;
let maa: Party;
let user: string;

const SCOPE = 'supply-chain:optimize crm:read crm:write';

async function verifyIssued(token: string): Promise<{ header: Record<string, unknown>; claims: JWTPayload & Record<string, unknown> }> {
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(as.server.jwks() as never), {
    issuer: as.issuer,
    typ: 'at+jwt',
    currentDate: new Date((Date.now() / 1000 + offset) * 1000),
  });
  return { header: protectedHeader as Record<string, unknown>, claims: payload as JWTPayload & Record<string, unknown> };
}

function exchangeParams(subject: string, extra: Record<string, string | string[] | undefined> = {}) {
  return { grant_type: TOKEN_EXCHANGE, subject_token: subject, subject_token_type: ACCESS_TOKEN, ...extra };
}

beforeAll(async () => {
  [backend, sca, maa] = await Promise.all([startParty('backend'), startParty('sca'), startParty('maa')]);
  as = await startAuthServer({
    realm: exchangeRealm({
      scaIdentity: sca.identity,
      maaIdentity: maa.identity,
      crmRootUrl: 'https://crm.example.com',
      extraClients: [
        { clientId: 'public-app', publicClient: true, attributes: { 'standard.token.exchange.enabled': 'true' } },
        { clientId: 'off', enabled: false, secret: 'off-secret', attributes: { 'standard.token.exchange.enabled': 'true' } },
        {
          clientId: 'svc agent:1',
          secret: 'p@ss word+/=:ä',
          serviceAccountsEnabled: true,
          defaultClientScopes: ['crm:read'],
        },
      ],
    }),
    now: () => Date.now() / 1000 + offset,
  });
  user = await userToken(as, backend, sca, SCOPE);
});

afterAll(async () => {
  await Promise.all([as?.close(), backend?.close(), sca?.close(), maa?.close()]);
});

describe('token exchange (RFC 8693)', () => {
  it("exchanges a user's AAuth token for a CRM-audience token with narrowed scope; the requesting client is the actor", async () => {
    const before = as.audit.length;
    const res = await tokenPost(as, exchangeParams(user, { audience: 'crm', scope: 'crm:read' }), { basic: basic('supply-chain-agent') });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('pragma')).toBe('no-cache');
    expect(Object.keys(res.body).sort()).toEqual(['access_token', 'expires_in', 'issued_token_type', 'scope', 'token_type']);
    expect(res.body).toMatchObject({ issued_token_type: ACCESS_TOKEN, token_type: 'Bearer', scope: 'crm:read' });
    const { header, claims } = await verifyIssued(String(res.body.access_token));
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'RS256' });
    expect(claims).toMatchObject({ iss: as.issuer, sub: USER_ID, aud: 'crm', client_id: 'supply-chain-agent', scope: 'crm:read', act: { sub: 'supply-chain-agent' } });
    expect(typeof claims.jti).toBe('string');
    // The exchanged token never outlives the user's token.
    expect(claims.exp).toBeLessThanOrEqual(decodeJwt(user).claims.exp as number);
    expect(res.body.expires_in).toBe((claims.exp as number) - (claims.iat as number));

    const events = as.audit.slice(before);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'token.exchanged',
      endpoint: 'openid-connect',
      grantType: TOKEN_EXCHANGE,
      client: 'supply-chain-agent',
      sub: USER_ID,
      actor: 'supply-chain-agent',
      audience: ['crm'],
      scope: 'crm:read',
    });
    expect(typeof events[0]!.time).toBe('number');
    expect(JSON.stringify(events)).not.toContain(String(res.body.access_token));
    expect(JSON.stringify(events)).not.toContain(user);
  });

  it('without scope the subject token keeps its scopes; without audience the token is for the requester', async () => {
    const res = await tokenPost(as, exchangeParams(user), { basic: basic('supply-chain-agent') });
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe(SCOPE);
    const { claims } = await verifyIssued(String(res.body.access_token));
    expect(claims.aud).toBe('supply-chain-agent');
  });

  it('the act chain nests across two hops: SCA -> MAA -> CRM', async () => {
    const hop1 = await tokenPost(as, exchangeParams(user, { audience: 'market-analysis-agent', scope: 'crm:read crm:write' }), {
      basic: basic('supply-chain-agent'),
    });
    expect(hop1.status).toBe(200);
    const hop2 = await tokenPost(as, exchangeParams(String(hop1.body.access_token), { audience: 'crm', scope: 'crm:read' }), {
      basic: basic('market-analysis-agent'),
    });
    expect(hop2.status).toBe(200);
    const { claims } = await verifyIssued(String(hop2.body.access_token));
    expect(claims).toMatchObject({ sub: USER_ID, aud: 'crm', client_id: 'market-analysis-agent', scope: 'crm:read' });
    expect(claims.act).toEqual({ sub: 'market-analysis-agent', act: { sub: 'supply-chain-agent' } });
    expect(as.audit.at(-1)).toMatchObject({ type: 'token.exchanged', client: 'market-analysis-agent', actor: 'market-analysis-agent', sub: USER_ID });
  });

  it("an AAuth token's own act chain (from an AAuth exchange) nests under the new actor", async () => {
    // SCA exchanges the user's token for MAA over AAuth (wire profile section 8): act = {agent: backend, sub: user}.
    const rt = await maa.resourceToken({ agent: sca.identity, agentJkt: sca.key.thumbprint, scope: 'crm:read', audience: as.issuer });
    const aauth = await signedFetch(as.tokenEndpoint, { key: sca.key, signatureKey: sca.signatureKey, json: { resource_token: rt, upstream_token: user } });
    expect(aauth.status).toBe(200);
    const res = await tokenPost(as, exchangeParams(String(aauth.body.auth_token), { audience: 'crm' }), { basic: basic('market-analysis-agent') });
    expect(res.status).toBe(200);
    const { claims } = await verifyIssued(String(res.body.access_token));
    expect(claims.act).toEqual({ sub: 'market-analysis-agent', act: { agent: backend.identity, sub: USER_ID } });
  });

  it("an actor_token is the requesting client's own and its subject is the actor; another client's token is refused (issue 13, finding 1)", async () => {
    const other = await tokenPost(as, { grant_type: 'client_credentials' }, { basic: ['svc agent:1', 'p@ss word+/=:ä'] });
    expect(other.status).toBe(200);
    const refused = await tokenPost(
      as,
      exchangeParams(user, { audience: 'crm', scope: 'crm:read', actor_token: String(other.body.access_token), actor_token_type: ACCESS_TOKEN }),
      { basic: basic('supply-chain-agent') },
    );
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_grant');
    expect(as.audit.at(-1)).toMatchObject({ type: 'request.refused', code: 'actor_token_not_client', client: 'supply-chain-agent' });
    const own = await tokenPost(as, { grant_type: 'client_credentials' }, { basic: basic('supply-chain-agent') });
    expect(own.status).toBe(200);
    const res = await tokenPost(
      as,
      exchangeParams(user, { audience: 'crm', scope: 'crm:read', actor_token: String(own.body.access_token), actor_token_type: ACCESS_TOKEN }),
      { basic: basic('supply-chain-agent') },
    );
    expect(res.status).toBe(200);
    const { claims } = await verifyIssued(String(res.body.access_token));
    expect(claims.act).toEqual({ sub: 'supply-chain-agent' });
    expect(as.audit.at(-1)).toMatchObject({ actor: 'supply-chain-agent', client: 'supply-chain-agent' });
  });

  it('client_secret_post authenticates too; resource names a client by its rootUrl; requested_token_type jwt gives N_A', async () => {
    const res = await tokenPost(
      as,
      exchangeParams(user, {
        client_id: 'supply-chain-agent',
        client_secret: 'supply-chain-agent-secret',
        resource: 'https://crm.example.com',
        requested_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      }),
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ issued_token_type: 'urn:ietf:params:oauth:token-type:jwt', token_type: 'N_A' });
    expect((await verifyIssued(String(res.body.access_token))).claims.aud).toBe('crm');
  });

  it('several audiences give an aud array', async () => {
    const res = await tokenPost(as, exchangeParams(user, { audience: ['crm', 'market-analysis-agent'] }), { basic: basic('supply-chain-agent') });
    expect(res.status).toBe(200);
    expect((await verifyIssued(String(res.body.access_token))).claims.aud).toEqual(['crm', 'market-analysis-agent']);
  });

  it('the issued at+jwt is not accepted where an AAuth auth token is expected (upstream_token)', async () => {
    const exchanged = await tokenPost(as, exchangeParams(user), { basic: basic('supply-chain-agent') });
    const rt = await maa.resourceToken({ agent: sca.identity, agentJkt: sca.key.thumbprint, scope: 'crm:read', audience: as.issuer });
    const res = await signedFetch(as.tokenEndpoint, {
      key: sca.key,
      signatureKey: sca.signatureKey,
      json: { resource_token: rt, upstream_token: exchanged.body.access_token },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
  });
});

describe('client credentials', () => {
  it('a service-account client gets a token for itself; RFC 6749 2.3.1 form-urlencoded Basic credentials are decoded', async () => {
    const res = await tokenPost(as, { grant_type: 'client_credentials' }, { basic: ['svc agent:1', 'p@ss word+/=:ä'] });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    const { claims } = await verifyIssued(String(res.body.access_token));
    expect(claims).toMatchObject({ sub: 'svc agent:1', aud: 'svc agent:1', client_id: 'svc agent:1', scope: 'crm:read' });
    expect(claims.act).toBeUndefined();
    expect(as.audit.at(-1)).toMatchObject({ type: 'token.issued', grantType: 'client_credentials', client: 'svc agent:1', sub: 'svc agent:1' });
  });

  it('the same credentials without the form-urlencoding step are refused', async () => {
    const raw = Buffer.from('svc agent:1:p@ss word+/=:ä').toString('base64');
    const res = await tokenPost(as, { grant_type: 'client_credentials' }, { rawAuthorization: `Basic ${raw}` });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  it('default client scopes whose include.in.token.scope is "false" (the realm file\'s basic, service_account) are not listed, as in Keycloak', async () => {
    const ok = await tokenPost(as, { grant_type: 'client_credentials' }, { basic: basic('supply-chain-agent') });
    expect(ok.status).toBe(200);
    expect(ok.body.scope).toBeUndefined();
    const { claims } = await verifyIssued(String(ok.body.access_token));
    expect(claims.scope).toBeUndefined();
    expect(claims).toMatchObject({ sub: 'supply-chain-agent', client_id: 'supply-chain-agent' });
  });

  it('optional scopes may be added to the default ones, others are invalid_scope; audience targets another client', async () => {
    const ok = await tokenPost(as, { grant_type: 'client_credentials', scope: 'crm:write', audience: 'crm' }, { basic: basic('supply-chain-agent') });
    expect(ok.status).toBe(200);
    expect(ok.body.scope).toBe('crm:write');
    expect((await verifyIssued(String(ok.body.access_token))).claims).toMatchObject({ sub: 'supply-chain-agent', aud: 'crm' });
    const bad = await tokenPost(as, { grant_type: 'client_credentials', scope: 'crm:admin' }, { basic: basic('supply-chain-agent') });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_scope');
  });
});

describe('refusals: RFC 6749 section 5.2 and RFC 8693 section 2.2.2, exactly', () => {
  async function expectError(res: Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>, status: number, error: string, description?: RegExp) {
    const r = await res;
    expect({ status: r.status, error: r.body.error }).toEqual({ status, error });
    expect(Object.keys(r.body).sort()).toEqual(['error', 'error_description']);
    if (description) expect(String(r.body.error_description)).toMatch(description);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    return r;
  }
  const scaClient = () => ({ basic: basic('supply-chain-agent') });

  it('invalid_request: missing grant_type, subject_token or its type; unsupported types; a repeated parameter; two auth methods; not a form', async () => {
    await expectError(tokenPost(as, { subject_token: user }, scaClient()), 400, 'invalid_request', /grant_type is required/);
    await expectError(tokenPost(as, { grant_type: TOKEN_EXCHANGE, subject_token_type: ACCESS_TOKEN }, scaClient()), 400, 'invalid_request', /subject_token is required/);
    await expectError(tokenPost(as, { grant_type: TOKEN_EXCHANGE, subject_token: user }, scaClient()), 400, 'invalid_request', /subject_token_type is required/);
    await expectError(
      tokenPost(as, exchangeParams(user, { subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' }), scaClient()),
      400,
      'invalid_request',
      /subject_token_type .* is not supported/,
    );
    await expectError(tokenPost(as, exchangeParams(user, { actor_token: user }), scaClient()), 400, 'invalid_request', /actor_token_type is required/);
    await expectError(tokenPost(as, exchangeParams(user, { actor_token_type: ACCESS_TOKEN }), scaClient()), 400, 'invalid_request', /without actor_token/);
    await expectError(
      tokenPost(as, exchangeParams(user, { requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }), scaClient()),
      400,
      'invalid_request',
      /requested_token_type/,
    );
    await expectError(tokenPost(as, exchangeParams(user, { scope: ['crm:read', 'crm:write'] }), scaClient()), 400, 'invalid_request', /scope appears more than once/);
    await expectError(tokenPost(as, exchangeParams(user, { client_secret: 'supply-chain-agent-secret' }), scaClient()), 400, 'invalid_request', /more than one authentication method/);
    await expectError(tokenPost(as, exchangeParams(user), { ...scaClient(), contentType: 'application/json' }), 400, 'invalid_request', /x-www-form-urlencoded/);
  });

  it('invalid_client: 401, with WWW-Authenticate: Basic when Basic was tried or nothing was sent', async () => {
    const wrong = await expectError(tokenPost(as, exchangeParams(user), { basic: ['supply-chain-agent', 'nope'] }), 401, 'invalid_client');
    expect(wrong.headers.get('www-authenticate')).toBe('Basic realm="aauth-test"');
    const unknown = await expectError(tokenPost(as, exchangeParams(user), { basic: ['nobody', 'nope'] }), 401, 'invalid_client');
    expect(unknown.body.error_description).toBe(wrong.body.error_description);
    const none = await expectError(tokenPost(as, exchangeParams(user)), 401, 'invalid_client', /required/);
    expect(none.headers.get('www-authenticate')).toBe('Basic realm="aauth-test"');
    const post = await expectError(tokenPost(as, exchangeParams(user, { client_id: 'supply-chain-agent', client_secret: 'nope' })), 401, 'invalid_client');
    expect(post.headers.get('www-authenticate')).toBeNull();
    await expectError(tokenPost(as, exchangeParams(user), { rawAuthorization: 'Basic !!!' }), 401, 'invalid_client', /Malformed Basic/);
    await expectError(tokenPost(as, exchangeParams(user, { client_id: 'supply-chain-agent' })), 401, 'invalid_client', /confidential/);
    await expectError(tokenPost(as, exchangeParams(user), { basic: ['off', 'off-secret'] }), 401, 'invalid_client');
    await expectError(
      tokenPost(as, exchangeParams(user, { client_id: 'supply-chain-agent', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: 'x.y.z' })),
      401,
      'invalid_client',
      /client_assertion/,
    );
  });

  it('unauthorized_client: a client without standard.token.exchange.enabled, without service accounts, or public', async () => {
    await expectError(tokenPost(as, exchangeParams(user), { basic: basic('crm') }), 400, 'unauthorized_client', /standard\.token\.exchange\.enabled/);
    await expectError(tokenPost(as, { grant_type: 'client_credentials' }, { basic: basic('market-analysis-agent') }), 400, 'unauthorized_client', /serviceAccountsEnabled/);
    await expectError(tokenPost(as, exchangeParams(user, { client_id: 'public-app' })), 400, 'unauthorized_client', /public/);
  });

  it('unsupported_grant_type', async () => {
    await expectError(tokenPost(as, { grant_type: 'password', username: 'mcp-user', password: 'user123' }, scaClient()), 400, 'unsupported_grant_type');
  });

  it('invalid_request (RFC 8693 section 2.2.2, as Keycloak): an invalid subject_token: not a JWT, forged, a resource token, expired, an untrusted issuer', async () => {
    await expectError(tokenPost(as, exchangeParams('not-a-token'), scaClient()), 400, 'invalid_request', /^subject_token refused: it is not a compact JWS$/);
    // Which part is wrong, not "not a compact JWT" for every malformed token (auth-server audit).
    const [h, , sig] = user.split('.');
    const badHeader = `${Buffer.from('{not json').toString('base64url')}.${user.split('.')[1]}.${sig}`;
    await expectError(tokenPost(as, exchangeParams(badHeader), scaClient()), 400, 'invalid_request', /^subject_token refused: its header is not JSON$/);
    // A token of this realm naming a key it does not have: nothing was fetched, so the reason is said
    // (not the uniform "its issuer's keys could not be obtained" of a caller-chosen issuer).
    const unknownKid = `${Buffer.from(JSON.stringify({ ...decodeJwt(user).header, kid: 'no-such-key' })).toString('base64url')}.${user.split('.')[1]}.${sig}`;
    const refusal = await tokenPost(as, exchangeParams(unknownKid), scaClient());
    expect(refusal.status).toBe(400);
    expect(String(refusal.body.error_description)).toMatch(/^subject_token refused: /);
    expect(String(refusal.body.error_description)).not.toContain('could not be obtained');
    expect(String(refusal.body.error_description)).toContain('no-such-key');
    const forgedPayload = Buffer.from(JSON.stringify({ ...decodeJwt(user).claims, scope: 'crm:admin' })).toString('base64url');
    await expectError(tokenPost(as, exchangeParams(`${h}.${forgedPayload}.${sig}`), scaClient()), 400, 'invalid_request', /^subject_token refused: .*signature/);
    const rt = await maa.resourceToken({ agent: sca.identity, agentJkt: sca.key.thumbprint, scope: 'crm:read', audience: as.issuer });
    await expectError(tokenPost(as, exchangeParams(rt), scaClient()), 400, 'invalid_request', /^subject_token refused: .*typ/);
    const stranger = generateKey({ kid: 'x' });
    const foreign = await signJwt(stranger, { typ: 'at+jwt' }, { iss: 'https://other.example', sub: 'u', aud: 'supply-chain-agent', exp: Math.floor(Date.now() / 1000) + 60 });
    await expectError(tokenPost(as, exchangeParams(foreign), scaClient()), 400, 'invalid_request', /not trusted/);
    // The same for an actor token.
    await expectError(tokenPost(as, exchangeParams(user, { actor_token: 'not-a-token', actor_token_type: ACCESS_TOKEN }), scaClient()), 400, 'invalid_request', /^actor_token refused: it is not a compact JWS$/);
    offset = 400;
    try {
      await expectError(tokenPost(as, exchangeParams(user), scaClient()), 400, 'invalid_request', /^subject_token refused: .*expired/);
    } finally {
      offset = 0;
    }
  });

  it('invalid_grant: a valid subject_token refused by policy (not issued to the requester)', async () => {
    // The user's token is for SCA: MAA's client may not exchange it.
    await expectError(tokenPost(as, exchangeParams(user), { basic: basic('market-analysis-agent') }), 400, 'invalid_grant', /not issued to client market-analysis-agent/);
  });

  it('refusals carry Pragma: no-cache as well as Cache-Control: no-store (RFC 6749 section 5.1, as Keycloak sends them)', async () => {
    for (const r of [
      await tokenPost(as, { grant_type: 'client_credentials' }, { basic: ['supply-chain-agent', 'nope'] }),
      await tokenPost(as, { grant_type: 'password' }, scaClient()),
      await tokenPost(as, exchangeParams('not-a-token'), scaClient()),
    ]) {
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect([r.headers.get('cache-control'), r.headers.get('pragma')]).toEqual(['no-store', 'no-cache']);
    }
  });

  it('invalid_target: an unknown audience, one the client may not target, an unknown resource', async () => {
    await expectError(tokenPost(as, exchangeParams(user, { audience: 'payroll' }), scaClient()), 400, 'invalid_target', /not a client of this realm/);
    await expectError(tokenPost(as, exchangeParams(user, { audience: 'svc agent:1' }), scaClient()), 400, 'invalid_target', /aauth\.exchange\.audiences/);
    await expectError(tokenPost(as, exchangeParams(user, { resource: 'https://unknown.example.com' }), scaClient()), 400, 'invalid_target');
    await expectError(tokenPost(as, exchangeParams(user, { resource: 'relative/path' }), scaClient()), 400, 'invalid_target', /absolute URI/);
  });

  it('invalid_scope: an exchange never widens the scope', async () => {
    await expectError(tokenPost(as, exchangeParams(user, { audience: 'crm', scope: 'crm:read crm:admin' }), scaClient()), 400, 'invalid_scope', /crm:admin/);
  });

  it('every refusal is an audit event with the client (when known), status, error and reason, and no token', async () => {
    const before = as.audit.length;
    await tokenPost(as, exchangeParams(user, { audience: 'payroll' }), scaClient());
    const [event] = as.audit.slice(before);
    expect(event).toMatchObject({ type: 'request.refused', endpoint: 'openid-connect', client: 'supply-chain-agent', status: 400, error: 'invalid_target' });
    expect(JSON.stringify(event)).not.toContain(user);
  });

  it('a body larger than the limit is 413; a disabled realm issues nothing (403)', async () => {
    const big = await tokenPost(as, exchangeParams('x'.repeat(70_000)), scaClient());
    expect(big.status).toBe(413);
    expect(big.body.error).toBe('invalid_request');
    expect([big.headers.get('cache-control'), big.headers.get('pragma')]).toEqual(['no-store', 'no-cache']);
    const disabled = await startAuthServer({ realm: { ...exchangeRealm({ scaIdentity: sca.identity }), enabled: false } });
    try {
      const res = await tokenPost(disabled, { grant_type: 'client_credentials' }, scaClient());
      expect(res.status).toBe(403);
      expect(res.body.error).toBe('access_denied');
    } finally {
      await disabled.close();
    }
  });

  it('a realm without clients refuses every client, and the AAuth endpoint is unchanged', async () => {
    const plain = await startAuthServer({ realm: testRealm() });
    try {
      const res = await tokenPost(plain, { grant_type: 'client_credentials' }, scaClient());
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_client');
    } finally {
      await plain.close();
    }
  });
});

describe('trusted issuers (aauth.trusted.issuers)', () => {
  it("exchanges another realm's token (its keys fetched over HTTP) once that realm is trusted", async () => {
    const client = { clientId: 'supply-chain-agent', secret: 'upstream-secret', serviceAccountsEnabled: true, defaultClientScopes: ['crm:read'] };
    const upstream = await startAuthServer({ realm: testRealm({}, { realm: 'upstream', clients: [client] }) });
    const trusting = await startAuthServer({
      realm: { ...exchangeRealm({ scaIdentity: sca.identity }), realm: 'trusting', attributes: { 'aauth.trusted.issuers': JSON.stringify([upstream.issuer]) } },
    });
    try {
      const first = await tokenPost(upstream, { grant_type: 'client_credentials' }, { basic: ['supply-chain-agent', 'upstream-secret'] });
      expect(first.status).toBe(200);
      const res = await tokenPost(trusting, exchangeParams(String(first.body.access_token), { audience: 'crm' }), { basic: basic('supply-chain-agent') });
      expect(res.status).toBe(200);
      expect(decodeJwt(String(res.body.access_token)).claims).toMatchObject({ iss: trusting.issuer, sub: 'supply-chain-agent', aud: 'crm', scope: 'crm:read' });
      // Not trusted by `as`: invalid_request.
      const refused = await tokenPost(as, exchangeParams(String(first.body.access_token)), { basic: basic('supply-chain-agent') });
      expect([refused.status, refused.body.error]).toEqual([400, 'invalid_request']);
      expect(refused.body.error_description).toBe(`subject_token refused: its issuer ${JSON.stringify(upstream.issuer)} is not trusted (aauth.trusted.issuers)`);
    } finally {
      await Promise.all([upstream.close(), trusting.close()]);
    }
  });

  it("a trusted issuer whose keys cannot be fetched: the one uniform invalid_request, the detail only in the audit", async () => {
    const gone = `http://127.0.0.1:${await freePort()}/realms/gone`;
    const trusting = await startAuthServer({
      realm: { ...exchangeRealm({ scaIdentity: sca.identity }), realm: 'trusting-gone', attributes: { 'aauth.trusted.issuers': JSON.stringify([gone]) } },
    });
    try {
      const now = Math.floor(Date.now() / 1000);
      const token = await signJwt(generateKey({ kid: 'g' }), { typ: 'at+jwt' }, { iss: gone, sub: 'u', aud: 'supply-chain-agent', exp: now + 60 });
      const res = await tokenPost(trusting, exchangeParams(token), { basic: basic('supply-chain-agent') });
      expect([res.status, res.body]).toEqual([400, { error: 'invalid_request', error_description: "subject_token refused: the metadata or keys of its issuer could not be obtained (the auth server's audit event says why)" }]);
      expect(trusting.audit.at(-1)).toMatchObject({ type: 'request.refused', code: 'invalid_request', reason: expect.stringMatching(/could not be obtained \(.+\)$/) });
    } finally {
      await trusting.close();
    }
  });

  it('a delegation chain deeper than aauth.exchange.max.depth is invalid_grant', async () => {
    const shallow = await startAuthServer({
      realm: (() => {
        const realm = exchangeRealm({ scaIdentity: sca.identity });
        realm.attributes['aauth.exchange.max.depth'] = '1';
        return { ...realm, realm: 'shallow' };
      })(),
    });
    try {
      const token = await tokenPost(shallow, { grant_type: 'client_credentials', audience: 'market-analysis-agent' }, { basic: basic('supply-chain-agent') });
      const hop1 = await tokenPost(shallow, exchangeParams(String(token.body.access_token)), { basic: basic('market-analysis-agent') });
      expect(hop1.status).toBe(200);
      expect(decodeJwt(String(hop1.body.access_token)).claims).toMatchObject({ sub: 'supply-chain-agent', aud: 'market-analysis-agent', act: { sub: 'market-analysis-agent' } });
      const hop2 = await tokenPost(shallow, exchangeParams(String(hop1.body.access_token), { audience: 'crm' }), { basic: basic('market-analysis-agent') });
      expect(hop2.status).toBe(400);
      expect(hop2.body).toEqual({ error: 'invalid_grant', error_description: 'Delegation chain too deep: 2 act levels, the limit is 1 (aauth.exchange.max.depth)' });
    } finally {
      await shallow.close();
    }
  });
});
