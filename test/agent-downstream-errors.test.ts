import { createAgent } from '@aauth-kit/agent';
import { generateKey } from '@aauth-kit/core';
import { aauthErrorHandler, createResource } from '@aauth-kit/express';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { listen } from './fixtures/http.js';
import { hostedAgent } from './fixtures/hosted-agent.js';
import { createTestAuthServer, type TestAuthServerOptions } from './fixtures/fake-auth-server.js';
import { trackClosables } from './fixtures/track.js';

// Issue 11, item 5: an app that is a resource and an agent (the supply-chain agent's pattern) calls
// a downstream resource in a route. When that call fails, the app's own caller must get a 5xx JSON
// answer, never a 401 or 403 (which would make it drop its valid token) and never an HTML page.

const track = trackClosables();

/** A downstream resource (real express middleware) with an auth-token route, and its auth server. */
async function downstream(asOptions: TestAuthServerOptions = {}, resourceAuthServer?: string): Promise<{ url: string; issuer: string }> {
  const as = await track(createTestAuthServer(asOptions));
  const app = express();
  const listening = await track(listen(app));
  const resource = createResource({ identity: listening.origin, key: generateKey(), authServer: resourceAuthServer ?? as.issuer, requirementHeader: true });
  app.use(resource.wellKnown());
  app.get('/analyze', resource.require({ scope: 'data.read' }), (_req, res) => res.json({ ok: true }));
  return { url: listening.origin, issuer: as.issuer };
}

/** The middle app: a resource for its caller, an agent towards `target`, errors as JSON. */
async function middle(target: string, agentOptions: { authServer: string; now?: () => number; identity?: string }): Promise<{ url: string }> {
  const app = express();
  const listening = await track(listen(app));
  const key = generateKey({ kid: 'middle-1' });
  const identity = agentOptions.identity ?? listening.origin;
  const resource = createResource({ identity: listening.origin, key });
  const agent = createAgent({ ...agentOptions, identity, key });
  if (identity === listening.origin) app.use(agent.wellKnown());
  app.get('/plan', resource.require({ level: 'signature' }), async (_req, res) => {
    // express 5 hands the rejection to the error handlers.
    const answer = await agent.fetch(`${target}/analyze`);
    res.status(answer.status).json(await answer.json());
  });
  app.use(aauthErrorHandler());
  return { url: listening.origin };
}

/** The original caller: an AAuth agent with its own identity, calling the middle app. */
async function call(url: string): Promise<{ status: number; json: Record<string, string>; headers: Headers }> {
  const caller = await track(hostedAgent());
  const res = await caller.agent.fetch(`${url}/plan`);
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, string> };
}

function expectGatewayJson(answer: { status: number; json: Record<string, string>; headers: Headers }, status = 502): void {
  expect(answer.status).toBe(status);
  expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
  expect(Object.keys(answer.json)).toEqual(['error', 'error_description']);
  expect(answer.json.error).toBe('server_error');
  // The downstream challenge is not passed on: the caller is not being challenged.
  expect(answer.headers.get('aauth')).toBeNull();
}

describe('a failed downstream call reaches the caller as 5xx JSON through aauthErrorHandler()', () => {
  it('the downstream cannot verify the middle agent (clock ahead): 502 with the downstream reason', async () => {
    const d = await downstream();
    const m = await middle(d.url, { authServer: d.issuer, now: () => Date.now() / 1000 + 120 });
    const answer = await call(m.url);
    expectGatewayJson(answer);
    expect(answer.json.error_description).toMatch(
      /^The auth-token challenge carries no resource token; the resource answered 401 invalid_signature: The signature was created \d+ s in the future/,
    );
  });

  it('the downstream names an auth server the middle agent does not trust: 502, not 401', async () => {
    const d = await downstream({}, 'http://localhost:1/realms/elsewhere');
    const m = await middle(d.url, { authServer: d.issuer });
    const answer = await call(m.url);
    expectGatewayJson(answer);
    expect(answer.json.error_description).toContain('does not trust');
  });

  it('the auth server refuses the token request with 403: the caller gets 502, not 403', async () => {
    const d = await downstream({ mode: { kind: 'refuse', status: 403, error: 'access_denied', error_description: 'Agent is blocked by realm policy' } });
    const m = await middle(d.url, { authServer: d.issuer });
    const answer = await call(m.url);
    expectGatewayJson(answer);
    expect(answer.json.error_description).toContain('access_denied: Agent is blocked by realm policy');
  });

  it('a user must approve and the middle agent has no onInteraction: 502 interaction_required', async () => {
    const d = await downstream({ mode: { kind: 'interaction' } });
    const m = await middle(d.url, { authServer: d.issuer });
    const answer = await call(m.url);
    expectGatewayJson(answer);
    expect(answer.json.error_description).toMatch(/^A user must approve this request at /);
  });
});
