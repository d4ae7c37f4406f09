// Figures 5 and 6: whole requests over loopback. Figure 5's server and load generator (wrk, or
// autocannon) are separate processes pinned to different cores; figure 6 drives the embedded auth
// server with concurrent clients.
import { spawn, spawnSync } from 'node:child_process';
import { cpus, tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { createAgent } from '@aauth-kit/agent';
import { createAuthServer } from '@aauth-kit/auth-server';
import { generateKey, mintResourceToken, signRequest } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { createMemoryReplayStore } from '@aauth-kit/verifier';
import { median } from '../lib/measure.mjs';
import { close, listen } from '../lib/net.mjs';

const require = createRequire(import.meta.url);
const AUTOCANNON = join(dirname(require.resolve('autocannon/package.json')), 'autocannon.js');
const REALM = fileURLToPath(new URL('../../keycloak-realm/aauth-test-realm.json', import.meta.url));

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

/**
 * A wrk script that sends the given header sets in turn (one distinct signed request after
 * another), written to a temporary file; values go in Lua long brackets, which they cannot close.
 */
function wrkPoolScript(pool, url) {
  const lines = ['local reqs = {}'];
  pool.forEach((h, i) => {
    // wrk.format adds no Host when given headers, and node's server refuses HTTP/1.1 without one.
    const fields = Object.entries({ host: url.host, ...h }).map(([k, v]) => {
      if (String(v).includes(']==]')) throw new Error('header value cannot be quoted for Lua');
      return `[ [==[${k}]==] ] = [==[${v}]==]`;
    });
    lines.push(`reqs[${i + 1}] = wrk.format("GET", [==[${url.pathname}]==], { ${fields.join(', ')} })`);
  });
  lines.push('local i = 0', 'request = function() i = i % #reqs + 1; return reqs[i] end');
  const file = join(tmpdir(), `aauth-bench-wrk-${process.pid}.lua`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** One load run against `url`, by wrk (or autocannon when wrk is missing), on core 1 when pinned. */
async function load(tool, pin, url, headers, seconds, connections) {
  if (tool === 'wrk') {
    const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency'];
    if (Array.isArray(headers)) args.push('-s', wrkPoolScript(headers, new URL(url)));
    else for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
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

/** Start a figure's server process (a script here), on core 0 when pinned; stopped by its PID. */
async function startServer(pin, name = 'http-server.mjs', scriptArgs = []) {
  const script = fileURLToPath(new URL(`./${name}`, import.meta.url));
  // AAUTH_BENCH_PROF_DIR=<dir>: each server process writes a V8 CPU profile there when it exits.
  const prof = process.env.AAUTH_BENCH_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.AAUTH_BENCH_PROF_DIR}`, '--cpu-prof-interval=100'] : [];
  const [cmd, args] = pinned(pin, 0, process.execPath, [...prof, script, ...scriptArgs]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const onExit = (code) => failed(new Error(`${name} exited ${code}: ${err.slice(-1000)}`));
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
 * there. Every route gets the very same signed requests (the bare route ignores their headers): with
 * wrk a pool of distinct ones, each its own nonce, sent in turn; with autocannon one request. Each round also measures raw Ed25519 verifies on the server's core, for the ideal guarded rate of
 * one core: 1 / (1/bare + 1/verify), the verify being the raw one of the backend the row uses.
 */
export async function httpFigure({ seconds, rounds, connections = 10 }) {
  const pin = cpus().length >= 2 && available('taskset', ['-V']);
  const tool = available('wrk', ['-v']) ? 'wrk' : 'autocannon';
  const server = await startServer(pin);
  try {
    const { urls } = server;
    // The bare route is sent the guarded route's signed headers: same request, same size.
    const headers = async (target) => (await fetch(`${urls.control}/headers?target=${target}`)).json();
    // What each load run sends: with wrk, a pool of distinct signed requests (each its own nonce)
    // sent in turn, as independent requests are; autocannon's command line takes one request only.
    const POOL = 4096;
    const loadHeaders = async (target) =>
      tool === 'wrk' ? (await fetch(`${urls.control}/pool?n=${POOL}&target=${target}`)).json() : headers(target);
    // Warm the key caches, and check that the signed requests are accepted.
    const targets = ['plain', 'inline', ...(urls.inlineBatched ? ['inlineBatched'] : []), 'guarded', ...(urls.unbatched ? ['unbatched'] : []), ...(urls.alt ? ['alt'] : [])];
    for (const t of targets) {
      const warm = await fetch(urls[t], { headers: await headers(t) });
      if (warm.status !== 200) throw new Error(`the ${t} route answered ${warm.status}: ${await warm.text()}`);
    }
    // A discarded warm-up load of each route (JIT, connection setup), except in the smoke run.
    if (seconds > 1) for (const t of targets) await load(tool, pin, urls[t], await loadHeaders(t), 2, connections);
    const samples = Object.fromEntries(targets.map((t) => [t, []]));
    const raw = [];
    for (let r = 0; r < rounds; r++) {
      // Rotate the order; a fresh signature each round keeps `created` inside the window.
      const order = targets.map((_, i) => targets[(i + r) % targets.length]);
      for (const t of order) samples[t].push(await load(tool, pin, urls[t], await loadHeaders(t), seconds, connections));
      raw.push(await (await fetch(`${urls.control}/raw?ms=${rawMs(seconds)}`)).json());
    }
    // Paired: requests alternated one by one between the bare, inline-verify and guarded
    // routes of one app, each timed inside the server from its entry into the app to the return of
    // its handler's res.json(); per round the median time of each route, then the medians of
    // the per-round differences. A drift of the core's speed touches the three alike.
    const paired = await pairedTimes(urls, pin, seconds > 1 ? 2 : 1, rounds, connections);
    const per = (t, f) => median(samples[t].map(f));
    const summary = (t) => ({ rps: per(t, (x) => x.rps), p50: per(t, (x) => x.p50), p99: per(t, (x) => x.p99) });
    // The raw verify a row is held against: libsodium's for the sodium backend, node:crypto's otherwise.
    const rawKey = (backend) => (backend === 'sodium' ? 'limit' : 'node');
    // Per round: ratio to bare, the ideal ratio 1 / (1 + bare/verify), and the fraction of it reached.
    const ideal = (t, backend) => {
      const ratios = samples[t].map((g, i) => g.rps / samples.plain[i].rps);
      const ideals = samples.plain.map((p, i) => 1 / (1 + p.rps / raw[i][rawKey(backend)]));
      return { backend, ratio: median(ratios), ideal: median(ideals), ofIdeal: median(ratios.map((x, i) => x / ideals[i])), ratios, ideals };
    };
    const guarded = { ...summary('guarded'), ...ideal('guarded', urls.defaultBackend) };
    // The guarded route against the inline-verify route of the same round (both one verify of the
    // default backend; the inline one with nothing of the kit around it).
    guarded.ofInline = median(samples.guarded.map((g, i) => g.rps / samples.inline[i].rps));
    // ... and against the inline-verify route with the kit's turn batching (the same scheduling, nothing else of the kit).
    if (urls.inlineBatched) guarded.ofInlineBatched = median(samples.guarded.map((g, i) => g.rps / samples.inlineBatched[i].rps));
    return {
      plain: summary('plain'),
      inline: { ...summary('inline'), ...ideal('inline', urls.limitBackend) },
      inlineBatched: urls.inlineBatched ? { ...summary('inlineBatched'), ...ideal('inlineBatched', urls.limitBackend) } : null,
      unbatched: urls.unbatched ? { ...summary('unbatched'), ...ideal('unbatched', urls.defaultBackend) } : null,
      guarded,
      alt: urls.alt ? { ...summary('alt'), ...ideal('alt', urls.altBackend) } : null,
      defaultBackend: urls.defaultBackend,
      raw: { node: median(raw.map((x) => x.node)), limit: median(raw.map((x) => x.limit)) },
      ratio: guarded.ratio,
      pinned: pin,
      tool,
      connections,
      seconds,
      rounds,
      pool: tool === 'wrk' ? POOL : 1,
      paired,
    };
  } finally {
    await server.stop();
  }
}

/**
 * Figure 5's paired timing: `rounds` runs of `seconds` of bench/figures/paired-load.mjs (the rate
 * runs' number of connections, a fresh pool of signed requests each run, their route alternating
 * bare, inline, guarded) against the paired app. Per
 * round the server's median time in the app per route; answers the medians over rounds of the
 * per-round times and of the differences guarded - inline (the kit beyond its one verify) and
 * inline - bare (the verify as it runs in the server).
 */
async function pairedTimes(urls, pin, seconds, rounds, connections) {
  const perRound = [];
  const script = fileURLToPath(new URL('./paired-load.mjs', import.meta.url));
  const send = (s) => run(...pinned(pin, 1, process.execPath, [script, JSON.stringify({ url: urls.paired, control: urls.control, seconds: s, connections })]));
  await send(1); // warm-up, discarded
  await fetch(`${urls.control}/paired-times`);
  for (let r = 0; r < rounds; r++) {
    await send(seconds);
    const t = await (await fetch(`${urls.control}/paired-times`)).json();
    if (Object.values(t).some((x) => x.n === 0)) throw new Error(`the paired app timed no request of a route: ${JSON.stringify(t)}`);
    perRound.push({ plain: t.plain.medianUs, inline: t.inline.medianUs, guarded: t.guarded.medianUs, n: t.guarded.n });
  }
  const med = (f) => median(perRound.map(f));
  return {
    rounds,
    seconds,
    plainUs: med((x) => x.plain),
    inlineUs: med((x) => x.inline),
    guardedUs: med((x) => x.guarded),
    verifyUs: med((x) => x.inline - x.plain),
    kitUs: med((x) => x.guarded - x.inline),
    kitRounds: perRound.map((x) => x.guarded - x.inline),
    requestsPerRoute: med((x) => x.n),
  };
}

/** The commit of the old code path figure 6 compares with: main when issue 18 was filed. */
export const OLD_MAIN = 'ed0f243';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A worktree of the old code path, built once and cached under `.bench-cache/old-main` (git-ignored):
 * `git worktree add --detach`, `npm ci`, `tsc -b`; a `.ready` file names the commit once it built.
 * Resolves with its directory, or with `{ skipped }` saying why it cannot be had (no git, no commit).
 */
async function oldMainTree() {
  const dir = join(ROOT, '.bench-cache', 'old-main');
  const ready = join(ROOT, '.bench-cache', 'old-main.ready');
  if (existsSync(ready) && readFileSync(ready, 'utf8').trim() === OLD_MAIN && existsSync(join(dir, 'packages', 'auth-server', 'dist', 'index.js'))) return { dir };
  try {
    mkdirSync(join(ROOT, '.bench-cache'), { recursive: true });
    if (!existsSync(join(dir, '.git'))) await runIn(ROOT, 'git', ['worktree', 'add', '--detach', dir, OLD_MAIN]);
    await runIn(dir, 'npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline']);
    await runIn(dir, process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-b']);
  } catch (error) {
    return { skipped: `the old code path (${OLD_MAIN}) could not be built: ${error.message.slice(0, 300)}` };
  }
  writeFileSync(ready, `${OLD_MAIN}\n`);
  return { dir };
}

/** Run a command in `cwd` to completion; reject with its stderr on failure. */
function runIn(cwd, cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-500)}`))));
  });
}

/**
 * Figure 6: token exchanges per second at the embedded auth server, and the agent's cache. Each
 * auth server (and an echo route, the baseline) runs in its own process on core 0, the clients in
 * a load process on core 1 (when pinned), which pre-signs its requests before it sends them. The
 * subjects: the old code path (a worktree of OLD_MAIN running the same server script with that
 * tree's packages, RS256 realm), this tree with an RS256 realm (as Keycloak signs) and with an
 * EdDSA realm, and the echo baseline, in rounds whose order rotates.
 */
export async function exchangeFigure({ requests, rounds = 3, concurrency = 8, oldPath = true }) {
  const pin = cpus().length >= 2 && available('taskset', ['-V']);
  const backendKey = generateKey({ kid: 'backend-1' });
  const scaKey = generateKey({ kid: 'sca-1' });
  const maaKey = generateKey({ kid: 'maa-1' });
  const keys = { backend: backendKey.toPrivateJwk(), sca: scaKey.toPrivateJwk(), maa: maaKey.toPrivateJwk() };
  const arg = (alg) => JSON.stringify({ keys, realm: REALM, alg });
  // --quick (the test suite's smoke run) does not build the old tree: that is an npm ci and a build.
  const old = oldPath ? await oldMainTree() : { skipped: 'not built in a --quick run' };
  const procs = {};
  if (old.dir) {
    // The same server script, run from the old tree so that its bare imports are the old packages.
    const script = join(old.dir, 'bench', 'figures', 'exchange-server-figure6.mjs');
    copyFileSync(fileURLToPath(new URL('./exchange-server.mjs', import.meta.url)), script);
    procs.old = await startServer(pin, relative(fileURLToPath(new URL('.', import.meta.url)), script), [arg('RS256')]);
  }
  const loadScript = fileURLToPath(new URL('./exchange-load.mjs', import.meta.url));
  const samples = {};
  try {
    procs.rs256 = await startServer(pin, 'exchange-server.mjs', [arg('RS256')]);
    procs.eddsa = await startServer(pin, 'exchange-server.mjs', [arg('EdDSA')]);
    // The echo baseline is served by the RS256 process (on the same core as every subject).
    const targets = [...(procs.old ? ['old'] : []), 'rs256', 'eddsa', 'echo'];
    const drive = async (t, total) => {
      const info = procs[t === 'echo' ? 'rs256' : t].urls;
      const a = { sca: keys.sca, maa: keys.maa, info, target: t === 'echo' ? 'echo' : 'exchange', total, concurrency };
      // The server's CPU time per request (all its threads), read around the load: on a loaded
      // machine it says what the rate cannot (a process with busy pool threads gets more of a shared core).
      const cpu = async () => (await (await fetch(info.cpuUrl)).json()).us;
      const before = await cpu();
      const result = JSON.parse(await run(...pinned(pin, 1, process.execPath, [loadScript, JSON.stringify(a)])));
      return { ...result, cpuUs: ((await cpu()) - before) / total };
    };
    for (const t of targets) {
      samples[t] = [];
      await drive(t, Math.min(200, requests)); // warm-up (JIT, key discovery), discarded
    }
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < targets.length; i++) {
        const t = targets[(i + r) % targets.length];
        samples[t].push(await drive(t, requests));
      }
    }
  } finally {
    await Promise.all(Object.values(procs).map((p) => p.stop()));
  }
  const med = (t, k) => median(samples[t].map((x) => x[k]));
  const summary = (t) => ({ perSecond: med(t, 'perSecond'), p50: med(t, 'p50'), p99: med(t, 'p99'), cpuUs: med(t, 'cpuUs') });
  // Per-round ratios (subjects of one round ran back to back), their median; the CPU ratio is old / new (higher is better).
  const perRound = (t, base) => (samples[base] ? samples[t].map((x, i) => x.perSecond / samples[base][i].perSecond) : null);
  const ratioTo = (t, base) => (samples[base] ? median(perRound(t, base)) : null);
  const cpuTo = (t, base) => (samples[base] ? median(samples[t].map((x, i) => samples[base][i].cpuUs / x.cpuUs)) : null);
  const subjects = Object.fromEntries(Object.keys(samples).map((t) => [t, { ...summary(t), toEcho: ratioTo(t, 'echo'), toOld: ratioTo(t, 'old'), toOldRounds: perRound(t, 'old'), cpuToOld: cpuTo(t, 'old') }]));
  const algs = Object.fromEntries(Object.entries(procs).map(([t, p]) => [t, p.urls.alg]));

  // The agent's cache, in this process: an embedded auth server and a challenging resource.
  const auth = express();
  const { server: authServer, port: authPort } = await listen(auth);
  const server = createAuthServer({ realm: REALM, baseUrl: `http://localhost:${authPort}`, onWarning: () => {}, replay: { store: createMemoryReplayStore() } });
  auth.use(server.router());
  const issuer = server.issuer;
  const sites = express();
  const { server: siteServer, port: sitePort } = await listen(sites);
  const host = `http://localhost:${sitePort}`;
  const backendId = `${host}/backend`;
  const scaId = `${host}/sca`;
  sites.use('/backend', createAgent({ identity: backendId, key: backendKey }).wellKnown());
  sites.use('/sca', createAgent({ identity: scaId, key: scaKey }).wellKnown());
  const scaResource = createResource({ identity: scaId, key: scaKey, authServer: issuer, replay: { store: createMemoryReplayStore() } });
  sites.use('/sca', scaResource.wellKnown());
  const tokenUrl = `${issuer}/protocol/aauth/token`;
  const rt1 = await mintResourceToken(scaKey, { issuer: scaId, audience: issuer, agent: backendId, agentJkt: backendKey.thumbprint, scope: 'market-analysis:analyze' });
  const text = JSON.stringify({ resource_token: rt1 });
  const signed = signRequest({ method: 'POST', url: tokenUrl, headers: { 'content-type': 'application/json' }, body: text }, { key: backendKey, signatureKey: { scheme: 'jwks_uri', id: backendId, kid: backendKey.kid } });
  const first = await fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...signed.headers }, body: text });
  if (first.status !== 200) throw new Error(`upstream token request answered ${first.status}: ${await first.text()}`);
  const upstream = (await first.json()).auth_token;

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
  await Promise.all([close(authServer), close(siteServer), close(maaServer)]);
  return { subjects, algs, oldMain: OLD_MAIN, oldSkipped: old.skipped, exchange: subjects.rs256, echo: subjects.echo, ratio: subjects.rs256.toEcho, pinned: pin, rounds, concurrency, requests, cache: { calls, ok, tokenRequests } };
}
