import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedisAuthServerStores, type AuthServerOptions, type IssuancePolicy, type PolicyInput } from '@aauth-kit/auth-server';
import { generateKey, type SigningKey } from '@aauth-kit/core';
import { decideOverHttp, decodeJwt, signedFetch, startAuthServer, startParty, type Party } from './fixtures/auth-server.js';
import { startPersonServerWorld11 } from './fixtures/person-server-world-11.js';

// "Nothing valid is lost": a person approved a request, the agent polls, the server takes the
// decided request (single use) and then fails to deliver for a reason it tells the agent to retry
// (503 policy_unavailable here: the issuance policy down at the moment of delivery). The request
// is put back with its decision, so the agent's next poll collects the token; a refusal (4xx)
// still consumes it. Both generations (the Keycloak profile's pending URL, the -11 person
// server's), with the pending requests in memory and in a real redis-server.

const USER = 'c0ffee00-0000-4000-8000-000000000001';
const open: Array<{ close(): Promise<void> }> = [];
const clients: Redis[] = [];
let party: Party;
let agent: Party;

/** A policy that throws (`down`) or denies (`deny`) at the `consented` stage, and allows otherwise. */
function consentedPolicy(): IssuancePolicy & { mode: 'allow' | 'down' | 'deny'; seen: PolicyInput[] } {
  const policy = Object.assign(
    (input: PolicyInput) => {
      policy.seen.push(input);
      if (input.stage !== 'consented' || policy.mode === 'allow') return { allow: true as const };
      if (policy.mode === 'deny') return { allow: false as const, reason: 'not today' };
      throw new Error('rules engine down');
    },
    { mode: 'allow' as 'allow' | 'down' | 'deny', seen: [] as PolicyInput[] },
  );
  return policy;
}

async function stores(kind: 'memory' | 'redis'): Promise<Partial<AuthServerOptions>> {
  if (kind === 'memory') return {};
  const client = new Redis(inject('redisUrl'), { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  clients.push(client);
  await new Promise<void>((r) => (client.status === 'ready' ? r() : client.once('ready', () => r())));
  return { ...createRedisAuthServerStores(client, { prefix: `aauth:test:${randomBytes(6).toString('hex')}:` }) };
}

/** A Keycloak-profile auth token request the person approved: the server and a poll of its pending URL (each signed afresh). */
async function approvedRequest(kind: 'memory' | 'redis', policy: IssuancePolicy) {
  const auth = await startAuthServer({ policy, ...(await stores(kind)) });
  open.push(auth);
  const rt = await party.resourceToken({ agent: agent.identity, agentJkt: agent.key.thumbprint, scope: 'supply-chain:optimize', audience: auth.issuer });
  const asked = await signedFetch(auth.tokenEndpoint, { key: agent.key, signatureKey: agent.signatureKey, json: { resource_token: rt } });
  expect(asked.status).toBe(202);
  expect((await decideOverHttp(auth.interactionEndpoint, String(asked.body.code), 'approve')).status).toBe(200);
  return { auth, poll: () => signedFetch(String(asked.body.location), { key: agent.key, signatureKey: agent.signatureKey }) };
}

beforeAll(async () => {
  [party, agent] = await Promise.all([startParty('retry-resource'), startParty('retry-agent')]);
  open.push(party, agent);
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  for (const c of clients) c.disconnect();
});

describe.each(['memory', 'redis'] as const)('an approved request whose delivery fails with a 5xx is kept for the next poll (pending requests in %s)', (kind) => {
  it('Keycloak profile: 503 policy_unavailable, then the next poll gets the token; a later poll finds it consumed', async () => {
    const policy = consentedPolicy();
    const { auth, poll } = await approvedRequest(kind, policy);

    policy.mode = 'down';
    const failed = await poll();
    expect(failed.status).toBe(503);
    expect(failed.body).toMatchObject({ error: 'server_error' });
    expect(failed.headers.get('retry-after')).toBe('5');
    expect(auth.audit.at(-1)).toMatchObject({ type: 'request.refused', code: 'policy_unavailable' });

    policy.mode = 'allow';
    const delivered = await poll();
    expect(delivered.status).toBe(200);
    expect(decodeJwt(String(delivered.body.auth_token)).claims).toMatchObject({ sub: USER, scope: 'supply-chain:optimize', aud: party.identity });
    expect(auth.audit.filter((e) => e.type === 'token.issued')).toHaveLength(1);
    // Single use still: the next poll finds nothing.
    const after = await poll();
    expect(after.status).toBe(404);
    expect(after.body).toMatchObject({ error: 'not_found' });
    expect(auth.warnings.filter((w) => w.includes('put back'))).toEqual([]);
  });

  it('Keycloak profile: a refusal at delivery (403 policy_denied) consumes the request, as before', async () => {
    const policy = consentedPolicy();
    const { poll } = await approvedRequest(kind, policy);
    policy.mode = 'deny';
    const refused = await poll();
    expect(refused.status).toBe(403);
    expect(String(refused.body.error_description)).toContain('not today');
    policy.mode = 'allow';
    expect((await poll()).status).toBe(404);
  });

  it('-11 person server: a person token request approved, the policy down at delivery (503), then the next poll of the same pending URL gets the person token', async () => {
    const policy = consentedPolicy();
    const world = await startPersonServerWorld11(`retry-${kind}`, (o) => open.push(o), { policy, ...(await stores(kind)) });
    const key = generateKey({ kid: `retry-11-${kind}` }) as SigningKey;
    const signatureKey = { scheme: 'jwt' as const, jwt: await world.provider.mintAgentToken({ local: `retry-${kind}`, agentKey: key, ps: world.ps }) };
    const post = await signedFetch(`${world.ps}/aauth/person/person-token`, { key, signatureKey, json: { resource: world.site, capabilities: ['interaction'] } });
    expect(post.status).toBe(202);
    const code = /code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]!;
    const location = post.headers.get('location')!;
    expect((await decideOverHttp(world.as.interactionEndpoint, code, 'approve')).status).toBe(200);

    policy.mode = 'down';
    const failed = await signedFetch(location, { key, signatureKey });
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('5');
    expect(failed.body).toMatchObject({ error: 'server_error' });

    policy.mode = 'allow';
    const delivered = await signedFetch(location, { key, signatureKey });
    expect(delivered.status).toBe(200);
    expect(typeof delivered.body.person_token).toBe('string');
    expect(decodeJwt(String(delivered.body.person_token)).claims).toMatchObject({ iss: world.ps });
    expect((await signedFetch(location, { key, signatureKey })).status).toBe(410);
  });
});
