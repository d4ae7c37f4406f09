import { type AgentEvent, createAgent, createAgentProvider } from '@aauth-kit/agent';
import { generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import got from 'got';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAuthServer, type TestAuthServer } from './fixtures/fake-auth-server.js';
import { listen, type Listening } from './fixtures/http.js';
import { createPersonServer11, type PersonServer11 } from './fixtures/person-server-11.js';

// The agent's got hooks against the kit's own resource (@aauth-kit/express with -11 on) and the
// minimal -11 person server of test/fixtures, real got over loopback: a -11 agent, and an 'auto'
// agent that meets a Keycloak-profile resource and an -11-only one through the same got instance.

const open: Array<{ close(): Promise<void> }> = [];
let as: TestAuthServer;
let ps: PersonServer11;
let dual: string;
let only11: string;
let provider: ReturnType<typeof createAgentProvider>;
let providerHost: string;

async function site(generations: Array<'keycloak' | 'draft-11'> | undefined): Promise<string> {
  const app = express();
  const listening: Listening = await listen(app);
  open.push(listening);
  const resource = createResource({
    identity: listening.origin,
    key: generateKey({ kid: 'resource-1' }),
    authServer: as.issuer,
    scopes: { 'data.read': 'Read market data' },
    ...(generations ? { generations } : {}),
    draft11: { allowLoopback: true, personServers: [ps.issuer], accessMode: 'auth-token' },
  });
  app.use(resource.wellKnown());
  app.get('/data', resource.require({ scope: 'data.read' }), (req: Request, res: Response) => res.json(req.aauth));
  app.post('/data', resource.require({ scope: 'data.read' }), express.raw({ type: () => true }), (req: Request, res: Response) => {
    res.json({ aauth: req.aauth, body: Buffer.isBuffer(req.body) ? req.body.toString('utf8') : null });
  });
  app.get('/hello', resource.require({ level: 'identity' }), (req: Request, res: Response) => res.json(req.aauth));
  return listening.origin;
}

beforeAll(async () => {
  as = await createTestAuthServer();
  open.push(as);
  ps = await createPersonServer11({ interactionForAuth: true });
  open.push(ps);
  dual = await site(undefined);
  only11 = await site(['draft-11']);
  let handler: express.RequestHandler = (_q, _s, next) => next();
  const app = express();
  app.use((q, s, n) => handler(q, s, n));
  const listening = await listen(app);
  open.push(listening);
  providerHost = new URL(listening.origin).host;
  provider = createAgentProvider({ issuer: listening.origin, key: generateKey({ kid: 'ap-1' }), allowLoopback: true });
  handler = provider.wellKnown() as express.RequestHandler;
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

function agent11(local: string, events: AgentEvent[], identity?: string) {
  return createAgent({
    key: generateKey({ kid: `agent-${local}` }),
    draft11: { provider, local, ps: ps.issuer, allowLoopback: true },
    sleep: async () => undefined,
    onEvent: (e) => events.push(e),
    onInteraction: ({ code }) => ps.approve(code),
    ...(identity ? { identity, authServer: as.issuer } : {}),
  });
}

describe('got hooks, -11, against the kit resource', () => {
  it('agent-identity access: the resource sees the agent token under sig=jwt', async () => {
    const agent = agent11('got-hello', []);
    const body = await agent.extendGot(got).get(`${dual}/hello`).json<Record<string, unknown>>();
    expect(body).toMatchObject({ generation: 'draft-11', scheme: 'jwt', agentId: `aauth:got-hello@${providerHost}` });
  });

  it('person-token, then auth-token (202 interaction at the person server), then success with the covered body intact', async () => {
    const events: AgentEvent[] = [];
    const agent = agent11('got-buyer', events);
    const client = agent.extendGot(got);
    const res = await client.post(`${dual}/data`, { body: 'buy 3', headers: { 'content-type': 'text/plain' } });
    expect(res.statusCode).toBe(200);
    const { aauth, body } = JSON.parse(res.body) as { aauth: Record<string, unknown>; body: string };
    expect(body).toBe('buy 3');
    expect(aauth).toMatchObject({ generation: 'draft-11', scheme: 'jwt', ps: ps.issuer, accessMode: 'auth-token', thumbprint: agent.key.thumbprint });
    expect(aauth.token).toMatchObject({ kind: 'auth', issuer: ps.issuer, scope: ['data.read'] });
    expect(ps.personOf(aauth.sub as string)).toBe(`person-of:aauth:got-buyer@${providerHost}`);
    const mine = ps.calls.filter((c) => c.agentSub === `aauth:got-buyer@${providerHost}`);
    expect(mine.map((c) => [c.method, c.path, c.status])).toEqual([
      ['POST', '/person-token', 200],
      ['POST', '/token', 202],
      ['GET', '/pending', 200],
    ]);
    expect(Object.keys(mine[1]!.body!).sort()).toEqual(['capabilities', 'presented_token', 'resource_token']);
    expect(events.filter((e) => e.type === 'challenged').map((e) => (e as { require: string }).require)).toEqual(['person-token', 'auth-token']);

    // Cached: the next got call is one request presenting the auth token.
    const signedBefore = events.filter((e) => e.type === 'signed').length;
    const again = await client.get(`${dual}/data`).json<Record<string, unknown>>();
    expect(again).toMatchObject({ generation: 'draft-11', accessMode: 'auth-token', sub: aauth.sub });
    expect(events.filter((e) => e.type === 'signed').length - signedBefore).toBe(1);
  });
});

describe('one got instance, both generations (an auto agent)', () => {
  it('stays in the Keycloak profile where the resource answers it there, and switches a call over where it answers in -11', async () => {
    let serve: express.RequestHandler = (_q, _s, next) => next();
    const app = express();
    app.use((q, s, n) => serve(q, s, n));
    const id = await listen(app);
    open.push(id);
    const events: AgentEvent[] = [];
    const agent = agent11('got-auto', events, id.origin);
    serve = agent.wellKnown() as express.RequestHandler;
    expect(agent.generationFor(only11)).toBe('keycloak');
    const client = agent.extendGot(got);

    const kc = await client.get(`${dual}/data`).json<Record<string, unknown>>();
    expect(kc).toMatchObject({ generation: 'keycloak', agent: id.origin, scope: ['data.read'] });
    expect(agent.generationFor(dual)).toBe('keycloak');
    expect(as.tokenRequests).toHaveLength(1);

    events.length = 0;
    const d11 = await client.get(`${only11}/data`).json<Record<string, unknown>>();
    expect(d11).toMatchObject({ generation: 'draft-11', ps: ps.issuer });
    expect(agent.generationFor(only11)).toBe('draft-11');
    // The Keycloak-profile first attempt (jwks_uri) met an -11 answer; the call went on in -11 (jwt).
    const schemes = events.filter((e) => e.type === 'signed').map((e) => (e as { scheme: string }).scheme);
    expect(schemes).toEqual(['jwks_uri', 'jwt', 'jwt', 'jwt']);
    expect(as.tokenRequests).toHaveLength(1);

    // The next call to that origin starts in -11, presenting the auth token it earned.
    events.length = 0;
    expect(await client.get(`${only11}/data`).json<Record<string, unknown>>()).toMatchObject({ generation: 'draft-11' });
    expect(events.filter((e) => e.type === 'signed').map((e) => (e as { scheme: string }).scheme)).toEqual(['jwt']);
    // And the Keycloak-profile resource is still called in the Keycloak profile, with its cached token.
    expect(await client.get(`${dual}/data`).json<Record<string, unknown>>()).toMatchObject({ generation: 'keycloak' });
    expect(as.tokenRequests).toHaveLength(1);
  });
});
