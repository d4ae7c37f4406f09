import { createServer, type Server } from 'node:http';
import { createTokenExchanger, exchangeToken, TokenExchangeError, type ExchangeTokenOptions, type TokenExchanger } from '@aauth-kit/agent';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, startParty, type Party, type TestAuthServer } from './fixtures/auth-server.js';
import { exchangeRealm, SECRETS, USER_ID, userToken } from './fixtures/oauth.js';

/**
 * Issue 8 acceptance, over loopback: the agent's RFC 8693 client and bearer fetch wrapper
 * (@aauth-kit/agent) against the embedded server's OAuth token endpoint, calling a "CRM" that
 * accepts only bearer tokens this realm issued for it.
 */
interface Crm {
  origin: string;
  /** Claims of every request the CRM accepted. */
  accepted: Array<JWTPayload & Record<string, unknown>>;
  /** Requests it received, accepted or not. */
  received: () => number;
  /** Token ids the CRM refuses from now on (as if revoked). */
  revoked: Set<string>;
  close(): Promise<void>;
}

async function startCrm(issuer: string): Promise<Crm> {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/protocol/openid-connect/certs`));
  const accepted: Crm['accepted'] = [];
  const revoked = new Set<string>();
  let received = 0;
  const server: Server = createServer((req, res) => {
    received++;
    const auth = req.headers.authorization ?? '';
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...(status === 401 ? { 'www-authenticate': 'Bearer error="invalid_token"' } : {}) });
      res.end(JSON.stringify(body));
    };
    if (!auth.startsWith('Bearer ')) return send(401, { error: 'invalid_token' });
    jwtVerify(auth.slice(7), jwks, { issuer, audience: 'crm', typ: 'at+jwt' }).then(
      ({ payload }) => {
        if (revoked.has(String(payload.jti))) return send(401, { error: 'invalid_token' });
        if (!String(payload.scope ?? '').split(' ').includes('crm:read')) return send(403, { error: 'insufficient_scope' });
        accepted.push(payload as JWTPayload & Record<string, unknown>);
        send(200, { contacts: ['Ada', 'Grace'], for: payload.sub });
      },
      () => send(401, { error: 'invalid_token' }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    origin: `http://127.0.0.1:${port}`,
    accepted,
    received: () => received,
    revoked,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A transport that counts what it sends, per destination. */
function counting() {
  const counts = { token: 0, total: 0 };
  const transport: typeof fetch = (input, init) => {
    counts.total++;
    if (String(input instanceof Request ? input.url : input).endsWith('/protocol/openid-connect/token')) counts.token++;
    return fetch(input, init);
  };
  return { transport, counts };
}

let as: TestAuthServer;
let backend: Party;
let sca: Party;
let crm: Crm;
let user: string;
let tokenEndpoint: string;

beforeAll(async () => {
  [backend, sca] = await Promise.all([startParty('backend'), startParty('sca')]);
  as = await startAuthServer({ realm: exchangeRealm({ scaIdentity: sca.identity }) });
  tokenEndpoint = `${as.issuer}/protocol/openid-connect/token`;
  crm = await startCrm(as.issuer);
  // The user's token: from the embedded server's AAuth flow, with mcp-user's consent (aud = SCA).
  user = await userToken(as, backend, sca, 'supply-chain:optimize crm:read crm:write');
});

afterAll(async () => {
  await Promise.all([as?.close(), backend?.close(), sca?.close(), crm?.close()]);
});

function scaExchanger(transport: typeof fetch, now?: () => number): TokenExchanger<{ userToken?: string }> {
  return createTokenExchanger<{ userToken?: string }>({
    targets: {
      crm: {
        tokenEndpoint,
        clientId: 'supply-chain-agent',
        auth: { method: 'client_secret_basic', clientSecret: SECRETS['supply-chain-agent'] },
        audience: 'crm',
        scope: 'crm:read',
        origins: [crm.origin],
      },
    },
    subjectTokenProvider: ({ context }) => context?.userToken,
    fetch: transport,
    ...(now ? { now } : {}),
  });
}

describe("the supply-chain agent calls the CRM with a token exchanged from the user's", () => {
  it("the user's token becomes a CRM-audience token with narrowed scope, and the CRM accepts it", async () => {
    const { transport, counts } = counting();
    const exchanger = scaExchanger(transport);
    const before = as.audit.length;
    const res = await exchanger.fetch('crm', `${crm.origin}/contacts`, { context: { userToken: user } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ contacts: ['Ada', 'Grace'], for: USER_ID });
    expect(crm.accepted.at(-1)).toMatchObject({
      iss: as.issuer,
      sub: USER_ID,
      aud: 'crm',
      client_id: 'supply-chain-agent',
      scope: 'crm:read',
      act: { sub: 'supply-chain-agent' },
    });
    expect(counts).toEqual({ token: 1, total: 2 });
    expect(as.audit.slice(before)).toEqual([
      expect.objectContaining({ type: 'token.exchanged', endpoint: 'openid-connect', client: 'supply-chain-agent', sub: USER_ID, actor: 'supply-chain-agent', audience: ['crm'], scope: 'crm:read' }),
    ]);
  });

  it('the cache serves repeat calls with no new exchange, and renews 30 s before expiry (injected clock)', async () => {
    const { transport, counts } = counting();
    let now = Date.now() / 1000;
    const exchanger = scaExchanger(transport, () => now);
    const ctx = { context: { userToken: user } };
    const first = await exchanger.credential('crm', ctx);
    for (let i = 0; i < 3; i++) expect((await exchanger.fetch('crm', `${crm.origin}/contacts`, ctx)).status).toBe(200);
    expect(counts.token).toBe(1);
    expect(counts.total).toBe(4);
    expect(new Set(crm.accepted.slice(-3).map((c) => c.jti)).size).toBe(1);

    now = first.expiresAt! - 31;
    expect((await exchanger.credential('crm', ctx)).accessToken).toBe(first.accessToken);
    expect(counts.token).toBe(1);
    now = first.expiresAt! - 29;
    const renewed = await exchanger.credential('crm', ctx);
    expect(renewed.accessToken).not.toBe(first.accessToken);
    expect(counts.token).toBe(2);
    expect((await exchanger.fetch('crm', `${crm.origin}/contacts`, ctx)).status).toBe(200);
    expect(counts.token).toBe(2);
  });

  it('a 401 from the CRM evicts the token and retries once with a newly exchanged one', async () => {
    const { transport, counts } = counting();
    const exchanger = scaExchanger(transport);
    const ctx = { context: { userToken: user } };
    expect((await exchanger.fetch('crm', `${crm.origin}/contacts`, ctx)).status).toBe(200);
    const revokedJti = String(crm.accepted.at(-1)!.jti);
    crm.revoked.add(revokedJti);
    const crmBefore = crm.received();
    const res = await exchanger.fetch('crm', `${crm.origin}/contacts`, ctx);
    expect(res.status).toBe(200);
    expect(crm.received() - crmBefore).toBe(2);
    expect(counts.token).toBe(2);
    expect(crm.accepted.at(-1)!.jti).not.toBe(revokedJti);
    // The new token is cached: no further exchange.
    expect((await exchanger.fetch('crm', `${crm.origin}/contacts`, ctx)).status).toBe(200);
    expect(counts.token).toBe(2);
  });

  it('the act chain nests across two hops: SCA -> market-analysis agent -> CRM', async () => {
    const { transport } = counting();
    const hop1 = createTokenExchanger<{ userToken: string }>({
      targets: {
        maa: { tokenEndpoint, clientId: 'supply-chain-agent', auth: { method: 'client_secret_post', clientSecret: SECRETS['supply-chain-agent'] }, audience: 'market-analysis-agent', scope: 'crm:read crm:write' },
      },
      subjectTokenProvider: ({ context }) => context?.userToken,
      fetch: transport,
    });
    const forMaa = await hop1.credential('maa', { context: { userToken: user } });
    // The market-analysis agent received `forMaa` from SCA and exchanges it for the CRM.
    const hop2 = createTokenExchanger<{ incoming: string }>({
      targets: {
        crm: { tokenEndpoint, clientId: 'market-analysis-agent', auth: { method: 'client_secret_basic', clientSecret: SECRETS['market-analysis-agent'] }, audience: 'crm', scope: 'crm:read' },
      },
      subjectTokenProvider: ({ context }) => context?.incoming,
      fetch: transport,
    });
    const res = await hop2.fetch('crm', `${crm.origin}/contacts`, { context: { incoming: forMaa.accessToken } });
    expect(res.status).toBe(200);
    expect(crm.accepted.at(-1)).toMatchObject({ sub: USER_ID, aud: 'crm', client_id: 'market-analysis-agent', scope: 'crm:read' });
    expect(crm.accepted.at(-1)!.act).toEqual({ sub: 'market-analysis-agent', act: { sub: 'supply-chain-agent' } });
  });

  it('a missing user token fails before any network call', async () => {
    const { transport, counts } = counting();
    const exchanger = scaExchanger(transport);
    await expect(exchanger.fetch('crm', `${crm.origin}/contacts`, { context: {} })).rejects.toMatchObject({ code: 'exchange_subject_token_missing', status: 502 });
    await expect(exchanger.fetch('crm', `${crm.origin}/contacts`)).rejects.toMatchObject({ code: 'exchange_subject_token_missing' });
    await expect(
      exchangeToken({ tokenEndpoint, clientId: 'supply-chain-agent', auth: { method: 'client_secret_basic', clientSecret: 'x' }, subjectToken: undefined, fetch: transport }),
    ).rejects.toMatchObject({ code: 'exchange_subject_token_missing' });
    expect(counts).toEqual({ token: 0, total: 0 });
  });
});

describe("each refusal of the embedded server surfaces typed in the agent, with the server's error and description", () => {
  const base = (): ExchangeTokenOptions => ({
    tokenEndpoint,
    clientId: 'supply-chain-agent',
    auth: { method: 'client_secret_basic', clientSecret: SECRETS['supply-chain-agent'] },
    subjectToken: user,
    audience: 'crm',
    scope: 'crm:read',
  });

  it.each<[string, () => ExchangeTokenOptions, string, number, RegExp]>([
    ['an unsupported subject_token_type', () => ({ ...base(), subjectTokenType: 'urn:ietf:params:oauth:token-type:saml2' }), 'invalid_request', 400, /subject_token_type .* is not supported/],
    ['a wrong client secret', () => ({ ...base(), auth: { method: 'client_secret_basic', clientSecret: 'wrong' } }), 'invalid_client', 401, /Client authentication failed/],
    ['a token not issued to the requesting client', () => ({ ...base(), clientId: 'market-analysis-agent', auth: { method: 'client_secret_post', clientSecret: SECRETS['market-analysis-agent'] } }), 'invalid_grant', 400, /not issued to client market-analysis-agent/],
    ['a client that may not exchange', () => ({ ...base(), clientId: 'crm', auth: { method: 'client_secret_basic', clientSecret: SECRETS.crm } }), 'unauthorized_client', 400, /standard\.token\.exchange\.enabled/],
    ['an audience the client may not target', () => ({ ...base(), audience: 'payroll' }), 'invalid_target', 400, /payroll/],
    ['a wider scope', () => ({ ...base(), scope: 'crm:read crm:admin' }), 'invalid_scope', 400, /crm:admin/],
  ])('%s: %s', async (_name, options, error, status, description) => {
    const before = as.audit.length;
    const e = await exchangeToken(options()).then(
      () => expect.fail('expected a refusal'),
      (x: unknown) => x as TokenExchangeError,
    );
    expect(e).toBeInstanceOf(TokenExchangeError);
    expect(e).toMatchObject({ code: `exchange_${error}`, oauthError: error, responseStatus: status, status: 502 });
    expect(e.errorDescription).toMatch(description);
    // The description the agent holds is the one the server gave (and audited).
    const refusal = as.audit.slice(before).find((ev) => ev.type === 'request.refused');
    expect(refusal).toMatchObject({ endpoint: 'openid-connect', error, status, reason: e.errorDescription });
    expect(e.message).not.toContain(user);
  });
});
