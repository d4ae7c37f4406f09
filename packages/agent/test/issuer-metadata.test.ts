import { generateKey, isAAuthError } from '@aauth-kit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createIssuerMetadataResolver, parseIssuerMetadata } from '../src/lib/issuer-metadata.js';
import { createAgent } from '../src/index.js';
import { listen, type Listening } from '../../../test/fixtures/http.js';
import { scenario, type Scenario } from './fixtures/scenario.js';
import { caught } from '../../../test/fixtures/caught.js';

const open: Array<Listening | Scenario> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

describe('auth server discovery (wire profile sections 4 and 8)', () => {
  it('falls back to aauth-issuer without .json on a 404', async () => {
    const s = await scenario({ as: { metadata: 'plain' } });
    open.push(s);
    expect((await s.hosted.agent.fetch(`${s.resource.url}/data`)).status).toBe(200);
    expect(s.as.requests.slice(0, 3)).toEqual([
      'GET /realms/test/.well-known/aauth-issuer.json',
      'GET /realms/test/.well-known/aauth-issuer',
      'POST /realms/test/protocol/aauth/token',
    ]);
  });

  it('accepts the older agent_token_endpoint / agent_auth_endpoint names', async () => {
    const s = await scenario({ as: { metadata: 'legacy' } });
    open.push(s);
    expect((await s.hosted.agent.fetch(`${s.resource.url}/data`)).status).toBe(200);
    expect(s.as.tokenRequests).toHaveLength(1);
  });

  it('caches metadata: two exchanges, one metadata fetch', async () => {
    const s = await scenario();
    open.push(s);
    await s.hosted.agent.fetch(`${s.resource.url}/data`);
    s.hosted.agent.invalidate(s.resource.url);
    await s.hosted.agent.fetch(`${s.resource.url}/data`);
    expect(s.as.tokenRequests).toHaveLength(2);
    expect(s.as.requests.filter((r) => r.includes('.well-known'))).toHaveLength(1);
  });

  it('validates the document: issuer, token endpoint origin, egress', () => {
    const issuer = 'https://as.example/realms/x';
    expect(parseIssuerMetadata(issuer, { issuer, token_endpoint: `${issuer}/token`, interaction_endpoint: 'https://login.example/i' })).toMatchObject({
      tokenEndpoint: new URL(`${issuer}/token`),
      interactionEndpoint: new URL('https://login.example/i'),
    });
    const bad = [
      { issuer: 'https://other.example', token_endpoint: `${issuer}/token` },
      { issuer, token_endpoint: 'https://elsewhere.example/token' },
      { issuer, token_endpoint: 'http://as.example/realms/x/token' },
      { issuer, token_endpoint: 42 },
      { issuer },
      { issuer, token_endpoint: `${issuer}/token`, interaction_endpoint: 'http://login.example/i' },
    ];
    for (const doc of bad) {
      expect(() => parseIssuerMetadata(issuer, doc)).toThrow(expect.objectContaining({ code: 'auth_server_discovery_failed' }));
    }
  });

  const resolver = (overrides: Partial<{ timeoutMs: number; maxBytes: number }> = {}) =>
    createIssuerMetadataResolver({ timeoutMs: 2000, maxBytes: 1024, now: () => Date.now() / 1000, ...overrides });

  it('enforces the size limit, the time limit and same-origin redirects', async () => {
    const other = await listen((_req, res) => res.end('{}'));
    open.push(other);
    const server = await listen((req, res) => {
      if (req.url === '/big/.well-known/aauth-issuer.json') res.end(`{"pad":"${'x'.repeat(5000)}"}`);
      else if (req.url === '/chunked/.well-known/aauth-issuer.json') {
        // No content-length: the limit applies while reading.
        for (let i = 0; i < 10; i++) res.write('x'.repeat(500));
        res.end();
      } else if (req.url === '/slow/.well-known/aauth-issuer.json') setTimeout(() => res.end('{}'), 1500);
      else if (req.url === '/away/.well-known/aauth-issuer.json') res.writeHead(302, { location: `${other.origin}/x` }).end();
      else if (req.url === '/junk/.well-known/aauth-issuer.json') res.end('not json');
      else if (req.url === '/err/.well-known/aauth-issuer.json') res.writeHead(500).end();
      else res.writeHead(404).end();
    });
    open.push(server);
    for (const [path, pattern] of [
      ['big', /answered 5010 bytes, more than the 1024 allowed/],
      ['chunked', /answered more than the 1024 bytes allowed/],
      ['slow', /did not answer within 200 ms/],
      ['away', /only same-origin redirects/],
      ['junk', /not a JSON object/],
      ['err', /HTTP 500/],
    ] as const) {
      const e = await caught(resolver({ timeoutMs: 200 }).resolve(`${server.origin}/${path}`, fetch));
      expect(isAAuthError(e, 'auth_server_discovery_failed')).toBe(true);
      expect((e as Error).message).toMatch(pattern);
    }
  });

  it('concurrent misses for one issuer make one fetch', async () => {
    let hits = 0;
    const server = await listen((req, res) => {
      hits++;
      const issuer = `http://127.0.0.1:${(req.socket.localPort as number)}/i`;
      setTimeout(() => res.setHeader('content-type', 'application/json').end(JSON.stringify({ issuer, token_endpoint: `${issuer}/token` })), 50);
    });
    open.push(server);
    const r = resolver();
    const results = await Promise.all(Array.from({ length: 10 }, () => r.resolve(`${server.origin}/i`, fetch)));
    expect(new Set(results).size).toBe(1);
    expect(hits).toBe(1);
  });

  /** An injected transport answering the metadata of `issuer` with `headers`; `calls` counts fetches. */
  function metadataTransport(issuer: string, headers: Record<string, string>, status = 200): typeof fetch & { calls: string[] } {
    const calls: string[] = [];
    const transport = (async (input: string | URL | Request) => {
      calls.push(String(input));
      const body = JSON.stringify({ issuer, token_endpoint: `${issuer}/token` });
      return new Response(body, { status, headers: { 'content-type': 'application/json', ...headers } });
    }) as typeof fetch & { calls: string[] };
    transport.calls = calls;
    return transport;
  }

  it('honours Cache-Control max-age minus Age, like the verifier (section 4; injected clock)', async () => {
    const issuer = 'https://as.example/realms/x';
    let t = 1_000_000;
    const r = createIssuerMetadataResolver({ timeoutMs: 2000, maxBytes: 1024, now: () => t });
    const transport = metadataTransport(issuer, { 'cache-control': 'max-age=600', age: '300' });
    await r.resolve(issuer, transport);
    t += 299;
    await r.resolve(issuer, transport);
    expect(transport.calls).toEqual([`${issuer}/.well-known/aauth-issuer.json`]);
    t += 1;
    await r.resolve(issuer, transport);
    expect(transport.calls).toHaveLength(2);
  });

  it('keeps no-store metadata for the one-minute floor and remembers a failure for 10 s', async () => {
    const issuer = 'https://as.example/realms/x';
    let t = 1_000_000;
    const r = createIssuerMetadataResolver({ timeoutMs: 2000, maxBytes: 1024, now: () => t });
    const fresh = metadataTransport(issuer, { 'cache-control': 'no-store' });
    await r.resolve(issuer, fresh);
    t += 59;
    await r.resolve(issuer, fresh);
    expect(fresh.calls).toHaveLength(1);
    const other = 'https://down.example/realms/x';
    const down = metadataTransport(other, {}, 503);
    for (const step of [0, 9]) {
      t += step;
      expect(isAAuthError(await caught(r.resolve(other, down)), 'auth_server_discovery_failed')).toBe(true);
    }
    expect(down.calls).toHaveLength(1);
    t += 1;
    await caught(r.resolve(other, down));
    expect(down.calls).toHaveLength(2);
  });

  it('an auth server that cannot be discovered fails the call with auth_server_discovery_failed', async () => {
    const s = await scenario();
    open.push(s);
    const dead = await listen((_req, res) => res.writeHead(404).end());
    open.push(dead);
    const issuerOnDead = `${dead.origin}/realms/test`;
    const { createTestResource } = await import('./fixtures/test-resource.js');
    const resource = await createTestResource({ authServer: issuerOnDead, authServerKey: s.as.publicKey });
    open.push({ close: resource.close } as Listening);
    const agent = createAgent({ key: generateKey(), authServer: issuerOnDead });
    const e = await caught(agent.fetch(`${resource.url}/data`));
    expect(isAAuthError(e, 'auth_server_discovery_failed')).toBe(true);
  });
});
