// Figure 6's server process, started by exchangeFigure (pinned to core 0 when it can): the embedded
// auth server of the demo realm, the parties' metadata, and an echo route as the baseline. The
// argument is the JSON of { keys: { backend, sca, maa } private JWKs, realm: the realm file, alg:
// the realm's signing algorithm }; prints one JSON line when ready. The figure runs this same file
// from a worktree of the old code path too (copied there), so its bare imports are that tree's.
import { createServer } from 'node:http';
import express from 'express';
import { createAgent } from '@aauth-kit/agent';
import { createAuthServer } from '@aauth-kit/auth-server';
import { importPrivateKey, mintResourceToken, signRequest } from '@aauth-kit/core';
import { createMemoryReplayStore } from '@aauth-kit/verifier';

const listen = (app) => new Promise((resolve) => { const s = createServer(app); s.listen(0, '127.0.0.1', () => resolve(s.address().port)); });

const { keys, realm, alg } = JSON.parse(process.argv[2]);
const [backendKey, scaKey, maaKey] = [keys.backend, keys.sca, keys.maa].map((j) => importPrivateKey(j));

const auth = express();
const authPort = await listen(auth);
const server = createAuthServer({ realm, baseUrl: `http://localhost:${authPort}`, signingAlgorithm: alg, onWarning: () => {}, replay: { store: createMemoryReplayStore() } });
auth.use(server.router());

const sites = express();
const host = `http://localhost:${await listen(sites)}`;
const [backendId, scaId, maaId] = [`${host}/backend`, `${host}/sca`, `${host}/maa`];
sites.use('/backend', createAgent({ identity: backendId, key: backendKey }).wellKnown());
sites.use('/sca', createAgent({ identity: scaId, key: scaKey }).wellKnown());
// Resource metadata and JWKS of SCA and MAA (the auth server discovers their resource-token keys).
for (const [id, key, path] of [[scaId, scaKey, '/sca'], [maaId, maaKey, '/maa']]) {
  sites.get(`${path}/.well-known/aauth-resource.json`, (_req, res) => res.json({ resource: id, jwks_uri: `${id}/jwks.json` }));
  sites.get(`${path}/jwks.json`, (_req, res) => res.json({ keys: [key.toPublishedJwk()] }));
}

// The baseline: a route that parses the same signed JSON body and echoes a little JSON.
const echo = express();
echo.post('/echo', express.json(), (req, res) => res.json({ ok: true, n: Object.keys(req.body).length }));
// This process's CPU time so far (every thread, microseconds): the figure reads it around each load.
echo.get('/cpu', (_req, res) => { const u = process.cpuUsage(); res.json({ us: u.user + u.system }); });
const echoPort = await listen(echo);

// The upstream token the backend holds for SCA, from a direct token request.
const tokenUrl = `${server.issuer}/protocol/aauth/token`;
const rt1 = await mintResourceToken(scaKey, { issuer: scaId, audience: server.issuer, agent: backendId, agentJkt: backendKey.thumbprint, scope: 'market-analysis:analyze' });
const body = JSON.stringify({ resource_token: rt1 });
const s = signRequest({ method: 'POST', url: tokenUrl, headers: { 'content-type': 'application/json' }, body }, { key: backendKey, signatureKey: { scheme: 'jwks_uri', id: backendId, kid: backendKey.kid } });
const first = await fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...s.headers }, body });
if (first.status !== 200) throw new Error(`upstream token request answered ${first.status}: ${await first.text()}`);
const upstream = (await first.json()).auth_token;
const upstreamAlg = JSON.parse(Buffer.from(upstream.split('.')[0], 'base64url').toString()).alg;

process.stdout.write(`${JSON.stringify({ issuer: server.issuer, tokenUrl, echoUrl: `http://localhost:${echoPort}/echo`, cpuUrl: `http://localhost:${echoPort}/cpu`, scaId, maaId, upstream, alg: upstreamAlg })}\n`);
process.on('SIGTERM', () => process.exit(0));
