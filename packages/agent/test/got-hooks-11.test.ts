import { generateKey } from '@aauth-kit/core';
import express from 'express';
import got, { RequestError } from 'got';
import { afterEach, describe, expect, it } from 'vitest';
import { AAuthChallengeError, type AgentEvent, createAgent, createAgentProvider, type Interaction } from '../src/index.js';
import { listen } from '../../../test/fixtures/http.js';
import { createPersonServer11, type PersonServer11, type PersonServer11Options } from '../../../test/fixtures/person-server-11.js';
import { createResource11, type Resource11, type Resource11Options } from '../../../test/fixtures/resource-11.js';

// The got 14 hooks speaking AAuth -11 (issue 15): the same machine and effects as agent.fetch
// (lib/next-step-11.ts driven by lib/draft11-call.ts), with got sending every attempt. Real got
// over loopback against the minimal -11 resource and person server of test/fixtures.

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

/** What the resource received, per request (method, path, body bytes, content-type). */
interface Received {
  method: string;
  path: string;
  body: string;
  contentType: string | undefined;
  signatureKey: string;
}

interface World {
  ps: PersonServer11;
  resource: Resource11;
  received: Received[];
  agent: (now?: () => number) => { agent: ReturnType<typeof createAgent>; events: AgentEvent[]; interactions: Interaction[] };
}

async function world(opts: { ps?: PersonServer11Options; resource?: Partial<Resource11Options> } = {}): Promise<World> {
  const ps = await createPersonServer11(opts.ps);
  open.push(ps);
  const resource = await createResource11({
    routes: { '/hello': { mode: 'agent-token' }, '/me': { mode: 'person-token' }, '/data': { mode: 'auth-token' }, '/held': { mode: 'held' }, '/session': { mode: 'session' } },
    ...opts.resource,
  });
  open.push(resource);
  const received: Received[] = [];
  resource.mount((req, _res, next) => {
    if (!req.path.startsWith('/.well-known/')) {
      const body = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
      received.push({ method: req.method, path: req.path, body, contentType: req.headers['content-type'], signatureKey: String(req.headers['signature-key'] ?? '') });
    }
    next();
  });
  // The agent provider's documents, on loopback.
  let handler: express.RequestHandler = (_req, _res, next) => next();
  const app = express();
  app.use((req, res, next) => handler(req, res, next));
  const listening = await listen(app);
  open.push(listening);
  const provider = createAgentProvider({ issuer: listening.origin, key: generateKey({ kid: 'ap-key-1' }), allowLoopback: true });
  handler = provider.wellKnown() as express.RequestHandler;

  const agent = (now?: () => number) => {
    const events: AgentEvent[] = [];
    const interactions: Interaction[] = [];
    const made = createAgent({
      key: generateKey({ kid: 'agent-key-1' }),
      draft11: { provider, local: 'got-tester', ps: ps.issuer, allowLoopback: true },
      onEvent: (e) => events.push(e),
      sleep: async () => undefined,
      ...(now ? { now } : {}),
      onInteraction: (i) => {
        interactions.push(i);
        ps.approve(i.code);
        resource.approve(i.code);
      },
    });
    return { agent: made, events, interactions };
  };
  return { ps, resource, received, agent };
}

describe('got hooks speak AAuth -11 (the agent generation is draft-11)', () => {
  it('signs with sig=jwt and its agent token for agent-identity access', async () => {
    const w = await world();
    const { agent } = w.agent();
    const client = agent.extendGot(got);
    const body = await client.get(`${w.resource.issuer}/hello`).json<Record<string, unknown>>();
    expect(body).toMatchObject({ ok: true, kind: 'aa-agent+jwt', sub: expect.stringMatching(/^aauth:got-tester@127\.0\.0\.1:\d+$/) });
    expect(w.resource.calls.map((c) => [c.kind, c.status])).toEqual([['aa-agent+jwt', 200]]);
    expect(w.resource.calls[0]!.token).toBe(await agent.agentToken());
    expect(w.resource.calls[0]!.components).toEqual(['@method', '@authority', '@path', 'signature-key']);
    expect(w.received[0]!.signatureKey).toMatch(/^sig=jwt;jwt="/);
    expect(w.ps.calls).toHaveLength(0);
  });

  it('401 person-token then auth-token (202 interaction, polling), a JSON body sent intact every time, the same events as agent.fetch', async () => {
    const w = await world({ ps: { interactionForAuth: true, extraPolls: 1 } });
    const { agent, events, interactions } = w.agent();
    const client = agent.extendGot(got);
    const res = await client.post(`${w.resource.issuer}/data`, { json: { order: 7, note: 'ünïcode' } });
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body) as Record<string, unknown>;
    expect(body).toMatchObject({ kind: 'aa-auth+jwt', scope: 'data.read', iss: w.ps.issuer });
    expect(w.ps.personOf(body.sub as string)).toMatch(/^person-of:aauth:got-tester@/);

    // What the resource saw: the agent token, the person token, the auth token; the same bytes each time, covered.
    expect(w.resource.calls.map((c) => [c.method, c.kind, c.status])).toEqual([
      ['POST', 'aa-agent+jwt', 401],
      ['POST', 'aa-person+jwt', 401],
      ['POST', 'aa-auth+jwt', 200],
    ]);
    const sent = JSON.stringify({ order: 7, note: 'ünïcode' });
    expect(w.received.map((r) => [r.body, r.contentType])).toEqual([
      [sent, 'application/json'],
      [sent, 'application/json'],
      [sent, 'application/json'],
    ]);
    for (const call of w.resource.calls) expect(call.components).toEqual(['@method', '@authority', '@path', 'content-type', 'content-digest', 'signature-key']);

    // What the person server saw: a person token request, an auth token request with presented_token, polls.
    expect(w.ps.calls.map((c) => [c.method, c.path, c.status])).toEqual([
      ['POST', '/person-token', 200],
      ['POST', '/token', 202],
      ['GET', '/pending', 202],
      ['GET', '/pending', 200],
    ]);
    expect(w.ps.calls[0]!.body).toEqual({ resource: w.resource.issuer, capabilities: ['interaction'] });
    expect(w.ps.calls[1]!.body!.presented_token).toBe(w.resource.calls[1]!.token);
    expect(interactions).toHaveLength(1);
    expect(interactions[0]!.url).toBe(`${w.ps.issuer}/interaction?code=${encodeURIComponent(interactions[0]!.code)}`);

    // The same call through agent.fetch (a second agent) yields the same events in the same order.
    const viaFetch = w.agent();
    const fetched = await viaFetch.agent.fetch(`${w.resource.issuer}/data`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: sent });
    expect(fetched.status).toBe(200);
    expect(events.map((e) => e.type)).toEqual(viaFetch.events.map((e) => e.type));
    expect(events.map((e) => e.type)).toEqual(['signed', 'challenged', 'retried', 'signed', 'challenged', 'interaction', 'exchanged', 'retried', 'signed']);

    // got and agent.fetch share the agent's -11 tokens: the next calls present the auth token at once.
    const before = w.resource.calls.length;
    expect((await client.get(`${w.resource.issuer}/data`)).statusCode).toBe(200);
    expect((await agent.fetch(`${w.resource.issuer}/data`)).status).toBe(200);
    expect(w.resource.calls.slice(before).map((c) => [c.kind, c.status])).toEqual([
      ['aa-auth+jwt', 200],
      ['aa-auth+jwt', 200],
    ]);
  });

  it('finishes a held call (202 requirement=auth-token) with a bodiless signed GET of the pending URL', async () => {
    const w = await world();
    const { agent } = w.agent();
    const res = await agent.extendGot(got).post(`${w.resource.issuer}/held`, { body: 'order', headers: { 'content-type': 'text/plain' } });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ ok: true, held: true, path: '/held', kind: 'aa-auth+jwt' });
    expect(w.resource.calls.map((c) => [c.method, c.path, c.kind, c.status])).toEqual([
      ['POST', '/held', 'aa-agent+jwt', 401],
      ['POST', '/held', 'aa-person+jwt', 202],
      ['GET', expect.stringMatching(/^\/pending\//), 'aa-auth+jwt', 200],
    ]);
    expect(w.received.map((r) => [r.method, r.body, r.contentType])).toEqual([
      ['POST', 'order', 'text/plain'],
      ['POST', 'order', 'text/plain'],
      ['GET', '', undefined],
    ]);
    expect(w.resource.calls[2]!.components).toEqual(['@method', '@authority', '@path', 'signature-key']);
    expect(w.resource.executions).toBe(1);
  });

  it('agent.fetch: the poll of a held call is reported as the GET it is (before: the call\'s own method, POST)', async () => {
    const w = await world();
    const { agent, events } = w.agent();
    const res = await agent.fetch(`${w.resource.issuer}/held`, { method: 'POST', body: 'order', headers: { 'content-type': 'text/plain' } });
    expect(res.status).toBe(200);
    const retried = events.filter((e): e is Extract<AgentEvent, { type: 'retried' }> => e.type === 'retried');
    expect(retried.at(-1)).toEqual({ type: 'retried', method: 'GET', url: expect.stringMatching(new RegExp(`^${w.resource.issuer}/pending/`)) });
    expect(w.resource.calls.at(-1)!.method).toBe('GET');
  });

  it('runs a resource-managed interaction, keeps AAuth-Access and covers authorization with it on the next got call', async () => {
    const w = await world();
    const { agent, interactions } = w.agent();
    const client = agent.extendGot(got);
    const first = await client.get(`${w.resource.issuer}/session`);
    expect(first.statusCode).toBe(200);
    expect(first.headers['aauth-access']).toMatch(/^sess-/);
    expect(interactions[0]!.url).toBe(`${w.resource.issuer}/interact?code=${interactions[0]!.code}`);
    expect(w.resource.calls.map((c) => [c.method, c.status, c.session])).toEqual([
      ['GET', 202, false],
      ['GET', 200, false],
    ]);
    const second = await client.get(`${w.resource.issuer}/session`).json<Record<string, unknown>>();
    expect(second).toMatchObject({ session: true, kind: 'aa-agent+jwt' });
    const last = w.resource.calls.at(-1)!;
    expect([last.status, last.session]).toEqual([200, true]);
    expect(last.components).toEqual(['@method', '@authority', '@path', 'authorization', 'signature-key']);
  });

  it('retries once after clock_skew, its clock corrected from Date', async () => {
    const w = await world();
    const { agent } = w.agent(() => Date.now() / 1000 + 600);
    const res = await agent.extendGot(got).get(`${w.resource.issuer}/hello`);
    expect(res.statusCode).toBe(200);
    expect(w.resource.calls.map((c) => [c.status, c.signatureError])).toEqual([
      [401, 'clock_skew'],
      [200, undefined],
    ]);
  });

  it('drops a revoked auth token and earns a new one', async () => {
    const w = await world();
    const { agent } = w.agent();
    const client = agent.extendGot(got);
    expect((await client.get(`${w.resource.issuer}/data`)).statusCode).toBe(200);
    const used = w.resource.calls.at(-1)!;
    w.resource.revoke(used.jti!);
    expect((await client.get(`${w.resource.issuer}/data`)).statusCode).toBe(200);
    expect(w.resource.calls.slice(3).map((c) => [c.kind, c.status, c.signatureError])).toEqual([
      ['aa-auth+jwt', 401, 'revoked_jwt'],
      ['aa-person+jwt', 401, undefined],
      ['aa-auth+jwt', 200, undefined],
    ]);
    expect(w.resource.calls.at(-1)!.jti).not.toBe(used.jti);
    expect(w.ps.calls.map((c) => c.path)).toEqual(['/person-token', '/token', '/token']);
  });

  it('refuses a resource token for another key before the auth token request: RequestError with the AAuth code, cause AAuthChallengeError', async () => {
    const w = await world({ resource: { tamperResourceToken: (claims) => void (claims.agent_jkt = 'AAAA') } });
    const { agent, events } = w.agent();
    const error = await agent.extendGot(got).get(`${w.resource.issuer}/data`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RequestError);
    expect((error as RequestError).code).toBe('resource_token_not_for_agent');
    const cause = (error as RequestError).cause as AAuthChallengeError;
    expect(cause).toBeInstanceOf(AAuthChallengeError);
    expect(cause.status).toBe(502);
    expect(cause.response.status).toBe(401);
    expect(await cause.response.json()).toEqual({ error: 'auth_token_required', detail: 'an auth token is required' });
    expect(w.ps.calls.map((c) => c.path)).toEqual(['/person-token']);
    expect(events.at(-1)).toMatchObject({ type: 'failed', code: 'resource_token_not_for_agent' });
  });

  it('a caller\'s auth token in context.aauth is presented on the first attempt', async () => {
    const w = await world();
    const { agent } = w.agent();
    expect((await agent.fetch(`${w.resource.issuer}/data`)).status).toBe(200);
    const authToken = w.resource.calls.at(-1)!.token!;
    agent.flush();
    const client = got.extend({ hooks: agent.gotHooks() });
    const res = await client.get(`${w.resource.issuer}/data`, { context: { aauth: { authToken } } });
    expect(res.statusCode).toBe(200);
    expect(w.resource.calls.slice(3).map((c) => [c.kind, c.status, c.token === authToken])).toEqual([['aa-auth+jwt', 200, true]]);
    // A person token is not an auth token: refused before anything is sent.
    const before = w.resource.calls.length;
    const error = (await client.get(`${w.resource.issuer}/data`, { context: { aauth: { authToken: w.resource.calls[1]!.token! } } }).catch((e: unknown) => e)) as RequestError;
    expect(error.code).toBe('token_typ_invalid');
    expect((error.cause as { status: number }).status).toBe(502);
    expect(w.resource.calls).toHaveLength(before);
  });
});
