// Figure 5's server process, started by httpFigure (pinned to one core with taskset when it can):
// a bare express route, the same route behind aauth() (default backend) and behind aauth() with the
// other backend named (`cryptoBackend: 'node'` when the default is libsodium, 'sodium' when it is
// node:crypto and sodium-native is installed); the inline-verify route; one app serving bare, inline
// and guarded routes by a request header, for the paired timing; the agent's metadata and JWKS; and a control server
// that hands out freshly signed headers and measures raw Ed25519 verifies on this core. Prints one
// JSON line with the URLs and the backends when ready; exits on SIGTERM.
import express from 'express';
import { createAgent } from '@aauth-kit/agent';
import * as core from '@aauth-kit/core';
import { aauth, createResource } from '@aauth-kit/express';
import { createMemoryReplayStore } from '@aauth-kit/verifier';
import { hasSodium, rawPoolVerifiers, signedPair } from '../lib/ed25519.mjs';
import { listen } from '../lib/net.mjs';

/** Serve `app` on a free loopback port; resolves to the port. */
const listenPort = async (app) => (await listen(app)).port;

const { generateKey, signRequest } = core;
// What `cryptoBackend` unset resolves to in this process (core's defaultCryptoBackend(); a core
// without it defaults to node:crypto).
const defaultBackend = typeof core.defaultCryptoBackend === 'function' ? core.defaultCryptoBackend() : 'node';
const altBackend = defaultBackend === 'sodium' ? 'node' : hasSodium ? 'sodium' : undefined;

const agentKey = generateKey({ kid: 'bench-agent' });
const payload = { plan: [{ sku: 'A-100', order: 12 }] };

const agentApp = express();
const agentIdentity = `http://localhost:${await listenPort(agentApp)}`;
agentApp.use(createAgent({ identity: agentIdentity, key: agentKey }).wellKnown());

const plain = express();
plain.get('/plan', (_req, res) => res.json(payload));
const plainPort = await listenPort(plain);

/** A guarded app; its identity is known only once it listens, so the route is added after. */
async function guardedApp(extra) {
  const app = express();
  const port = await listenPort(app);
  const identity = `http://localhost:${port}`;
  app.get('/plan', aauth({ identity, key: generateKey(), level: 'identity', replay: { store: createMemoryReplayStore() }, ...extra }), (_req, res) => res.json(payload));
  return { port, identity };
}
const guarded = await guardedApp({});
// Whether this kit has the turn batching of GETs (options.batch, issue 18); an older kit refuses the option.
const hasBatch = (() => {
  try {
    createResource({ identity: 'http://localhost:1', key: generateKey(), batch: false });
    return true;
  } catch {
    return false;
  }
})();
// The kit without its turn batching: each GET verified as it is read, its route run in that turn.
const unbatched = hasBatch ? await guardedApp({ batch: false }) : undefined;
const signed = (identity, nonce = false) =>
  signRequest({ method: 'GET', url: `${identity}/plan`, headers: {} }, { key: agentKey, signatureKey: { scheme: 'jwks_uri', id: agentIdentity, kid: agentKey.kid }, nonce });

// The ideal made real: the bare route plus exactly one raw verify (the limit backend) of a signed
// request's base in the handler, nothing else: what the route would cost if the kit cost only its verify.
// Distinct requests, as sent (each its own nonce and signature), verified in turn: see rawPoolVerifiers.
const RAW_POOL = 4096;
const rawPool = () => rawPoolVerifiers(agentKey.jwk, Array.from({ length: RAW_POOL }, () => signedPair(signed(guarded.identity, true))));
const inlineVerify = rawPool().limit;
const inline = express();
inline.get('/plan', (_req, res) => {
  inlineVerify();
  res.json(payload);
});
const inlinePort = await listenPort(inline);

// The ideal made real with the kit's scheduling (options.batch): the bare route whose GETs of one
// event-loop turn wait for one setImmediate, then each makes its one raw verify and answers, in
// arrival order. What the turn batching alone gives a route with one verify, nothing of the kit.
const inlineBatched = express();
let batch = [];
const runBatch = () => {
  const b = batch;
  batch = [];
  for (const res of b) {
    inlineVerify();
    res.json(payload);
  }
};
inlineBatched.get('/plan', (_req, res) => {
  if (batch.push(res) === 1) setImmediate(runBatch);
});
const inlineBatchedPort = await listenPort(inlineBatched);
const alt = altBackend ? await guardedApp({ cryptoBackend: altBackend }) : undefined;

// Paired: one app serving the three routes above, each request naming its route in
// `x-bench-route` (a header its signature does not cover), so that requests to the three can be
// alternated one by one and a drift of the core's speed touches all three alike. Each request is
// timed from its entry into the app (a first middleware) to the return of its handler's
// `res.json()`: synchronous work only (the guarded route's key is warm), so requests in flight
// together cannot add to each other's times. `req.url` is rewritten to the route; express keeps
// `originalUrl` (/plan), which aauth() reads.
const PAIRED_ROUTES = ['plain', 'inline', 'guarded'];
const pairedApp = express();
const pairedPort = await listenPort(pairedApp);
const pairedIdentity = `http://localhost:${pairedPort}`;
const pairedTimes = Object.fromEntries(PAIRED_ROUTES.map((r) => [r, []]));
const ENTERED = Symbol('entered');
pairedApp.use((req, res, next) => {
  const route = req.headers['x-bench-route'];
  if (typeof route !== 'string' || !Object.hasOwn(pairedTimes, route)) return void res.status(400).end();
  req[ENTERED] = performance.now();
  req.url = `/${route}`;
  next();
});
const answered = (route) => (req, res) => {
  res.json(payload);
  pairedTimes[route].push(performance.now() - req[ENTERED]);
};
const answerInline = answered('inline');
pairedApp.get('/plain', answered('plain'));
pairedApp.get('/inline', (req, res) => {
  inlineVerify();
  answerInline(req, res);
});
// The kit's own work per request is timed without its turn batching (a batched request's time
// would include its wait for the others of its turn).
pairedApp.get(
  '/guarded',
  aauth({ identity: pairedIdentity, key: generateKey(), level: 'identity', replay: { store: createMemoryReplayStore() }, ...(hasBatch ? { batch: false } : {}) }),
  answered('guarded'),
);

// Control: /headers?target=guarded|alt gives fresh signed headers (the bare route is sent the
// guarded route's); /raw?ms=N runs raw verifies of such requests (a pool of distinct ones, in turn)
// for N ms on this core and answers { node, limit } verifies per second (limit: libsodium when
// installed, else node:crypto).
const control = express();
/** The identity a target's requests are signed for: the alt and unbatched routes have their own; the others are sent the guarded route's. */
const identityOf = (target) => (target === 'alt' ? alt.identity : target === 'unbatched' ? unbatched.identity : guarded.identity);
control.get('/headers', (req, res) => res.json(signed(identityOf(req.query.target)).headers));
// /pool?target=...&n=N: N distinct signed requests (each its own nonce, so its own Signature-Input
// and Signature), which wrk sends in turn: independent requests, not one request replayed.
control.get('/pool', (req, res) => {
  const identity = identityOf(req.query.target);
  const n = Math.min(Number(req.query.n) || 1, 65536);
  res.json(Array.from({ length: n }, () => signed(identity, true).headers));
});
// /paired-pool?n=N: N distinct signed requests for the paired app, their x-bench-route cycling
// through plain, inline, guarded; /paired-times: per route, the median time in the app (us) and
// the count since the last call, then cleared.
control.get('/paired-pool', (req, res) => {
  const n = Math.min(Number(req.query.n) || 1, 65536);
  res.json(Array.from({ length: n }, (_, i) => ({ 'x-bench-route': PAIRED_ROUTES[i % PAIRED_ROUTES.length], ...signed(pairedIdentity, true).headers })));
});
control.get('/paired-times', (_req, res) => {
  const out = {};
  for (const [route, times] of Object.entries(pairedTimes)) {
    const sorted = times.splice(0).sort((a, b) => a - b);
    out[route] = { n: sorted.length, medianUs: sorted.length > 0 ? sorted[sorted.length >> 1] * 1000 : null };
  }
  res.json(out);
});
let raw;
control.get('/raw', (req, res) => {
  raw ??= rawPool();
  const ms = Number(req.query.ms) || 1000;
  const rate = (fn) => {
    for (let i = 0; i < 200; i++) fn();
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      for (let i = 0; i < 50; i++) fn();
      n += 50;
    }
    return n / ((performance.now() - t0) / 1000);
  };
  res.json({ node: rate(raw.node), limit: rate(raw.limit) });
});
// /cpu: this process's CPU time so far (process.cpuUsage(), microseconds): read around a load run
// and divide by its request count for the CPU a request costs, steadier than a rate on a loaded machine.
control.get('/cpu', (_req, res) => res.json(process.cpuUsage()));
const controlPort = await listenPort(control);

process.stdout.write(
  `${JSON.stringify({
    plain: `http://127.0.0.1:${plainPort}/plan`,
    inline: `http://127.0.0.1:${inlinePort}/plan`,
    inlineBatched: `http://127.0.0.1:${inlineBatchedPort}/plan`,
    unbatched: unbatched ? `http://127.0.0.1:${unbatched.port}/plan` : null,
    guarded: `http://127.0.0.1:${guarded.port}/plan`,
    alt: alt ? `http://127.0.0.1:${alt.port}/plan` : null,
    paired: `http://127.0.0.1:${pairedPort}/plan`,
    control: `http://127.0.0.1:${controlPort}`,
    defaultBackend,
    limitBackend: hasSodium ? 'sodium' : 'node',
    altBackend: altBackend ?? null,
  })}\n`,
);
process.on('SIGTERM', () => process.exit(0));
