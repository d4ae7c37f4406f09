// Figure 6's load generator (pinned to core 1 when it can): pre-signs `total` exchange requests
// (each with a fresh resource token) for the target URL, then sends them with `concurrency`
// clients and prints { perSecond, p50, p99 } as JSON. Argument: JSON of { sca, maa, info, target, total, concurrency }.
import { Agent, request } from 'node:http';
import { importPrivateKey, mintResourceToken, signRequest } from '@aauth-kit/core';

const a = JSON.parse(process.argv[2]);
const [scaKey, maaKey] = [importPrivateKey(a.sca), importPrivateKey(a.maa)];
const { info } = a;
const url = a.target === 'echo' ? info.echoUrl : info.tokenUrl;
const pool = [];
for (let i = 0; i < a.total; i++) {
  const rt = await mintResourceToken(maaKey, { issuer: info.maaId, audience: info.issuer, agent: info.scaId, agentJkt: scaKey.thumbprint, scope: 'market-analysis:analyze' });
  const body = JSON.stringify({ resource_token: rt, upstream_token: info.upstream });
  const s = signRequest({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body }, { key: scaKey, signatureKey: { scheme: 'jwks_uri', id: info.scaId, kid: scaKey.kid } });
  pool.push({ headers: { 'content-type': 'application/json', ...s.headers }, body });
}
// node:http with keep-alive connections, one per client: cheaper per request than fetch, so the
// load process is less likely to be what limits the rate.
const agent = new Agent({ keepAlive: true, maxSockets: a.concurrency });
const send = ({ headers, body }) =>
  new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${a.target} answered ${res.statusCode}: ${Buffer.concat(chunks)}`))));
    });
    req.once('error', reject);
    req.end(body);
  });
const latencies = [];
let next = 0;
const t0 = process.hrtime.bigint();
await Promise.all(
  Array.from({ length: a.concurrency }, async () => {
    while (next < pool.length) {
      const req = pool[next++];
      const s = process.hrtime.bigint();
      await send(req);
      latencies.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
  }),
);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
latencies.sort((x, y) => x - y);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
agent.destroy();
process.stdout.write(`${JSON.stringify({ perSecond: pool.length / seconds, p50: pct(50), p99: pct(99) })}\n`);
