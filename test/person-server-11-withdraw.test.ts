import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import express, { type Request, type Response } from 'express';
import { AAuthReconnectRequiredError, createAgent, createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { createMemoryRevocationStore } from '@aauth-kit/verifier';
import { decideOverHttp, decodeJwt, startAuthServer, testRealm, type TestAuthServer } from './fixtures/auth-server.js';
import { listen, type Listening } from './fixtures/http.js';

// Issue 17, -11 grant withdrawal: the revocation endpoint's grant revocation (user + agent) also
// clears the -11 person server's binding and grants for that agent and revokes the pair's person
// and auth tokens (pushed to the resource, as the cascade does). The kit's -11 agent then gets
// AAuthReconnectRequiredError once (its token refused revoked_jwt, the new request refused
// grant_withdrawn), and its next call asks the person again. Real loopback HTTP throughout.

const REVOKER = { clientId: 'revoker', secret: 'revoker-secret' };
const USER_ID = 'c0ffee00-0000-4000-8000-000000000001';
const open: Array<{ close(): Promise<void> }> = [];
let auth: TestAuthServer;
let ps: string;
let site: string;
let provider: AgentProvider;

async function revokeGrant(params: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${auth.server.issuer}/protocol/aauth/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${REVOKER.clientId}:${REVOKER.secret}`).toString('base64')}` },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  auth = await startAuthServer({
    realm: testRealm({}, { clients: [{ clientId: REVOKER.clientId, enabled: true, publicClient: false, clientAuthenticatorType: 'client-secret', secret: REVOKER.secret, serviceAccountsEnabled: true }] }),
    draft11: { allowLoopback: true },
    revocation: { store: createMemoryRevocationStore(), clients: [REVOKER.clientId] },
  });
  open.push(auth);
  ps = auth.server.personServer!;
  const apApp = express();
  const ap = await listen(apApp);
  open.push(ap);
  provider = createAgentProvider({ issuer: ap.origin, key: generateKey({ kid: 'withdraw-ap' }), allowLoopback: true });
  apApp.use(provider.wellKnown() as express.RequestHandler);
  const app = express();
  const sl: Listening = await listen(app);
  open.push(sl);
  site = sl.origin;
  // The resource takes the person server's pushed revocations (AAuth -11 "Revocation Cascade").
  const resource = createResource({ identity: site, key: generateKey({ kid: 'withdraw-site' }), generations: ['draft-11'], scopes: { 'data.read': 'Read data' }, draft11: { allowLoopback: true, personServers: [ps], revocation: true } });
  app.use(resource.wellKnown());
  app.use(resource.revocationEndpoint());
  app.get('/data', resource.require({ scope: 'data.read' }), (req: Request, res: Response) => res.json(req.aauth));
});

afterAll(async () => {
  await Promise.all(open.map((o) => o.close()));
});

describe('-11 grant withdrawal through the revocation endpoint', () => {
  const key = generateKey({ kid: 'withdraw-agent' });
  const seen: string[] = [];
  let interactions = 0;
  const agent = () =>
    createAgent({
      key,
      draft11: { provider, local: 'withdrawn-bot', ps, allowLoopback: true },
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        const url = new URL(input instanceof Request ? input.url : String(input));
        const why = res.headers.get('signature-error');
        seen.push(`${init?.method ?? 'GET'} ${url.origin === ps ? 'ps' : 'site'}${url.pathname.replace(/\/pending\/.*$/, '/pending')} ${res.status}${why ? ` ${why}` : ''}`);
        return res;
      },
      sleep: async () => undefined,
      onInteraction: async ({ url }) => {
        interactions++;
        expect((await decideOverHttp(auth.interactionEndpoint, new URL(url).searchParams.get('code')!, 'approve')).status).toBe(200);
      },
    });
  let a: ReturnType<typeof createAgent>;

  it('before: the person approves the agent once; the next call needs no person', async () => {
    a = agent();
    expect((await a.fetch(`${site}/data`)).status).toBe(200);
    expect(interactions).toBe(1);
    expect((await a.fetch(`${site}/data`)).status).toBe(200);
    expect(interactions).toBe(1);
  });

  it('the grant revocation names the -11 tokens it revoked; the held token is refused revoked_jwt; the agent raises AAuthReconnectRequiredError once, no loop', async () => {
    const agentId = provider.agentId('withdrawn-bot');
    const answer = await revokeGrant({ user: 'mcp-user', agent: agentId });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ revoked: 'grant', agent: agentId, sub: USER_ID, person_server_tokens: 2 });
    seen.length = 0;
    const error = await a.fetch(`${site}/data`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AAuthReconnectRequiredError);
    expect((error as AAuthReconnectRequiredError).code).toBe('reconnect_required');
    expect((error as AAuthReconnectRequiredError).target).toMatchObject({ authServer: ps, resource: site });
    // The held auth token, then the held person token, refused revoked_jwt (pushed by the person server).
    expect(seen.slice(0, 2)).toEqual(['GET site/data 401 error=revoked_jwt', 'GET site/data 401 error=revoked_jwt']);
    // Exactly one refused person-token request: no retry loop.
    expect(seen.slice(2)).toEqual(['POST ps/aauth/person/person-token 403']);
    expect(interactions).toBe(1);
  });

  it('after: the next call asks the person again, then succeeds', async () => {
    seen.length = 0;
    const res = await a.fetch(`${site}/data`);
    expect(res.status).toBe(200);
    expect(interactions).toBe(2);
    expect(seen).toContain('POST ps/aauth/person/person-token 202');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.scope).toEqual(['data.read']);
  });

  it('bad input: user without agent is 400 invalid_request; an unknown user 400', async () => {
    const noAgent = await revokeGrant({ user: 'mcp-user' });
    expect([noAgent.status, noAgent.body.error]).toEqual([400, 'invalid_request']);
    const unknown = await revokeGrant({ user: 'nobody-here', agent: provider.agentId('withdrawn-bot') });
    expect([unknown.status, unknown.body.error]).toEqual([400, 'invalid_request']);
  });
});
