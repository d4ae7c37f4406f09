import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import express, { type Request as ExpressRequest, type Response as ExpressResponse } from 'express';
import { createAgent, createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { createRedisReplayStore } from '@aauth-kit/verifier';
import { cookieHeader, decideOverHttp, decodeJwt, sendSignedTo, startParty, testRealm, type Party, type SignedResponse } from './fixtures/auth-server.js';
import { startMember, stopMember, until, type Member } from './fixtures/fleet-member.js';
import { freePort, listen, type Listening } from './fixtures/http.js';
import { startOwnRedis, type OwnRedis } from './fixtures/redis-server.js';

// Issue 17, shared state: two auth-server processes (children, stopped by PID) behind one issuer
// URL, their state in one real redis-server (createRedisAuthServerStores). A consent started at
// one is approved and polled at the other; a resource token redeemed at one is refused at the
// other; sign-in failures count across both; Redis killed and restarted (append-only, fsync
// always) keeps every acknowledged decision and every used resource token. Then the kit's agents of
// both generations (Keycloak profile; -11 person server, person and auth tokens) through two
// instances of one resource and the two auth servers, spread over the members as a load balancer
// would: each consent is started at one member and approved at the other; a request one resource
// instance accepted is a replay at the other.

const USER_ID = 'c0ffee00-0000-4000-8000-000000000001';
const PREFIX = 'aauth:fleet-test:';

type Answer = SignedResponse;

/** Sign a request for `url` (an issuer URL: the fleet's one base URL) and send it to member `port`. */
const sendSigned = sendSignedTo;

let redis: OwnRedis;
let dir: string;
let a: Member;
let b: Member;
let backend: Party;
let sca: Party;
let issuer: string;
const at = (m: Member, path: string): string => `http://127.0.0.1:${m.port}${new URL(issuer).pathname}${path}`;

beforeAll(async () => {
  const dist = fileURLToPath(new URL('../packages/auth-server/dist/index.js', import.meta.url));
  if (!existsSync(dist)) throw new Error('packages/auth-server/dist is missing: run `npx tsc -b` first');
  redis = await startOwnRedis();
  dir = mkdtempSync(join(tmpdir(), 'aauth-fleet-'));
  const realm = testRealm(
    {},
    {
      // Keycloak's brute-force detection: 3 failures lock a user (no quick-series rule, to count plainly).
      bruteForceProtected: true,
      failureFactor: 3,
      quickLoginCheckMilliSeconds: 0,
      users: [
        ...(testRealm().users as object[]),
        { id: 'c0ffee00-0000-4000-8000-000000000009', username: 'guessed-user', enabled: true, credentials: [{ type: 'password', value: 'right' }] },
      ],
    },
  );
  const realmFile = join(dir, 'realm.json');
  writeFileSync(realmFile, JSON.stringify(realm));
  const portA = await freePort();
  const baseUrl = `http://127.0.0.1:${portA}`;
  issuer = `${baseUrl}/realms/aauth-test`;
  const common = [realmFile, join(dir, 'realm.key'), baseUrl, redis.url, PREFIX];
  // A first: it creates the key file B then reads, so both sign as the one issuer.
  a = await startMember([...common, String(portA)]);
  b = await startMember([...common, '0']);
  await until('both members connected to Redis', () => a.readyCount() >= 1 && b.readyCount() >= 1);
  [backend, sca] = await Promise.all([startParty('backend'), startParty('sca')]);
});

afterAll(async () => {
  await Promise.all([stopMember(a), stopMember(b), backend?.close(), sca?.close()]);
  await redis?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A token request with a fresh resource token for the backend, sent to member `m`. */
async function requestToken(m: Member, scope: string, rt?: string): Promise<{ rt: string; answer: Answer }> {
  const token = rt ?? (await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope, audience: issuer }));
  const answer = await sendSigned(`${issuer}/protocol/aauth/token`, m.port, backend.key, backend.signatureKey, { resource_token: token });
  return { rt: token, answer };
}

const poll = (m: Member, location: string): Promise<Answer> => sendSigned(location, m.port, backend.key, backend.signatureKey);

describe('two auth-server processes sharing one redis-server', () => {
  it('a consent started at A is visible at B, approved at B, delivered once across the fleet', async () => {
    const { answer } = await requestToken(a, 'supply-chain:optimize');
    expect(answer.status).toBe(202);
    const location = answer.body.location as string;
    const code = answer.body.code as string;
    expect(location.startsWith(`${issuer}/protocol/aauth/pending/`)).toBe(true);
    // B sees A's pending request (still undecided).
    const early = await poll(b, location);
    expect(early.status).toBe(202);
    expect(early.body).toMatchObject({ status: 'pending', code });
    // The user signs in and approves on B's pages.
    const decided = await decideOverHttp(at(b, '/protocol/aauth/interact'), code, 'approve');
    expect(decided.status).toBe(200);
    expect(await decided.text()).toContain('You approved the request.');
    // A delivers the token B's page approved.
    const delivered = await poll(a, location);
    expect(delivered.status).toBe(200);
    const claims = decodeJwt(delivered.body.auth_token as string).claims;
    expect(claims).toMatchObject({ iss: issuer, sub: USER_ID, agent: backend.identity, aud: sca.identity, scope: 'supply-chain:optimize' });
    // Taken once: neither member delivers it again.
    for (const m of [a, b]) {
      const again = await poll(m, location);
      expect(again.status).toBe(404);
      expect(again.body.error).toBe('not_found');
    }
  });

  it('the consent pages need no affinity: page at A, sign-in at B, consent page at A, decision at B', async () => {
    const { answer } = await requestToken(a, 'supply-chain:optimize');
    const code = answer.body.code as string;
    const page = await fetch(`${at(a, '/protocol/aauth/interact')}?code=${code}`);
    expect(page.status).toBe(200);
    let cookies = cookieHeader('', page);
    const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const login = await fetch(`${at(b, '/protocol/aauth/interact')}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies },
      body: new URLSearchParams({ code, csrf, username: 'mcp-user', password: 'user123' }).toString(),
    });
    // The sign-in form A served verifies at B (one CSRF key, derived from the shared key file).
    expect(login.status).toBe(303);
    cookies = cookieHeader(cookies, login);
    const consent = await fetch(`${at(a, '/protocol/aauth/interact')}?code=${code}`, { headers: { cookie: cookies } });
    const consentHtml = await consent.text();
    // A knows the session B opened: it shows the consent form, not the sign-in form.
    expect(consentHtml).toContain('value="approve"');
    const decision = await fetch(`${at(b, '/protocol/aauth/interact')}/decision`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies },
      body: new URLSearchParams({ code, csrf: /name="csrf" value="([^"]+)"/.exec(consentHtml)![1]!, decision: 'approve' }).toString(),
    });
    expect(decision.status).toBe(200);
    const delivered = await poll(a, answer.body.location as string);
    expect(delivered.status).toBe(200);
    expect(decodeJwt(delivered.body.auth_token as string).claims).toMatchObject({ sub: USER_ID, scope: 'supply-chain:optimize' });
    // Delivered once: the page no longer knows the request.
    const after = await fetch(`${at(a, '/protocol/aauth/interact')}?code=${code}`, { headers: { cookie: cookies } });
    expect(after.status).toBe(404);
  });

  it('a decision is made once across the fleet: a second decision on A is refused after B decided', async () => {
    const { answer } = await requestToken(b, 'supply-chain:optimize');
    const code = answer.body.code as string;
    expect((await decideOverHttp(at(b, '/protocol/aauth/interact'), code, 'deny')).status).toBe(200);
    // A's page sees the request as decided (409 already decided), so no approval can follow a denial.
    const page = await fetch(`${at(a, '/protocol/aauth/interact')}?code=${code}`);
    expect(page.status).toBe(409);
    expect(await page.text()).toContain('This request was already denied.');
    const denied = await poll(a, answer.body.location as string);
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({ error: 'access_denied', error_description: 'The user denied the request' });
  });

  it('a resource token redeemed at A is refused at B', async () => {
    const first = await requestToken(a, 'data:read');
    expect(first.answer.status).toBe(200);
    expect(decodeJwt(first.answer.body.auth_token as string).claims).toMatchObject({ iss: issuer, aud: sca.identity, scope: 'data:read' });
    const again = await requestToken(b, 'data:read', first.rt);
    expect(again.answer.status).toBe(400);
    expect(again.answer.body).toEqual({ error: 'invalid_grant', error_description: 'resource_token refused: it was already redeemed; ask the resource for a new one' });
  });

  it('sign-in failures count across both members: the third failure (on A) locks the user at B', async () => {
    const { answer } = await requestToken(a, 'supply-chain:optimize');
    const code = answer.body.code as string;
    /** One sign-in attempt with a wrong password at member `m` (its own form and CSRF cookie). */
    const attempt = async (m: Member): Promise<{ status: number; text: string }> => {
      const endpoint = at(m, '/protocol/aauth/interact');
      const page = await fetch(`${endpoint}?code=${code}`);
      const html = await page.text();
      const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
      const res = await fetch(`${endpoint}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader('', page) },
        body: new URLSearchParams({ code, csrf, username: 'guessed-user', password: 'wrong' }).toString(),
      });
      return { status: res.status, text: await res.text() };
    };
    expect((await attempt(a)).status).toBe(401);
    expect((await attempt(b)).status).toBe(401);
    expect((await attempt(a)).status).toBe(401);
    // Keycloak's arithmetic on the shared record: 3 failures = one failureFactor = a 60 s wait, at B too.
    const locked = await attempt(b);
    expect(locked.status).toBe(429);
    expect(locked.text).toContain('Too many failed sign-in attempts. Try again later.');
  });

  it('Redis killed and restarted: a 503 while it is down, then every acknowledged decision and used token is still there', async () => {
    // Acknowledged before the outage: a consent approved (the page said so) and a resource token redeemed.
    const pending = await requestToken(a, 'supply-chain:optimize');
    expect(pending.answer.status).toBe(202);
    const location = pending.answer.body.location as string;
    expect((await decideOverHttp(at(a, '/protocol/aauth/interact'), pending.answer.body.code as string, 'approve')).status).toBe(200);
    const used = await requestToken(b, 'data:read');
    expect(used.answer.status).toBe(200);

    const readyBefore = [a.readyCount(), b.readyCount()];
    await redis.kill();
    // Down: a bounded 503 with a code, never a token, never a 500.
    const down = await poll(b, location);
    expect(down.status).toBe(503);
    expect(down.body.error).toBe('server_error');
    const downToken = await requestToken(a, 'data:read', used.rt);
    expect(downToken.answer.status).toBe(503);
    expect(downToken.answer.body.error).toBe('server_error');
    // The consent page: a 503 page (store_unavailable), never a sign-in form.
    const downPage = await fetch(`${at(a, '/protocol/aauth/interact')}?code=${pending.answer.body.code as string}`);
    expect(downPage.status).toBe(503);
    expect(downPage.headers.get('retry-after')).toBe('1');
    const downHtml = await downPage.text();
    expect(downHtml).toContain('The shared state store is not connected');
    expect(downHtml).not.toContain('name="password"');

    await redis.start();
    await until('both members reconnected', () => a.readyCount() > readyBefore[0]! && b.readyCount() > readyBefore[1]!);
    // The used resource token stays used, at either member.
    for (const m of [a, b]) {
      const replay = await requestToken(m, 'data:read', used.rt);
      expect(replay.answer.status).toBe(400);
      expect(replay.answer.body.error).toBe('invalid_grant');
    }
    // The approval made before the crash is delivered after it.
    const delivered = await poll(b, location);
    expect(delivered.status).toBe(200);
    expect(decodeJwt(delivered.body.auth_token as string).claims).toMatchObject({ sub: USER_ID, scope: 'supply-chain:optimize' });
  });
});

/**
 * The kit's agents of both generations through a fleet: two instances of one resource (one
 * identity and key, their replay store in the same Redis) and the two auth servers. The agents'
 * transport spreads their requests over the members as a load balancer would, and records which
 * member answered what.
 */
describe('the kit agents of both generations through two resource instances and two auth servers', () => {
  const siteKey = generateKey({ kid: 'site-1' });
  let site: string;
  const sitePorts: number[] = [];
  const open: Listening[] = [];
  let replayClient: Redis;
  let provider: AgentProvider;
  const hits: Record<string, string[]> = {};
  const hit = (who: string, what: string): void => void (hits[who] ??= []).push(what);

  beforeAll(async () => {
    replayClient = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    replayClient.on('error', () => {});
    await new Promise<void>((resolve) => replayClient.once('ready', () => resolve()));
    const ps = new URL(issuer).origin;
    // Both instances listen first (the identity is the first one's origin), then get their app.
    const apps: express.Express[] = [];
    for (let i = 0; i < 2; i++) {
      const listening = await listen((req, res) => apps[i]!(req, res));
      open.push(listening);
      sitePorts.push(listening.port);
    }
    site = open[0]!.origin;
    for (let i = 0; i < 2; i++) {
      // Each instance is its own createResource (its own caches), sharing the key and the replay store.
      const resource = createResource({
        identity: site,
        key: siteKey,
        authServer: issuer,
        generations: ['keycloak', 'draft-11'],
        scopes: { 'supply-chain:optimize': 'Optimise the supply chain' },
        draft11: { allowLoopback: true, personServers: [ps] },
        replay: { store: createRedisReplayStore(replayClient, { prefix: `${PREFIX}resource-replay:`, timeoutMs: 500 }) },
      });
      const app = express();
      app.use(resource.wellKnown());
      app.post('/optimize', resource.require({ scope: 'supply-chain:optimize' }), (req: ExpressRequest, res: ExpressResponse) => res.json({ instance: i + 1, aauth: req.aauth }));
      apps.push(app);
    }
    const app = express();
    const listening = await listen(app);
    open.push(listening);
    provider = createAgentProvider({ issuer: listening.origin, key: generateKey({ kid: 'ap-1' }), allowLoopback: true });
    app.use(provider.wellKnown() as express.RequestHandler);
  });

  afterAll(async () => {
    await Promise.all(open.map((l) => l.close()));
    replayClient?.disconnect();
  });

  /**
   * A load balancer in the agent's transport: `pick` names the member (index) for each request
   * to the resource (`site`) and to the auth servers (`as`); a 200 from the site is kept so the
   * test can replay it at the other instance.
   */
  function balancer(pick: (to: 'site' | 'as', url: URL, method: string) => number) {
    const accepted: { url: URL; init: RequestInit; instance: number }[] = [];
    const transport: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const method = init?.method ?? 'GET';
      const to = url.origin === site ? 'site' : url.origin === new URL(issuer).origin ? 'as' : undefined;
      if (to === undefined) return fetch(input, init);
      const index = pick(to, url, method);
      const target = new URL(url);
      target.port = String(to === 'site' ? sitePorts[index]! : [a, b][index]!.port);
      const res = await fetch(target, init);
      hit(to === 'site' ? `site${index + 1}` : index === 0 ? 'A' : 'B', `${method} ${url.pathname.replace(/\/pending\/.*$/, '/pending')} ${res.status}`);
      if (to === 'site' && res.status === 200) accepted.push({ url: target, init: init ?? {}, instance: index });
      return res;
    };
    return { transport, accepted };
  }

  /** Replay an accepted request at the other resource instance: refused there (the replay store is shared). */
  async function replayAtOtherInstance(accepted: { url: URL; init: RequestInit; instance: number }): Promise<Response> {
    const other = new URL(accepted.url);
    other.port = String(sitePorts[1 - accepted.instance]!);
    return fetch(other, accepted.init);
  }

  it('Keycloak profile: resource token from instance 1, token request at A, consent and poll at B, the retry accepted at instance 2', async () => {
    let siteCalls = 0;
    const { transport, accepted } = balancer((to, url, method) => {
      if (to === 'site') return siteCalls++ % 2;
      return method === 'POST' ? 0 : 1; // token requests to A; polls to B
    });
    const agent = createAgent({
      identity: backend.identity,
      key: backend.key,
      authServer: issuer,
      fetch: transport,
      sleep: async () => undefined,
      onInteraction: async ({ code }) => {
        const answer = await decideOverHttp(at(b, '/protocol/aauth/interact'), code, 'approve');
        expect(answer.status).toBe(200);
      },
    });
    const res = await agent.fetch(`${site}/optimize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"plan":1}' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { instance: number; aauth: Record<string, unknown> };
    expect(body.instance).toBe(2);
    expect(body.aauth).toMatchObject({ sub: USER_ID, agent: backend.identity, scope: ['supply-chain:optimize'] });
    expect(hits.site1).toEqual(['POST /optimize 401']);
    expect(hits.site2).toEqual(['POST /optimize 200']);
    expect(hits.A).toContain('POST /realms/aauth-test/protocol/aauth/token 202');
    expect(hits.B).toContain('GET /realms/aauth-test/protocol/aauth/pending 200');
    // The signed request instance 2 accepted is a replay at instance 1.
    const replay = await replayAtOtherInstance(accepted[0]!);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toEqual({ error: 'invalid_signature', error_description: 'The signature was already used' });
  });

  it('-11: a person token started at B, approved and polled at A; an auth token started at A, approved and polled at B; the resource instances accept it', async () => {
    for (const k of Object.keys(hits)) delete hits[k];
    let siteCalls = 0;
    const pendings: string[] = [];
    const interactions: number[] = [1, 0]; // the person token's consent at A, the auth token's at B
    const { transport, accepted } = balancer((to, url, method) => {
      if (to === 'site') return siteCalls++ % 2;
      if (method === 'POST') return url.pathname.endsWith('/person-token') ? 1 : 0;
      if (url.pathname.startsWith('/aauth/person/pending/')) {
        if (!pendings.includes(url.pathname)) pendings.push(url.pathname);
        return pendings.indexOf(url.pathname) === 0 ? 0 : 1; // the person token's poll at A, the auth token's at B
      }
      return 0;
    });
    const agent = createAgent({
      key: generateKey({ kid: 'fleet-bot-key' }),
      draft11: { provider, local: 'fleet-bot', ps: new URL(issuer).origin, allowLoopback: true },
      fetch: transport,
      sleep: async () => undefined,
      onInteraction: async ({ url }) => {
        const code = new URL(url).searchParams.get('code')!;
        const member = [a, b][interactions.length === 2 ? 0 : 1]!;
        interactions.shift();
        const answer = await decideOverHttp(at(member, '/protocol/aauth/interact'), code, 'approve');
        expect(answer.status).toBe(200);
      },
    });
    const res = await agent.fetch(`${site}/optimize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"plan":1}' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { instance: number; aauth: Record<string, unknown> };
    expect(body.aauth).toMatchObject({ scope: ['supply-chain:optimize'] });
    expect(interactions).toEqual([]);
    expect(hits.B).toEqual(expect.arrayContaining(['POST /aauth/person/person-token 202', 'GET /aauth/person/pending 200']));
    expect(hits.A).toEqual(expect.arrayContaining(['POST /aauth/person/auth-token 202', 'GET /aauth/person/pending 200']));
    expect([...(hits.site1 ?? []), ...(hits.site2 ?? [])]).toContain('POST /optimize 200');
    const replay = await replayAtOtherInstance(accepted.at(-1)!);
    expect(replay.status).toBe(401);
    expect(replay.headers.get('signature-error')).toBe('error=invalid_signature');
  });
});
