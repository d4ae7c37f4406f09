import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Issue 18 (cold start): a resource that only discovers keys never loads node's fetch (undici, tens
// of ms of CPU): without a `fetch` option, discovery sends over node:http, which any server has
// loaded already. Checked in a fresh node process on the built packages (`tsc -b` runs before the
// tests) by node's own list of loaded internal modules; nothing is timed.
const root = fileURLToPath(new URL('..', import.meta.url));

const probe = `
  import { createServer } from 'node:http';
  import { generateKey, signRequest } from '@aauth-kit/core';
  import { createVerifier } from '@aauth-kit/verifier';
  const undici = () => process.moduleLoadList.some((m) => m.includes('undici'));
  const key = generateKey({ kid: 'agent-key' });
  const hits = [];
  const server = createServer((req, res) => {
    hits.push(req.url + ' ' + req.headers['user-agent']);
    const body = req.url === '/.well-known/aauth-agent.json' ? { agent: id, jwks_uri: id + '/jwks.json' } : { keys: [{ ...key.jwk, kid: key.kid }] };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const id = 'http://localhost:' + server.address().port;
  const request = { method: 'GET', url: 'http://localhost:3002/x', headers: { accept: 'application/json' } };
  const signed = signRequest(request, { key, signatureKey: { scheme: 'jwks_uri', id, kid: key.kid } });
  const verifier = createVerifier({ identity: 'http://localhost:3002', replay: { methods: 'none' } });
  const atStart = undici();
  const verified = await verifier.verify({ ...request, headers: { ...request.headers, ...signed.headers } });
  const afterVerify = undici();
  // The probe sees undici at all: a fetch Headers loads it.
  const touched = new Headers({ a: '1' }).get('a');
  server.close();
  console.log(JSON.stringify({ scheme: verified.scheme, agent: verified.agent, hits, atStart, afterVerify, touched, afterTouch: undici() }));
`;

describe("discovery without node's fetch (issue 18, cold start)", () => {
  it("a verifier's first jwks_uri verify, with no fetch option, discovers the key over node:http and never loads undici", () => {
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(result).toMatchObject({
      scheme: 'jwks_uri',
      hits: ['/.well-known/aauth-agent.json aauth-kit-discovery', '/jwks.json aauth-kit-discovery'],
      atStart: false,
      afterVerify: false,
      touched: '1',
      afterTouch: true,
    });
    expect(String(result.agent)).toMatch(/^http:\/\/localhost:\d+$/);
  });
});
