import { createHash, randomUUID } from 'node:crypto';
import { AAuthReconnectRequiredError, type Agent, createAgent } from '@aauth-kit/agent';
import { decodeToken, generateKey, signRequest, type SigningKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { createMemoryRevocationStore, createRedisRevocationStore, type RedisRevocationStore } from '@aauth-kit/verifier';
import express, { type Request, type Response } from 'express';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryPendingStore } from '@aauth-kit/auth-server';
import { runCli } from '@aauth-kit/auth-server/cli';
import { run } from '../packages/cli/src/run.js';
import { decideOverHttp, signedFetch, startAuthServer, startParty, testRealm, type TestAuthServer } from './fixtures/auth-server.js';
import { authToken11, sign11, startIssuer11, type Issuer11 } from './fixtures/draft11-issuers.js';
import { hostedAgent, type HostedAgent } from './fixtures/hosted-agent.js';
import { listen, type Listening } from './fixtures/http.js';
import { startOwnRedis, type OwnRedis } from './fixtures/redis-server.js';

// Issue 17, revocation in a fleet: one embedded auth server and resource replicas sharing one real
// redis-server through createRedisRevocationStore. Revoke by token, by agent and by a user's grant,
// through the revocation endpoint and `aauth revoke`; both replicas refuse within the documented
// staleness (the stores' cacheTtlMs); the agent that holds a token of a withdrawn grant gets one
// AAuthReconnectRequiredError per call, never a loop.

/** The staleness bound of every store here: a revocation is honoured by all replicas at most this long after Redis has it. */
const STALENESS_MS = 200;
const MAA_SCOPE = 'market-analysis:analyze';
const SCA_SCOPE = 'supply-chain:optimize'; // needs the user's consent in the test realm
const USER_ID = 'c0ffee00-0000-4000-8000-000000000001'; // mcp-user of testRealm()
const REVOKER = { clientId: 'revoker', secret: 'revoker-secret' };

const clientOf = (clientId: string, secret: string): Record<string, unknown> => ({
  clientId,
  enabled: true,
  publicClient: false,
  clientAuthenticatorType: 'client-secret',
  secret,
  serviceAccountsEnabled: true,
});

/** Wait past the staleness bound: every replica's cached answer is then older than its cacheTtlMs. */
const pastStaleness = (): Promise<void> => new Promise((r) => setTimeout(r, STALENESS_MS + 50));

interface Replica extends Listening {
  hits: number;
}

let redis: OwnRedis;
const clients: Redis[] = [];
let prefix: string;
let as: TestAuthServer;
let maaIdentity = '';
const maaKey = generateKey({ kid: 'maa-1' });
const replicas: Replica[] = [];
/** Auth tokens the MAA replicas accepted, in order. */
const maaTokens: string[] = [];
let sca: Listening;
const scaKey = generateKey({ kid: 'sca-1' });
let scaAgent: Agent;
const scaPosts: string[] = [];
/** Auth tokens the SCA resource accepted, in order (the backend's tokens for the user). */
const scaTokens: string[] = [];
let backend: HostedAgent;
let interactions = 0;
let ps: Issuer11;
const open: Array<{ close(): Promise<void> }> = [];

function client(): Redis {
  const c = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

function store(): RedisRevocationStore {
  return createRedisRevocationStore(client(), { prefix, cacheTtlMs: STALENESS_MS, timeoutMs: 300 });
}

/** A transport that records the body of each token-endpoint POST. */
function recording(posts: string[]): typeof fetch {
  return async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.endsWith('/protocol/aauth/token') && init?.body) posts.push(Buffer.from(init.body as Uint8Array).toString('utf8'));
    return fetch(input, init);
  };
}

/** One MAA replica: the same identity and key as the others (they sit behind one name), its own store instance. */
async function startReplica(): Promise<Replica> {
  const app = express();
  const l = await listen(app);
  const replica: Replica = { ...l, hits: 0 };
  const resource = createResource({
    identity: maaIdentity || l.origin,
    key: maaKey,
    authServer: as.issuer,
    revocation: store(),
    draft11: { allowLoopback: true, personServers: [ps.issuer] },
  });
  app.use(resource.wellKnown());
  app.get('/call', (_req, _res, next) => {
    replica.hits++;
    next();
  });
  app.get('/call', resource.require({ scope: MAA_SCOPE }), (req: Request, res: Response) => {
    const presented = req.aauth!.token?.raw;
    if (presented) maaTokens.push(presented);
    res.json({ agent: req.aauth!.agent, sub: req.aauth!.sub ?? null, act: req.aauth!.act ?? null });
  });
  return replica;
}

/** Present `token` (bound to `key`) to the replica at `origin`, signed for MAA's identity URL. */
async function present(origin: string, token: string, key: SigningKey): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const request = { method: 'GET', url: `${maaIdentity}/call`, headers: {} };
  const { headers } = signRequest(request, { key, signatureKey: { scheme: 'jwt', jwt: token } });
  const res = await fetch(`${origin}/call`, { headers, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** Run `aauth ...args` in this process; its exit code and output. */
async function aauth(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), readStdin: async () => '' });
  return { code, stdout, stderr };
}

/** POST the revocation endpoint as `who` (Basic), with `params`. */
async function revokeOverHttp(params: Record<string, string>, who: { clientId: string; secret: string } | null = REVOKER): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (who) headers.authorization = `Basic ${Buffer.from(`${who.clientId}:${who.secret}`).toString('base64')}`;
  const res = await fetch(`${as.issuer}/protocol/aauth/revoke`, { method: 'POST', headers, body: new URLSearchParams(params).toString(), signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

async function directAgent(): Promise<HostedAgent & { posts: string[] }> {
  const posts: string[] = [];
  const hosted = await hostedAgent({ authServer: as.issuer, fetch: recording(posts) });
  open.push(hosted);
  return Object.assign(hosted, { posts });
}

beforeAll(async () => {
  redis = await startOwnRedis();
  prefix = `aauth:revoked:${randomUUID()}:`;
  ps = await startIssuer11('aauth-person.json');
  open.push(ps);
  as = await startAuthServer({
    realm: testRealm({}, { clients: [clientOf(REVOKER.clientId, REVOKER.secret), clientOf('bystander', 'bystander-secret')] }),
    signingAlgorithm: 'EdDSA',
    revocation: { store: store(), clients: [REVOKER.clientId] },
  });
  open.push(as);
  // Two MAA replicas: the first one's origin is the identity both serve.
  replicas.push(await startReplica());
  maaIdentity = replicas[0]!.origin;
  replicas.push(await startReplica());
  open.push(...replicas);

  // The supply-chain agent: a resource needing the user's consent, and an agent calling MAA onward.
  const scaApp = express();
  sca = await listen(scaApp);
  open.push(sca);
  const scaResource = createResource({ identity: sca.origin, key: scaKey, authServer: as.issuer, revocation: store() });
  scaAgent = createAgent({ identity: sca.origin, key: scaKey, authServer: as.issuer, fetch: recording(scaPosts) });
  scaApp.use(scaResource.wellKnown());
  scaApp.use(scaAgent.wellKnown());
  scaApp.get('/call', scaResource.require({ scope: [SCA_SCOPE, MAA_SCOPE] }), async (req, res, next) => {
    try {
      scaTokens.push(req.aauth!.token!.raw);
      const onward = await scaAgent.fetch(`${maaIdentity}/call`, { upstreamToken: req.aauth!.token!.raw });
      res.status(onward.status).json(await onward.json());
    } catch (error) {
      next(error);
    }
  });

  // The backend: its user (mcp-user) approves on the consent page whenever asked.
  backend = await hostedAgent({
    authServer: as.issuer,
    onInteraction: async (interaction) => {
      interactions++;
      const decided = await decideOverHttp(as.interactionEndpoint, interaction.code, 'approve');
      if (decided.status >= 400) throw new Error(`consent failed: ${decided.status}`);
    },
  });
  open.push(backend);
});

afterAll(async () => {
  await Promise.allSettled(open.map((o) => o.close()));
  for (const c of clients) c.disconnect();
  await redis?.close();
});

describe('revocation store: the staleness bound and the agent/grant rules', () => {
  it('another instance sees a revocation only once its cached answer is older than cacheTtlMs; the revoking one at once', async () => {
    let t = 1_900_000_000;
    const now = (): number => t;
    const a = createRedisRevocationStore(client(), { prefix, cacheTtlMs: 1000, now });
    const b = createRedisRevocationStore(client(), { prefix, cacheTtlMs: 1000, now });
    expect(b.stalenessMs).toBe(1000);
    const jti = randomUUID();
    expect(await b.isRevoked('https://as.example', jti)).toBe(false); // cached "not revoked" at t
    expect(await a.revoke('https://as.example', jti, t + 60)).toBe('recorded');
    expect(await a.isRevoked('https://as.example', jti)).toBe(true);
    t += 0.999;
    expect(await b.isRevoked('https://as.example', jti)).toBe(false); // within the bound: stale
    t += 0.001;
    expect(await b.isRevoked('https://as.example', jti)).toBe(true); // at the bound: seen
  });

  it('agent and grant revocations cover every iat up to their second, the act chain included, and say so to the issuer', async () => {
    const t = 1_900_000_100.4;
    const s = createRedisRevocationStore(client(), { prefix, cacheTtlMs: 0, now: () => t });
    const iss = 'https://as.example';
    await s.revokeGrant(iss, 'alice', 'https://backend.example', t + 600);
    await s.revokeAgent(iss, 'https://rogue.example', t + 600);
    const at = Math.floor(t);
    expect(await s.coveredThrough(iss, ['https://backend.example'], 'alice')).toBe(at);
    expect(await s.coveredThrough(iss, ['https://backend.example'], 'bob')).toBeUndefined();
    expect(await s.isRevoked(iss, 'x1', { agents: ['https://backend.example'], sub: 'alice', iat: at })).toBe(true);
    expect(await s.isRevoked(iss, 'x2', { agents: ['https://backend.example'], sub: 'alice', iat: at + 1 })).toBe(false);
    expect(await s.isRevoked(iss, 'x3', { agents: ['https://backend.example'], sub: 'bob', iat: at })).toBe(false);
    // Exchanged downstream: the grant's agent is in the act chain.
    expect(await s.isRevoked(iss, 'x4', { agents: ['https://sca.example', 'https://backend.example'], sub: 'alice', iat: at - 5 })).toBe(true);
    expect(await s.isRevoked(iss, 'x5', { agents: ['https://sca.example', 'https://rogue.example'], iat: at })).toBe(true);
    expect(await s.isRevoked('https://other.example', 'x6', { agents: ['https://rogue.example'], iat: at })).toBe(false);
    // The memory store keeps the same rules (one process).
    const m = createMemoryRevocationStore({ now: () => t });
    await m.revokeGrant(iss, 'alice', 'https://backend.example', t + 600);
    expect(m.isRevoked(iss, 'y1', { agents: ['https://sca.example', 'https://backend.example'], sub: 'alice', iat: at })).toBe(true);
    expect(m.isRevoked(iss, 'y2', { agents: ['https://backend.example'], sub: 'alice', iat: at + 1 })).toBe(false);
    expect(await m.coveredThrough(iss, ['https://backend.example'], 'alice')).toBe(at);
  });

  it('two revocations of one agent landing out of order (the later-sent first) leave the later second and the longer life, as in the memory store; without eval, a plain SET', async () => {
    const iss = 'https://as.example';
    const agent = `https://late-${randomUUID()}.example`;
    const t = Math.floor(Date.now() / 1000) + 0.5;
    const redisClient = client();
    const late = createRedisRevocationStore(redisClient, { prefix, cacheTtlMs: 0, now: () => t + 3 });
    const early = createRedisRevocationStore(redisClient, { prefix, cacheTtlMs: 0, now: () => t });
    // The revocation made at t + 3 lands first; the one made at t (its SET delayed) lands after it.
    await late.revokeAgent(iss, agent, t + 3 + 600);
    await early.revokeAgent(iss, agent, t + 60);
    expect(await early.coveredThrough(iss, [agent])).toBe(Math.floor(t) + 3);
    expect(await early.isRevoked(iss, 'z1', { agents: [agent], iat: Math.floor(t) + 2 })).toBe(true);
    // Its life stays that of the later one (about 600 s), not the 60 s of the one that landed last.
    expect(await redisClient.ttl(`${prefix}a:${createHash('sha256').update(`${iss}\n${agent}`).digest('base64url')}`)).toBeGreaterThan(500);
    // A client with only SET and MGET (no eval): the plain SET, last write wins (documented).
    const plain = { set: redisClient.set.bind(redisClient), mget: redisClient.mget.bind(redisClient) } as unknown as Redis;
    const grantAgent = `https://plain-${randomUUID()}.example`;
    await createRedisRevocationStore(plain, { prefix, cacheTtlMs: 0, now: () => t + 3 }).revokeGrant(iss, 'alice', grantAgent, t + 600);
    const plainEarly = createRedisRevocationStore(plain, { prefix, cacheTtlMs: 0, now: () => t });
    await plainEarly.revokeGrant(iss, 'alice', grantAgent, t + 600);
    expect(await plainEarly.coveredThrough(iss, [grantAgent], 'alice')).toBe(Math.floor(t));
  });
});

describe('the issuer and a revocation in the same second', () => {
  /** An auth server with revocation on a clock the test moves, and a party to ask it for tokens. */
  async function sameSecond(name: string) {
    const base = Math.floor(Date.now() / 1000);
    let clock = base + 0.2;
    const now = (): number => clock;
    const registry = createMemoryRevocationStore({ now });
    const party = await startParty(name);
    open.push(party);
    const server = await startAuthServer({ now, signingAlgorithm: 'EdDSA', revocation: { store: registry } });
    open.push(server);
    const ask = async (): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> => {
      const rt = await party.resourceToken({ agent: party.identity, agentJkt: party.key.thumbprint, scope: MAA_SCOPE, audience: server.issuer, now });
      return signedFetch(server.tokenEndpoint, { key: party.key, signatureKey: party.signatureKey, json: { resource_token: rt }, now });
    };
    const token = async (): Promise<{ jti: string; iat: number; agent: string }> => {
      const res = await ask();
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return decodeToken(String(res.body.auth_token)).claims as { jti: string; iat: number; agent: string };
    };
    const revoked = (t: { jti: string; iat: number; agent: string }): boolean => registry.isRevoked(server.issuer, t.jti, { agents: [t.agent], iat: t.iat }) as boolean;
    return { base, setClock: (t: number) => void (clock = t), registry, party, server, ask, token, revoked };
  }

  it('a token asked for in the second of an agent revocation is issued once the next second has begun, dated then; a second revocation in that first second no longer misses it', async () => {
    const s = await sameSecond('same-second');
    const before = await s.token();
    expect(before.iat).toBe(s.base);
    await s.registry.revokeAgent(s.server.issuer, s.party.identity, s.base + 600);
    expect(s.revoked(before)).toBe(true);
    // Asked for in the revocation's second: it waits for the next one (it used to be issued at
    // once, dated base + 1, and a second revocation within base then did not cover it).
    let done = false;
    const pending = s.token().then((t) => ((done = true), t));
    await new Promise((r) => setTimeout(r, 150));
    expect(done).toBe(false);
    await s.registry.revokeAgent(s.server.issuer, s.party.identity, s.base + 600);
    s.setClock(s.base + 1.2);
    const after = await pending;
    expect(after.iat).toBe(s.base + 1);
    // Issued after both revocations: neither covers it; one recorded in its own second does.
    expect(s.revoked(after)).toBe(false);
    await s.registry.revokeAgent(s.server.issuer, s.party.identity, s.base + 600);
    expect(s.revoked(after)).toBe(true);
    // Without revocation.clients the endpoint is not served.
    expect((await fetch(`${s.server.issuer}/protocol/aauth/revoke`, { method: 'POST' })).status).toBe(404);
  });

  it('while the clock stays in the revocation\'s second (or another server recorded it on a clock ahead), the request is a bounded 503 revocation_settling with Retry-After, no token', async () => {
    const s = await sameSecond('settling');
    await s.registry.revokeAgent(s.server.issuer, s.party.identity, s.base + 600);
    const res = await s.ask();
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.body.error).toBe('server_error');
    expect(String(res.body.error_description)).toBe(
      `A revocation covering this token (of agent ${s.party.identity}) was recorded in this second (or a later one, by a server whose clock is ahead of this one's): retry in a second`,
    );
    expect(res.body.auth_token).toBeUndefined();
    // The next second: issued.
    s.setClock(s.base + 1.1);
    expect((await s.token()).iat).toBe(s.base + 1);
  });

  it('an approved pending request polled while it settles is a 503 that keeps it: the retry Retry-After asks for gets the token', async () => {
    const base = Math.floor(Date.now() / 1000);
    let clock = base + 0.2;
    const now = (): number => clock;
    const registry = createMemoryRevocationStore({ now });
    const pendingStore = createMemoryPendingStore({ now });
    const party = await startParty('settling-poll');
    open.push(party);
    const server = await startAuthServer({ now, signingAlgorithm: 'EdDSA', revocation: { store: registry }, pendingStore });
    open.push(server);
    // A consent the person gave: the request waits for the agent's poll.
    const id = randomUUID().replaceAll('-', '');
    await pendingStore.put({ id, code: 'SETTLEPOLL', thumbprint: party.key.thumbprint, agent: party.identity, resource: 'https://backend.example', scope: 'data:read', consentScopes: ['data:read'], kind: 'auth', cnfJwk: party.key.jwk, createdAt: base, expiresAt: base + 600, status: 'pending' });
    expect(await pendingStore.decide(id, { status: 'approved', sub: 'user-1', username: 'user' })).toBeDefined();
    await registry.revokeAgent(server.issuer, party.identity, base + 600);
    const poll = () => signedFetch(`${server.issuer}/protocol/aauth/pending/${id}`, { key: party.key, signatureKey: party.signatureKey, now });
    const settling = await poll();
    expect([settling.status, settling.headers.get('retry-after'), settling.body.error]).toEqual([503, '1', 'server_error']);
    // Before: the request was taken before the 503, so this retry was 404 and the consent lost.
    clock = base + 1.2;
    const delivered = await poll();
    expect(delivered.status, JSON.stringify(delivered.body)).toBe(200);
    const claims = decodeToken(String(delivered.body.auth_token)).claims as { jti: string; iat: number; agent: string; sub: string };
    expect([claims.iat, claims.agent, claims.sub]).toEqual([base + 1, party.identity, 'user-1']);
    expect(registry.isRevoked(server.issuer, claims.jti, { agents: [claims.agent], sub: claims.sub, iat: claims.iat })).toBe(false);
    // Single use all the same.
    expect((await poll()).status).toBe(404);
  });
});

describe('revocation through the endpoint and the CLI, refused by both replicas', () => {
  it('by token (endpoint): both replicas accept it, then refuse it within the staleness bound; the agent gets a new one', async () => {
    const d = await directAgent();
    expect((await d.agent.fetch(`${maaIdentity}/call`)).status).toBe(200);
    const token = maaTokens.at(-1)!;
    const { jti } = decodeToken(token).claims as { jti: string };
    // Both replicas accept it (and cache "not revoked").
    for (const r of replicas) expect((await present(r.origin, token, d.key)).status).toBe(200);

    const revoked = await revokeOverHttp({ token });
    expect(revoked.status).toBe(200);
    expect(revoked.headers.get('cache-control')).toBe('no-store');
    expect(revoked.body).toMatchObject({ revoked: 'token', iss: as.issuer, jti });
    expect(as.audit.at(-1)).toMatchObject({ type: 'token.revoked', endpoint: 'revoke', client: REVOKER.clientId, jti });

    await pastStaleness();
    for (const r of replicas) {
      const refused = await present(r.origin, token, d.key);
      expect(refused.status).toBe(401);
      expect(refused.body).toEqual({ error: 'invalid_auth_token', error_description: `Auth token: revoked by ${as.issuer}` });
      // A fresh challenge for the same caller: it may ask for a new token.
      expect(refused.headers.get('aauth')).toMatch(/^require=auth-token; resource-token="/);
    }
    // The agent's cached token is refused; it asks once for a new one and gets through.
    const postsBefore = d.posts.length;
    expect((await d.agent.fetch(`${maaIdentity}/call`)).status).toBe(200);
    expect(d.posts.length).toBe(postsBefore + 1);
    expect(decodeToken(maaTokens.at(-1)!).claims.jti).not.toBe(jti);
  });

  it('by agent (CLI): every token of that agent until now is refused by both replicas; the one it gets next is not; refresh is refused with what to redo', async () => {
    const d = await directAgent();
    expect((await d.agent.fetch(`${maaIdentity}/call`)).status).toBe(200);
    const old = maaTokens.at(-1)!;

    const cli = await aauth('revoke', '--auth-server', as.issuer, '--client-id', REVOKER.clientId, '--client-secret', REVOKER.secret, '--agent', d.identity);
    expect(cli).toMatchObject({ code: 0, stderr: '' });
    expect(cli.stdout).toMatch(new RegExp(`^revoked every token of agent ${d.identity} at ${as.issuer} \\(kept until \\d{4}-`));

    await pastStaleness();
    for (const r of replicas) expect((await present(r.origin, old, d.key)).status).toBe(401);
    // The agent's cached token is refused; the new one it gets is dated after the revocation, so both accept it.
    expect((await d.agent.fetch(`${maaIdentity}/call`)).status).toBe(200);
    const fresh = maaTokens.at(-1)!;
    expect(fresh).not.toBe(old);
    for (const r of replicas) expect((await present(r.origin, fresh, d.key)).status).toBe(200);
    // The revoked token's refresh lineage ends, and the refusal names what to redo.
    const refresh = await signedFetch(`${as.issuer}/protocol/aauth/token`, {
      key: d.key,
      signatureKey: { scheme: 'jwks_uri', id: d.identity, kid: d.key.kid! },
      json: { auth_token: old },
    });
    expect(refresh.status).toBe(400);
    expect(refresh.body).toMatchObject({ error: 'invalid_grant', reconnect: { issuer: as.issuer, agent: d.identity } });
    expect(String(refresh.body.error_description)).toMatch(/^auth_token refused: it was revoked/);
    expect(as.audit.at(-1)).toMatchObject({ type: 'request.refused', code: 'grant_revoked' });
  });

  it("by grant (CLI --user --agent): the pair's tokens and those exchanged from them are refused; the holder gets AAuthReconnectRequiredError once per call; the next request asks the user again", async () => {
    // The backend calls SCA for mcp-user (consent 1); SCA exchanges the user's token for MAA.
    const ok = await backend.agent.fetch(`${sca.origin}/call`);
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(await ok.json()).toEqual({ agent: sca.origin, sub: USER_ID, act: { agent: backend.identity, sub: USER_ID } });
    expect(interactions).toBe(1);
    const userToken = scaTokens.at(-1)!;
    const exchanged = maaTokens.at(-1)!;

    const cli = await aauth('revoke', '--auth-server', as.issuer, '--client-id', REVOKER.clientId, '--client-secret', REVOKER.secret, '--agent', backend.identity, '--user', 'mcp-user', '--json');
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ revoked: 'grant', iss: as.issuer, agent: backend.identity, sub: USER_ID, until: expect.any(Number) });

    await pastStaleness();
    // The exchanged token names the backend in its act chain: both replicas refuse it.
    for (const r of replicas) expect((await present(r.origin, exchanged, scaKey)).status).toBe(401);

    // SCA still holds the user's token (a long task): its onward call fails once, typed, not looped.
    for (let round = 0; round < 2; round++) {
      const hits = replicas[0]!.hits;
      const posts = scaPosts.length;
      const error = await scaAgent.fetch(`${maaIdentity}/call`, { upstreamToken: userToken }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AAuthReconnectRequiredError);
      const e = error as AAuthReconnectRequiredError;
      expect(e.code).toBe('reconnect_required');
      expect(e.status).toBe(502);
      expect(e.target).toEqual({ authServer: as.issuer, resource: maaIdentity, agent: backend.identity, user: USER_ID });
      expect(e.message).toContain(`user ${USER_ID} for agent ${backend.identity}`);
      // One request to MAA (the refused token, or the first attempt), one token request: no loop.
      expect(replicas[0]!.hits - hits).toBe(1);
      expect(scaPosts.length - posts).toBe(1);
    }

    // The backend's next call: its token is refused at SCA, and the user is asked again (consent 2).
    const again = await backend.agent.fetch(`${sca.origin}/call`);
    expect(again.status).toBe(200);
    expect(interactions).toBe(2);
    expect(scaTokens.at(-1)).not.toBe(userToken);
  });
});

describe('aauth auth-server --revocation-client, then aauth revoke', () => {
  it('a listed realm client revokes at a server the command started (its memory); another is refused', async () => {
    const lines: string[] = [];
    const cli = await runCli(['--realm', new URL('../keycloak-realm/aauth-test-realm.json', import.meta.url).pathname, '--port', '0', '--revocation-client', 'supply-chain-agent'], {
      out: (l) => lines.push(l),
      err: () => undefined,
    });
    open.push(cli);
    const revoked = await aauth('revoke', '--auth-server', cli.issuer, '--client-id', 'supply-chain-agent', '--client-secret', 'supply-chain-agent-secret', '--agent', 'https://agent.example', '--user', 'mcp-user', '--json');
    expect(revoked.code).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ revoked: 'grant', iss: cli.issuer, agent: 'https://agent.example', sub: '6f1c2b7e-3d4a-4e5f-9a8b-0c1d2e3f4a5b' });
    expect(lines.map((l) => (l.startsWith('{') ? (JSON.parse(l) as { audit: { type: string } }).audit.type : '')).filter(Boolean)).toEqual(['token.revoked']);
    const refused = await aauth('revoke', '--auth-server', cli.issuer, '--client-id', 'market-analysis-agent', '--client-secret', 'market-analysis-agent-secret', '--jti', 'j-1');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('403 access_denied');
  });
});

describe('-11 tokens in the same shared store', () => {
  it("a -11 auth token revoked by its person server's (iss, jti) is refused by both replicas with revoked_jwt", async () => {
    const agentKey = generateKey({ kid: 'agent-11' });
    const token = await authToken11(ps, agentKey, maaIdentity, { scope: MAA_SCOPE });
    const { jti, exp } = decodeToken(token).claims as { jti: string; exp: number };
    const send = async (origin: string): Promise<globalThis.Response> => {
      const headers = sign11({ method: 'GET', url: `${maaIdentity}/call`, headers: {} }, agentKey, token);
      return fetch(`${origin}/call`, { headers, signal: AbortSignal.timeout(5000) });
    };
    for (const r of replicas) expect((await send(r.origin)).status).toBe(200);
    // What the person server records when it revokes (its push, or the endpoint for its own tokens).
    expect(await store().revoke(ps.issuer, jti, exp + 60)).toBe('recorded');
    await pastStaleness();
    for (const r of replicas) {
      const res = await send(r.origin);
      expect(res.status).toBe(401);
      expect(res.headers.get('signature-error')).toBe('error=revoked_jwt');
      expect(res.headers.get('aauth-requirement')).toBe('requirement=person-token');
    }
  });
});

describe('bad input and a failing Redis', () => {
  it('the endpoint refuses bad input with a specific 4xx, never a 500', async () => {
    const none = await revokeOverHttp({ agent: 'https://a.example' }, null);
    expect(none.status).toBe(401);
    expect(none.body.error).toBe('invalid_client');
    expect(none.headers.get('www-authenticate')).toBe('Basic realm="aauth-test"');
    expect((await revokeOverHttp({ agent: 'https://a.example' }, { clientId: REVOKER.clientId, secret: 'wrong' })).body.error).toBe('invalid_client');
    const bystander = await revokeOverHttp({ agent: 'https://a.example' }, { clientId: 'bystander', secret: 'bystander-secret' });
    expect(bystander.status).toBe(403);
    expect(bystander.body).toEqual({ error: 'access_denied', error_description: 'Client bystander may not revoke at this server (options.revocation.clients)' });
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /^Give exactly one of token, jti, or agent/],
      [{ token: 'a.b.c', agent: 'https://a.example' }, /^Give exactly one of/],
      [{ user: 'mcp-user' }, /^Give exactly one of/],
      [{ jti: 'j1', user: 'mcp-user' }, /^user needs agent/],
      [{ agent: 'https://a.example', user: 'nobody' }, /^user "nobody" is not a user of this realm/],
      [{ jti: 'j1', iss: 'https://evil.example' }, /^iss "https:\/\/evil.example" is not an issuer of this server/],
      [{ token: 'not-a-jwt' }, /^token is not a well-formed JWT/],
    ];
    for (const [params, message] of cases) {
      const res = await revokeOverHttp(params);
      expect(res.status, JSON.stringify(params)).toBe(400);
      expect(res.body.error).toBe('invalid_request');
      expect(String(res.body.error_description)).toMatch(message);
    }
    const json = await fetch(`${as.issuer}/protocol/aauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(json.status).toBe(400);
  });

  it('the CLI: usage errors exit 2, a refusal exits 1 with the server\'s error', async () => {
    expect((await aauth('revoke', '--auth-server', as.issuer, '--agent', 'https://a.example')).code).toBe(2);
    expect((await aauth('revoke', '--auth-server', 'http://as.example/realms/x', '--client-id', 'c', '--client-secret', 's', '--agent', 'a')).stderr).toContain('must be https');
    expect((await aauth('revoke', '--auth-server', as.issuer, '--client-id', 'c', '--client-secret', 's', '--user', 'mcp-user')).code).toBe(2);
    const refused = await aauth('revoke', '--auth-server', as.issuer, '--client-id', 'bystander', '--client-secret', 'bystander-secret', '--agent', 'https://a.example');
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toBe('aauth revoke: 403 access_denied: Client bystander may not revoke at this server (options.revocation.clients)\n');
  });

  it('with Redis down: the resources and the endpoint answer 503 with Retry-After within the store timeout, the CLI exits 1', async () => {
    const d = await directAgent();
    expect((await d.agent.fetch(`${maaIdentity}/call`)).status).toBe(200);
    const token = maaTokens.at(-1)!;
    await pastStaleness();
    await redis.kill();
    for (const r of replicas) {
      // The store's timeout is 300 ms: the answer comes within it plus 1 s, or the fetch aborts.
      const headers = signRequest({ method: 'GET', url: `${maaIdentity}/call`, headers: {} }, { key: d.key, signatureKey: { scheme: 'jwt', jwt: token } }).headers;
      const res = await fetch(`${r.origin}/call`, { headers, signal: AbortSignal.timeout(1300) });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await res.json()).toEqual({ error: 'server_error', error_description: expect.stringMatching(/^The revocation store (is not connected|did not answer|failed)/) });
    }
    const endpoint = await revokeOverHttp({ agent: d.identity });
    expect(endpoint.status).toBe(503);
    expect(endpoint.body.error).toBe('server_error');
    expect(as.audit.at(-1)).toMatchObject({ type: 'request.refused', endpoint: 'revoke', code: 'revocation_store_failed' });
    const cli = await aauth('revoke', '--auth-server', as.issuer, '--client-id', REVOKER.clientId, '--client-secret', REVOKER.secret, '--agent', d.identity);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^aauth revoke: 503 server_error: The revocation store/);
  });
});
