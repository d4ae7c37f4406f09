// Figures 5 and 6: whole requests over loopback. Figure 5's server and load generator (wrk, or
// autocannon) are separate processes pinned to different cores; figure 6 drives the embedded auth
// server with concurrent clients.
import { spawn, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { createAgent } from '@aauth-kit/agent';
import { createAuthServer } from '@aauth-kit/auth-server';
import { generateKey, mintResourceToken, signRequest } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
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

/** Is `cmd` on the PATH? */
function available(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error;
}

/** Run a command to completion; resolve with its stdout, reject with its stderr on failure. */
function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err.slice(-500)}`))));
  });
}

/** Prefix a command with `taskset -c <cpu>` when pinning is possible. */
const pinned = (pin, cpu, cmd, args) => (pin ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args]);

/** wrk's latency figures ("1.23ms", "812.00us", "1.02s") in milliseconds. */
function wrkMs(text) {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) throw new Error(`unexpected wrk latency: ${text}`);
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
}

/** One load run against `url`, by wrk (or autocannon when wrk is missing), on core 1 when pinned. */
async function load(tool, pin, url, headers, seconds, connections) {
  if (tool === 'wrk') {
    const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency'];
    for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
    args.push(url);
    const out = await run(...pinned(pin, 1, 'wrk', args));
    const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out);
    const sock = /Socket errors: (.*)/.exec(out);
    if (bad || sock) throw new Error(`wrk against ${url}: ${bad ? `${bad[1]} non-2xx` : ''} ${sock ? `socket errors ${sock[1]}` : ''}`);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
    return { rps, p50: wrkMs(/ 50%\s+(\S+)/.exec(out)[1]), p99: wrkMs(/ 99%\s+(\S+)/.exec(out)[1]) };
  }
  const args = [AUTOCANNON, '--json', '-c', String(connections), '-d', String(seconds), '-p', '1'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  args.push(url);
  const result = JSON.parse(await run(...pinned(pin, 1, process.execPath, args)));
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`autocannon against ${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

/** Start the figure's server process (http-server.mjs), on core 0 when pinned; stopped by its PID. */
async function startServer(pin) {
  const script = fileURLToPath(new URL('./http-server.mjs', import.meta.url));
  const [cmd, args] = pinned(pin, 0, process.execPath, [script]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const onExit = (code) => failed(new Error(`figure 5 server exited ${code}: ${err.slice(-1000)}`));
  let failed;
  const urls = await new Promise((resolve, reject) => {
    failed = reject;
    let out = '';
    child.once('error', reject);
    child.once('exit', onExit);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
    });
  });
  child.off('exit', onExit);
  return {
    urls,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGTERM');
      await exited;
    },
  };
}

/** How long each round's raw-verify measurement runs: a fifth of a load run, 200 ms to 2 s. */
const rawMs = (seconds) => Math.max(200, Math.min(2000, seconds * 200));

/**
 * Figure 5: an express route behind aauth() vs the same route without it. The server runs in its
 * own process on core 0 and the load generator (wrk) on core 1 when taskset and two cores are
 * there; each round also measures raw Ed25519 verifies on the server's core, for the ideal
 * guarded rate of one core: 1 / (1/bare + 1/verify).
 */
export async function httpFigure({ seconds, rounds, connections = 10 }) {
  const pin = cpus().length >= 2 && available('taskset', ['-V']);
  const tool = available('wrk', ['-v']) ? 'wrk' : 'autocannon';
  const server = await startServer(pin);
  try {
    const { urls } = server;
    const headers = async (target) => (await fetch(`${urls.control}/headers?target=${target}`)).json();
    // Warm the key caches, and check that the signed requests are accepted.
    const targets = urls.sodium ? ['plain', 'guarded', 'sodium'] : ['plain', 'guarded'];
    for (const t of targets.slice(1)) {
      const warm = await fetch(urls[t], { headers: await headers(t) });
      if (warm.status !== 200) throw new Error(`the ${t} route answered ${warm.status}: ${await warm.text()}`);
    }
    // A discarded warm-up load of each route (JIT, connection setup), except in the smoke run.
    if (seconds > 1) for (const t of targets) await load(tool, pin, urls[t], t === 'plain' ? {} : await headers(t), 2, connections);
    const samples = Object.fromEntries(targets.map((t) => [t, []]));
    const raw = [];
    for (let r = 0; r < rounds; r++) {
      // Rotate the order; a fresh signature each round keeps `created` inside the window.
      const order = targets.map((_, i) => targets[(i + r) % targets.length]);
      for (const t of order) samples[t].push(await load(tool, pin, urls[t], t === 'plain' ? {} : await headers(t), seconds, connections));
      raw.push(await (await fetch(`${urls.control}/raw?ms=${rawMs(seconds)}`)).json());
    }
    const per = (t, f) => median(samples[t].map(f));
    const summary = (t) => ({ rps: per(t, (x) => x.rps), p50: per(t, (x) => x.p50), p99: per(t, (x) => x.p99) });
    // Per round: ratio to bare, the ideal ratio 1 / (1 + bare/verify), and the fraction of it reached.
    const ideal = (t, verifyKey) => {
      const ratios = samples[t].map((g, i) => g.rps / samples.plain[i].rps);
      const ideals = samples.plain.map((p, i) => 1 / (1 + p.rps / raw[i][verifyKey]));
      return { ratio: median(ratios), ideal: median(ideals), ofIdeal: median(ratios.map((x, i) => x / ideals[i])), ratios };
    };
    const guarded = { ...summary('guarded'), ...ideal('guarded', 'node') };
    return {
      plain: summary('plain'),
      guarded,
      sodium: urls.sodium ? { ...summary('sodium'), ...ideal('sodium', 'limit') } : null,
      raw: { node: median(raw.map((x) => x.node)), limit: median(raw.map((x) => x.limit)) },
      ratio: guarded.ratio,
      pinned: pin,
      tool,
      connections,
      seconds,
      rounds,
    };
  } finally {
    await server.stop();
  }
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
