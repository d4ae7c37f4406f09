// Figure 5's paired load (pinned to core 1 when it can): fetches a pool of signed requests for the
// paired app from the control server (their x-bench-route cycling bare, inline, guarded) and sends
// them in turn over `connections` keep-alive connections for `seconds`, each answer read in full and
// required to be a 200. Prints { sent } as JSON. Argument: JSON of { url, control, seconds, connections }.
import { Agent, request } from 'node:http';

const a = JSON.parse(process.argv[2]);
const pool = await (await fetch(`${a.control}/paired-pool?n=3072`)).json();
const agent = new Agent({ keepAlive: true, maxSockets: a.connections });
const send = (headers) =>
  new Promise((resolve, reject) => {
    const req = request(a.url, { agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${headers['x-bench-route']} answered ${res.statusCode}: ${Buffer.concat(chunks)}`))));
    });
    req.once('error', reject);
    req.end();
  });
const until = performance.now() + a.seconds * 1000;
let next = 0;
let sent = 0;
await Promise.all(
  Array.from({ length: a.connections }, async () => {
    while (performance.now() < until) {
      await send(pool[next++ % pool.length]);
      sent++;
    }
  }),
);
agent.destroy();
process.stdout.write(`${JSON.stringify({ sent })}\n`);
