import { createTokenExchanger, exchangeToken, TOKEN_TYPE, TokenExchangeError, type ExchangeTokenOptions } from '@aauth-kit/agent';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type Listening } from '../../test/fixtures/http.js';
import { USER_ID } from '../../test/fixtures/oauth.js';
import { credentials, keycloakAdminGet, keycloakIssuer, keycloakUserTokens, postToken } from './fixtures.js';

/**
 * Issue 14 section 1: the kit's RFC 8693 client (`createTokenExchanger`, `exchangeToken`) against
 * Keycloak 26.5's standard token exchange (V2) on the shipped realm, started by ./global-setup.ts.
 * A user's token (mcp-user through the public client supply-chain-ui) is exchanged by
 * supply-chain-agent for narrowed tokens; refusals arrive as typed `TokenExchangeError`s.
 */

const issuer = keycloakIssuer();
const tokenEndpoint = `${issuer}/protocol/openid-connect/token`;
const jwks = createRemoteJWKSet(new URL(`${issuer}/protocol/openid-connect/certs`));
const SCA = { clientId: 'supply-chain-agent', auth: { method: 'client_secret_basic', clientSecret: 'supply-chain-agent-secret' } } as const;
const NOW = 1_900_000_000;

/**
 * An exchange's answer with `expiresAt` read back as the `expires_in` Keycloak sent (the exchanger
 * adds it to the injected clock). Keycloak computes it as the token's exp minus its own clock when it
 * answers, so a second that turns over between issuing and answering gives 299 for a 300 s token
 * (seen once in a fresh-clone CI run): 299 reads as 300, anything else as it is.
 */
function answered(issued: { expiresAt?: number | undefined }): Record<string, unknown> {
  const { expiresAt, ...rest } = { ...issued } as Record<string, unknown> & { expiresAt?: number };
  const expiresIn = expiresAt === undefined ? undefined : expiresAt - NOW;
  return { ...rest, expiresIn: expiresIn === 299 ? 300 : expiresIn };
}

type Claims = JWTPayload & Record<string, unknown>;

/** Verify a token Keycloak signed (its JWKS) and return its claims. */
async function claimsOf(token: string): Promise<Claims> {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer });
  expect(protectedHeader.alg).toBe('RS256');
  return payload as Claims;
}

/** mcp-user's access token from supply-chain-ui, by the password grant (the realm allows it for tests only). */
async function userToken(scope: string): Promise<{ token: string; claims: Claims }> {
  const token = (await keycloakUserTokens(issuer, scope)).access_token;
  return { token, claims: await claimsOf(token) };
}

/** An exchange that must fail: the `TokenExchangeError` it threw. */
async function refusal(options: Partial<ExchangeTokenOptions> & { subjectToken: string }): Promise<TokenExchangeError> {
  const error = await exchangeToken({ tokenEndpoint, ...SCA, ...options }).then(
    () => expect.fail('the exchange should have been refused'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenExchangeError);
  return error as TokenExchangeError;
}

let user: { token: string; claims: Claims };

beforeAll(async () => {
  user = await userToken('openid supply-chain:optimize crm:read crm:write');
});

describe("mcp-user's token, as Keycloak issues it to supply-chain-ui", () => {
  it('is for the supply-chain agent and the CRM (audience mappers of its scopes), with the fixed user id as sub', () => {
    expect(user.claims).toMatchObject({ iss: issuer, sub: USER_ID, azp: 'supply-chain-ui', typ: 'Bearer', preferred_username: 'mcp-user' });
    expect([...(user.claims.aud as string[])].sort()).toEqual(['crm', 'supply-chain-agent']);
    expect(String(user.claims.scope).split(' ').sort()).toEqual(['crm:read', 'crm:write', 'email', 'openid', 'profile', 'supply-chain:optimize']);
  });
});

describe('createTokenExchanger against Keycloak: a narrowed token', () => {
  let crm: Listening;
  const seen: string[] = [];
  beforeAll(async () => {
    // The CRM downstream: records the bearer token it receives.
    crm = await listen((req, res) => {
      seen.push(String(req.headers.authorization));
      res.setHeader('content-type', 'application/json');
      res.end('{"contacts":[]}');
    });
  });
  afterAll(async () => {
    await crm?.close();
  });

  it('exchanges for audience crm and scope crm:read: aud, azp, sub, scope, exp and issued_token_type as asked', async () => {
    const exchanger = createTokenExchanger<{ token: string }>({
      targets: { crm: { tokenEndpoint, ...SCA, audience: 'crm', scope: 'crm:read', origins: [crm.origin] } },
      subjectTokenProvider: ({ context }) => context?.token,
      now: () => NOW,
    });
    const issued = await exchanger.credential('crm', { context: { token: user.token } });
    expect(answered(issued)).toEqual({ issuedTokenType: TOKEN_TYPE.accessToken, tokenType: 'Bearer', expiresIn: 300, scope: 'crm:read' });
    const claims = await claimsOf(issued.accessToken);
    expect(claims).toMatchObject({ iss: issuer, aud: 'crm', azp: 'supply-chain-agent', sub: USER_ID, scope: 'crm:read', typ: 'Bearer', sid: user.claims.sid });
    // The realm's accessTokenLifespan from the exchange. Keycloak bounds it by the user's session,
    // not by the subject token's exp (the embedded server stops it at the subject token's exp).
    expect(claims.exp).toBe(claims.iat! + 300);
    expect(claims).not.toHaveProperty('email');

    // exchanger.fetch sends that token, from the cache, to the CRM only.
    const res = await exchanger.fetch('crm', `${crm.origin}/contacts`, { context: { token: user.token } });
    expect(res.status).toBe(200);
    expect(seen).toEqual([`Bearer ${issued.accessToken}`]);
  });

  it('exchangeToken with client_secret_post targets the market-analysis agent: the scope of its own that supply-chain-agent asks for', async () => {
    const issued = await exchangeToken({
      tokenEndpoint,
      clientId: 'supply-chain-agent',
      auth: { method: 'client_secret_post', clientSecret: 'supply-chain-agent-secret' },
      audience: 'market-analysis-agent',
      scope: 'market-analysis:analyze',
      subjectToken: user.token,
      now: () => NOW,
    });
    expect(answered(issued)).toEqual({ issuedTokenType: TOKEN_TYPE.accessToken, tokenType: 'Bearer', expiresIn: 300, scope: 'market-analysis:analyze' });
    // Keycloak grants an optional scope of the requester that the subject token did not hold: it
    // narrows the audience, not the scope set. The embedded server refuses that (invalid_scope).
    expect(String(user.claims.scope).split(' ')).not.toContain('market-analysis:analyze');
    expect(await claimsOf(issued.accessToken)).toMatchObject({ aud: 'market-analysis-agent', azp: 'supply-chain-agent', sub: USER_ID, scope: 'market-analysis:analyze' });
  });

  it('two audiences at once: aud lists both, scope both', async () => {
    const issued = await exchangeToken({
      tokenEndpoint,
      ...SCA,
      audience: ['crm', 'market-analysis-agent'],
      scope: 'crm:read market-analysis:analyze',
      subjectToken: user.token,
    });
    const claims = await claimsOf(issued.accessToken);
    expect([...(claims.aud as string[])].sort()).toEqual(['crm', 'market-analysis-agent']);
    expect(String(claims.scope).split(' ').sort()).toEqual(['crm:read', 'market-analysis:analyze']);
    expect(issued.scope?.split(' ').sort()).toEqual(['crm:read', 'market-analysis:analyze']);
  });
});

describe('client_credentials for supply-chain-agent (plain fetch: the kit has no client-credentials helper)', () => {
  async function clientCredentials(form: Record<string, string>, secret?: string) {
    const [id, ours] = credentials('supply-chain-agent');
    const { status, body } = await postToken(issuer, { grant_type: 'client_credentials', ...form }, { basic: [id, secret ?? ours] });
    return { status, body };
  }

  it("issues a token for the client's service-account user: azp and client_id the client, no user claims, no visible scope", async () => {
    // The service-account user Keycloak created at import.
    const [client] = (await keycloakAdminGet('/clients?clientId=supply-chain-agent')) as Array<{ id: string }>;
    const serviceAccount = (await keycloakAdminGet(`/clients/${client!.id}/service-account-user`)) as { id: string; username: string };
    expect(serviceAccount.username).toBe('service-account-supply-chain-agent');

    const { status, body } = await clientCredentials({});
    expect(status).toBe(200);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: '' });
    expect(body).not.toHaveProperty('refresh_token');
    const claims = await claimsOf(String(body.access_token));
    expect(claims).toMatchObject({ iss: issuer, sub: serviceAccount.id, azp: 'supply-chain-agent', client_id: 'supply-chain-agent', typ: 'Bearer' });
    expect(claims.sub).not.toBe(USER_ID);
    expect(claims).not.toHaveProperty('aud');
    expect(claims).not.toHaveProperty('preferred_username');
  });

  it('an optional scope adds its audience (crm:read: aud crm); an unknown scope is invalid_scope; a wrong secret 401', async () => {
    const read = await clientCredentials({ scope: 'crm:read' });
    expect(read.status).toBe(200);
    expect(read.body.scope).toBe('crm:read');
    expect(await claimsOf(String(read.body.access_token))).toMatchObject({ aud: 'crm', scope: 'crm:read', azp: 'supply-chain-agent' });
    expect(await clientCredentials({ scope: 'crm:admin' })).toEqual({ status: 400, body: { error: 'invalid_scope', error_description: 'Invalid scopes: crm:admin' } });
    expect(await clientCredentials({}, 'wrong')).toEqual({
      status: 401,
      body: { error: 'unauthorized_client', error_description: 'Invalid client or Invalid client credentials' },
    });
  });
});

describe("Keycloak's refusals arrive as the kit's typed TokenExchangeError, naming what to fix", () => {
  it('a scope the client may not have: exchange_invalid_scope (400 invalid_scope) naming the scope', async () => {
    for (const scope of ['crm:admin', 'supply-chain:optimize']) {
      const e = await refusal({ subjectToken: user.token, audience: 'crm', scope });
      expect(e).toMatchObject({ code: 'exchange_invalid_scope', status: 502, responseStatus: 400, oauthError: 'invalid_scope', errorDescription: `Invalid scopes: ${scope}` });
      expect(e.message).toContain(`client supply-chain-agent (HTTP 400, invalid_scope: Invalid scopes: ${scope})`);
      expect(e.message).toContain('ask for a scope the server grants this client');
    }
  });

  it('a wrong client secret: exchange_invalid_client (Keycloak answers 401 unauthorized_client); an unknown client: 401 invalid_client', async () => {
    const wrong = await refusal({ subjectToken: user.token, auth: { method: 'client_secret_basic', clientSecret: 'not-the-secret' }, audience: 'crm', scope: 'crm:read' });
    expect(wrong).toMatchObject({
      code: 'exchange_invalid_client',
      status: 502,
      responseStatus: 401,
      oauthError: 'unauthorized_client',
      errorDescription: 'Invalid client or Invalid client credentials',
    });
    expect(wrong.message).toContain("check the target's clientId and auth (the client secret or key)");
    expect(wrong.message).not.toContain('not-the-secret');
    const unknown = await refusal({ subjectToken: user.token, clientId: 'no-such-client', audience: 'crm' });
    expect(unknown).toMatchObject({ code: 'exchange_invalid_client', responseStatus: 401, oauthError: 'invalid_client' });
    expect(unknown.message).toContain('for client no-such-client');
  });

  it('an audience the client may not target: exchange_invalid_request (400 invalid_request) naming the audience', async () => {
    // supply-chain-ui is a client, but no client scope of supply-chain-agent adds it as an audience.
    const ui = await refusal({ subjectToken: user.token, audience: 'supply-chain-ui' });
    expect(ui).toMatchObject({
      code: 'exchange_invalid_request',
      responseStatus: 400,
      oauthError: 'invalid_request',
      errorDescription: 'Requested audience not available: supply-chain-ui',
    });
    expect(ui.message).toContain("check the target's audience");
    // crm without a crm scope: the audience comes from the scope's mapper, so it is not available either.
    const bare = await refusal({ subjectToken: user.token, audience: 'crm' });
    expect(bare).toMatchObject({ code: 'exchange_invalid_request', errorDescription: 'Requested audience not available: crm' });
    // A name that is no client at all: Keycloak says invalid_client, with 400.
    const nobody = await refusal({ subjectToken: user.token, audience: 'payroll' });
    expect(nobody).toMatchObject({ code: 'exchange_invalid_client', responseStatus: 400, oauthError: 'invalid_client', errorDescription: 'Audience not found' });
    expect(nobody.message).toContain('and that each audience it names is a client at the server');
  });

  it("a subject token for another client's audience: 403 access_denied, exchange_failed saying the token must be for this client", async () => {
    // mcp-user's token is for supply-chain-agent and crm; market-analysis-agent is not in its aud.
    const e = await refusal({
      subjectToken: user.token,
      clientId: 'market-analysis-agent',
      auth: { method: 'client_secret_basic', clientSecret: 'market-analysis-agent-secret' },
      audience: 'crm',
      scope: 'crm:read',
    });
    expect(e).toMatchObject({ code: 'exchange_failed', status: 502, responseStatus: 403, oauthError: 'access_denied', errorDescription: 'Client is not within the token audience' });
    expect(e.message).toContain('the subject token must be issued for this client (its aud)');
  });

  it('a client without standard token exchange (crm): exchange_invalid_request naming the setting; a token that is not one: invalid_request', async () => {
    const crm = await refusal({ subjectToken: user.token, clientId: 'crm', auth: { method: 'client_secret_basic', clientSecret: 'crm-secret' } });
    expect(crm).toMatchObject({
      code: 'exchange_invalid_request',
      responseStatus: 400,
      errorDescription: 'Standard token exchange is not enabled for the requested client',
    });
    const garbage = await refusal({ subjectToken: 'not.a.token', audience: 'crm', scope: 'crm:read' });
    expect(garbage).toMatchObject({ code: 'exchange_invalid_request', responseStatus: 400, errorDescription: 'Invalid token' });
  });

  it('the exchanger hands the refusal to the caller and sends nothing downstream', async () => {
    let reached = 0;
    const api = await listen((_req, res) => {
      reached++;
      res.end();
    });
    try {
      const exchanger = createTokenExchanger<{ token: string }>({
        targets: { crm: { tokenEndpoint, ...SCA, audience: 'crm', scope: 'crm:delete', origins: [api.origin] } },
        subjectTokenProvider: ({ context }) => context?.token,
      });
      await expect(exchanger.fetch('crm', `${api.origin}/contacts`, { context: { token: user.token } })).rejects.toMatchObject({
        name: 'TokenExchangeError',
        code: 'exchange_invalid_scope',
        oauthError: 'invalid_scope',
        responseStatus: 400,
      });
      expect(reached).toBe(0);
    } finally {
      await api.close();
    }
  });
});
