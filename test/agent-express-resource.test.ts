import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { AAuthChallengeError, createAgent, wrapFetch } from '@aauth-kit/agent';
import { generateKey } from '@aauth-kit/core';
import { createResource, type Resource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import got from 'got';
import { afterEach, describe, expect, it } from 'vitest';
import { countingServer, listen, type Listening } from './fixtures/http.js';
import { hostedAgent, type HostedAgent } from './fixtures/hosted-agent.js';
import { createTestAuthServer, type TestAuthServer, type TestAuthServerOptions } from './fixtures/fake-auth-server.js';

/**
 * The same flows against the real resource middleware (@aauth-kit/express + @aauth-kit/verifier,
 * with its replay cache and discovery caches), the minimal token endpoint from the fixtures, and
 * the agent.
 */
interface RealSetup {
  as: TestAuthServer;
  resource: Resource;
  url: string;
  hosted: HostedAgent;
  /** Bodies the handlers saw, in order. */
  seen: Array<{ path: string; body: Buffer; sub: string | undefined; scheme: string }>;
}

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

async function realResource(authServer: string, replayAll = false): Promise<{ resource: Resource; url: string; seen: RealSetup['seen'] }> {
  const seen: RealSetup['seen'] = [];
  const app = express();
  const listening: Listening = await listen(app);
  open.push(listening);
  const resource = createResource({ identity: listening.origin, key: generateKey({ kid: 'maa-1' }), authServer, scopes: { 'data.read': 'Read market data' }, ...(replayAll ? { replay: { methods: 'all' as const } } : {}) });
  const handler = (req: Request, res: Response) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    seen.push({ path: req.path, body, sub: req.aauth?.sub, scheme: req.aauth!.scheme });
    res.json({ ok: true, scheme: req.aauth!.scheme, agent: req.aauth!.agent, sub: req.aauth!.sub, act: req.aauth!.act, sha256: createHash('sha256').update(body).digest('base64') });
  };
  app.use(resource.wellKnown());
  app.get('/hello', resource.require({ level: 'identity' }), handler);
  app.get('/data', resource.require({ scope: 'data.read' }), handler);
  app.post('/orders', resource.require({ scope: 'data.read' }), express.raw({ type: () => true }), handler);
  app.put('/upload', resource.require({ scope: 'data.read' }), express.raw({ type: () => true, limit: '5mb' }), handler);
  return { resource, url: listening.origin, seen };
}

async function setup(asOptions: TestAuthServerOptions = {}, replayAll = false): Promise<RealSetup> {
  const as = await createTestAuthServer(asOptions);
  open.push(as);
  const { resource, url, seen } = await realResource(as.issuer, replayAll);
  const hosted = await hostedAgent({ authServer: as.issuer });
  open.push(hosted);
  return { as, resource, url, hosted, seen };
}

describe('agent against the real @aauth-kit/express resource', () => {
  it('plain call on an identity route', async () => {
    const s = await setup();
    const res = await s.hosted.agent.fetch(`${s.url}/hello`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ scheme: 'jwks_uri', agent: s.hosted.identity });
    expect(s.as.requests).toEqual([]);
  });

  it('challenge -> token -> retry; the resource sees the jwt scheme', async () => {
    const s = await setup();
    const res = await s.hosted.agent.fetch(`${s.url}/data`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ scheme: 'jwt', agent: s.hosted.identity, sub: 'user-1' });
    expect(s.as.tokenRequests).toHaveLength(1);
    expect(s.as.tokenRequests[0]!.body).toEqual({ resource_token: expect.any(String) });
  });

  it('exchange with upstream_token: the downstream token acts for the same user', async () => {
    const s = await setup();
    const upstream = await s.as.issue({ aud: s.hosted.identity, agent: 'http://backend.localhost:9', sub: 'mcp-user', scope: 'data.read', cnf: generateKey().jwk });
    const res = await s.hosted.agent.fetch(`${s.url}/data`, { upstreamToken: upstream });
    expect(await res.json()).toMatchObject({ sub: 'mcp-user', act: { agent: 'http://backend.localhost:9', sub: 'mcp-user' } });
    expect(s.as.tokenRequests[0]!.body.upstream_token).toBe(upstream);
  });

  it('JSON and stream bodies pass the digest check and arrive byte-identical after the retry', async () => {
    const s = await setup();
    const payload = JSON.stringify({ sku: 'A-1', qty: 3, note: 'naïve' });
    const res = await s.hosted.agent.fetch(`${s.url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
    expect(res.status).toBe(200);
    const bytes = randomBytes(300_000);
    const stream = Readable.toWeb(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)])) as ReadableStream<Uint8Array>;
    const up = await s.hosted.agent.fetch(`${s.url}/upload`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: stream });
    expect(up.status).toBe(200);
    expect(s.seen.map((x) => [x.path, x.scheme])).toEqual([
      ['/orders', 'jwt'],
      ['/upload', 'jwt'],
    ]);
    expect(s.seen[0]!.body.toString('utf8')).toBe(payload);
    expect(s.seen[1]!.body.equals(bytes)).toBe(true);
  });

  it('100 concurrent identical GETs: one token request, and none trips a replay cache that checks every method', async () => {
    const s = await setup({ delayMs: 100 }, true);
    const responses = await Promise.all(Array.from({ length: 100 }, () => s.hosted.agent.fetch(`${s.url}/data`)));
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    expect(s.as.tokenRequests).toHaveLength(1);
    await Promise.all(responses.map((r) => r.arrayBuffer()));
  });

  it('reuses the cached token (one resource call on the next request)', async () => {
    const s = await setup();
    await s.hosted.agent.fetch(`${s.url}/data`);
    const before = s.seen.length;
    await s.hosted.agent.fetch(`${s.url}/data`);
    expect(s.seen.length).toBe(before + 1);
    expect(s.as.tokenRequests).toHaveLength(1);
  });

  it('never loops: a resource that refuses every token it is given is called exactly twice', async () => {
    const as = await createTestAuthServer({ unpublishedKey: true });
    open.push(as);
    const { url } = await realResource(as.issuer);
    const hosted = await hostedAgent({ authServer: as.issuer });
    open.push(hosted);
    let resourceCalls = 0;
    const counting: typeof fetch = (input, init) => {
      if (String(input instanceof Request ? input.url : input).startsWith(url)) resourceCalls++;
      return fetch(input, init);
    };
    const res = await wrapFetch(counting, hosted.agent)(`${url}/data`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'invalid_auth_token' });
    expect(resourceCalls).toBe(2);
    expect(as.tokenRequests).toHaveLength(1);
  });

  it('an untrusted auth server in the challenge is never contacted', async () => {
    const counting = await countingServer();
    open.push(counting);
    const { url } = await realResource(`${counting.origin}/realms/evil`);
    const agent = createAgent({ key: generateKey(), authServer: 'http://localhost:1/realms/good' });
    const error = await agent.fetch(`${url}/data`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AAuthChallengeError);
    expect((error as AAuthChallengeError).code).toBe('auth_server_untrusted');
    expect(counting.count()).toBe(0);
  });

  it('the same flow through got 14', async () => {
    const s = await setup();
    const client = s.hosted.agent.extendGot(got);
    const body = await client.post(`${s.url}/orders`, { json: { qty: 1 } }).json<Record<string, unknown>>();
    expect(body).toMatchObject({ scheme: 'jwt', agent: s.hosted.identity });
    expect(s.seen[0]!.body.toString()).toBe('{"qty":1}');
    expect(s.as.tokenRequests).toHaveLength(1);
  });
});
