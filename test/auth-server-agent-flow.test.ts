import { createAgent, type Agent, type Interaction } from '@aauth-kit/agent';
import { createResource } from '@aauth-kit/express';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOverHttp, service, startAuthServer, testRealm, type Service, type TestAuthServer } from './fixtures/auth-server.js';

const USER_ID = 'c0ffee00-0000-4000-8000-000000000001';


describe('the agent client and the resource middleware against the embedded auth server (the demo chain)', () => {
  let as: TestAuthServer;
  let backend: Service;
  let sca: Service;
  let maa: Service;
  let backendAgent: Agent;
  const interactions: Interaction[] = [];

  beforeAll(async () => {
    as = await startAuthServer({
      realm: testRealm({ 'aauth.allowed.scopes': '["supply-chain:optimize","market-analysis:analyze"]' }),
    });
    [backend, sca, maa] = await Promise.all([service('backend-1'), service('sca-1'), service('maa-1')]);

    // MAA: a resource that needs an auth token with market-analysis:analyze.
    const maaResource = createResource({ identity: maa.url, key: maa.key, authServer: as.issuer });
    maa.app.use(maaResource.wellKnown());
    maa.app.post('/analyze', maaResource.require({ scope: 'market-analysis:analyze' }), (req, res) => {
      res.json({ seenBy: 'maa', agent: req.aauth!.agent, sub: req.aauth!.sub, scope: req.aauth!.scope, act: req.aauth!.act });
    });

    // SCA: a resource for the backend and an agent towards MAA, exchanging the backend's token.
    const scaResource = createResource({ identity: sca.url, key: sca.key, authServer: as.issuer });
    const scaAgent = createAgent({ identity: sca.url, key: sca.key, authServer: as.issuer });
    sca.app.use(scaResource.wellKnown());
    sca.app.use(scaAgent.wellKnown());
    sca.app.post('/optimize', scaResource.require({ scope: ['supply-chain:optimize', 'market-analysis:analyze'] }), async (req, res) => {
      const downstream = await scaAgent.fetch(`${maa.url}/analyze`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ item: 'widgets' }),
        upstreamToken: req.aauth!.token!.raw,
      });
      res.status(downstream.status).json({ sca: { agent: req.aauth!.agent, sub: req.aauth!.sub }, maa: await downstream.json() });
    });

    // Backend: an agent acting for the user; the user's consent is driven over HTTP by the test.
    backendAgent = createAgent({
      identity: backend.url,
      key: backend.key,
      authServer: as.issuer,
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 50))),
      onInteraction: async (interaction) => {
        interactions.push(interaction);
        await decideOverHttp(as.interactionEndpoint, interaction.code, 'approve');
      },
    });
    backend.app.use(backendAgent.wellKnown());
  });

  afterAll(async () => {
    await Promise.all([as?.close(), backend?.close(), sca?.close(), maa?.close()]);
  });

  it('backend -> (consent) -> SCA -> (exchange) -> MAA: MAA sees the user and the agent chain', async () => {
    const res = await backendAgent.fetch(`${sca.url}/optimize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ order: 1 }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, Record<string, unknown>>;
    expect(body.sca).toEqual({ agent: backend.url, sub: USER_ID });
    expect(body.maa).toEqual({
      seenBy: 'maa',
      agent: sca.url,
      sub: USER_ID,
      scope: ['market-analysis:analyze'],
      act: { agent: backend.url, sub: USER_ID },
    });
    expect(interactions).toHaveLength(1);
    expect(interactions[0]!.url.startsWith(`${as.interactionEndpoint}?code=${interactions[0]!.code}`)).toBe(true);
    const types = as.audit.map((e) => e.type);
    expect(types).toEqual(['consent.required', 'consent.granted', 'token.issued', 'token.exchanged']);
  });

  it('a denial reaches the agent as access_denied and nothing is issued', async () => {
    const denied = createAgent({
      identity: backend.url,
      key: backend.key,
      authServer: as.issuer,
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 50))),
      onInteraction: async (interaction) => {
        await decideOverHttp(as.interactionEndpoint, interaction.code, 'deny');
      },
    });
    const before = as.audit.length;
    const outcome = await denied.fetch(`${sca.url}/optimize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then(
      (r) => ({ status: r.status }),
      (e: { code?: string; status?: number }) => ({ code: e.code, status: e.status }),
    );
    // A downstream refusal is a 5xx for the agent's own caller (core error table: interaction_denied is 502).
    expect(outcome).toMatchObject({ code: 'interaction_denied', status: 502 });
    expect(as.audit.slice(before).map((e) => e.type)).toEqual(['consent.required', 'consent.denied', 'request.refused']);
  });
});
