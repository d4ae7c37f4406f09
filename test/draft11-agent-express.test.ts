import { type Agent, createAgent, createAgentProvider } from '@aauth-kit/agent';
import { generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAuthServer, type TestAuthServer } from './fixtures/fake-auth-server.js';
import { listen, type Listening } from './fixtures/http.js';
import { createPersonServer11, type PersonServer11 } from './fixtures/person-server-11.js';

// The kit's agent against the kit's own resource (@aauth-kit/express with -11 on, helper B) and the
// minimal -11 person server of test/fixtures: the agent's generation choice, its person token and
// auth token flights, and what the resource puts in req.aauth. Loopback relaxation on both sides.

const open: Array<{ close(): Promise<void> }> = [];
let as: TestAuthServer;
let ps: PersonServer11;
let dual: string;
let only11: string;
let providerOrigin: string;
let provider: ReturnType<typeof createAgentProvider>;
const interactions: string[] = [];

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
  const whoami = (req: Request, res: Response) => res.json(req.aauth);
  app.use(resource.wellKnown());
  app.get('/data', resource.require({ scope: 'data.read' }), whoami);
  app.post('/data', resource.require({ scope: 'data.read' }), express.raw({ type: () => true }), (req: Request, res: Response) => {
    res.json({ aauth: req.aauth, body: Buffer.isBuffer(req.body) ? req.body.toString('utf8') : null });
  });
  app.get('/hello', resource.require({ level: 'identity' }), whoami);
  // A route that wants a header covered beyond -11's base set: it says so only in invalid_input's required_input.
  app.get('/strict', resource.require({ level: 'identity', requiredComponents: ['x-request-id'] }), whoami);
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
  providerOrigin = listening.origin;
  provider = createAgentProvider({ issuer: providerOrigin, key: generateKey({ kid: 'ap-1' }), allowLoopback: true });
  handler = provider.wellKnown() as express.RequestHandler;
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

function agent11(options: { generation?: 'draft-11' | 'auto'; identity?: string } = {}): Agent {
  return createAgent({
    key: generateKey({ kid: 'agent-11' }),
    draft11: { provider, local: 'buyer', ps: ps.issuer, allowLoopback: true },
    sleep: async () => undefined,
    onInteraction: ({ url, code }) => {
      interactions.push(url);
      ps.approve(code);
    },
    ...(options.identity ? { identity: options.identity, authServer: as.issuer } : {}),
    ...(options.generation ? { generation: options.generation } : {}),
  });
}

describe('the kit agent against the kit resource, -11', () => {
  it('agent-identity access: the resource sees the agent token under sig=jwt', async () => {
    const res = await agent11().fetch(`${dual}/hello`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ generation: 'draft-11', scheme: 'jwt', agentId: `aauth:buyer@${new URL(providerOrigin).host}` });
  });

  it('person-token, then auth-token with a resource token from the kit resource, then success with a covered body', async () => {
    const agent = agent11();
    const res = await agent.fetch(`${dual}/data`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'buy 3' });
    expect(res.status).toBe(200);
    const { aauth, body } = (await res.json()) as { aauth: Record<string, unknown>; body: string };
    expect(body).toBe('buy 3');
    expect(aauth).toMatchObject({ generation: 'draft-11', scheme: 'jwt', ps: ps.issuer, accessMode: 'auth-token' });
    expect(ps.personOf(aauth.sub as string)).toMatch(/^person-of:aauth:buyer@/);
    const mine = ps.calls.filter((c) => c.agentSub === `aauth:buyer@${new URL(providerOrigin).host}`);
    expect(mine.map((c) => [c.method, c.path, c.status])).toEqual([
      ['POST', '/person-token', 200],
      ['POST', '/token', 202],
      ['GET', '/pending', 200],
    ]);
    const tokenRequest = mine[1]!;
    expect(Object.keys(tokenRequest.body!).sort()).toEqual(['capabilities', 'presented_token', 'resource_token']);
    expect(interactions.at(-1)).toMatch(new RegExp(`^${ps.issuer}/interaction\\?code=`));
    // Cached: the next call is one request with the auth token.
    const again = await agent.fetch(`${dual}/data`);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ generation: 'draft-11' });
  });
});

describe('a resource that wants more covered (-11 "Covered Components": 401 invalid_input with required_input)', () => {
  it('the agent sends again covering what required_input names, once, and is served', async () => {
    const events: string[] = [];
    const agent = createAgent({
      key: generateKey({ kid: 'agent-strict' }),
      draft11: { provider, local: 'strict', ps: ps.issuer, allowLoopback: true },
      sleep: async () => undefined,
      onEvent: (e) => events.push(e.type),
    });
    const res = await agent.fetch(`${only11}/strict`, { headers: { 'x-request-id': 'r-77' } });
    expect(res.status).toBe(200);
    expect(events.filter((e) => e === 'retried')).toHaveLength(1);
  });

  it('a header it names that the request lacks ends the call, naming the header', async () => {
    const agent = createAgent({ key: generateKey({ kid: 'agent-strict-2' }), draft11: { provider, local: 'strict2', ps: ps.issuer, allowLoopback: true }, sleep: async () => undefined });
    await expect(agent.fetch(`${only11}/strict`)).rejects.toMatchObject({ code: 'challenge_unsatisfiable', message: expect.stringContaining('"x-request-id" header to be covered') });
  });
});

describe('one agent, both generations, against the kit resource', () => {
  it('an auto agent stays in the Keycloak profile where the resource answers it there, and switches where it answers in -11', async () => {
    // The agent's Keycloak-profile identity (jwks_uri) is served by a loopback server.
    let serve: express.RequestHandler = (_q, _s, next) => next();
    const app = express();
    app.use((q, s, n) => serve(q, s, n));
    const id = await listen(app);
    open.push(id);
    const agent = agent11({ identity: id.origin });
    serve = agent.wellKnown() as express.RequestHandler;

    const kc = await agent.fetch(`${dual}/data`);
    expect(kc.status).toBe(200);
    expect(await kc.json()).toMatchObject({ generation: 'keycloak', agent: id.origin, scope: ['data.read'] });
    expect(agent.generationFor(dual)).toBe('keycloak');

    const d11 = await agent.fetch(`${only11}/data`);
    expect(d11.status).toBe(200);
    expect(await d11.json()).toMatchObject({ generation: 'draft-11', ps: ps.issuer });
    expect(agent.generationFor(only11)).toBe('draft-11');
  });
});
