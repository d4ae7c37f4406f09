import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, type Agent } from '@aauth-kit/agent';
import { createAuthServer } from '@aauth-kit/auth-server';
import { generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';

/**
 * Issue 11 item 4: an app that is both resource and agent publishes ONE JWKS holding both keys
 * (`resource.wellKnown({ agent })`), and two well-known handlers with different keys on one express
 * app path are refused at `app.use()`, whichever is mounted first.
 */

interface Listening {
  server: Server;
  origin: string;
  close(): Promise<void>;
}

async function listen(listener: RequestListener, port = 0): Promise<Listening> {
  const server = createServer(listener);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    server,
    origin,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** A server whose request listener is set once its origin (the identity URL) is known. */
async function listenLater(): Promise<Listening & { use(listener: RequestListener): void }> {
  let current: RequestListener = (_req, res) => res.writeHead(503).end();
  const l = await listen((req, res) => current(req, res));
  return Object.assign(l, { use: (listener: RequestListener) => void (current = listener) });
}

const REALM = {
  realm: 'one-jwks',
  enabled: true,
  accessTokenLifespan: 300,
  attributes: { 'aauth.enabled': 'true', 'aauth.exchange.enabled': 'true', 'aauth.allowed.scopes': '["sca:plan","maa:analyze"]' },
  users: [],
};

describe('resource.wellKnown({ agent }): one JWKS for an app that is resource and agent', () => {
  const open: Listening[] = [];
  let issuer: string;
  let sca: Listening & { use(listener: RequestListener): void };
  let maa: Listening;
  let backend: Agent;
  const scaResourceKey = generateKey({ kid: 'sca-resource' });
  const scaAgentKey = generateKey({ kid: 'sca-agent' });

  beforeAll(async () => {
    // The embedded auth server: its base URL must be known before it listens.
    const asHost = await listenLater();
    open.push(asHost);
    const auth = createAuthServer({ realm: REALM, baseUrl: asHost.origin, onWarning: () => {} });
    asHost.use(express().use(auth.router()));
    issuer = auth.issuer;

    // MAA: a plain resource that needs an auth token with maa:analyze.
    const maaHost = await listenLater();
    open.push(maaHost);
    maa = maaHost;
    const maaResource = createResource({ identity: maa.origin, key: generateKey({ kid: 'maa-1' }), authServer: issuer });
    const maaApp = express();
    maaApp.use(maaResource.wellKnown());
    maaApp.get('/analyze', maaResource.require({ scope: 'maa:analyze' }), (req, res) => {
      res.json({ agent: req.aauth!.agent, act: req.aauth!.act, scope: req.aauth!.scope });
    });
    maaHost.use(maaApp);

    // SCA: resource (key sca-resource) and agent (key sca-agent) under one identity URL.
    sca = await listenLater();
    open.push(sca);
    const scaResource = createResource({
      identity: sca.origin,
      key: scaResourceKey,
      authServer: issuer,
      scopes: { 'sca:plan': 'Plan orders', 'maa:analyze': 'Ask market analysis on your behalf' },
    });
    const scaAgent = createAgent({ identity: sca.origin, key: scaAgentKey, authServer: issuer, metadata: { name: 'Supply chain agent' } });
    const scaApp = express();
    scaApp.use(scaResource.wellKnown({ agent: scaAgent }));
    scaApp.get('/plan', scaResource.require({ scope: ['sca:plan', 'maa:analyze'] }), async (req, res) => {
      const downstream = await scaAgent.fetch(`${maa.origin}/analyze`, { upstreamToken: req.aauth!.token!.raw });
      res.status(downstream.status).json({ maa: await downstream.json() });
    });
    sca.use(scaApp);

    // The backend: an agent whose documents a plain node:http server serves (no express).
    const backendHost = await listenLater();
    open.push(backendHost);
    backend = createAgent({ identity: backendHost.origin, key: generateKey({ kid: 'backend-1' }), authServer: issuer });
    backendHost.use(backend.wellKnown());
  });

  afterAll(async () => {
    await Promise.all(open.map((l) => l.close()));
  });

  it('publishes both metadata documents and one JWKS with both keys (distinct kids, no alg)', async () => {
    const jwks = await (await fetch(`${sca.origin}/jwks.json`)).json();
    expect(jwks).toEqual({
      keys: [
        { kty: 'OKP', crv: 'Ed25519', x: scaResourceKey.jwk.x, kid: 'sca-resource' },
        { kty: 'OKP', crv: 'Ed25519', x: scaAgentKey.jwk.x, kid: 'sca-agent' },
      ],
    });
    for (const suffix of ['.json', '']) {
      expect(await (await fetch(`${sca.origin}/.well-known/aauth-agent${suffix}`)).json()).toEqual({
        agent: sca.origin,
        jwks_uri: `${sca.origin}/jwks.json`,
        name: 'Supply chain agent',
      });
      expect(await (await fetch(`${sca.origin}/.well-known/aauth-resource${suffix}`)).json()).toEqual({
        resource: sca.origin,
        jwks_uri: `${sca.origin}/jwks.json`,
        supported_scopes: ['sca:plan', 'maa:analyze'],
        scope_descriptions: { 'sca:plan': 'Plan orders', 'maa:analyze': 'Ask market analysis on your behalf' },
      });
    }
  });

  it('both keys verify: the resource token (sca-resource) at the auth server, the agent signature (sca-agent) at MAA and the auth server', async () => {
    // backend -> SCA: SCA's challenge carries a resource token signed with sca-resource, which the
    // auth server checks against SCA's jwks_uri. SCA -> MAA: signed with sca-agent, resolved by MAA
    // and by the auth server (upstream_token exchange) through the same jwks_uri.
    const res = await backend.fetch(`${sca.origin}/plan`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      maa: { agent: sca.origin, act: { agent: backend.identity }, scope: ['maa:analyze'] },
    });
  });

  it('a plain node:http server serves agent.wellKnown() (HEAD too) and answers 404 elsewhere', async () => {
    const head = await fetch(`${backend.identity}/jwks.json`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`${backend.identity}/nothing`)).status).toBe(404);
  });
});

describe('two well-known handlers with different keys on one app path fail at start-up', () => {
  const identity = 'http://localhost:3000';
  const resourceKey = generateKey({ kid: 'res-1' });
  const agentKey = generateKey({ kid: 'agent-1' });
  const resource = createResource({ identity, key: resourceKey });
  const agent = createAgent({ identity, key: agentKey });
  const FIX = /use resource\.wellKnown\(\{ agent \}\)/;

  it('resource first, then agent: app.use() throws and names the fix', () => {
    const app = express();
    app.use(resource.wellKnown());
    expect(() => app.use(agent.wellKnown())).toThrow(FIX);
    expect(() => express().use(resource.wellKnown()).use(agent.wellKnown())).toThrow(/only the JWKS of the first one \(resource\.wellKnown\(\)\)/);
  });

  it('agent first, then resource: app.use() throws and names the fix', () => {
    const app = express();
    app.use(agent.wellKnown());
    expect(() => app.use(resource.wellKnown())).toThrow(FIX);
  });

  it('on the same explicit path too, including a sub-app mount', () => {
    const app = express();
    app.use('/svc', agent.wellKnown());
    expect(() => app.use('/svc', resource.wellKnown())).toThrow(FIX);
    const sub = express();
    express().use('/svc', sub);
    sub.use(resource.wellKnown());
    expect(() => sub.use(agent.wellKnown())).toThrow(FIX);
  });

  it('is refused over HTTP, not silently served: the second mount never happens', async () => {
    const app = express();
    app.use(resource.wellKnown());
    let refused: unknown;
    try {
      app.use(agent.wellKnown());
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(/kid "agent-1" would not verify/);
  });

  it('accepts one key shared by both, different paths, and agent.wellKnown() after the combined handler', () => {
    const shared = generateKey({ kid: 'shared-1' });
    const sameKey = express();
    sameKey.use(createResource({ identity, key: shared }).wellKnown());
    expect(() => sameKey.use(createAgent({ identity, key: shared }).wellKnown())).not.toThrow();

    const apart = express();
    apart.use(resource.wellKnown());
    expect(() => apart.use('/agents/a', createAgent({ identity: `${identity}/agents/a`, key: agentKey }).wellKnown())).not.toThrow();

    const combinedFirst = express();
    combinedFirst.use(resource.wellKnown({ agent }));
    expect(() => combinedFirst.use(agent.wellKnown())).not.toThrow();
    // The other way round the agent's JWKS (served first) lacks the resource key.
    const combinedLast = express();
    combinedLast.use(agent.wellKnown());
    expect(() => combinedLast.use(resource.wellKnown({ agent }))).toThrow(FIX);
  });

  it('resource.wellKnown({ agent }) validates the agent at the call', () => {
    expect(() => resource.wellKnown({ agent: createAgent({ key: agentKey }) })).toThrow(/options\.agent has no identity/);
    expect(() => resource.wellKnown({ agent: createAgent({ identity: 'http://localhost:3001', key: agentKey }) })).toThrow(
      /options\.agent\.identity \(http:\/\/localhost:3001\) must be the resource identity/,
    );
    expect(() => resource.wellKnown({ agent: createAgent({ identity, key: generateKey({ kid: 'res-1' }) }) })).toThrow(
      /different keys with the same kid "res-1"; give each its own kid/,
    );
    expect(() => resource.wellKnown({ agent: {} as never })).toThrow(/options\.agent must be an agent from createAgent\(\)/);
  });
});
