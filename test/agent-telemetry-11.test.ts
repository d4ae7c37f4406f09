import { createAgent, createAgentProvider, type Interaction } from '@aauth-kit/agent';
import { generateKey } from '@aauth-kit/core';
import express from 'express';
import got from 'got';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listen } from './fixtures/http.js';
import { otlpTracing } from './fixtures/otlp-receiver.js';
import { createPersonServer11 } from './fixtures/person-server-11.js';
import { createResource11 } from './fixtures/resource-11.js';

// The agent's spans in AAuth -11 (issue 19, docs/telemetry.md): person token and auth token
// requests to the person server, the 202 polls, one trace, exported with the real OTLP exporter.

let tracing: Awaited<ReturnType<typeof otlpTracing>>;
const open: Array<{ close(): Promise<void> }> = [];
beforeAll(async () => {
  tracing = await otlpTracing();
});
afterAll(async () => {
  await tracing.close();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

/** A -11 person server, a resource whose /data needs an auth token, and the agent's provider serving its metadata. */
async function world(ps11: Parameters<typeof createPersonServer11>[0], kid: string) {
  const ps = await createPersonServer11(ps11);
  open.push(ps);
  const resource = await createResource11({ routes: { '/data': { mode: 'auth-token' } } });
  open.push(resource);
  let handler: express.RequestHandler = (_req, _res, next) => next();
  const app = express();
  app.use((req, res, next) => handler(req, res, next));
  const host = await listen(app);
  open.push(host);
  const provider = createAgentProvider({ issuer: host.origin, key: generateKey({ kid }), allowLoopback: true });
  handler = provider.wellKnown() as express.RequestHandler;
  return { ps, resource, provider };
}

describe('-11 agent spans', () => {
  it('person-token then auth-token with polling: aauth.call (draft-11) with two aauth.token_request children, traceparent to the person server', async () => {
    const { ps, resource, provider } = await world({ interactionForAuth: true, extraPolls: 1 }, 'ap-1');
    const traceparents: Record<string, string | null> = {};
    const agent = createAgent({
      key: generateKey({ kid: 'agent-1' }),
      draft11: { provider, local: 'tester', ps: ps.issuer, allowLoopback: true },
      sleep: async () => undefined,
      onInteraction: (i: Interaction) => {
        ps.approve(i.code);
      },
      fetch: (input, init) => {
        const url = new URL(String(input));
        traceparents[`${init?.method ?? 'GET'} ${url.pathname.replace(/^\/pending\/.*/, '/pending')}`] = new Headers(init?.headers).get('traceparent');
        return fetch(input, init);
      },
    });

    const { root, spans } = await tracing.traced(async () => {
      expect((await agent.fetch(`${resource.issuer}/data`)).status).toBe(200);
    });
    const call = spans.find((s) => s.name === 'aauth.call')!;
    expect(call.parentSpanId).toBe(root.spanId);
    expect(call.attributes).toMatchObject({ 'aauth.generation': 'draft-11', 'aauth.scheme': 'jwt', 'http.response.status_code': 200, 'url.full': `${resource.issuer}/data` });
    const requests = spans.filter((s) => s.name === 'aauth.token_request');
    expect(requests.map((r) => [r.attributes['aauth.endpoint'], r.parentSpanId === call.spanId, r.attributes['aauth.outcome']])).toEqual([
      ['person', true, 'issued'],
      ['auth', true, 'issued'],
    ]);
    const [person, auth] = requests as [(typeof requests)[0], (typeof requests)[0]];
    expect(person.attributes).toMatchObject({ 'aauth.auth_server': ps.issuer, 'aauth.resource': resource.issuer, 'aauth.generation': 'draft-11' });
    expect(typeof auth.attributes['aauth.token.jti']).toBe('string');
    expect(auth.attributes).toMatchObject({ 'aauth.interaction.polls': 2, 'aauth.interaction.status': 200 });
    expect(auth.events.map((e) => e.name)).toEqual(['aauth.interaction', 'aauth.interaction.poll', 'aauth.interaction.poll']);
    // Every signature is its own span under the call or a token request; every request carries the trace.
    expect(spans.filter((s) => s.name === 'aauth.sign').every((s) => [call.spanId, person.spanId, auth.spanId].includes(s.parentSpanId))).toBe(true);
    expect(traceparents['POST /person-token']).toBe(`00-${root.traceId}-${person.spanId}-01`);
    expect(traceparents['POST /token']).toBe(`00-${root.traceId}-${auth.spanId}-01`);
    expect(traceparents['GET /pending']).toBe(`00-${root.traceId}-${auth.spanId}-01`);
    expect(traceparents['GET /data']).toBe(`00-${root.traceId}-${call.spanId}-01`);
  });

  it('got: the same call through agent.extendGot is one aauth.call (draft-11) with the same token requests under it', async () => {
    const { ps, resource, provider } = await world({ interactionForAuth: true }, 'ap-2');
    const agent = createAgent({
      key: generateKey({ kid: 'agent-2' }),
      draft11: { provider, local: 'tester', ps: ps.issuer, allowLoopback: true },
      sleep: async () => undefined,
      onInteraction: (i: Interaction) => {
        ps.approve(i.code);
      },
    });
    const client = agent.extendGot(got);
    const { root, spans } = await tracing.traced(async () => {
      expect((await client.get(`${resource.issuer}/data`)).statusCode).toBe(200);
    });
    const calls = spans.filter((s) => s.name === 'aauth.call');
    expect(calls).toHaveLength(1);
    const call = calls[0]!;
    expect(call.parentSpanId).toBe(root.spanId);
    expect(call.status.code).not.toBe(2);
    expect(call.attributes).toMatchObject({ 'aauth.generation': 'draft-11', 'http.response.status_code': 200, 'url.full': `${resource.issuer}/data` });
    const requests = spans.filter((s) => s.name === 'aauth.token_request');
    expect(requests.map((r) => [r.attributes['aauth.endpoint'], r.parentSpanId === call.spanId, r.attributes['aauth.outcome']])).toEqual([
      ['person', true, 'issued'],
      ['auth', true, 'issued'],
    ]);
    const ids = [call.spanId, ...requests.map((r) => r.spanId)];
    expect(spans.filter((s) => s.name === 'aauth.sign').every((s) => ids.includes(s.parentSpanId))).toBe(true);
  });
});
