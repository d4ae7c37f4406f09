import { afterAll, describe, expect, it } from 'vitest';
import { generateKey, parseSignatureKey } from '@aauth-kit/core';
import type { AuditEvent } from '../src/audit-event.js';
import type { ServerContext } from '../src/lib/context.js';
import { createRevocationPusher } from '../src/lib/person-server/revocation-push.js';
import { startServer, type TestServer } from '../../../test/fixtures/route-server.js';

// The person server's push of a revocation to the token's resource (AAuth -11 "Revocation Cascade"):
// the resource's metadata, a POST {jti, exp} signed as the person server, and the outcomes that
// never throw: recorded, revocation_unsupported, revocation_unavailable (bounded in time).
const key = generateKey({ kid: 'ps-1' });
const PS = 'http://127.0.0.1:1';
const servers: TestServer[] = [];

function pusher(options: { timeoutMs?: number } = {}) {
  const audit: AuditEvent[] = [];
  const ctx = { audit: (e: AuditEvent) => audit.push(e), now: () => Date.now() / 1000 } as unknown as ServerContext;
  const p = createRevocationPusher(ctx, { issuer: PS, key, allowLoopback: true, ...(options.timeoutMs ? { discovery: { timeoutMs: options.timeoutMs } } : {}) });
  return { p, audit };
}

async function resource(revoke: (body: string, headers: Record<string, string | string[] | undefined>) => { status: number; body?: unknown }, metadata?: (url: string) => unknown) {
  const srv = await startServer();
  servers.push(srv);
  srv.routes['/.well-known/aauth-resource.json'] = { body: metadata ? metadata(srv.url) : { issuer: srv.url, revocation_endpoint: `${srv.url}/revoke` } };
  srv.routes['/revoke'] = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = revoke(Buffer.concat(chunks).toString('utf8'), req.headers);
      res.writeHead(answer.status, { 'content-type': 'application/problem+json' }).end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    });
  };
  return srv;
}

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe('createRevocationPusher', () => {
  it('POSTs {jti, exp} signed as the person server under sig=jwks_uri, covering content-type and content-digest: recorded', async () => {
    let seen: { body: string; headers: Record<string, string | string[] | undefined> } | undefined;
    const srv = await resource((body, headers) => {
      seen = { body, headers };
      return { status: 200 };
    });
    const { p, audit } = pusher();
    expect(await p.push({ jti: 'j1', exp: 2000000000, resource: srv.url, agent: 'aauth:a@x' })).toBe('recorded');
    expect(JSON.parse(seen!.body)).toEqual({ jti: 'j1', exp: 2000000000 });
    expect(parseSignatureKey(String(seen!.headers['signature-key'])).key).toEqual({ scheme: 'jwks_uri', id: PS, dwk: 'aauth-person.json', kid: 'ps-1' });
    expect(String(seen!.headers['signature-input'])).toMatch(/"content-type" "content-digest"/);
    expect(audit).toMatchObject([{ type: 'revocation.pushed', resource: srv.url, jti: 'j1', agent: 'aauth:a@x' }]);
    expect(audit[0]!.error).toBeUndefined();
  });

  it('no metadata, another issuer, no endpoint, or unsupported_iss: revocation_unsupported', async () => {
    const { p, audit } = pusher();
    const none = await startServer();
    servers.push(none);
    expect(await p.push({ jti: 'a', exp: 2000000000, resource: none.url })).toBe('revocation_unsupported');
    const liar = await resource(() => ({ status: 200 }), () => ({ issuer: 'https://elsewhere.example', revocation_endpoint: 'https://elsewhere.example/r' }));
    expect(await p.push({ jti: 'b', exp: 2000000000, resource: liar.url })).toBe('revocation_unsupported');
    const refusing = await resource(() => ({ status: 403, body: { error: 'unsupported_iss' } }));
    expect(await p.push({ jti: 'c', exp: 2000000000, resource: refusing.url })).toBe('revocation_unsupported');
    expect(await p.push({ jti: 'd', exp: 2000000000, resource: 'https://ps.example/path' })).toBe('revocation_unsupported');
    expect(audit.map((e) => e.reason)).toEqual([
      'the resource publishes no aauth-resource.json',
      'the resource metadata issuer is not the resource identifier',
      'the resource does not accept revocations from this person server',
      'the resource is not a server identifier',
    ]);
  });

  it('a revocation_endpoint on a loopback host or over http, without allowLoopback: revocation_unsupported, nothing sent there', async () => {
    let hits = 0;
    const local = await resource(() => {
      hits++;
      return { status: 200 };
    });
    // A public resource (its metadata served by the fetch given) naming this server's loopback services.
    const endpoints = [`${local.url}/revoke`, `http://localhost:${new URL(local.url).port}/revoke`, 'http://resource.example/revoke'];
    let endpoint = endpoints[0]!;
    const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url === 'https://resource.example/.well-known/aauth-resource.json') return Response.json({ issuer: 'https://resource.example', revocation_endpoint: endpoint });
      return fetch(input, init);
    }) as typeof fetch;
    const audit: AuditEvent[] = [];
    const ctx = { audit: (e: AuditEvent) => audit.push(e), now: () => Date.now() / 1000 } as unknown as ServerContext;
    const p = createRevocationPusher(ctx, { issuer: 'https://ps.example', key, allowLoopback: false, fetch: fakeFetch, discovery: { resolveHostname: async () => ['93.184.216.34'] } });
    for (const [i, e] of endpoints.entries()) {
      endpoint = e;
      expect(await p.push({ jti: `l${i}`, exp: 2000000000, resource: 'https://resource.example' })).toBe('revocation_unsupported');
    }
    expect(hits).toBe(0);
    expect(audit.map((e) => e.reason)).toEqual(Array(3).fill('the resource revocation_endpoint must be https on a non-loopback host (allowLoopback is off)'));
  });

  it('a failing or silent resource: revocation_unavailable, never an exception, within the time limit', async () => {
    const { p, audit } = pusher({ timeoutMs: 300 });
    const failing = await resource(() => ({ status: 500, body: { error: 'server_error' } }));
    expect(await p.push({ jti: 'e', exp: 2000000000, resource: failing.url })).toBe('revocation_unavailable');
    const silent = await startServer();
    servers.push(silent);
    silent.routes['/.well-known/aauth-resource.json'] = { body: { issuer: silent.url, revocation_endpoint: `${silent.url}/revoke` } };
    silent.routes['/revoke'] = () => undefined; // never answers
    expect(await p.push({ jti: 'f', exp: 2000000000, resource: silent.url })).toBe('revocation_unavailable');
    expect(audit.map((e) => e.error)).toEqual(['revocation_unavailable', 'revocation_unavailable']);
    expect(audit[0]!.reason).toBe('the resource answered 500 server_error');
  });
});
