import type { ServerResponse } from 'node:http';
import { type Agent, type Clarification, createAgent, createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { decodeToken, generateKey, mintAuthToken11, parseSignatureKey, signRequest, type OkpPublicJwk, type SigningKey } from '@aauth-kit/core';
import { toHttpRequest } from '@aauth-kit/core/internal';
import { createResource } from '@aauth-kit/express';
import { createVerifier } from '@aauth-kit/verifier';
import express, { type Request, type Response } from 'express';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { decideOverHttp, decodeJwt, startAuthServer, testRealm, type TestAuthServer } from './fixtures/auth-server.js';
import { listen } from './fixtures/http.js';
import { startOwnRedis, type OwnRedis } from './fixtures/redis-server.js';
import { Redis } from 'ioredis';
import { createRedisAuthServerStores } from '@aauth-kit/auth-server';

// AAuth -11 "AS Response": the person server "follows the standard deferred response loop: it
// handles 202 and 402 responses and continues until it receives a 200 with an auth token or a
// terminal error". A scripted access server over loopback answers as the draft allows (202 with a
// pending URL, requirement=claims / interaction, a polling error, 402, a pending URL that never
// answers); it checks that every request is signed by the person server. The kit agent asks a kit
// resource whose resource tokens are addressed to it; the kit person server federates.

/** What the scripted access server answers one request with. */
type Reply = { status: number; headers?: Record<string, string>; body?: unknown } | 'token' | 'hang';
interface Script {
  post: Reply;
  /** Answers to the polls (signed GETs) of the pending URL, in order; the last one repeats. */
  polls: Reply[];
  /** The answer to a `requirement=claims` POST to the pending URL. */
  claims?: Reply;
}
interface Hit {
  method: string;
  path: string;
  /** The verified signer (`id` of its sig=jwks_uri key). */
  signer: string;
  body?: Record<string, unknown>;
  /** The Prefer header the request carried. */
  prefer?: string;
}

const open: Array<{ close(): Promise<void> }> = [];
const hanging: ServerResponse[] = [];
let provider: AgentProvider;
let ps: TestAuthServer;
/** A second person server whose pending requests end after 2 s (the bounded-wait cases). */
let psShort: TestAuthServer;
/** A person server whose state (pending requests among it) is in Redis: a fleet's. */
let psRedis: TestAuthServer;
let redis: OwnRedis;
let redisClient: Redis;
let as: string;
let script: Script;
let hits: Hit[];
let interactedAtAs: boolean;
const resourceKey = generateKey({ kid: 'resource-deferred' });

/** The scripted access server: metadata, JWKS, token endpoint and pending URL, each request's signature verified. */
async function startScriptedAs(): Promise<string> {
  const key = generateKey({ kid: 'scripted-as' });
  const app = express();
  const listening = await listen(app);
  open.push(listening);
  const origin = listening.origin;
  let last: { rt: Record<string, unknown>; agentJwk: OkpPublicJwk } | undefined;
  let polls = 0;
  // Made at the first request: the person servers start after this server.
  let verifier: ReturnType<typeof createVerifier> | undefined;
  const reply = async (res: Response, answer: Reply) => {
    if (answer === 'hang') return void hanging.push(res);
    if (answer === 'token') {
      const { rt, agentJwk } = last!;
      const token = await mintAuthToken11(key, { issuer: origin, dwk: 'aauth-access.json', ps: String(rt.ps), audience: String(rt.iss), sub: String(rt.sub), agentKey: agentJwk, scope: String(rt.scope), lifetime: 600, allowLoopback: true });
      return void res.json({ auth_token: token, expires_in: 600 });
    }
    res.status(answer.status).set(answer.headers ?? {});
    if (answer.body === undefined) res.end();
    else res.json(answer.body);
  };
  /** The person server's signature (sig=jwks_uri, dwk aauth-person.json), verified as an access server does. */
  const signed = async (req: Request): Promise<Hit> => {
    const body = Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined;
    verifier ??= createVerifier({ identity: origin, trustedIssuers: [ps.server.personServer!, psShort.server.personServer!], generations: ['draft-11'], draft11: { allowLoopback: true } });
    const verified = await verifier.verify(toHttpRequest(req, origin, body), { serverDocuments: ['aauth-person.json'], ...(body ? { requiredComponents: ['content-type', 'content-digest'] } : {}) });
    const hit: Hit = { method: req.method, path: req.path.replace(/\/pending\/.*/, '/pending'), signer: verified.agent };
    if (body) hit.body = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    if (typeof req.headers.prefer === 'string') hit.prefer = req.headers.prefer;
    hits.push(hit);
    return hit;
  };
  app.get('/.well-known/aauth-access.json', (_q, r) => r.json({ issuer: origin, jwks_uri: `${origin}/jwks`, auth_token_endpoint: `${origin}/token` }));
  app.get('/jwks', (_q, r) => {
    const { kid: _kid, ...jwk } = key.jwk as unknown as Record<string, string>;
    r.json({ keys: [{ ...jwk, kid: key.kid, alg: 'Ed25519' }] });
  });
  app.post('/token', express.raw({ type: () => true }), async (req, res) => {
    const hit = await signed(req);
    last = {
      rt: decodeToken(String(hit.body!.resource_token)).claims,
      agentJwk: (decodeToken(String(hit.body!.agent_token)).claims.cnf as { jwk: OkpPublicJwk }).jwk,
    };
    polls = 0;
    await reply(res, script.post);
  });
  app.get('/pending/:id', async (req, res) => {
    await signed(req);
    await reply(res, script.polls[Math.min(polls++, script.polls.length - 1)]!);
  });
  app.post('/pending/:id', express.raw({ type: () => true }), async (req, res) => {
    await signed(req);
    await reply(res, script.claims ?? { status: 400, body: { error: 'invalid_request' } });
  });
  app.delete('/pending/:id', async (req, res) => {
    await signed(req);
    res.status(204).end();
  });
  app.get('/interact', (_q, r) => r.send('the access server would ask the person here'));
  return origin;
}

/** A -11 kit resource whose resource tokens go to the scripted access server: `/data` (no consent at the PS), `/optimize` (consent). */
async function startSite(personServer: string): Promise<string> {
  const app = express();
  const site = await listen(app);
  open.push(site);
  const scopes = { 'data.read': 'Read market data', 'supply-chain:optimize': 'Optimise the supply chain' };
  const resource = createResource({ identity: site.origin, key: resourceKey, generations: ['draft-11'], scopes, draft11: { allowLoopback: true, personServers: [personServer], accessServer: as } });
  app.use(resource.wellKnown());
  for (const [path, scope] of [['/data', 'data.read'], ['/optimize', 'supply-chain:optimize']] as const) app.get(path, resource.require({ scope }), (req, res) => res.json(req.aauth));
  return site.origin;
}

interface Seen {
  method: string;
  path: string;
  status: number;
  headers: Headers;
  body: Record<string, unknown> | undefined;
}

/** The kit agent, its exchanges with the person server recorded; the person approves at the PS, and at the AS when sent there. */
function agent11(
  local: string,
  server: TestAuthServer,
  sleep: (ms: number) => Promise<void> = async () => undefined,
  onClarification?: (c: Clarification) => string | Promise<string>,
): { agent: Agent; seen: Seen[]; interactions: string[] } {
  const seen: Seen[] = [];
  const interactions: string[] = [];
  const personServer = server.server.personServer!;
  const key = generateKey({ kid: `${local}-key` });
  const agent = createAgent({
    key,
    draft11: { provider, local, ps: personServer, allowLoopback: true },
    fetch: async (input, init) => {
      if (beforeAnswer !== undefined && init?.method === 'POST' && String(input instanceof Request ? input.url : input).includes('/aauth/person/pending/')) {
        await beforeAnswer(String(input), key, new Headers(init.headers).get('signature-key')!);
      }
      const res = await fetch(input, init);
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.origin === personServer && url.pathname.startsWith('/aauth/person/')) {
        const body = (await res.clone().json().catch(() => undefined)) as Record<string, unknown> | undefined;
        seen.push({ method: init?.method ?? 'GET', path: url.pathname.replace(/\/pending\/.*$/, '/pending'), status: res.status, headers: res.headers, body });
      }
      return res;
    },
    sleep,
    ...(onClarification === undefined ? {} : { onClarification }),
    onInteraction: async ({ url }) => {
      interactions.push(url);
      if (url.startsWith(`${as}/`)) {
        interactedAtAs = true;
        return;
      }
      const answer = await decideOverHttp(server.interactionEndpoint, new URL(url).searchParams.get('code')!, 'approve');
      expect(answer.status).toBe(200);
    },
  });
  return { agent, seen, interactions };
}

/** Called with the pending URL, the agent's key and its Signature-Key before the agent POSTs its answer there. */
let beforeAnswer: ((url: string, key: SigningKey, signatureKey: string) => Promise<void>) | undefined;

/** The person server has asked the access server (the agent's waits before that are not real). */
const federating = () => hits.length > 0;
const steps = (seen: Seen[]) => seen.map((s) => [s.method, s.path, s.status]);
const pending = (retryAfter = '0', requirement?: string, body: Record<string, unknown> = { status: 'pending' }): Reply => ({
  status: 202,
  headers: { Location: '/pending/p1', 'Retry-After': retryAfter, 'Cache-Control': 'no-store', ...(requirement ? { 'AAuth-Requirement': requirement } : {}) },
  body,
});

beforeAll(async () => {
  const providerApp = express();
  const ap = await listen(providerApp);
  open.push(ap);
  provider = createAgentProvider({ issuer: ap.origin, key: generateKey({ kid: 'ap-deferred' }), allowLoopback: true });
  providerApp.use(provider.wellKnown() as express.RequestHandler);
  // The access server listens first: the person servers federate to it by name.
  as = await startScriptedAs();
  const realm = testRealm({ 'aauth.person.trusted.access.servers': JSON.stringify([as]) }, {
    users: [{ id: 'c0ffee00-0000-4000-8000-000000000001', username: 'mcp-user', enabled: true, firstName: 'MCP', lastName: 'User', email: 'mcp-user@example.com', emailVerified: true, credentials: [{ type: 'password', value: 'user123', temporary: false }] }],
  });
  ps = await startAuthServer({ draft11: { allowLoopback: true }, realm });
  psShort = await startAuthServer({ draft11: { allowLoopback: true }, realm, pendingLifetime: 2 });
  redis = await startOwnRedis();
  redisClient = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  psRedis = await startAuthServer({ draft11: { allowLoopback: true }, realm, ...createRedisAuthServerStores(redisClient, { prefix: 'aauth:deferred:' }) });
  open.push(ps, psShort, psRedis);
});

beforeEach(() => {
  hits = [];
  interactedAtAs = false;
});

afterAll(async () => {
  for (const res of hanging.splice(0)) res.destroy();
  await Promise.all(open.splice(0).map((o) => o.close()));
  redisClient?.disconnect();
  await redis?.close();
});

describe('four-party: the access server defers (AAuth -11 "AS Response", "Deferred Responses")', () => {
  it('202 then 200: the agent waits on the PS pending URL, the PS polls the AS with signed GETs, the token is delivered after the checks', async () => {
    script = { post: pending('0', 'requirement=approval'), polls: [pending('0'), 'token'] };
    const site = await startSite(ps.server.personServer!);
    const flow = agent11('waiter', ps);
    const res = await flow.agent.fetch(`${site}/data`);
    expect(res.status).toBe(200);
    expect(steps(flow.seen)).toEqual([
      ['POST', '/aauth/person/person-token', 202],
      ['GET', '/aauth/person/pending', 200],
      ['POST', '/aauth/person/auth-token', 202],
      ['GET', '/aauth/person/pending', 202],
      ['GET', '/aauth/person/pending', 200],
    ]);
    // The PS's own 202: its pending URL, the AS's Retry-After, no interaction for the agent.
    const deferred = flow.seen[2]!;
    expect(deferred.headers.get('location')).toMatch(new RegExp(`^${ps.server.personServer!}/aauth/person/pending/`));
    expect(deferred.headers.get('retry-after')).toBe('0');
    expect(deferred.headers.get('aauth-requirement')).toBeNull();
    // One POST, then signed GETs of the pending URL, each by the person server.
    expect(hits.map((h) => [h.method, h.path, h.signer])).toEqual([
      ['POST', '/token', ps.server.personServer!],
      ['GET', '/pending', ps.server.personServer!],
      ['GET', '/pending', ps.server.personServer!],
    ]);
    expect(decodeJwt(String(flow.seen[4]!.body!.auth_token)).claims).toMatchObject({ iss: as, dwk: 'aauth-access.json', aud: site, scope: 'data.read' });
    // The agent long-polls the PS (Prefer: wait); the PS passes what is left of it on to the AS,
    // within one answer's timeout (10 s by default, so at most 9), and never on the first POST.
    expect(hits[0]!.prefer).toBeUndefined();
    for (const poll of hits.slice(1)) {
      expect(poll.prefer).toMatch(/^wait=\d$/);
      expect(Number(poll.prefer!.slice(5))).toBeGreaterThanOrEqual(1);
    }
    expect(ps.audit.some((e) => e.type === 'token.issued' && e.resource === site && String(e.jti).length > 0)).toBe(true);
  });

  it('consent at the PS first, then the AS defers: the same PS pending URL stays pending until the AS issues', async () => {
    script = { post: pending('0'), polls: [pending('0'), 'token'] };
    const site = await startSite(ps.server.personServer!);
    const flow = agent11('considerate', ps);
    const res = await flow.agent.fetch(`${site}/optimize`);
    expect(res.status).toBe(200);
    expect(steps(flow.seen).slice(2)).toEqual([
      ['POST', '/aauth/person/auth-token', 202],
      ['GET', '/aauth/person/pending', 202],
      ['GET', '/aauth/person/pending', 202],
      ['GET', '/aauth/person/pending', 200],
    ]);
    // One pending URL throughout: the consent's, then the access server's wait.
    expect(new Set(flow.seen.slice(2, 5).map((s) => s.headers.get('location'))).size).toBe(1);
    expect(hits.map((h) => h.method)).toEqual(['POST', 'GET', 'GET']);
    expect(decodeJwt(String(flow.seen.at(-1)!.body!.auth_token)).claims).toMatchObject({ iss: as, scope: 'supply-chain:optimize' });
  });

  it("honours the AS's Retry-After: the PS tells the agent to wait as long, and polls the AS only when the agent comes back", async () => {
    script = { post: pending('1'), polls: ['token'] };
    const site = await startSite(ps.server.personServer!);
    const waits: number[] = [];
    const flow = agent11('patient', ps, async (ms) => {
      if (!federating()) return;
      waits.push(ms);
      // While the agent waits, the person server has not polled the access server.
      expect(hits.filter((h) => h.method === 'GET')).toHaveLength(0);
      await new Promise((resolve) => setTimeout(resolve, ms));
    });
    const res = await flow.agent.fetch(`${site}/data`);
    expect(res.status).toBe(200);
    expect(flow.seen[2]!.headers.get('retry-after')).toBe('1');
    expect(waits.at(-1)).toBe(1000);
    expect(hits.map((h) => h.method)).toEqual(['POST', 'GET']);
  });

  it('the agent gives up while the access server holds the request: the PS withdraws it there too (a DELETE signed as the PS)', async () => {
    script = { post: pending('0', 'requirement=approval'), polls: [pending('0')] };
    const site = await startSite(ps.server.personServer!);
    const controller = new AbortController();
    // The agent's caller gives up once the person server is waiting for the access server.
    const flow = agent11('quitter', ps, async () => {
      if (hits.some((h) => h.method === 'GET')) controller.abort(new Error('no longer needed'));
    });
    await expect(flow.agent.fetch(`${site}/data`, { signal: controller.signal })).rejects.toThrow('no longer needed');
    await vi.waitFor(() => expect(hits.map((h) => [h.method, h.path, h.signer]).at(-1)).toEqual(['DELETE', '/pending', ps.server.personServer!]), { timeout: 5000 });
    expect(steps(flow.seen).at(-1)).toEqual(['DELETE', '/aauth/person/pending', 204]);
    expect(ps.audit.some((e) => e.type === 'request.withdrawn' && e.resource === site)).toBe(true);
  });

  it('202 then a terminal denied: relayed to the agent with the AS code and status (403 denied)', async () => {
    script = { post: pending('0'), polls: [{ status: 403, headers: { 'Content-Type': 'application/problem+json' }, body: { error: 'denied', detail: 'The resource owner declined.' } }] };
    const site = await startSite(ps.server.personServer!);
    const flow = agent11('declined', ps);
    await expect(flow.agent.fetch(`${site}/data`)).rejects.toMatchObject({ code: 'interaction_denied' });
    const last = flow.seen.at(-1)!;
    expect([last.method, last.path, last.status]).toEqual(['GET', '/aauth/person/pending', 403]);
    expect(last.body).toMatchObject({ error: 'denied' });
    expect(String(last.body!.detail)).toMatch(/access server .* refused: The resource owner declined\./);
  });

  it('requirement=claims: the PS POSTs the claims asked for to the pending URL, signed, without sub (PS-55), then gets the token', async () => {
    script = {
      post: pending('0', 'requirement=claims', { status: 'pending', required_claims: ['email', 'sub', 'given_name', 'phone_number'] }),
      polls: [{ status: 500 }],
      claims: 'token',
    };
    const site = await startSite(ps.server.personServer!);
    const flow = agent11('claimant', ps);
    const res = await flow.agent.fetch(`${site}/data`);
    expect(res.status).toBe(200);
    // Answered within the token request: no 202 reached the agent.
    expect(steps(flow.seen).at(-1)).toEqual(['POST', '/aauth/person/auth-token', 200]);
    expect(hits.map((h) => [h.method, h.path, h.signer])).toEqual([
      ['POST', '/token', ps.server.personServer!],
      ['POST', '/pending', ps.server.personServer!],
    ]);
    // The realm user's claims asked for; not sub, and nothing it does not hold.
    expect(hits[1]!.body).toEqual({ email: 'mcp-user@example.com', given_name: 'MCP' });
  });

  it('requirement=interaction: passed to the agent in the PS 202 (the AS url and code), the PS polls on until the AS issues', async () => {
    const url = `${as}/interact`;
    script = { post: pending('0', `requirement=interaction; url="${url}"; code="K7QM-2WX9"`), polls: [pending('0'), 'token'] };
    const site = await startSite(ps.server.personServer!);
    const flow = agent11('visitor', ps);
    const res = await flow.agent.fetch(`${site}/data`);
    expect(res.status).toBe(200);
    expect(interactedAtAs).toBe(true);
    expect(flow.interactions.at(-1)).toBe(`${url}?code=K7QM-2WX9`);
    expect(flow.seen[2]!.headers.get('aauth-requirement')).toBe(`requirement=interaction; url="${url}"; code="K7QM-2WX9"`);
    expect(steps(flow.seen).slice(2)).toEqual([
      ['POST', '/aauth/person/auth-token', 202],
      ['GET', '/aauth/person/pending', 202],
      ['GET', '/aauth/person/pending', 200],
    ]);
  });

  it('402 payment required: a terminal, specific refusal (403 payment_unsupported), not as_unreachable', async () => {
    script = { post: { status: 402, headers: { Location: '/pending/pay', 'WWW-Authenticate': 'Payment id="x1", method="stripe"' } }, polls: ['token'] };
    const site = await startSite(ps.server.personServer!);
    const flow = agent11('payer', ps);
    await flow.agent.fetch(`${site}/data`).catch(() => undefined);
    const last = flow.seen.at(-1)!;
    expect([last.method, last.path, last.status, last.body?.error]).toEqual(['POST', '/aauth/person/auth-token', 403, 'payment_unsupported']);
    expect(String(last.body!.detail)).toMatch(/requires payment \(402\).*cannot settle payments/);
    // The PS does not poll a payment it did not make.
    expect(hits.map((h) => h.method)).toEqual(['POST']);
  });

  it("requirement=clarification: passed to an agent that answers clarifications; its answer POSTed to the AS signed as the PS; then the token", async () => {
    const question = 'Which **warehouse** is this for?';
    script = {
      post: pending('0', 'requirement=clarification', { status: 'pending', clarification: question, timeout: 60, options: ['North', 'South'] }),
      polls: ['token'],
      claims: { status: 204 },
    };
    const site = await startSite(ps.server.personServer!);
    const asked: Clarification[] = [];
    const flow = agent11('explainer', ps, undefined, (c) => {
      asked.push(c);
      // The access server is not polled while its question is open.
      expect(hits.map((h) => h.method)).toEqual(['POST']);
      return 'The **North** one: restocking before Monday.';
    });
    const res = await flow.agent.fetch(`${site}/data`);
    expect(res.status).toBe(200);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ question, options: ['North', 'South'], authServer: ps.server.personServer! });
    expect(asked[0]!.timeout).toBeGreaterThan(0);
    expect(asked[0]!.timeout).toBeLessThanOrEqual(60);
    // The PS's 202 carried the AS's question; the agent answered at the PS's pending URL.
    expect(flow.seen[2]!.headers.get('aauth-requirement')).toBe('requirement=clarification');
    expect(steps(flow.seen).slice(2)).toEqual([
      ['POST', '/aauth/person/auth-token', 202],
      ['POST', '/aauth/person/pending', 204],
      ['GET', '/aauth/person/pending', 200],
    ]);
    // The AS got the answer (signed by the PS), then one poll that issued.
    expect(hits.map((h) => [h.method, h.path, h.signer])).toEqual([
      ['POST', '/token', ps.server.personServer!],
      ['POST', '/pending', ps.server.personServer!],
      ['GET', '/pending', ps.server.personServer!],
    ]);
    expect(hits[1]!.body).toEqual({ action: 'clarification_response', clarification_response: 'The **North** one: restocking before Monday.' });
    expect(decodeJwt(String(flow.seen.at(-1)!.body!.auth_token)).claims).toMatchObject({ iss: as, scope: 'data.read' });
    expect(ps.audit.some((e) => e.type === 'clarification.answered' && e.resource === site)).toBe(true);
  });

  it('requirement=clarification answered with the token at once (200 to the answer): the token waits for the next poll; with the Redis store too', async () => {
    for (const server of [ps, psRedis]) {
      script = { post: pending('0', 'requirement=clarification', { status: 'pending', clarification: 'Why?' }), polls: [{ status: 500 }], claims: 'token' };
      hits = [];
      const site = await startSite(server.server.personServer!);
      const flow = agent11(`quick-${hits.length}-${server === ps ? 'memory' : 'redis'}`, server, undefined, () => 'Because.');
      const res = await flow.agent.fetch(`${site}/data`);
      expect(res.status).toBe(200);
      expect(steps(flow.seen).slice(2)).toEqual([
        ['POST', '/aauth/person/auth-token', 202],
        ['POST', '/aauth/person/pending', 204],
        ['GET', '/aauth/person/pending', 200],
      ]);
      // Never polled: the token came in answer to the clarification response.
      expect(hits.map((h) => h.method)).toEqual(['POST', 'POST']);
    }
  });

  it('requirement=clarification, then a refusal in answer: relayed at the next poll (403 denied); a second question after the answer is passed on too', async () => {
    script = {
      post: pending('0', 'requirement=clarification', { status: 'pending', clarification: 'Why?' }),
      polls: ['token'],
      claims: { status: 403, headers: { 'Content-Type': 'application/problem+json' }, body: { error: 'denied', detail: 'Not a good reason.' } },
    };
    const site = await startSite(ps.server.personServer!);
    const flow = agent11('unconvincing', ps, undefined, () => 'Just because.');
    await expect(flow.agent.fetch(`${site}/data`)).rejects.toMatchObject({ code: 'interaction_denied' });
    const last = flow.seen.at(-1)!;
    expect([last.method, last.path, last.status, last.body?.error]).toEqual(['GET', '/aauth/person/pending', 403, 'denied']);
    expect(String(last.body!.detail)).toMatch(/Not a good reason\./);

    // Two questions in turn: each passed on and answered.
    script = {
      post: pending('0', 'requirement=clarification', { status: 'pending', clarification: 'First?' }),
      polls: ['token'],
      claims: pending('0', 'requirement=clarification', { status: 'pending', clarification: 'Second?' }),
    };
    hits = [];
    const questions: string[] = [];
    let calls = 0;
    const twice = agent11('patient-explainer', ps, undefined, (c) => {
      questions.push(c.question);
      // After two answers the scripted AS would ask forever: the third POST is answered with 204.
      if (++calls === 2) script.claims = { status: 204 };
      return `Answer ${calls}`;
    });
    expect((await twice.agent.fetch(`${site}/data`)).status).toBe(200);
    expect(questions).toEqual(['First?', 'Second?']);
    expect(hits.filter((h) => h.method === 'POST' && h.path === '/pending').map((h) => h.body!.clarification_response)).toEqual(['Answer 1', 'Answer 2']);
  });

  it('requirement=clarification that asks nothing, or asks forever: as_unreachable (502) naming why, never passed on', async () => {
    const site = await startSite(ps.server.personServer!);
    for (const [body, why] of [
      [{ status: 'pending' }, /requirement=clarification has no question/],
      [{ status: 'pending', clarification: '   ' }, /requirement=clarification has no question/],
      [{ status: 'pending', clarification: 'x'.repeat(20_000) }, /at most \d+ characters/],
    ] as const) {
      script = { post: pending('0', 'requirement=clarification', body), polls: ['token'] };
      const asked: string[] = [];
      const flow = agent11('bewildered', ps, undefined, (c) => (asked.push(c.question), 'answer'));
      await flow.agent.fetch(`${site}/data`).catch(() => undefined);
      const last = flow.seen.at(-1)!;
      expect([last.status, last.body?.error]).toEqual([502, 'as_unreachable']);
      expect(String(last.body!.detail)).toMatch(why);
      expect(asked).toEqual([]);
    }
    // Asked again after every answer: the sixth question ends the request.
    script = {
      post: pending('0', 'requirement=clarification', { status: 'pending', clarification: 'Again?' }),
      polls: ['token'],
      claims: pending('0', 'requirement=clarification', { status: 'pending', clarification: 'Again?' }),
    };
    let answers = 0;
    const flow = agent11('badgered', ps, undefined, () => `answer ${++answers}`);
    await flow.agent.fetch(`${site}/data`).catch(() => undefined);
    expect(answers).toBe(5);
    const last = flow.seen.at(-1)!;
    expect([last.status, last.body?.error]).toEqual([502, 'as_unreachable']);
    expect(String(last.body!.detail)).toMatch(/asked a clarification 6 times for one token request \(at most 5\)/);
  });

  it("an answer to the access server's question that is no answer is 400 naming why; an updated_request is 400 too; the question stays open", async () => {
    script = { post: pending('0', 'requirement=clarification', { status: 'pending', clarification: 'Why?' }), polls: ['token'], claims: { status: 204 } };
    const site = await startSite(ps.server.personServer!);
    const refused: Array<[number, string]> = [];
    beforeAnswer = async (url, key, signatureKey) => {
      beforeAnswer = undefined;
      const jwt = (parseSignatureKey(signatureKey).key as { jwt: string }).jwt;
      for (const body of [
        { action: 'clarification_response', clarification_response: ' \u200b ' },
        { action: 'clarification_response', clarification_response: 42 },
        { action: 'clarification_response', clarification_response: 'x'.repeat(20_000) },
        { action: 'updated_request', resource_token: 'eyJ.e30.x' },
      ]) {
        const text = JSON.stringify(body);
        const headers = { 'content-type': 'application/json' };
        const signed = signRequest({ method: 'POST', url, headers, body: text }, { key, signatureKey: { scheme: 'jwt', jwt }, signatureKeyForm: 'dictionary', nonce: true });
        const res = await fetch(url, { method: 'POST', headers: { ...headers, ...signed.headers }, body: text });
        const problem = (await res.json()) as { error: string; detail: string };
        refused.push([res.status, `${problem.error}: ${problem.detail}`]);
      }
    };
    try {
      const flow = agent11('careless', ps, undefined, () => 'A real answer.');
      expect((await flow.agent.fetch(`${site}/data`)).status).toBe(200);
    } finally {
      beforeAnswer = undefined;
    }
    expect(refused.map(([status]) => status)).toEqual([400, 400, 400, 400]);
    expect(refused[0]![1]).toMatch(/^invalid_request: clarification_response must be a non-empty string .* the answer to the access server's question$/);
    expect(refused[2]![1]).toMatch(/at most \d+ characters/);
    expect(refused[3]![1]).toMatch(/The open question is the access server's: answer it with clarification_response/);
    // Only the real answer reached the access server.
    expect(hits.filter((h) => h.path === '/pending' && h.method === 'POST').map((h) => h.body)).toEqual([{ action: 'clarification_response', clarification_response: 'A real answer.' }]);
  });

  it('requirement=clarification: an agent that answers none gets a specific refusal (403 unsupported_requirement)', async () => {
    script = { post: pending('0', 'requirement=clarification', { status: 'pending', clarification: 'Why?' }), polls: ['token'] };
    const site = await startSite(ps.server.personServer!);
    const flow = agent11('puzzled', ps);
    await flow.agent.fetch(`${site}/data`).catch(() => undefined);
    const last = flow.seen.at(-1)!;
    expect([last.status, last.body?.error]).toEqual([403, 'unsupported_requirement']);
    expect(String(last.body!.detail)).toMatch(/asks a clarification, and the agent declared no clarification capability/);
  });

  it('a pending URL that never answers: bounded by the agent request\'s own deadline (408 expired), never a hang', async () => {
    script = { post: pending('0'), polls: ['hang'] };
    const site = await startSite(psShort.server.personServer!);
    const flow = agent11('stranded', psShort);
    await expect(flow.agent.fetch(`${site}/data`)).rejects.toMatchObject({ code: 'interaction_expired' });
    const last = flow.seen.at(-1)!;
    expect([last.method, last.path, last.status, last.body?.error]).toEqual(['GET', '/aauth/person/pending', 408, 'expired']);
    expect(String(last.body!.detail)).toMatch(/access server .* did not issue the token before this request expired/);
  });

  it('an access server that stays pending: bounded the same way (408 expired)', async () => {
    script = { post: pending('0'), polls: [pending('1')] };
    const site = await startSite(psShort.server.personServer!);
    const flow = agent11('forever', psShort, async (ms) => {
      if (federating()) await new Promise((resolve) => setTimeout(resolve, ms));
    });
    await expect(flow.agent.fetch(`${site}/data`)).rejects.toMatchObject({ code: 'interaction_expired' });
    expect(flow.seen.at(-1)!.body).toMatchObject({ error: 'expired' });
  });

  it('a 202 whose pending URL is on another origin: refused (as_unreachable), never polled', async () => {
    script = { post: { status: 202, headers: { Location: 'http://127.0.0.1:9/pending/x', 'Retry-After': '0' }, body: { status: 'pending' } }, polls: ['token'] };
    const site = await startSite(ps.server.personServer!);
    const flow = agent11('misled', ps);
    await flow.agent.fetch(`${site}/data`).catch(() => undefined);
    const last = flow.seen.at(-1)!;
    expect([last.status, last.body?.error]).toEqual([502, 'as_unreachable']);
    expect(String(last.body!.detail)).toMatch(/pending URL that is not on/);
  });
});

describe('four-party deferral with the person server state in Redis (a fleet)', () => {
  it('202 then 200: the request waiting for the access server stays approved in Redis, polled on until the AS issues', async () => {
    script = { post: pending('0', 'requirement=approval'), polls: [pending('0'), 'token'] };
    const site = await startSite(psRedis.server.personServer!);
    const flow = agent11('fleet-waiter', psRedis);
    const res = await flow.agent.fetch(`${site}/data`);
    expect(res.status).toBe(200);
    expect(hits.map((h) => h.method)).toEqual(['POST', 'GET', 'GET']);
    expect(decodeJwt(String(flow.seen.at(-1)!.body!.auth_token)).claims).toMatchObject({ iss: as, scope: 'data.read' });
  });

  it('consent at the PS first, then the AS defers: delivered after the consent, the same pending URL throughout', async () => {
    script = { post: pending('0'), polls: [pending('0'), 'token'] };
    const site = await startSite(psRedis.server.personServer!);
    const flow = agent11('fleet-considerate', psRedis);
    const res = await flow.agent.fetch(`${site}/optimize`);
    expect(res.status).toBe(200);
    expect(hits.map((h) => h.method)).toEqual(['POST', 'GET', 'GET']);
    expect(decodeJwt(String(flow.seen.at(-1)!.body!.auth_token)).claims).toMatchObject({ iss: as, scope: 'supply-chain:optimize' });
  });
});
