import { createAgent, createAgentProvider, type Interaction } from '@aauth-kit/agent';
import { generateKey, isAAuthError } from '@aauth-kit/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import got from 'got';
import { afterEach, describe, expect, it } from 'vitest';
import { hostProvider as hostProviderOn } from './fixtures/agent-provider.js';
import { listen } from './fixtures/http.js';
import { createPersonServer11, mint11 } from './fixtures/person-server-11.js';
import { createResource11 } from './fixtures/resource-11.js';

// The -11 agent against resources and person servers that misbehave (agent audit): 202 forever,
// the same or new interaction codes on every poll, a poll never answered, a clock_skew naming an
// absurd date, a session token earned for one caller chain. Each call ends, bounded, with a code;
// nothing one server says reaches the calls to another, or for another caller. The agent's clock
// is a fake one its sleep advances, so hours of waiting take no time.

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse, origin: string) => void) {
  let origin = '';
  const l = await listen((req, res) => handler(req, res, origin));
  origin = l.origin;
  open.push(l);
  return l;
}

const hostProvider = async () => (await hostProviderOn(open)).provider;

/** An agent on a fake clock that its sleep advances. */
function agentWithClock(opts: { ps?: string; onInteraction?: (i: Interaction) => void; interactionTimeoutMs?: number; timeoutMs?: number } = {}) {
  const clock = { t: Date.now() / 1000 };
  const provider = createAgentProvider({ issuer: 'http://127.0.0.1:9', key: generateKey({ kid: 'ap' }), allowLoopback: true, now: () => clock.t });
  const agent = createAgent({
    key: generateKey({ kid: 'agent-key-1' }),
    draft11: { provider, local: 'tester', ps: opts.ps ?? 'http://127.0.0.1:9', allowLoopback: true },
    now: () => clock.t,
    sleep: async (ms) => {
      clock.t += ms / 1000;
    },
    interactionTimeoutMs: opts.interactionTimeoutMs ?? 10_000,
    ...(opts.timeoutMs ? { tokenRequest: { timeoutMs: opts.timeoutMs } } : {}),
    ...(opts.onInteraction ? { onInteraction: opts.onInteraction } : {}),
  });
  return { agent, clock };
}

describe('polls of a resource that never finishes', () => {
  it('202 requirement=approval forever, or bare 202s on the polls: interaction_timeout once interactionTimeoutMs has passed', async () => {
    for (const first of ['approval', 'bare'] as const) {
      let polls = 0;
      const r = await serve((req, res) => {
        if (req.url !== '/x') polls++;
        if (polls >= 300) return void res.writeHead(200).end('{}');
        if (req.url === '/x' || first === 'approval') return void res.writeHead(202, { Location: '/p', 'Retry-After': '300', 'AAuth-Requirement': 'requirement=approval' }).end();
        res.writeHead(202, { 'Retry-After': '60' }).end();
      });
      const { agent, clock } = agentWithClock();
      const t0 = clock.t;
      const error = await agent.fetch(`${r.origin}/x`).then(() => undefined, (e: unknown) => e);
      expect(isAAuthError(error) ? error.code : error, first).toBe('interaction_timeout');
      expect(clock.t - t0, first).toBeLessThanOrEqual(10.001);
      expect(polls, first).toBeLessThan(5);
    }
  });

  it('the same interaction code on every poll is handed over once; new codes at most three times', async () => {
    for (const fresh of [false, true]) {
      let polls = 0;
      const r = await serve((req, res, origin) => {
        if (req.url !== '/x') polls++;
        if (polls >= 100) return void res.writeHead(200).end('{}');
        const code = fresh ? `ABCD${String(polls + 2).padStart(4, '2')}` : 'ABCD2345';
        res.writeHead(202, { Location: '/p', 'Retry-After': '1', 'AAuth-Requirement': `requirement=interaction; url="${origin}/i"; code="${code}"` }).end();
      });
      const seen: Interaction[] = [];
      const { agent } = agentWithClock({ interactionTimeoutMs: 1_000_000, onInteraction: (i) => void seen.push(i) });
      const error = await agent.fetch(`${r.origin}/x`).then(() => undefined, (e: unknown) => e);
      if (fresh) {
        expect(seen).toHaveLength(3);
        expect(isAAuthError(error) ? error.code : error).toBe('challenge_unsatisfiable');
      } else {
        // Polled on to the server's answer (200 at the 100th poll), the person asked once.
        expect(error).toBeUndefined();
        expect(seen).toHaveLength(1);
      }
    }
  });

  it('a person server giving a new interaction code on every poll: at most three, within the flight deadline', async () => {
    let polls = 0;
    let n = 0;
    const ps = await serve((req, res, origin) => {
      if (req.url === '/.well-known/aauth-person.json') {
        return void res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ issuer: origin, jwks_uri: `${origin}/jwks`, person_token_endpoint: `${origin}/person`, auth_token_endpoint: `${origin}/auth` }));
      }
      if (req.method === 'GET' && req.url === '/p') polls++;
      if (polls >= 100) return void res.writeHead(500, { 'content-type': 'application/problem+json' }).end('{"error":"server_error","detail":"stop"}');
      n++;
      res.writeHead(202, { Location: '/p', 'Retry-After': '5', 'AAuth-Requirement': `requirement=interaction; url="${origin}/i"; code="ABCD${String(n + 2).padStart(4, '2')}"` }).end('{"status":"pending"}');
    });
    const r = await serve((_req, res) => void res.writeHead(401, { 'AAuth-Requirement': 'requirement=person-token' }).end());
    const seen: Interaction[] = [];
    const { agent } = agentWithClock({ ps: ps.origin, interactionTimeoutMs: 1_000_000, onInteraction: (i) => void seen.push(i) });
    const error = await agent.fetch(`${r.origin}/me`).then(() => undefined, (e: unknown) => e);
    expect(isAAuthError(error) ? error.code : error).toBe('auth_server_error');
    expect(seen).toHaveLength(3);
    expect(polls).toBeLessThan(10);
  });

  it('a poll the resource never answers ends the call with resource_unreachable, bounded by tokenRequest.timeoutMs', async () => {
    const r = await serve((req, res) => {
      if (req.url === '/x') return void res.writeHead(202, { Location: '/p', 'Retry-After': '1', 'AAuth-Requirement': 'requirement=approval' }).end();
      // The poll is never answered.
    });
    const { agent } = agentWithClock({ timeoutMs: 300 });
    const error = await agent.fetch(`${r.origin}/x`).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'resource_unreachable', message: expect.stringContaining('did not answer a poll of its pending URL') });
  });

  it('through got as well: the poll is bounded by tokenRequest.timeoutMs (resource_unreachable), not left to got, which sets no timeout', async () => {
    const r = await serve((req, res) => {
      if (req.url === '/x') return void res.writeHead(202, { Location: '/p', 'Retry-After': '1', 'AAuth-Requirement': 'requirement=approval' }).end();
      // The poll is never answered.
    });
    const { agent } = agentWithClock({ timeoutMs: 300 });
    const client = agent.extendGot(got);
    const error = await client(`${r.origin}/x`, { retry: { limit: 0 } }).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'resource_unreachable' });
    expect((error as Error).message).toContain('did not answer a poll of its pending URL');
    expect((error as Error).message).toContain(`${r.origin}/p`);
    expect((error as Error & { cause?: unknown }).cause).toMatchObject({ code: 'resource_unreachable' });
    // The caller's own got timeout, when shorter, bounds the poll too (tokenRequest.timeoutMs is a minute here).
    const patient = agentWithClock({ timeoutMs: 60_000 }).agent.extendGot(got);
    const short = await patient(`${r.origin}/x`, { retry: { limit: 0 }, timeout: { request: 300 } }).then(() => undefined, (e: unknown) => e);
    expect(short).toMatchObject({ code: 'resource_unreachable' });
  }, 15_000);
});

describe('what one server says stays with it', () => {
  it("a resource's clock_skew naming a date a day off moves the signing clock for that origin only, at most an hour", async () => {
    const ps = await createPersonServer11();
    open.push(ps);
    const honest = await createResource11({ routes: { '/hello': { mode: 'agent-token' } } });
    open.push(honest);
    let created: number[] = [];
    const hostile = await serve((req, res) => {
      created.push(Number(/created=(\d+)/.exec(String(req.headers['signature-input']))?.[1]));
      res.writeHead(401, { 'Signature-Error': 'error=clock_skew', Date: new Date(Date.now() - 86_400_000).toUTCString() }).end();
    });
    const provider = await hostProvider();
    const agent = createAgent({ key: generateKey({ kid: 'k' }), draft11: { provider, local: 'tester', ps: ps.issuer, allowLoopback: true }, sleep: async () => undefined });
    expect((await agent.fetch(`${honest.issuer}/hello`)).status).toBe(200);
    expect((await agent.fetch(`${hostile.origin}/x`)).status).toBe(401);
    // The retry to the hostile origin moved by at most an hour, not a day.
    expect(created).toHaveLength(2);
    expect(created[0]! - created[1]!).toBeGreaterThanOrEqual(3599);
    expect(created[0]! - created[1]!).toBeLessThanOrEqual(3601);
    created = [];
    expect((await agent.fetch(`${honest.issuer}/hello`)).status).toBe(200);
  });

  it('a session token earned for one upstream user or mission is presented only on calls for the same', async () => {
    const seen: Array<string | undefined> = [];
    const r = await serve((req, res) => {
      const authz = req.headers.authorization;
      seen.push(authz);
      res.writeHead(200, authz ? {} : { 'AAuth-Access': 'session-for-A' }).end('{}');
    });
    const provider = await hostProvider();
    const agent = createAgent({ key: generateKey({ kid: 'k' }), draft11: { provider, local: 'tester', ps: 'http://127.0.0.1:9', allowLoopback: true }, sleep: async () => undefined });
    const psKey = generateKey({ kid: 'ps' });
    const up = (sub: string) => mint11(psKey, 'aa-auth+jwt', { iss: 'http://127.0.0.1:9', ps: 'http://127.0.0.1:9', sub, aud: 'https://me.example', jti: sub, iat: 1, exp: 2e9 });
    const a = await up('userA');
    await agent.fetch(`${r.origin}/x`, { upstreamToken: a });
    await agent.fetch(`${r.origin}/x`, { upstreamToken: a });
    await agent.fetch(`${r.origin}/x`, { upstreamToken: await up('userB') });
    await agent.fetch(`${r.origin}/x`, { missionS256: 'A'.repeat(43) });
    expect(seen).toEqual([undefined, 'AAuth session-for-A', undefined, undefined]);
  });
});
