// Figure 8: token exchanges per second with the auth server's state in Redis
// (createRedisAuthServerStores) against the same server with its state in memory, same run.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { Redis } from 'ioredis';
import { createAgent } from '@aauth-kit/agent';
import { createAuthServer, createRedisAuthServerStores } from '@aauth-kit/auth-server';
import { generateKey, mintResourceToken, signRequest } from '@aauth-kit/core';
import { createMemoryReplayStore } from '@aauth-kit/verifier';
import { compare } from '../lib/measure.mjs';
import { close, listen } from '../lib/net.mjs';

const REALM = fileURLToPath(new URL('../../keycloak-realm/aauth-test-realm.json', import.meta.url));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A private redis-server on loopback (append-only, fsync every second), stopped by its PID. */
async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'aauth-bench-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec'];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve, reject) => {
    let out = '';
    child.once('error', (e) => reject(new Error(`redis-server could not start (is it installed?): ${e.message}`)));
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out.slice(-300)}`)));
    child.stdout.on('data', (d) => {
      out += d;
      if (/Ready to accept connections/.test(out)) resolve();
    });
  });
  child.stdout.resume();
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Two embedded auth servers of the same realm in this process, one with the defaults (memory) and
 * one with createRedisAuthServerStores, each receiving `concurrency` concurrent signed exchanges
 * ({resource_token, upstream_token}) per operation, interleaved in rounds.
 */
export async function exchangeRedisFigure({ batches, rounds, concurrency = 8 }) {
  const redis = await startRedis();
  const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  await new Promise((resolve) => client.once('ready', resolve));

  const sites = express();
  const { server: siteServer, port: sitePort } = await listen(sites);
  const host = `http://localhost:${sitePort}`;
  const backendKey = generateKey({ kid: 'backend-1' });
  const scaKey = generateKey({ kid: 'sca-1' });
  const maaKey = generateKey({ kid: 'maa-1' });
  const [backendId, scaId, maaId] = [`${host}/backend`, `${host}/sca`, `${host}/maa`];
  sites.use('/backend', createAgent({ identity: backendId, key: backendKey }).wellKnown());
  sites.use('/sca', createAgent({ identity: scaId, key: scaKey }).wellKnown());
  // Resource metadata and JWKS of SCA and MAA (the auth servers discover their resource-token keys).
  for (const [id, key, path] of [[scaId, scaKey, '/sca'], [maaId, maaKey, '/maa']]) {
    sites.get(`${path}/.well-known/aauth-resource.json`, (_req, res) => res.json({ resource: id, jwks_uri: `${id}/jwks.json` }));
    sites.get(`${path}/jwks.json`, (_req, res) => res.json({ keys: [key.toPublishedJwk()] }));
  }

  /** One auth server (memory or Redis state) and its exchange operation. */
  async function setUp(stores) {
    const app = express();
    const { server, port } = await listen(app);
    const as = createAuthServer({ realm: REALM, baseUrl: `http://localhost:${port}`, onWarning: () => {}, replay: { store: createMemoryReplayStore() }, ...stores });
    app.use(as.router());
    const post = async (key, id, body) => {
      const url = `${as.issuer}/protocol/aauth/token`;
      const text = JSON.stringify(body);
      const s = signRequest({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body: text }, { key, signatureKey: { scheme: 'jwks_uri', id, kid: key.kid } });
      return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...s.headers }, body: text });
    };
    const rt1 = await mintResourceToken(scaKey, { issuer: scaId, audience: as.issuer, agent: backendId, agentJkt: backendKey.thumbprint, scope: 'market-analysis:analyze' });
    const first = await post(backendKey, backendId, { resource_token: rt1 });
    if (first.status !== 200) throw new Error(`upstream token request answered ${first.status}: ${await first.text()}`);
    const upstream = (await first.json()).auth_token;
    const exchangeOnce = async () => {
      const rt = await mintResourceToken(maaKey, { issuer: maaId, audience: as.issuer, agent: scaId, agentJkt: scaKey.thumbprint, scope: 'market-analysis:analyze' });
      const r = await post(scaKey, scaId, { resource_token: rt, upstream_token: upstream });
      if (r.status !== 200) throw new Error(`exchange answered ${r.status}: ${await r.text()}`);
      await r.arrayBuffer();
    };
    const batch = () => Promise.all(Array.from({ length: concurrency }, exchangeOnce));
    return { batch, server };
  }

  const memory = await setUp({});
  const shared = await setUp(createRedisAuthServerStores(client, { prefix: `aauth:bench:${process.pid}:` }));
  try {
    const cmp = await compare({ baseline: memory.batch, subjects: { 'state in Redis (createRedisAuthServerStores)': shared.batch }, iterations: batches, rounds, warmup: Math.max(2, batches >> 2) });
    // compare() counts batches; a batch is `concurrency` exchanges.
    cmp.baseline.opsPerSec *= concurrency;
    for (const s of Object.values(cmp.subjects)) s.opsPerSec *= concurrency;
    return { cmp, concurrency, batches, rounds };
  } finally {
    await Promise.all([close(memory.server), close(shared.server), close(siteServer)]);
    client.disconnect();
    await redis.stop();
  }
}
