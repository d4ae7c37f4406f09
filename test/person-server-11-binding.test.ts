import { createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { generateKey } from '@aauth-kit/core';
import { createMemoryPendingStore } from '@aauth-kit/auth-server';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, signedFetch, startAuthServer, type TestAuthServer } from './fixtures/auth-server.js';
import { lateHost } from './fixtures/kit-site-11.js';

// AAuth -11 "Agent-Person Binding": the person server binds each agent to exactly one person, and
// once bound no other person claims it. Decisions are made in the pending store directly (two people).
const open: Array<{ close(): Promise<void> }> = [];
let as: TestAuthServer;
let ps: string;
let provider: AgentProvider;
const pendingStore = createMemoryPendingStore();

beforeAll(async () => {
  as = await startAuthServer({ draft11: { allowLoopback: true }, pendingStore });
  open.push(as);
  ps = as.server.personServer!;
  const ap = await lateHost((l) => open.push(l));
  provider = createAgentProvider({ issuer: ap.origin, key: generateKey({ kid: 'ap-binding' }), allowLoopback: true });
  ap.set(provider.wellKnown() as express.RequestHandler);
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

describe('one agent, one person', () => {
  it('a person-token request left open when the agent was bound to A, approved by B: 403 access_denied, no token for B; A is still served', async () => {
    const key = generateKey({ kid: 'two-people' });
    const agent = { key, signatureKey: { scheme: 'jwt' as const, jwt: provider.mintAgentToken({ local: 'two-people', agentKey: key, ps }) } };
    const ask = (resource: string) => signedFetch(`${ps}/aauth/person/person-token`, { ...agent, json: { resource, capabilities: ['interaction'] } });
    const first = await ask('https://r1.example');
    const second = await ask('https://r2.example');
    expect([first.status, second.status]).toEqual([202, 202]);
    const id = (r: typeof first) => r.headers.get('location')!.split('/').pop()!;
    await pendingStore.decide(id(first), { status: 'approved', sub: 'alice', username: 'alice' });
    const a = await signedFetch(first.headers.get('location')!, agent);
    expect(a.status).toBe(200);
    await pendingStore.decide(id(second), { status: 'approved', sub: 'bob', username: 'bob' });
    const b = await signedFetch(second.headers.get('location')!, agent);
    expect([b.status, b.body.error]).toEqual([403, 'access_denied']);
    expect(String(b.body.detail)).toContain('already acts for another person');
    // The agent stays A's: its next person token, at once, is A's.
    const again = await signedFetch(`${ps}/aauth/person/person-token`, { ...agent, json: { resource: 'https://r1.example' } });
    expect(again.status).toBe(200);
    expect(decodeJwt(String(again.body.person_token)).claims.sub).toBe(decodeJwt(String(a.body.person_token)).claims.sub);
  });
});
