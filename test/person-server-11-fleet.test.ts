import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import express from 'express';
import { createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { generateKey, mintResourceToken11, signRequest, type SigningKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { Redis } from 'ioredis';
import { createRedisAuthServerStores } from '@aauth-kit/auth-server';
import { decideOverHttp, decodeJwt, startAuthServer, testRealm } from './fixtures/auth-server.js';
import { freePort, listen, type Listening } from './fixtures/http.js';
import { startOwnRedis, type OwnRedis } from './fixtures/redis-server.js';
import { startMember, stopMember, until, type Member } from './fixtures/fleet-member.js';

// Issue 17: the -11 person server in a fleet. Two auth-server processes (children, stopped by PID)
// behind one server identifier, their -11 records (issued tokens, bindings, grants) in one real
// redis-server through createRedisAuthServerStores: a person token issued by A backs an auth-token
// request served by B; its revocation at A is refused at B; Redis killed and restarted keeps the
// acknowledged records (the binding, the grant, the revocation).


let redis: OwnRedis;
let dir: string;
let a: Member;
let b: Member;
let ps: string;
let issuer: string;
let site: string;
let provider: AgentProvider;
const open: Listening[] = [];
const siteKey = generateKey({ kid: 'fleet11-site' });
const agentKey = generateKey({ kid: 'fleet11-agent' });
const LOCAL = 'fleet11-bot';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** A request signed by the agent (its agent token under sig=jwt) for `url` (at the fleet's identifier), sent to member `m`. */
async function asAgent(m: Pick<Member, 'port'>, url: string, json?: unknown, server = ps): Promise<Answer> {
  const method = json === undefined ? 'GET' : 'POST';
  const headers: Record<string, string> = json === undefined ? {} : { 'content-type': 'application/json' };
  const body = json === undefined ? undefined : JSON.stringify(json);
  const jwt = provider.mintAgentToken({ local: LOCAL, agentKey, ps: server });
  const signed = signRequest({ method, url, headers, body }, { key: agentKey as SigningKey, signatureKey: { scheme: 'jwt', jwt }, nonce: true });
  const target = new URL(url);
  target.port = String(m.port);
  const res = await fetch(target, { method, headers: { ...headers, ...signed.headers }, body, signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** POST to a person-server endpoint at `m`; a 202 is approved (consent page at `m`) and polled at `m`. */
async function obtain(m: Member, path: string, json: Record<string, unknown>): Promise<Answer> {
  const first = await asAgent(m, `${ps}${path}`, { ...json, capabilities: ['interaction'] });
  if (first.status !== 202) return first;
  const code = /code="([^"]+)"/.exec(first.headers.get('aauth-requirement') ?? '')![1]!;
  expect((await decideOverHttp(`http://127.0.0.1:${m.port}${new URL(issuer).pathname}/protocol/aauth/interact`, code, 'approve')).status).toBe(200);
  return asAgent(m, new URL(first.headers.get('location')!, ps).href);
}

const resourceToken = (person: Record<string, unknown>) =>
  mintResourceToken11(siteKey, { issuer: site, audience: ps, ps, sub: String(person.sub), presentedJti: String(person.jti), agentJkt: agentKey.thumbprint, scope: 'data.read', allowLoopback: true });

beforeAll(async () => {
  const dist = fileURLToPath(new URL('../packages/auth-server/dist/index.js', import.meta.url));
  if (!existsSync(dist)) throw new Error('packages/auth-server/dist is missing: run `npx tsc -b` first');
  redis = await startOwnRedis();
  dir = mkdtempSync(join(tmpdir(), 'aauth-fleet11-'));
  const realmFile = join(dir, 'realm.json');
  writeFileSync(realmFile, JSON.stringify(testRealm()));
  const portA = await freePort();
  const baseUrl = `http://127.0.0.1:${portA}`;
  issuer = `${baseUrl}/realms/aauth-test`;
  ps = baseUrl;
  const common = [realmFile, join(dir, 'realm.key'), baseUrl, redis.url, 'aauth:fleet11-test:'];
  a = await startMember([...common, String(portA)]);
  b = await startMember([...common, '0']);
  await until('both members connected to Redis', () => a.readyCount() >= 1 && b.readyCount() >= 1);
  // The agent provider and the resource (its metadata and JWKS: the person server verifies its resource tokens).
  const apApp = express();
  const ap = await listen(apApp);
  open.push(ap);
  provider = createAgentProvider({ issuer: ap.origin, key: generateKey({ kid: 'fleet11-ap' }), allowLoopback: true });
  apApp.use(provider.wellKnown() as express.RequestHandler);
  const siteApp = express();
  const sl = await listen(siteApp);
  open.push(sl);
  site = sl.origin;
  const resource = createResource({ identity: site, key: siteKey, generations: ['draft-11'], scopes: { 'data.read': 'Read data' }, draft11: { allowLoopback: true, personServers: [ps] } });
  siteApp.use(resource.wellKnown());
});

afterAll(async () => {
  await Promise.all([stopMember(a), stopMember(b), ...open.map((l) => l.close())]);
  await redis?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the -11 person server in a fleet sharing one redis-server', () => {
  let person: Record<string, unknown>;
  let personToken: string;

  it('a person token issued by A backs an auth-token request served by B', async () => {
    const issued = await obtain(a, '/aauth/person/person-token', { resource: site });
    expect(issued.status).toBe(200);
    personToken = String(issued.body.person_token);
    person = decodeJwt(personToken).claims;
    expect(person).toMatchObject({ iss: ps, aud: site });
    const auth = await obtain(b, '/aauth/person/auth-token', { resource_token: await resourceToken(person), presented_token: personToken });
    expect(auth.status).toBe(200);
    expect(decodeJwt(String(auth.body.auth_token)).claims).toMatchObject({ iss: ps, aud: site, sub: person.sub, scope: 'data.read' });
    // B knows A's binding and grant: a second person token at B needs no consent.
    const again = await asAgent(b, `${ps}/aauth/person/person-token`, { resource: site });
    expect(again.status).toBe(200);
    expect(decodeJwt(String(again.body.person_token)).claims.sub).toBe(person.sub);
  });

  it('a revocation at A is refused at B: no auth token against the revoked person token', async () => {
    const revoked = await asAgent(a, `${ps}/aauth/person/revoke`, { iss: ps, jti: person.jti });
    expect(revoked.status).toBe(200);
    const refused = await asAgent(b, `${ps}/aauth/person/auth-token`, { resource_token: await resourceToken(person), presented_token: personToken });
    expect([refused.status, refused.body.error]).toEqual([400, 'revoked_presented_token']);
  });

  it('Redis killed: a bounded 503 (server_error, Retry-After); restarted: the binding, the grant and the revocation are still there', async () => {
    const before = [a.readyCount(), b.readyCount()];
    await redis.kill();
    const down = await asAgent(b, `${ps}/aauth/person/person-token`, { resource: site });
    expect([down.status, down.body.error]).toEqual([503, 'server_error']);
    expect(down.headers.get('retry-after')).toBe('1');
    await redis.start();
    await until('both members reconnected', () => a.readyCount() > before[0]! && b.readyCount() > before[1]!);
    const fresh = await asAgent(b, `${ps}/aauth/person/person-token`, { resource: site });
    expect(fresh.status).toBe(200);
    const stillRevoked = await asAgent(a, `${ps}/aauth/person/auth-token`, { resource_token: await resourceToken(person), presented_token: personToken });
    expect([stillRevoked.status, stillRevoked.body.error]).toEqual([400, 'revoked_presented_token']);
    // The fresh person token (issued after the restart at B) backs an auth token at A.
    const next = await asAgent(a, `${ps}/aauth/person/auth-token`, { resource_token: await resourceToken(decodeJwt(String(fresh.body.person_token)).claims), presented_token: String(fresh.body.person_token) });
    expect(next.status).toBe(200);
  });

  it('a failing Redis behind the -11 records alone (replay in memory): the person server answers 503 store_unavailable, never a 500', async () => {
    const c = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    c.on('error', () => {});
    await new Promise<void>((r) => (c.status === 'ready' ? r() : c.once('ready', () => r())));
    const solo = await startAuthServer({ draft11: { allowLoopback: true }, draft11Records: createRedisAuthServerStores(c, { prefix: 'aauth:fleet11-solo:', timeoutMs: 300 }).draft11Records });
    try {
      const soloPs = solo.server.personServer!;
      const port = { port: Number(new URL(soloPs).port) };
      await redis.kill();
      const down = await asAgent(port, `${soloPs}/aauth/person/person-token`, { resource: site }, soloPs);
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ error: 'server_error', detail: 'The shared state store is not connected' });
      expect(down.headers.get('retry-after')).toBe('1');
    } finally {
      await solo.close();
      c.disconnect();
      await redis.start();
    }
  });
});
