// The demo's services on AAuth -11 (docs/wire-profile-draft11.md): the same three apps as
// services.ts, built on the kit's -11 API. Every party's identifier is a loopback origin
// (`http://localhost:<port>`), which -11 admits only with the explicit loopback relaxation
// (profile section 2), so each factory below sets `allowLoopback: true`.
import express from 'express';
import { createAgent, createAgentProvider, type Agent, type Interaction } from '@aauth-kit/agent';
import { createResource } from '@aauth-kit/express';
import { createMemoryReplayStore } from '@aauth-kit/verifier';
import { analyzeHandler, closer, keyFor, listen, MAA_SCOPE, optimize, SCA_SCOPE, type ListenOptions, type MaaView, type Service } from './services.js';

/** What every -11 service needs: the person server the agents use and the resources trust. */
export interface Services11Options extends ListenOptions {
  /** The person server's identifier (`server.personServer` of the embedded auth server). */
  personServer: string;
  /** Its identity (default `http://localhost:<port>`). */
  identity?: string;
  keyFile?: string;
}

/** How an agent of the demo waits between polls (the agent's `sleep` seam); default a real timer. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/**
 * The market-analysis agent on -11: a resource that speaks -11 only and requires an auth token
 * with `scope` from the person server (three-party) or, with `accessServer`, from that access
 * server (four-party: its resource tokens are addressed to it).
 */
export async function startMarketAnalysis11(options: Services11Options & { scope?: string; accessServer?: string; onSeen?: (v: MaaView) => void }): Promise<Service> {
  const { server, port } = await listen(options);
  const identity = options.identity ?? `http://localhost:${port}`;
  const scope = options.scope ?? MAA_SCOPE;
  const resource = createResource({
    identity,
    key: keyFor(options.keyFile, 'maa-1'),
    generations: ['draft-11'],
    replay: { store: createMemoryReplayStore() },
    scopes: { [scope]: 'Analyse market demand and prices for products' },
    // Consent pages name the resource by its aauth-resource.json.
    metadata: { name: 'Market-analysis agent' },
    draft11: {
      allowLoopback: true,
      personServers: [options.personServer],
      ...(options.accessServer ? { accessServer: options.accessServer } : {}),
    },
  });
  const app = express();
  app.use(resource.wellKnown());
  // require() checks the auth token (typ aa-auth+jwt, issuer's key, aud = this resource, scope) and
  // the request's signature under its cnf.jwk: proof of possession (profile sections 4-6).
  app.post('/analyze', resource.require({ scope }), express.json(), analyzeHandler(options.onSeen, true));
  server.on('request', app);
  return { name: 'market-analysis-agent', url: `http://${options.host}:${port}`, identity, close: closer(server) };
}

/**
 * The supply-chain agent on -11: a resource for the backend (both scopes: its own and the one it
 * passes on) that is also its own agent provider (profile section 8, item 7): towards the MAA it
 * signs with its own agent token and chains with the auth token it was called with as
 * `upstream_token`; the agent package then asks the person server named by that token's `ps`.
 */
export async function startSupplyChain11(options: Services11Options & { maaUrl: string; fetch?: typeof fetch; sleep?: Sleep }): Promise<Service & { agent: Agent }> {
  const { server, port } = await listen(options);
  const identity = options.identity ?? `http://localhost:${port}`;
  const resource = createResource({
    identity,
    key: keyFor(options.keyFile, 'sca-1'),
    generations: ['draft-11'],
    replay: { store: createMemoryReplayStore() },
    scopes: { [SCA_SCOPE]: 'Plan inventory orders', [MAA_SCOPE]: 'Ask market analysis on your behalf' },
    metadata: { name: 'Supply-chain agent' },
    draft11: { allowLoopback: true, personServers: [options.personServer] },
  });
  // Its own agent provider: aauth-agent.json at its identity names it as an agent on the consent
  // page of the MAA's call, and vouches for its agent key (aauth:sca@host).
  const provider = createAgentProvider({ issuer: identity, key: keyFor(undefined, 'sca-provider-1'), allowLoopback: true, metadata: { name: 'Supply-chain agent' } });
  const agent = createAgent({
    key: keyFor(undefined, 'sca-agent-1'),
    draft11: { provider, local: 'sca', ps: options.personServer, allowLoopback: true },
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  });
  const app = express();
  app.use(provider.wellKnown() as express.RequestHandler);
  app.use(resource.wellKnown());
  // Section 8, item 7: the token this call was made with goes on as upstream_token; the person behind it is the one served.
  app.post('/optimize', resource.require({ scope: [SCA_SCOPE, MAA_SCOPE] }), express.json(), optimize(agent, options.maaUrl, 'problem'));
  server.on('request', app);
  return { name: 'supply-chain-agent', url: `http://${options.host}:${port}`, identity, agent, close: closer(server) };
}

/** The backend on -11: an agent acting for the user, its own agent provider (aauth:backend@host). */
export async function startBackend11(options: Services11Options & { fetch?: typeof fetch; sleep?: Sleep; onInteraction: (i: Interaction) => Promise<void> }): Promise<Service & { agent: Agent; agentId: string }> {
  const { server, port } = await listen(options);
  const identity = options.identity ?? `http://localhost:${port}`;
  const provider = createAgentProvider({ issuer: identity, key: keyFor(options.keyFile, 'backend-provider-1'), allowLoopback: true, metadata: { name: 'Supply-chain backend' } });
  const agent = createAgent({
    key: keyFor(undefined, 'backend-1'),
    draft11: { provider, local: 'backend', ps: options.personServer, allowLoopback: true },
    onInteraction: options.onInteraction,
    interactionTimeoutMs: 120_000,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  });
  const app = express();
  app.use(provider.wellKnown() as express.RequestHandler);
  server.on('request', app);
  return { name: 'backend', url: `http://${options.host}:${port}`, identity, agent, agentId: provider.agentId('backend'), close: closer(server) };
}
