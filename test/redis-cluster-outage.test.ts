import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthServer, createRedisAuthServerStores, type AuthServer } from '@aauth-kit/auth-server';
import { createResource } from '@aauth-kit/express';
import { generateKey, signRequest } from '@aauth-kit/core';
import { createRedisReplayStore } from '@aauth-kit/verifier';
import { freePort, sendSignedTo, startParty, testRealm, type Party } from './fixtures/auth-server.js';
import { listen, type Listening } from './fixtures/http.js';
import { startOwnRedisCluster, type OwnRedisCluster } from './fixtures/redis-cluster.js';

// A Redis Cluster outage: the node that holds a deployment's one slot (its prefix's hash tag) stops
// answering (SIGSTOP: accepts, never replies) or dies (SIGKILL). The auth server's token endpoint
// and a resource's Redis replay store answer 503 with their codes (store_unavailable,
// replay_store_failed), never a 500 or a hang, while the other nodes are up; when the stopped node
// answers again, so do they, with nothing lost. Real redis-server processes, stopped by PID.

const PREFIX = '{aauth:outage}:';

let cluster: OwnRedisCluster;
let client: Cluster;
let dir: string;
let as: { server: AuthServer; port: number; close(): Promise<void> };
let site: Listening;
let issuer: string;
let backend: Party;
let sca: Party;
/** The PID of the node that holds PREFIX's slot. */
let ownerPid: number;

beforeAll(async () => {
  cluster = await startOwnRedisCluster();
  client = new Cluster(cluster.nodes, { enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 1 } });
  client.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
  const slot = (await client.cluster('KEYSLOT', PREFIX)) as number;
  const slots = (await client.cluster('SLOTS')) as unknown as Array<[number, number, [string, number, ...unknown[]]]>;
  const ownerPort = slots.find(([low, high]) => slot >= low && slot <= high)![2][1];
  ownerPid = cluster.pids[cluster.nodes.findIndex((n) => n.port === ownerPort)]!;

  dir = mkdtempSync(join(tmpdir(), 'aauth-cluster-outage-'));
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}/realms/aauth-test`;
  const server = createAuthServer({
    realm: testRealm(),
    baseUrl: `http://127.0.0.1:${port}`,
    keyFile: join(dir, 'realm.key'),
    signingAlgorithm: 'EdDSA',
    onWarning: () => undefined,
    ...createRedisAuthServerStores(client, { prefix: PREFIX, timeoutMs: 500, onFailure: () => undefined }),
  });
  const running = await server.listen(port, '127.0.0.1');
  as = { server, port, close: running.close };

  // A resource whose replay store is on the cluster, under the same hash tag.
  const app = express();
  site = await listen(app);
  const resource = createResource({
    identity: site.origin,
    key: generateKey({ kid: 'r' }),
    replay: { store: createRedisReplayStore(client, { prefix: `${PREFIX}replay:`, timeoutMs: 500, onFailure: () => undefined }) },
  });
  app.post('/orders', resource.require({ level: 'signature' }), express.json(), (req, res) => res.status(201).json({ ok: true, got: req.body }));
  [backend, sca] = await Promise.all([startParty('backend'), startParty('sca')]);
}, 60_000);

afterAll(async () => {
  // A node left stopped by a failed test is woken so that close() can stop it.
  for (const pid of cluster?.pids ?? []) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  }
  await Promise.all([as?.close(), site?.close(), backend?.close(), sca?.close()]);
  client?.disconnect();
  await cluster?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function requestToken(scope: string) {
  const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope, audience: issuer });
  return sendSignedTo(`${issuer}/protocol/aauth/token`, as.port, backend.key, backend.signatureKey, { resource_token: rt });
}

async function postOrder(qty: number) {
  const key = generateKey();
  const url = `${site.origin}/orders`;
  const body = JSON.stringify({ qty });
  const headers = { 'content-type': 'application/json' };
  const signed = signRequest({ method: 'POST', url, headers, body }, { key, signatureKey: { scheme: 'hwk', jwk: key.jwk } });
  const res = await fetch(url, { method: 'POST', headers: { ...headers, ...signed.headers }, body, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('Redis Cluster: the node holding the deployment slot fails', () => {
  it('works before the outage (the baseline the refusals below are held against)', async () => {
    expect((await requestToken('data:read')).status).toBe(200);
    expect(await postOrder(1)).toEqual({ status: 201, body: { ok: true, got: { qty: 1 } } });
  });

  it('stopped (SIGSTOP): 503 store_unavailable at the token endpoint and 503 replay_store_failed at the resource; answered again once it wakes', async () => {
    process.kill(ownerPid, 'SIGSTOP');
    try {
      const token = await requestToken('data:read');
      expect([token.status, token.body.error]).toEqual([503, 'server_error']);
      expect(String(token.body.error_description)).toMatch(/store/i);
      const order = await postOrder(2);
      expect([order.status, order.body.error]).toEqual([503, 'server_error']);
      expect(JSON.stringify(order.body)).toMatch(/replay store/i);
    } finally {
      process.kill(ownerPid, 'SIGCONT');
    }
    // The node answers again: both paths work, with no restart of the servers or the client.
    let token = await requestToken('data:read');
    for (let i = 0; i < 20 && token.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 250));
      token = await requestToken('data:read');
    }
    expect(token.status).toBe(200);
    expect(await postOrder(3)).toEqual({ status: 201, body: { ok: true, got: { qty: 3 } } });
  }, 30_000);

  it('dead (SIGKILL): 503 with its code at both, never a 500 or a hang', async () => {
    process.kill(ownerPid, 'SIGKILL');
    const token = await requestToken('data:read');
    expect([token.status, token.body.error]).toEqual([503, 'server_error']);
    const order = await postOrder(4);
    expect([order.status, order.body.error]).toEqual([503, 'server_error']);
    // And again: a client whose node is gone keeps answering 503, not a growing wait.
    expect((await requestToken('data:read')).status).toBe(503);
    expect((await postOrder(5)).status).toBe(503);
  }, 30_000);
});
