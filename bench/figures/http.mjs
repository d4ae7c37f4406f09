// Figures 5 and 6: whole requests over loopback. The load comes from separate processes
// (autocannon) for figure 5; figure 6 drives the embedded auth server with concurrent clients.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { createAgent } from '@aauth-kit/agent';
import { createAuthServer } from '@aauth-kit/auth-server';
import { generateKey, mintResourceToken, signRequest } from '@aauth-kit/core';
import { aauth, createResource } from '@aauth-kit/express';
import { createMemoryReplayStore } from '@aauth-kit/verifier';
import { median } from '../lib/measure.mjs';

const require = createRequire(import.meta.url);
const AUTOCANNON = join(dirname(require.resolve('autocannon/package.json')), 'autocannon.js');
const REALM = fileURLToPath(new URL('../../keycloak-realm/aauth-test-realm.json', import.meta.url));

function listen(app) {
  return new Promise((resolve) => {
    const server = createServer(app);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port }));
  });
}

const close = (server) =>
  new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

/** Run autocannon in its own process against `url` and return its JSON result. */
function autocannon(url, headers, seconds, connections) {
  const args = [AUTOCANNON, '--json', '-c', String(connections), '-d', String(seconds), '-p', '1'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out));
      } catch (e) {
        reject(new Error(`autocannon output is not JSON: ${out.slice(0, 200)}`));
      }
    });
  });
}

/** Figure 5: an express route behind aauth() vs the same route without it. */
export async function httpFigure({ seconds, rounds, connections = 10 }) {
  const agentKey = generateKey({ kid: 'bench-agent' });
  const payload = { plan: [{ sku: 'A-100', order: 12 }] };
  const plain = express();
  plain.get('/plan', (_req, res) => res.json(payload));
  const guarded = express();
  const { server: gs, port: gport } = await listen(guarded);
  const identity = `http://localhost:${gport}`;
  // The agent's metadata and JWKS on their own loopback server (the verifier fetches them once).
  const agentApp = express();
  const { server: as, port: aport } = await listen(agentApp);
  const agentIdentity = `http://localhost:${aport}`;
  agentApp.use(createAgent({ identity: agentIdentity, key: agentKey }).wellKnown());
  guarded.get('/plan', aauth({ identity, key: generateKey(), level: 'identity', replay: { store: createMemoryReplayStore() } }), (_req, res) => res.json(payload));
  const { server: ps, port: pport } = await listen(plain);

  const signedHeaders = () =>
    signRequest({ method: 'GET', url: `${identity}/plan`, headers: {} }, { key: agentKey, signatureKey: { scheme: 'jwks_uri', id: agentIdentity, kid: agentKey.kid }, nonce: false }).headers;
  // Warm the key cache, and check that the signed request is accepted.
  const warm = await fetch(`http://127.0.0.1:${gport}/plan`, { headers: signedHeaders() });
  if (warm.status !== 200) throw new Error(`the guarded route answered ${warm.status}: ${await warm.text()}`);

  const samples = { plain: [], guarded: [] };
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first; a fresh signature each round keeps `created` inside the window.
    const order = r % 2 === 0 ? ['plain', 'guarded'] : ['guarded', 'plain'];
    for (const which of order) {
      const result =
        which === 'plain'
          ? await autocannon(`http://127.0.0.1:${pport}/plan`, {}, seconds, connections)
          : await autocannon(`http://127.0.0.1:${gport}/plan`, signedHeaders(), seconds, connections);
      if (result.non2xx > 0 || result.errors > 0) throw new Error(`${which}: ${result.non2xx} non-2xx, ${result.errors} errors`);
      samples[which].push(result);
    }
  }
  await Promise.all([close(gs), close(ps), close(as)]);
  const rps = (s) => median(s.map((x) => x.requests.average));
  const lat = (s, p) => median(s.map((x) => x.latency[p]));
  const ratios = samples.guarded.map((g, i) => g.requests.average / samples.plain[i].requests.average);
  return {
    plain: { rps: rps(samples.plain), p50: lat(samples.plain, 'p50'), p99: lat(samples.plain, 'p99') },
    guarded: { rps: rps(samples.guarded), p50: lat(samples.guarded, 'p50'), p99: lat(samples.guarded, 'p99') },
    ratio: median(ratios),
    ratios,
    connections,
    seconds,
  };
}

/** Figure 6: token exchanges per second at the embedded auth server, and the agent's cache. */
export async function exchangeFigure({ requests, concurrency = 8 }) {
  const auth = express();
  const { server: authServer, port: authPort } = await listen(auth);
  const server = createAuthServer({ realm: REALM, baseUrl: `http://localhost:${authPort}`, onWarning: () => {}, replay: { store: createMemoryReplayStore() } });
  auth.use(server.router());
  const issuer = server.issuer;

  // Two agents (backend -> SCA), one resource (MAA); metadata served on loopback.
  const backendKey = generateKey({ kid: 'backend-1' });
  const scaKey = generateKey({ kid: 'sca-1' });
  const maaKey = generateKey({ kid: 'maa-1' });
  const sites = express();
  const { server: siteServer, port: sitePort } = await listen(sites);
  const host = `http://localhost:${sitePort}`;
  const backendId = `${host}/backend`;
  const scaId = `${host}/sca`;
  const maaId = `${host}/maa`;
  // Identity URLs with a path: each party's documents live under its own prefix.
  const backendAgent = createAgent({ identity: backendId, key: backendKey });
  const scaAgent = createAgent({ identity: scaId, key: scaKey });
  sites.use('/backend', backendAgent.wellKnown());
  sites.use('/sca', scaAgent.wellKnown());
  const maaResource = createResource({ identity: maaId, key: maaKey, authServer: issuer, replay: { store: createMemoryReplayStore() } });
  sites.use('/maa', maaResource.wellKnown());

  // The upstream token: what the backend holds for SCA (scope market-analysis:analyze needs no
  // consent in the demo realm), obtained with a direct AAuth token request.
  const post = async (key, id, body) => {
    const url = `${issuer}/protocol/aauth/token`;
    const text = JSON.stringify(body);
    const s = signRequest({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body: text }, { key, signatureKey: { scheme: 'jwks_uri', id, kid: key.kid } });
    return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...s.headers }, body: text });
  };
  // SCA as a resource signs its resource tokens with scaKey published in its JWKS.
  const scaResource = createResource({ identity: scaId, key: scaKey, authServer: issuer, replay: { store: createMemoryReplayStore() } });
  sites.use('/sca', scaResource.wellKnown());
  const rt1 = await mintResourceToken(scaKey, { issuer: scaId, audience: issuer, agent: backendId, agentJkt: backendKey.thumbprint, scope: 'market-analysis:analyze' });
  const first = await post(backendKey, backendId, { resource_token: rt1 });
  if (first.status !== 200) throw new Error(`upstream token request answered ${first.status}: ${await first.text()}`);
  const upstream = (await first.json()).auth_token;

  const rtFor = () => mintResourceToken(maaKey, { issuer: maaId, audience: issuer, agent: scaId, agentJkt: scaKey.thumbprint, scope: 'market-analysis:analyze' });
  const exchangeOnce = async () => {
    const r = await post(scaKey, scaId, { resource_token: await rtFor(), upstream_token: upstream });
    if (r.status !== 200) throw new Error(`exchange answered ${r.status}: ${await r.text()}`);
    await r.arrayBuffer();
  };
  // Baseline: the same client and loopback, a signed POST to a route that only echoes JSON.
  const echo = express();
  echo.post('/echo', express.json(), (req, res) => res.json({ ok: true, n: Object.keys(req.body).length }));
  const { server: echoServer, port: echoPort } = await listen(echo);
  const echoOnce = async () => {
    const url = `http://localhost:${echoPort}/echo`;
    const text = JSON.stringify({ resource_token: await rtFor(), upstream_token: upstream });
    const s = signRequest({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body: text }, { key: scaKey, signatureKey: { scheme: 'jwks_uri', id: scaId, kid: scaKey.kid } });
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...s.headers }, body: text });
    await r.arrayBuffer();
  };
  const drive = async (fn, total) => {
    const latencies = [];
    let next = 0;
    const t0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          next++;
          const s = process.hrtime.bigint();
          await fn();
          latencies.push(Number(process.hrtime.bigint() - s) / 1e6);
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    latencies.sort((a, b) => a - b);
    const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
    return { perSecond: total / seconds, p50: pct(50), p99: pct(99) };
  };
  await drive(exchangeOnce, Math.min(50, requests));
  await drive(echoOnce, Math.min(50, requests));
  const exchange = await drive(exchangeOnce, requests);
  const echoResult = await drive(echoOnce, requests);

  // The agent's cache: 1,000 calls through one challenge make exactly one exchange (counted).
  let tokenRequests = 0;
  const countingFetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url.endsWith('/protocol/aauth/token')) tokenRequests++;
    return fetch(input, init);
  };
  const maaApp = express();
  const { server: maaServer, port: maaPort } = await listen(maaApp);
  const maaIdentity2 = `http://localhost:${maaPort}`;
  const maa2 = createResource({ identity: maaIdentity2, key: generateKey(), authServer: issuer, replay: { store: createMemoryReplayStore() } });
  maaApp.use(maa2.wellKnown());
  maaApp.get('/analysis', maa2.require({ scope: 'market-analysis:analyze' }), (_req, res) => res.json({ ok: true }));
  const cachingAgent = createAgent({ identity: scaId, key: scaKey, authServer: issuer, fetch: countingFetch });
  let ok = 0;
  const calls = requests >= 1000 ? 1000 : 50;
  await Promise.all(
    Array.from({ length: 10 }, async (_, w) => {
      for (let i = w; i < calls; i += 10) {
        const r = await cachingAgent.fetch(`${maaIdentity2}/analysis`, { upstreamToken: upstream });
        if (r.status === 200) ok++;
        await r.arrayBuffer();
      }
    }),
  );
  await Promise.all([close(authServer), close(siteServer), close(echoServer), close(maaServer)]);
  return { exchange, echo: echoResult, ratio: exchange.perSecond / echoResult.perSecond, concurrency, requests, cache: { calls, ok, tokenRequests } };
}
