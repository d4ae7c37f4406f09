import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKey, saveKeyFile, signRequest } from '@aauth-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRealm } from './fixtures/auth-server.js';
import { startMember, stopMember, until, type Member } from './fixtures/fleet-member.js';
import { hostedAgent, type HostedAgent } from './fixtures/hosted-agent.js';
import { freePort } from './fixtures/http.js';
import { startOwnRedis, type OwnRedis } from './fixtures/redis-server.js';

// Issue 17 acceptance: "a token revoked through one [auth server] is refused by both resources
// within the documented staleness". Two auth-server processes behind one issuer URL share one real
// redis-server for their state and their revocations (createRedisRevocationStore, cacheTtlMs
// 200 ms in every process); two resource processes (fleet-resource.mjs: one identity and key, each
// its own Redis client and cache) accept a token the fleet issued; it is revoked through member B (the
// fleet's revocation endpoint, a listed confidential client), and after the staleness bound both
// instances refuse it, while a token issued afterwards is accepted. Revoking the agent through
// member A refuses every token it held at both instances.

const STALENESS_MS = 200;
const PREFIX = 'aauth:fleet-revocation:';
const SCOPE = 'market-analysis:analyze';
const REVOKER = { clientId: 'fleet-revoker', secret: 'fleet-revoker-secret' };

let redis: OwnRedis;
let dir: string;
let a: Member;
let b: Member;
let issuer: string;
let agent: HostedAgent;
/** The two resource processes: instance 0 listens at the resource's identity URL. */
const instances: Member[] = [];
/** Tokens the resource instances accepted, in order. */
const accepted: string[] = [];
let identity = '';

/** The fleet's URL for `path` under the issuer, sent to member `m`'s port (as a load balancer would). */
const at = (m: Member, path: string): string => `http://127.0.0.1:${m.port}${new URL(issuer).pathname}${path}`;

async function revokeAt(m: Member, params: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(at(m, '/protocol/aauth/revoke'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${REVOKER.clientId}:${REVOKER.secret}`).toString('base64')}` },
    body: new URLSearchParams(params).toString(),
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Present `token` to instance `i`, signed by the agent for the resource's identity URL. */
async function present(i: number, token: string): Promise<{ status: number; headers: Headers }> {
  const { headers } = signRequest({ method: 'GET', url: `${identity}/call`, headers: {} }, { key: agent.key, signatureKey: { scheme: 'jwt', jwt: token }, nonce: true });
  const res = await fetch(`http://127.0.0.1:${instances[i]!.port}/call`, { headers, signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { token?: string; pid?: number };
  if (res.status === 200) expect(body.pid).toBe(instances[i]!.pid);
  return { status: res.status, headers: res.headers };
}

const pastStaleness = (): Promise<void> => new Promise((r) => setTimeout(r, STALENESS_MS + 100));

beforeAll(async () => {
  const dist = fileURLToPath(new URL('../packages/auth-server/dist/index.js', import.meta.url));
  if (!existsSync(dist)) throw new Error('packages/auth-server/dist is missing: run `npx tsc -b` first');
  redis = await startOwnRedis();
  dir = mkdtempSync(join(tmpdir(), 'aauth-fleet-revocation-'));
  const realm = testRealm(
    {},
    { clients: [{ clientId: REVOKER.clientId, enabled: true, publicClient: false, clientAuthenticatorType: 'client-secret', secret: REVOKER.secret, serviceAccountsEnabled: true }] },
  );
  const realmFile = join(dir, 'realm.json');
  writeFileSync(realmFile, JSON.stringify(realm));
  const portA = await freePort();
  const baseUrl = `http://127.0.0.1:${portA}`;
  issuer = `${baseUrl}/realms/aauth-test`;
  const common = [realmFile, join(dir, 'realm.key'), baseUrl, redis.url, PREFIX];
  a = await startMember([...common, String(portA), REVOKER.clientId]);
  b = await startMember([...common, '0', REVOKER.clientId]);
  await until('both members connected to Redis', () => a.readyCount() >= 1 && b.readyCount() >= 1);
  // Two processes of one resource (one identity and key, as behind a load balancer), each with its own Redis client and cache.
  const keyFile = join(dir, 'resource.key');
  saveKeyFile(keyFile, generateKey({ kid: 'fleet-resource' }));
  const identityPort = await freePort();
  identity = `http://127.0.0.1:${identityPort}`;
  for (const port of [String(identityPort), '0']) {
    instances.push(await startMember([identity, keyFile, issuer, redis.url, `${PREFIX}revoked:`, String(STALENESS_MS), port], 'fleet-resource.mjs'));
  }
  agent = await hostedAgent({ authServer: issuer });
});

afterAll(async () => {
  await Promise.all([stopMember(a), stopMember(b), agent?.close(), ...instances.map((m) => stopMember(m))]);
  await redis?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('revocation across a fleet of two auth servers and two resource instances sharing one redis-server', () => {
  it('a token revoked through member B is refused by both resource instances within the staleness bound; a new token is accepted', async () => {
    // The agent gets its token from the fleet (the issuer URL reaches member A) through instance 0,
    // which is at the resource's identity URL; present() sends to either instance, signed for that URL.
    const first = await agent.agent.fetch(`${identity}/call`);
    expect(first.status).toBe(200);
    const token = ((await first.json()) as { token: string }).token;
    accepted.push(token);
    // Both instances accept it before the revocation.
    expect((await present(0, token)).status).toBe(200);
    expect((await present(1, token)).status).toBe(200);

    const answer = await revokeAt(b, { token });
    expect(answer.status).toBe(200);
    await pastStaleness();
    for (const i of [0, 1]) {
      const refused = await present(i, token);
      expect(refused.status).toBe(401);
      // A fresh challenge (a new resource token), never the revoked token accepted.
      expect(refused.headers.get('aauth') ?? '').toMatch(/require=auth-token/);
    }
    // The agent recovers with a new token from the fleet (through instance 0, the identity URL), accepted by both instances.
    const again = await agent.agent.fetch(`${identity}/call`);
    expect(again.status).toBe(200);
    const fresh = ((await again.json()) as { token: string }).token;
    accepted.push(fresh);
    expect(fresh).not.toBe(token);
    expect((await present(0, fresh)).status).toBe(200);
    expect((await present(1, fresh)).status).toBe(200);
  });

  it('an agent revoked through member A: every token it held until then is refused by both instances', async () => {
    const held = accepted.at(-1)!;
    expect((await present(1, held)).status).toBe(200);
    const answer = await revokeAt(a, { agent: agent.identity });
    expect(answer.status).toBe(200);
    await pastStaleness();
    expect((await present(0, held)).status).toBe(401);
    expect((await present(1, held)).status).toBe(401);
  });

  it('the revocation endpoint of either member refuses a wrong client secret', async () => {
    const res = await fetch(at(b, '/protocol/aauth/revoke'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${REVOKER.clientId}:wrong`).toString('base64')}` },
      body: 'jti=x',
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_client');
  });
});
