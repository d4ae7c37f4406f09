import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthServer, createRedisAuthServerStores, createRedisPendingStore, type AuthServer } from '@aauth-kit/auth-server';
import { runCli } from '@aauth-kit/auth-server/cli';
import { createRedisTokenCache } from '@aauth-kit/agent';
import { generateKey } from '@aauth-kit/core';
import { createRedisReplayStore, createRedisRevocationStore } from '@aauth-kit/verifier';
import { decideOverHttp, decodeJwt, freePort, sendSignedTo, startParty, testRealm, type Party } from './fixtures/auth-server.js';
import { startOwnRedisCluster, type OwnRedisCluster } from './fixtures/redis-cluster.js';

// Redis Cluster: the shared stores on a real three-node cluster (Debian's redis-server, started
// here, stopped by PID), through ioredis's Cluster client, and the command with --redis-cluster.
// Every key of one deployment carries the hash tag of its prefix (`{aauth:cluster-test}:`), so the
// keys of each Lua script and MGET are in one slot; a prefix without a hash tag is refused up front
// on a cluster client, naming the fix.

const PREFIX = '{aauth:cluster-test}:';
const USER_ID = 'c0ffee00-0000-4000-8000-000000000001';

let cluster: OwnRedisCluster;
let client: Cluster;
const subscribers: Cluster[] = [];
let dir: string;
let a: { server: AuthServer; port: number; close(): Promise<void> };
let b: { server: AuthServer; port: number; close(): Promise<void> };
let issuer: string;
let backend: Party;
let sca: Party;

function clusterClient(): Cluster {
  const c = new Cluster(cluster.nodes, { enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 1 } });
  c.on('error', () => undefined);
  return c;
}

beforeAll(async () => {
  cluster = await startOwnRedisCluster();
  client = clusterClient();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
  dir = mkdtempSync(join(tmpdir(), 'aauth-cluster-'));
  const portA = await freePort();
  const baseUrl = `http://127.0.0.1:${portA}`;
  issuer = `${baseUrl}/realms/aauth-test`;
  const start = async (port: number) => {
    const server = createAuthServer({
      realm: testRealm(),
      baseUrl,
      keyFile: join(dir, 'realm.key'),
      signingAlgorithm: 'EdDSA',
      onWarning: () => undefined,
      ...createRedisAuthServerStores(client, { prefix: PREFIX, timeoutMs: 1000 }),
    });
    const running = await server.listen(port, '127.0.0.1');
    return { server, port: Number(new URL(running.url).port), close: running.close };
  };
  a = await start(portA);
  b = await start(0);
  [backend, sca] = await Promise.all([startParty('backend'), startParty('sca')]);
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.close(), b?.close(), backend?.close(), sca?.close()]);
  for (const s of subscribers) s.disconnect();
  client?.disconnect();
  await cluster?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function requestToken(port: number, scope: string, rt?: string) {
  const token = rt ?? (await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope, audience: issuer }));
  return { rt: token, answer: await sendSignedTo(`${issuer}/protocol/aauth/token`, port, backend.key, backend.signatureKey, { resource_token: token }) };
}

describe('the shared stores on a three-node Redis Cluster (prefix with a hash tag)', () => {
  it('a consent started at A is delivered at B once; a resource token redeemed at A is refused at B', async () => {
    const { answer } = await requestToken(a.port, 'supply-chain:optimize');
    expect(answer.status).toBe(202);
    const location = answer.body.location as string;
    expect((await sendSignedTo(location, b.port, backend.key, backend.signatureKey)).body).toMatchObject({ status: 'pending' });
    const decided = await decideOverHttp(`http://127.0.0.1:${b.port}/realms/aauth-test/protocol/aauth/interact`, answer.body.code as string, 'approve');
    expect(decided.status).toBe(200);
    const delivered = await sendSignedTo(location, a.port, backend.key, backend.signatureKey);
    expect(delivered.status).toBe(200);
    expect(decodeJwt(delivered.body.auth_token as string).claims).toMatchObject({ iss: issuer, sub: USER_ID, scope: 'supply-chain:optimize' });
    expect((await sendSignedTo(location, b.port, backend.key, backend.signatureKey)).status).toBe(404);

    const first = await requestToken(a.port, 'data:read');
    expect(first.answer.status).toBe(200);
    const again = await requestToken(b.port, 'data:read', first.rt);
    expect(again.answer.status).toBe(400);
    expect(again.answer.body.error).toBe('invalid_grant');
  });

  it('every key is in the one slot of the prefix hash tag', async () => {
    const keys = (await Promise.all(client.nodes('master').map((n) => n.keys('*')))).flat();
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter((k) => !k.startsWith(PREFIX))).toEqual([]);
  });

  it("the verifier's replay store, and its revocation store (MGETs of several keys), on the cluster", async () => {
    const replay = createRedisReplayStore(client, { prefix: `${PREFIX}rs:` });
    expect(await replay.checkAndStore('sig-1', 60)).toBe(true);
    expect(await replay.checkAndStore('sig-1', 60)).toBe(false);
    const revocations = createRedisRevocationStore(client, { prefix: `${PREFIX}revoked:`, cacheTtlMs: 0 });
    const until = Math.floor(Date.now() / 1000) + 60;
    await revocations.revokeAgent(issuer, 'https://agent-1.example', until);
    await revocations.revokeGrant(issuer, USER_ID, 'https://agent-2.example', until);
    expect(await revocations.coveredThrough(issuer, ['https://agent-1.example', 'https://other.example'])).toEqual(expect.any(Number));
    expect(await revocations.coveredThrough(issuer, ['https://agent-2.example'], USER_ID)).toEqual(expect.any(Number));
    expect(await revocations.coveredThrough(issuer, ['https://other.example'], USER_ID)).toBeUndefined();
  });

  it('the -11 records (multi-key scripts: cascade sets, bindings, grants) and the rate-limit counters on the cluster', async () => {
    const { draft11Records, rateLimitStore } = createRedisAuthServerStores(client, { prefix: `${PREFIX}direct:` });
    const person = draft11Records.person;
    const exp = Math.floor(Date.now() / 1000) + 300;
    await person.putIssued('pt-1', { kind: 'person', sub: 'directed-1', resource: 'https://r.example', user: USER_ID, exp, thumbprint: 'tp', agent: 'aauth:a@agents.example' });
    await person.putIssued('at-1', { kind: 'auth', sub: 'directed-1', resource: 'https://r.example', user: USER_ID, exp, thumbprint: 'tp', from: ['pt-1'], agent: 'aauth:a@agents.example' });
    expect(await person.childrenOf('pt-1')).toEqual(['at-1']);
    expect((await person.markRevoked(['pt-1', 'at-1'])).sort()).toEqual(['at-1', 'pt-1']);
    expect((await person.getIssued('at-1'))?.revoked).toBe(true);
    await person.bind('aauth:a@agents.example', USER_ID);
    await person.grant(USER_ID, 'https://r.example', ['data.read'], 'aauth:a@agents.example');
    expect(await person.bindingOf('aauth:a@agents.example')).toBe(USER_ID);
    expect([...(await person.grantsOf(USER_ID, 'https://r.example'))]).toContain('data.read');
    await person.withdraw(USER_ID, 'aauth:a@agents.example', exp);
    expect(await person.bindingOf('aauth:a@agents.example')).toBeUndefined();
    // Keycloak's arithmetic on a shared counter: 2 failures of factor 2 make a wait.
    const settings = { enabled: true, permanentLockout: false, failureFactor: 2, waitIncrementSeconds: 60, maxFailureWaitSeconds: 900, quickLoginCheckMilliSeconds: 0, minimumQuickLoginWaitSeconds: 60, maxDeltaTimeSeconds: 3600 };
    const throttle = rateLimitStore.throttle('cluster-test', { settings, quickCheck: false });
    await throttle.fail('someone');
    expect(await throttle.wait('someone')).toBe(0);
    await throttle.fail('someone');
    expect(await throttle.wait('someone')).toBeGreaterThan(0);
    const keys = (await Promise.all(client.nodes('master').map((n) => n.keys(`${PREFIX}direct:*`)))).flat();
    expect(keys.length).toBeGreaterThan(3);
  });

  it("the agent's shared token cache (one hash per key, changes published from its script) between two replicas on the cluster", async () => {
    const thumbprint = generateKey().thumbprint;
    const replica = async () => {
      const subscriber = client.duplicate();
      subscriber.on('error', () => undefined);
      subscribers.push(subscriber);
      // As with one Redis: the subscriber connection is ready before the cache subscribes on it.
      if (subscriber.status !== 'ready') await new Promise<void>((resolve) => subscriber.once('ready', () => resolve()));
      const cache = createRedisTokenCache(client, { keyThumbprint: thumbprint, subscriber, prefix: `${PREFIX}agent-tokens:` });
      await cache.ready;
      return cache;
    };
    const [one, two] = [await replica(), await replica()];
    const entry = { token: 'header.claims.signature', expiresAt: Math.floor(Date.now() / 1000) + 300, resource: 'https://r.example', scope: 'data.read' };
    // A field as the agent names it: [resource, scope, agent, upstream].
    const field = JSON.stringify(['https://r.example', 'data.read', 'https://agent.example', '']);
    one.set(field, entry);
    const deadline = Date.now() + 5000;
    while (two.get(field) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(two.get(field)).toEqual(entry);
    // A replica started later loads what the cluster holds.
    expect((await replica()).get(field)).toEqual(entry);
  });

  it('a prefix without a hash tag is refused up front on a cluster client, naming the fix', () => {
    const fix = /has no hash tag, and the client is a Redis Cluster: .* Give a prefix with a hash tag, e\.g\. "\{aauth:prod\}:"/;
    expect(() => createRedisAuthServerStores(client, { prefix: 'aauth:prod:' })).toThrow(fix);
    expect(() => createRedisPendingStore(client, { prefix: 'aauth:prod:' })).toThrow(fix);
    expect(() => createRedisRevocationStore(client, { prefix: 'aauth:prod:' })).toThrow(fix);
    // The defaults have none either: a cluster needs a prefix given.
    expect(() => createRedisAuthServerStores(client)).toThrow(/"aauth:auth-server:" has no hash tag/);
    // Single-key stores need none.
    expect(() => createRedisReplayStore(client, { prefix: 'aauth:prod:replay:' })).not.toThrow();
    // An empty tag is no tag.
    expect(() => createRedisAuthServerStores(client, { prefix: '{}aauth:' })).toThrow(/has no hash tag/);
  });
});

describe('aauth-auth-server --redis-cluster', () => {
  it('two commands of one issuer on the cluster: a resource token redeemed at A is refused at B; keys under the default {aauth:auth-server}: tag', async () => {
    const seed = cluster.nodes[1]!;
    const portA = await freePort();
    const baseUrl = `http://127.0.0.1:${portA}`;
    const cliIssuer = `${baseUrl}/realms/aauth-test`;
    const realmFile = join(dir, 'cli-realm.json');
    writeFileSync(realmFile, JSON.stringify(testRealm()));
    const out: string[] = [];
    const common = ['--realm', realmFile, '--key-file', join(dir, 'cli.key'), '--alg', 'EdDSA', '--base-url', baseUrl, '--redis-url', `redis://${seed.host}:${seed.port}`, '--redis-cluster'];
    const cliA = await runCli([...common, '--port', String(portA)], { out: (l) => out.push(l), err: () => undefined });
    const cliB = await runCli([...common, '--port', '0'], { out: () => undefined, err: () => undefined });
    try {
      expect(out).toContain(`  state in the Redis Cluster of redis://${seed.host}:${seed.port} (keys {aauth:auth-server}:*), shared with every server of this issuer`);
      const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'data:read', audience: cliIssuer });
      const first = await sendSignedTo(`${cliIssuer}/protocol/aauth/token`, Number(new URL(cliA.url).port), backend.key, backend.signatureKey, { resource_token: rt });
      expect(first.status).toBe(200);
      const again = await sendSignedTo(`${cliIssuer}/protocol/aauth/token`, Number(new URL(cliB.url).port), backend.key, backend.signatureKey, { resource_token: rt });
      expect(again.status).toBe(400);
      expect(again.body.error).toBe('invalid_grant');
      const keys = (await Promise.all(client.nodes('master').map((n) => n.keys('{aauth:auth-server}:*')))).flat();
      expect(keys.length).toBeGreaterThan(0);
    } finally {
      await Promise.all([cliA.close(), cliB.close()]);
    }
  });
});
