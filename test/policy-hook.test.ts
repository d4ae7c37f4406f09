import { AAuthError, isAAuthError } from '@aauth-kit/core';
import { createAgent, createAgentProvider, exchangeToken, type AgentProvider } from '@aauth-kit/agent';
import { createAuthServer, type AuditEvent, type IssuancePolicy, type PolicyInput } from '@aauth-kit/auth-server';
import { generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOverHttp, decodeJwt, signedFetch, startAuthServer, startParty, testRealm, type Party, type TestAuthServer } from './fixtures/auth-server.js';
import { hostedAgent, type HostedAgent } from './fixtures/hosted-agent.js';
import { freePort, listen } from './fixtures/http.js';
import { exchangeRealm, SECRETS, USER_ID, userToken } from './fixtures/oauth.js';

// Issue 17, "policy at issuance": one rule a test picks, "no writes on closed days" (Friday by
// default), enforced by a policy hook on every issuing endpoint of the embedded auth server: the
// Keycloak profile's token endpoint (auth and exchange), the OAuth token endpoint (RFC 8693), the
// -11 person server and the -11 access server, each driven by the kit's own agents over loopback.
// The rule: a write scope (`*:write`) is never issued on a closed day; with reads asked too, the
// writes are narrowed away; with writes alone, the request is denied and the agent is told why.
// Closed days are "today and tomorrow" (UTC) in the end-to-end tests, so they hold on any day.

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const weekday = (epochSeconds: number): string => DAYS[new Date(epochSeconds * 1000).getUTCDay()]!;

/** The test's rule, with the inputs it saw. `closed()` names the closed days; `undefined` = open every day. */
function writesClosedOn(closed: () => readonly string[]): IssuancePolicy & { seen: PolicyInput[] } {
  const seen: PolicyInput[] = [];
  const policy = (input: PolicyInput) => {
    seen.push(input);
    const day = weekday(input.time);
    const writes = input.scopes.filter((s) => s.endsWith(':write'));
    if (writes.length === 0 || !closed().includes(day)) return { allow: true as const };
    const rest = input.scopes.filter((s) => !writes.includes(s));
    if (rest.length > 0) return { allow: true as const, scopes: rest };
    return { allow: false as const, reason: `writes (${writes.join(' ')}) are not issued on ${day}s` };
  };
  return Object.assign(policy, { seen });
}

const now = () => Math.floor(Date.now() / 1000);
const closedNow = (): string[] => [weekday(now()), weekday(now() + 86_400)];
const TODAY_REASON = (scope: string) => new RegExp(`writes \\(${scope}\\) are not issued on (${DAYS.join('|')})s`);

const open: Array<{ close(): Promise<void> }> = [];
let auth: TestAuthServer;
let authPolicy: ReturnType<typeof writesClosedOn>;
let authClosed: readonly string[] = [];
let access: { origin: string; audit: AuditEvent[] };
let accessPolicy: ReturnType<typeof writesClosedOn>;
let accessClosed: readonly string[] = [];
let backend: Party;
let sca: Party;
let ps: string;
let provider: AgentProvider;

/** A kit express resource with a read and a write route, for the generations given. */
async function startResource(generations: Array<'keycloak' | 'draft-11'>, accessServer?: string): Promise<string> {
  const app = express();
  const listening = await listen(app);
  open.push(listening);
  const resource = createResource({
    identity: listening.origin,
    key: generateKey({ kid: `shop-${listening.port}` }),
    authServer: auth.issuer,
    generations,
    scopes: { 'crm:read': 'Read contacts', 'crm:write': 'Change contacts' },
    ...(generations.includes('draft-11') ? { draft11: { allowLoopback: true, personServers: [ps], ...(accessServer ? { accessServer } : {}) } } : {}),
  });
  const answer = (req: Request, res: Response) => res.json({ scope: req.aauth!.scope, sub: req.aauth!.sub, generation: req.aauth!.generation });
  app.use(resource.wellKnown());
  app.get('/contacts', resource.require({ scope: 'crm:read' }), answer);
  app.post('/contacts', resource.require({ scope: 'crm:write' }), answer);
  return listening.origin;
}

/** The kit's -11 agent; consent is given on the kit's page as mcp-user. */
function agent11(local: string) {
  return createAgent({
    key: generateKey({ kid: `${local}-key` }),
    draft11: { provider, local, ps, allowLoopback: true },
    sleep: async () => undefined,
    onInteraction: async ({ url }) => {
      const answer = await decideOverHttp(auth.interactionEndpoint, new URL(url).searchParams.get('code')!, 'approve');
      expect(answer.status).toBe(200);
    },
  });
}

async function refusal(promise: Promise<unknown>): Promise<AAuthError> {
  try {
    await promise;
  } catch (error) {
    if (isAAuthError(error)) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  [backend, sca] = await Promise.all([startParty('backend'), startParty('sca')]);
  const providerApp = express();
  const providerListening = await listen(providerApp);
  open.push(providerListening, backend, sca);
  provider = createAgentProvider({ issuer: providerListening.origin, key: generateKey({ kid: 'ap-policy' }), allowLoopback: true });
  providerApp.use(provider.wellKnown());

  // The access server's origin is known first: the person server lists it as trusted.
  const accessPort = await freePort();
  const accessOrigin = `http://127.0.0.1:${accessPort}`;
  const realm = exchangeRealm({ scaIdentity: sca.identity }) as unknown as { attributes: Record<string, string> };
  realm.attributes['aauth.person.trusted.access.servers'] = JSON.stringify([accessOrigin]);
  authPolicy = writesClosedOn(() => authClosed);
  auth = await startAuthServer({ realm, draft11: { allowLoopback: true }, policy: authPolicy });
  open.push(auth);
  ps = auth.server.personServer!;

  accessPolicy = writesClosedOn(() => accessClosed);
  const accessAudit: AuditEvent[] = [];
  const accessServer = createAuthServer({
    baseUrl: accessOrigin,
    draft11: { allowLoopback: true },
    realm: testRealm({ 'aauth.access.enabled': 'true', 'aauth.access.trusted.person.servers': JSON.stringify([ps]) }),
    policy: accessPolicy,
    onAudit: (e) => accessAudit.push(e),
    onWarning: () => undefined,
  });
  const running = await accessServer.listen(accessPort);
  open.push(running);
  access = { origin: accessOrigin, audit: accessAudit };
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

describe('the rule itself: writes are closed on Fridays by default', () => {
  const friday = Date.UTC(2026, 10, 27, 12) / 1000; // Friday 27 November 2026
  const monday = Date.UTC(2026, 10, 30, 12) / 1000;
  const fridays = writesClosedOn(() => ['Friday']);
  const ask = (time: number, scopes: string[]) =>
    fridays({ realm: 'r', generation: 'keycloak', endpoint: 'aauth-token', operation: 'auth', stage: 'request', agent: 'a', chain: [], scopes, time });

  it('denies writes alone on a Friday, narrows reads and writes to reads, allows everything on a Monday', () => {
    expect(weekday(friday)).toBe('Friday');
    expect(ask(friday, ['crm:write'])).toEqual({ allow: false, reason: 'writes (crm:write) are not issued on Fridays' });
    expect(ask(friday, ['crm:read', 'crm:write'])).toEqual({ allow: true, scopes: ['crm:read'] });
    expect(ask(monday, ['crm:write'])).toEqual({ allow: true });
  });
});

describe('Keycloak profile: the AAuth token endpoint (auth, exchange, refresh)', () => {
  let hosted: HostedAgent;
  let site: string;
  beforeAll(async () => {
    hosted = await hostedAgent({ authServer: auth.issuer });
    open.push(hosted);
    site = await startResource(['keycloak']);
  });

  it('auth: a write on a closed day is 403 access_denied (policy_denied); the agent error and the audit say why; reads pass', async () => {
    authClosed = closedNow();
    const before = auth.audit.length;
    const error = await refusal(hosted.agent.fetch(`${site}/contacts`, { method: 'POST' }));
    expect(error.code).toBe('auth_server_error');
    expect(error.details).toMatchObject({ status: 403, error: 'access_denied' });
    expect(error.message).toMatch(TODAY_REASON('crm:write'));
    expect(error.message).toContain('Denied by the issuance policy');
    const refused = auth.audit.slice(before).find((e) => e.type === 'request.refused')!;
    expect(refused).toMatchObject({ endpoint: 'token', agent: hosted.identity, resource: site, code: 'policy_denied', status: 403, error: 'access_denied' });
    expect(refused.reason).toMatch(TODAY_REASON('crm:write'));
    expect(authPolicy.seen.at(-1)).toMatchObject({ realm: 'aauth-test', generation: 'keycloak', endpoint: 'aauth-token', operation: 'auth', stage: 'request', agent: hosted.identity, chain: [], resource: site, scopes: ['crm:write'] });

    const read = await hosted.agent.fetch(`${site}/contacts`);
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ scope: ['crm:read'], generation: 'keycloak' });
  });

  it('auth: the same write passes on an open day (the policy, not the realm, refused it)', async () => {
    authClosed = [];
    const res = await hosted.agent.fetch(`${site}/contacts`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ scope: ['crm:write'] });
  });

  it('exchange: the policy sees the user and the chain; a write is refused, a read acts for the upstream user', async () => {
    // The user's token for the SCA (mcp-user consented), carrying crm:read and crm:write.
    const upstream = await userToken(auth, backend, sca, 'supply-chain:optimize crm:read crm:write');
    const scaAgent = createAgent({ identity: sca.identity, key: sca.key, authServer: auth.issuer });
    authClosed = closedNow();
    const error = await refusal(scaAgent.fetch(`${site}/contacts`, { method: 'POST', upstreamToken: upstream }));
    expect(error.details).toMatchObject({ status: 403, error: 'access_denied' });
    expect(error.message).toMatch(TODAY_REASON('crm:write'));
    expect(authPolicy.seen.at(-1)).toMatchObject({ operation: 'exchange', stage: 'request', user: USER_ID, agent: sca.identity, chain: [backend.identity], scopes: ['crm:write'] });
    expect(auth.audit.at(-1)).toMatchObject({ type: 'request.refused', code: 'policy_denied', agent: sca.identity });

    const read = await scaAgent.fetch(`${site}/contacts`, { upstreamToken: upstream });
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ scope: ['crm:read'], sub: USER_ID });
    const exchanged = auth.audit.filter((e) => e.type === 'token.exchanged').at(-1)!;
    expect(exchanged).toMatchObject({ sub: USER_ID, scope: 'crm:read', act: { agent: backend.identity, sub: USER_ID } });
  });

  it('refresh: a write token is not renewed on a closed day', async () => {
    authClosed = [];
    const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'crm:write', audience: auth.issuer });
    const issued = await signedFetch(auth.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
    expect(issued.status).toBe(200);
    authClosed = closedNow();
    const renewed = await signedFetch(auth.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { auth_token: issued.body.auth_token } });
    expect(renewed.status).toBe(403);
    expect(renewed.body.error).toBe('access_denied');
    expect(String(renewed.body.error_description)).toMatch(TODAY_REASON('crm:write'));
    expect(authPolicy.seen.at(-1)).toMatchObject({ operation: 'refresh', agent: backend.identity, resource: sca.identity, scopes: ['crm:write'] });
  });

  it('consent: asked again on delivery with the user known; narrowed there, the token carries the reads only', async () => {
    authClosed = closedNow();
    const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'supply-chain:optimize crm:write', audience: auth.issuer });
    const pending = await signedFetch(auth.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
    // At the request: narrowed to the read-like scope that needs consent.
    expect(pending.status).toBe(202);
    expect(authPolicy.seen.at(-1)).toMatchObject({ stage: 'request', scopes: ['supply-chain:optimize', 'crm:write'] });
    expect((await decideOverHttp(auth.interactionEndpoint, String(pending.body.code), 'approve')).status).toBe(200);
    const delivered = await signedFetch(String(pending.body.location), { key: backend.key, signatureKey: backend.signatureKey });
    expect(delivered.status).toBe(200);
    expect(decodeJwt(String(delivered.body.auth_token)).claims).toMatchObject({ sub: USER_ID, scope: 'supply-chain:optimize' });
    expect(authPolicy.seen.at(-1)).toMatchObject({ stage: 'consented', user: USER_ID, scopes: ['supply-chain:optimize'] });
  });

  it('a failing policy is 503 policy_unavailable with Retry-After, never an allow; a hanging one is cut at policyTimeoutMs', async () => {
    const cases: Array<[IssuancePolicy, RegExp]> = [
      [() => Promise.reject(new Error('rules engine down')), /^The issuance policy failed: rules engine down$/],
      [() => new Promise<never>(() => undefined), /^The issuance policy did not answer within 200 ms$/],
    ];
    for (const [policy, reason] of cases) {
      const server = await startAuthServer({ realm: testRealm(), policy, policyTimeoutMs: 200 });
      open.push(server);
      const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'crm:read', audience: server.issuer });
      const res = await signedFetch(server.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
      expect(res.status).toBe(503);
      expect(res.body.error).toBe('server_error');
      expect(res.headers.get('retry-after')).toBe('5');
      expect(server.audit.at(-1)).toMatchObject({ type: 'request.refused', code: 'policy_unavailable', status: 503 });
      expect(server.audit.at(-1)!.reason).toMatch(reason);
      expect(server.audit.some((e) => e.type === 'token.issued')).toBe(false);
    }
  });
});

describe('OAuth token endpoint: RFC 8693 token exchange with the kit client', () => {
  const exchange = (subjectToken: string, scope: string) =>
    exchangeToken({
      tokenEndpoint: `${auth.issuer}/protocol/openid-connect/token`,
      clientId: 'supply-chain-agent',
      auth: { method: 'client_secret_basic', clientSecret: SECRETS['supply-chain-agent'] },
      audience: 'supply-chain-agent',
      scope,
      subjectToken,
    });

  it('narrows crm:read crm:write to crm:read on a closed day, and denies crm:write alone with the reason', async () => {
    authClosed = [];
    const subject = await userToken(auth, backend, sca, 'supply-chain:optimize crm:read crm:write');
    authClosed = closedNow();
    const narrowed = await exchange(subject, 'crm:read crm:write');
    expect(narrowed.scope).toBe('crm:read');
    expect(decodeJwt(narrowed.accessToken).claims).toMatchObject({ sub: USER_ID, scope: 'crm:read', client_id: 'supply-chain-agent' });
    expect(authPolicy.seen.at(-1)).toMatchObject({ generation: 'oauth', endpoint: 'oauth-token', operation: 'token-exchange', user: USER_ID, agent: 'supply-chain-agent', scopes: ['crm:read', 'crm:write'] });
    expect(auth.audit.at(-1)).toMatchObject({ type: 'token.exchanged', endpoint: 'openid-connect', scope: 'crm:read' });

    const error = await refusal(exchange(subject, 'crm:write'));
    expect(error.details).toMatchObject({ error: 'access_denied' });
    expect(error.message).toMatch(TODAY_REASON('crm:write'));
    expect(auth.audit.at(-1)).toMatchObject({ type: 'request.refused', endpoint: 'openid-connect', client: 'supply-chain-agent', code: 'policy_denied' });
  });
});

describe('-11 person server and -11 access server, with the kit -11 agent', () => {
  it('person server: the auth token for a write is refused after the person token; the problem+json detail says why', async () => {
    authClosed = closedNow();
    const site = await startResource(['draft-11']);
    const agent = agent11('writer');
    const error = await refusal(agent.fetch(`${site}/contacts`, { method: 'POST' }));
    expect(error.message).toMatch(TODAY_REASON('crm:write'));
    expect(error.details).toMatchObject({ status: 403, error: 'access_denied' });
    expect(String(error.details?.detail)).toContain('Denied by the issuance policy');
    const [person, authToken] = authPolicy.seen.slice(-2);
    expect(person).toMatchObject({ generation: 'draft-11', endpoint: 'person-server', operation: 'person-token', stage: 'consented', user: USER_ID, scopes: [] });
    expect(authToken).toMatchObject({ generation: 'draft-11', endpoint: 'person-server', operation: 'auth-token', stage: 'request', user: USER_ID, resource: site, scopes: ['crm:write'] });
    expect(authToken!.agent).toMatch(/^aauth:writer@127\.0\.0\.1:\d+$/);
    expect(auth.audit.at(-1)).toMatchObject({ type: 'request.refused', code: 'policy_denied', agent: authToken!.agent });

    // The same agent reads: its person token is reused, its auth token issued.
    const read = await agent.fetch(`${site}/contacts`);
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ generation: 'draft-11', scope: ['crm:read'] });
  });

  it('access server: its own policy refuses the federated request; the person server relays the reason to the agent', async () => {
    authClosed = [];
    accessClosed = closedNow();
    const site = await startResource(['draft-11'], access.origin);
    const agent = agent11('four');
    const error = await refusal(agent.fetch(`${site}/contacts`, { method: 'POST' }));
    expect(error.message).toMatch(TODAY_REASON('crm:write'));
    expect(error.message).toContain(`The access server ${access.origin} refused`);
    expect(accessPolicy.seen.at(-1)).toMatchObject({ generation: 'draft-11', endpoint: 'access-server', operation: 'auth-token', resource: site, scopes: ['crm:write'] });
    expect(access.audit.at(-1)).toMatchObject({ type: 'request.refused', code: 'policy_denied', status: 403 });
    expect(access.audit.at(-1)!.reason).toMatch(TODAY_REASON('crm:write'));

    accessClosed = [];
    const write = await agent.fetch(`${site}/contacts`, { method: 'POST' });
    expect(write.status).toBe(200);
    expect(await write.json()).toMatchObject({ scope: ['crm:write'] });
  });
});
