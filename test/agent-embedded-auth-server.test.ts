import { readFileSync } from 'node:fs';
import { createAgent, type Agent } from '@aauth-kit/agent';
import { createAuthServer } from '@aauth-kit/auth-server';
import { generateKey, isAAuthError } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, listen, type Listening } from './fixtures/http.js';
import { hostedAgent, type HostedAgent } from './fixtures/hosted-agent.js';

/**
 * The agent against the embedded, Keycloak-compatible auth server (@aauth-kit/auth-server) reading
 * the shared realm export, and the real resource middleware (issue 4: switch to it when it lands).
 */
const realmFile = new URL('../keycloak-realm/aauth-test-realm.json', import.meta.url);
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

interface TokenPost {
  body: Record<string, unknown>;
}

/** A transport that records what the agent posts to the token endpoint. */
function recording(posts: TokenPost[]): typeof fetch {
  return async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.endsWith('/protocol/aauth/token') && init?.body) {
      posts.push({ body: JSON.parse(Buffer.from(init.body as Uint8Array).toString('utf8')) as Record<string, unknown> });
    }
    return fetch(input, init);
  };
}

/**
 * `start(port)` on a port found free: its issuer URL names the port before the server listens, so
 * another test may take the port in between (EADDRINUSE under a full parallel run): then again.
 */
async function onFreePort<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EADDRINUSE' || attempt === 5) throw error;
    }
  }
}

async function startEmbedded(attributes: Record<string, string> = {}): Promise<{ issuer: string }> {
  const realm = JSON.parse(readFileSync(realmFile, 'utf8')) as { attributes: Record<string, string> };
  Object.assign(realm.attributes, attributes);
  return onFreePort(async (port) => {
    const server = createAuthServer({ realm, baseUrl: `http://127.0.0.1:${port}`, signingAlgorithm: 'EdDSA', onWarning: () => undefined });
    open.push(await server.listen(port, '127.0.0.1'));
    return { issuer: server.issuer };
  });
}

/** A resource route (real middleware) whose handler may itself call onward with `agent`. */
async function startResource(
  issuer: string,
  scope: string,
  handle: (req: Request, res: Response) => Promise<void> | void,
  key = generateKey({ kid: 'r-1' }),
): Promise<Listening & { app: express.Express }> {
  const app = express();
  const listening = await listen(app);
  open.push(listening);
  const resource = createResource({ identity: listening.origin, key, authServer: issuer });
  app.use(resource.wellKnown());
  app.get('/call', resource.require({ scope }), (req, res, next) => {
    Promise.resolve(handle(req, res)).catch(next);
  });
  return { ...listening, app };
}

async function agentFor(issuer: string, posts: TokenPost[]): Promise<HostedAgent> {
  const hosted = await hostedAgent({ authServer: issuer, fetch: recording(posts) });
  open.push(hosted);
  return hosted;
}

describe('agent + embedded auth server + express resource', () => {
  it('challenge -> token from the embedded server -> retry', async () => {
    const { issuer } = await startEmbedded();
    const maa = await startResource(issuer, 'market-analysis:analyze', (req, res) => {
      res.json({ scheme: req.aauth!.scheme, agent: req.aauth!.agent, issuer: req.aauth!.token?.issuer });
    });
    const posts: TokenPost[] = [];
    const hosted = await agentFor(issuer, posts);
    const res = await hosted.agent.fetch(`${maa.origin}/call`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ scheme: 'jwt', agent: hosted.identity, issuer });
    expect(posts.map((p) => Object.keys(p.body))).toEqual([['resource_token']]);
    // Cached: the next call goes straight through with the token.
    expect((await hosted.agent.fetch(`${maa.origin}/call`)).status).toBe(200);
    expect(posts).toHaveLength(1);
  });

  it('the exchange chain: an agent called with a token exchanges it for the next hop', async () => {
    const { issuer } = await startEmbedded();
    const maa = await startResource(issuer, 'market-analysis:analyze', (req, res) => {
      res.json({ agent: req.aauth!.agent, act: req.aauth!.act });
    });
    // The supply-chain agent is a resource and an agent under one identity URL and one key.
    const scaPosts: TokenPost[] = [];
    const scaKey = generateKey({ kid: 'sca-1' });
    let scaAgent: Agent | undefined;
    const sca = await startResource(
      issuer,
      'market-analysis:analyze',
      async (req, res) => {
        const onward = await scaAgent!.fetch(`${maa.origin}/call`, { upstreamToken: req.aauth!.token!.raw });
        res.status(onward.status).json(await onward.json());
      },
      scaKey,
    );
    scaAgent = createAgent({ identity: sca.origin, key: scaKey, authServer: issuer, fetch: recording(scaPosts) });
    sca.app.use(scaAgent.wellKnown());
    const backendPosts: TokenPost[] = [];
    const backend = await agentFor(issuer, backendPosts);
    const res = await backend.agent.fetch(`${sca.origin}/call`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { agent: string; act: { agent: string } };
    expect(body.agent).toBe(sca.origin);
    expect(body.act.agent).toBe(backend.identity);
    expect(scaPosts).toHaveLength(1);
    expect(scaPosts[0]!.body).toEqual({ resource_token: expect.any(String), upstream_token: expect.any(String) });
    expect(backendPosts[0]!.body).toEqual({ resource_token: expect.any(String) });
  });

  it('a policy refusal names the error and its description', async () => {
    const posts: TokenPost[] = [];
    const { issuer, hosted } = await onFreePort(async (port) => {
      const at = `http://127.0.0.1:${port}/realms/aauth-test`;
      const agent = await agentFor(at, posts);
      const realm = JSON.parse(readFileSync(realmFile, 'utf8')) as { attributes: Record<string, string> };
      realm.attributes['aauth.blocked.agents'] = JSON.stringify([agent.identity]);
      const server = createAuthServer({ realm, baseUrl: `http://127.0.0.1:${port}`, signingAlgorithm: 'EdDSA', onWarning: () => undefined });
      open.push(await server.listen(port, '127.0.0.1'));
      return { issuer: at, hosted: agent };
    });
    const maa = await startResource(issuer, 'market-analysis:analyze', (_req, res) => {
      res.json({});
    });
    const error = await hosted.agent.fetch(`${maa.origin}/call`).catch((e: unknown) => e);
    expect(isAAuthError(error, 'auth_server_error')).toBe(true);
    expect((error as { details: { status: number; error: string } }).details).toMatchObject({ status: 403, error: 'access_denied' });
    expect(posts).toHaveLength(1);
  });
});
