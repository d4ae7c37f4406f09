import { createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { generateKey, mintResourceToken11 } from '@aauth-kit/core';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedFetch, startAuthServer, type TestAuthServer } from './fixtures/auth-server.js';
import { lateHost } from './fixtures/kit-site-11.js';

// A busy person server is not a bad token: when key discovery for one caller is at its limit
// (maxInflightPerCaller, 20 by default), the resource token is not refused as invalid (400, which
// tells the agent to discard it) but answered 503 with Retry-After, as the verifier's discovery says.
const open: Array<{ close(): Promise<void> }> = [];
let as: TestAuthServer;
let ps: string;
let provider: AgentProvider;

beforeAll(async () => {
  as = await startAuthServer({ draft11: { allowLoopback: true } });
  open.push(as);
  ps = as.server.personServer!;
  const ap = await lateHost((l) => open.push(l));
  provider = createAgentProvider({ issuer: ap.origin, key: generateKey({ kid: 'ap-busy' }), allowLoopback: true });
  ap.set(provider.wellKnown() as express.RequestHandler);
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

describe('key discovery busy at the auth token endpoint', () => {
  it('the requests past the per-caller limit are 503 server_error with Retry-After, not 400 invalid_resource_token', async () => {
    const key = generateKey({ kid: 'busy-agent' });
    const signatureKey = { scheme: 'jwt' as const, jwt: provider.mintAgentToken({ local: 'busy', agentKey: key, ps }) };
    // The provider's documents fetched once (a 400 for the empty body), so only resource metadata is in flight below.
    expect((await signedFetch(`${ps}/aauth/person/person-token`, { key, signatureKey, json: {} })).status).toBe(400);
    const resourceKey = generateKey({ kid: 'busy-resource' });
    const tokens: string[] = [];
    for (let i = 0; i < 22; i++) {
      const silent = await lateHost((l) => open.push(l));
      silent.set(() => undefined); // never answers: its fetch stays in flight until the discovery timeout
      tokens.push(await mintResourceToken11(resourceKey, { issuer: silent.origin, audience: ps, ps, sub: 's', presentedJti: 'p', agentJkt: key.thumbprint, scope: 'data.read', allowLoopback: true }));
    }
    const answers = await Promise.all(tokens.map((rt) => signedFetch(`${ps}/aauth/person/auth-token`, { key, signatureKey, json: { resource_token: rt, presented_token: 'a.b.c' } })));
    const busy = answers.filter((a) => a.status === 503);
    expect(busy.length).toBe(2);
    for (const a of busy) {
      expect(a.body.error).toBe('server_error');
      expect(a.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(String(a.body.detail)).toContain('Too many discovery fetches in progress for this caller');
    }
    // The others waited for their silent resource and were refused (its metadata could not be read).
    expect(answers.filter((a) => a.status === 400 && a.body.error === 'invalid_resource_token').length).toBe(20);
  });
});
